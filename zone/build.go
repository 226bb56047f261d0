package zone

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/registry"
)

// Snapshot is an immutable, queryable zone built from one registry and one
// set of options. It is never modified after Build returns: the server
// swaps whole snapshots, and the query path reads one without locks.
type Snapshot struct {
	origin string // lower-case FQDN
	opts   Options
	ports  *portTable
	serial uint32
	digest [sha256.Size]byte
	soa    *dns.SOA
	negTTL uint32

	nodes map[string]*node
	ents  map[string]bool
	order []string // node names in build order, for export and transfer
	count int      // records

	// sorted is order in canonical order, made on first use (Names).
	sorted func() []string
}

// node holds the RRsets of one owner name, in answer-preference order.
type node struct {
	sets  []rrset
	cname *dns.CNAME
	// instance marks a DNS-SD service instance, whose SRV and TXT go in
	// the additional section of a PTR answer (RFC 6763 §12.1).
	instance bool
}

type rrset struct {
	typ uint16
	rrs []dns.RR
}

func (n *node) get(t uint16) []dns.RR {
	for i := range n.sets {
		if n.sets[i].typ == t {
			return n.sets[i].rrs
		}
	}
	return nil
}

// ErrBuild is matched by every error Build returns.
var ErrBuild = errors.New("zone: build")

// Build turns a registry into a zone. prev is the snapshot being replaced
// (nil at start): the serial stays put when the content is the same and
// otherwise strictly increases past prev's (RFC 1982 arithmetic is not
// needed while serials are dates).
func Build(reg *registry.Registry, opts Options, prev *Snapshot) (*Snapshot, error) {
	var v Version
	if prev != nil {
		v = prev.Version()
	}
	return BuildAfter(reg, opts, v)
}

// BuildAfter is Build with the previous version known only by its serial
// and content digest, as the transfer journal remembers it across a
// restart. The zero Version means there was none.
func BuildAfter(reg *registry.Registry, opts Options, prev Version) (*Snapshot, error) {
	origin, err := canonical(opts.Origin)
	if err != nil {
		return nil, fmt.Errorf("%w: origin: %v", ErrBuild, err)
	}
	s := &Snapshot{
		origin: origin,
		opts:   opts,
		ports:  newPortTable(reg),
		nodes:  make(map[string]*node, len(reg.Records)),
		ents:   map[string]bool{},
	}
	if err := s.addApex(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBuild, err)
	}
	if err := s.addServices(reg); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBuild, err)
	}
	s.findENTs()
	s.setSerial(reg, prev)
	s.sorted = sync.OnceValue(func() []string {
		out := slices.Clone(s.order)
		slices.SortFunc(out, CompareNames)
		return out
	})
	return s, nil
}

// add puts rr at owner; the node key is the lower-cased owner, while the
// record keeps the owner's case (instance names are meant to be read).
func (s *Snapshot) add(owner string, rr dns.RR) {
	owner = strings.ToLower(owner)
	n := s.nodes[owner]
	if n == nil {
		n = &node{}
		s.nodes[owner] = n
		s.order = append(s.order, owner)
	}
	s.count++
	if c, ok := rr.(*dns.CNAME); ok {
		n.cname = c
		return
	}
	t := rr.Header().Rrtype
	for i := range n.sets {
		if n.sets[i].typ == t {
			n.sets[i].rrs = append(n.sets[i].rrs, rr)
			return
		}
	}
	n.sets = append(n.sets, rrset{typ: t, rrs: []dns.RR{rr}})
}

func hdr(name string, t uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

func (s *Snapshot) addApex() error {
	o := s.opts
	mname, err := canonical(o.SOA.MName)
	if err != nil {
		return fmt.Errorf("SOA mname: %w", err)
	}
	rname, err := canonical(o.SOA.RName)
	if err != nil {
		return fmt.Errorf("SOA rname: %w", err)
	}
	s.soa = &dns.SOA{Hdr: hdr(s.origin, dns.TypeSOA, o.TTL.SOA), Ns: mname, Mbox: rname,
		Refresh: o.SOA.Refresh, Retry: o.SOA.Retry, Expire: o.SOA.Expire, Minttl: o.SOA.Minimum}
	// RFC 2308 §5: the negative TTL is min(SOA TTL, SOA MINIMUM).
	s.negTTL = min(o.TTL.SOA, o.SOA.Minimum)
	s.add(s.origin, s.soa)
	if len(o.NameServers) == 0 {
		return errors.New("no name server")
	}
	for _, ns := range o.NameServers {
		name, err := canonical(ns.Name)
		if err != nil {
			return fmt.Errorf("name server: %w", err)
		}
		s.add(s.origin, &dns.NS{Hdr: hdr(s.origin, dns.TypeNS, o.TTL.NS), Ns: name})
		if err := s.addHost(Host{Name: name, Addrs: ns.Addrs}); err != nil {
			return err
		}
	}
	if err := s.addHost(o.Target); err != nil {
		return err
	}
	for _, targets := range o.Services {
		for _, t := range targets {
			if err := s.addHost(t.Host); err != nil {
				return err
			}
		}
	}
	return nil
}

// addHost publishes A/AAAA for an in-zone host, once.
func (s *Snapshot) addHost(h Host) error {
	name, err := canonical(h.Name)
	if err != nil {
		return fmt.Errorf("host: %w", err)
	}
	if !isSubdomain(name, s.origin) || len(h.Addrs) == 0 {
		return nil
	}
	if n := s.nodes[name]; n != nil && (n.get(dns.TypeA) != nil || n.get(dns.TypeAAAA) != nil) {
		return nil
	}
	for _, a := range h.Addrs {
		if a.Is4() {
			s.add(name, &dns.A{Hdr: hdr(name, dns.TypeA, s.opts.TTL.Address), A: a.AsSlice()})
		} else {
			s.add(name, &dns.AAAA{Hdr: hdr(name, dns.TypeAAAA, s.opts.TTL.Address), AAAA: a.AsSlice()})
		}
	}
	return nil
}

// addServices adds SRV+TXT for every valid name+protocol, and a CNAME for
// every historic alias. Rows without a protocol have no _PROTO label to
// live under and are not served (README, "Registry rows in the zone").
func (s *Snapshot) addServices(reg *registry.Registry) error {
	type group struct {
		recs  []*registry.Record
		alias string
	}
	groups := map[registry.Key]*group{}
	var keys []registry.Key
	for i := range reg.Records {
		r := &reg.Records[i]
		if r.Name == "" || r.Proto == registry.ProtoNone {
			continue
		}
		if r.Status == registry.Assigned && registry.ValidateName(r.Name) != nil {
			continue // reported by the registry, not served
		}
		k := r.Key()
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
			keys = append(keys, k)
		}
		if r.Status == registry.Alias {
			g.alias = r.AliasOf
			continue
		}
		g.recs = append(g.recs, r)
	}
	// Each service's records are made independently, so the work is
	// spread over the CPUs; they are then added in registry order, which
	// keeps the zone (and its digest) the same from build to build.
	made := make([]madeService, len(keys))
	workers := min(runtime.GOMAXPROCS(0), 8)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(keys); i += workers {
				made[i] = s.makeService(keys[i], groups[keys[i]].recs, groups[keys[i]].alias)
			}
		}()
	}
	wg.Wait()
	var types []serviceType
	for i, m := range made {
		if m.err != nil {
			return fmt.Errorf("service %s/%s: %w", keys[i].Name, keys[i].Proto, m.err)
		}
		for _, rr := range m.rrs {
			s.add(rr.Header().Name, rr)
		}
		if m.instance != "" {
			s.nodes[strings.ToLower(m.instance)].instance = true
			types = append(types, serviceType{name: keys[i].Name, proto: keys[i].Proto, owner: m.owner})
		}
	}
	return s.addBrowsing(types)
}

// madeService is the records of one name+protocol, made aside.
type madeService struct {
	owner    string
	instance string // DNS-SD instance name; "" for an alias
	rrs      []dns.RR
	err      error
}

// makeService makes the records of one name+protocol: a CNAME for a
// historic alias; otherwise one SRV per port and target, the TXT, and the
// DNS-SD instance (RFC 6763 §4) with the same SRV and TXT. It only reads
// the snapshot, so several run at once.
func (s *Snapshot) makeService(k registry.Key, recs []*registry.Record, alias string) (m madeService) {
	o := &s.opts
	owner, err := ServiceOwner(k.Name, k.Proto, s.origin)
	if err != nil {
		return madeService{err: err}
	}
	m.owner = owner
	if len(recs) == 0 {
		target, err := ServiceOwner(alias, k.Proto, s.origin)
		if err != nil {
			return madeService{err: fmt.Errorf("alias target: %w", err)}
		}
		m.rrs = []dns.RR{&dns.CNAME{Hdr: hdr(owner, dns.TypeCNAME, o.TTL.CNAME), Target: target}}
		return m
	}
	targets := o.Services[k]
	if targets == nil {
		targets = []Target{{Host: o.Target}}
	}
	hosts := make([]string, len(targets))
	for i, t := range targets {
		if hosts[i], err = canonical(t.Host.Name); err != nil {
			return madeService{err: fmt.Errorf("target: %w", err)}
		}
	}
	var srv []*dns.SRV
	for _, r := range recs {
		if !r.HasPort {
			continue
		}
		for p := int(r.Ports.Lo); p <= int(r.Ports.Hi); p++ {
			for i, t := range targets {
				port := uint16(p)
				if t.Port != 0 {
					port = t.Port
				}
				srv = append(srv, &dns.SRV{Hdr: hdr(owner, dns.TypeSRV, o.TTL.SRV),
					Priority: t.Priority, Weight: t.Weight, Port: port, Target: hosts[i]})
			}
		}
	}
	txt := &dns.TXT{Hdr: hdr(owner, dns.TypeTXT, o.TTL.TXT), Txt: serviceTXT(recs)}
	inst, err := presentation(instanceLabel(recs) + "." + owner)
	if err != nil {
		return madeService{err: fmt.Errorf("instance: %w", err)}
	}
	m.instance = inst
	m.rrs = make([]dns.RR, 0, 2*len(srv)+3)
	for _, rr := range srv {
		m.rrs = append(m.rrs, rr)
	}
	m.rrs = append(m.rrs, txt, &dns.PTR{Hdr: hdr(owner, dns.TypePTR, o.TTL.PTR), Ptr: inst})
	for _, rr := range srv {
		c := *rr
		c.Hdr.Name = inst
		m.rrs = append(m.rrs, &c)
	}
	t := *txt
	t.Hdr.Name = inst
	m.rrs = append(m.rrs, &t)
	return m
}

// findENTs records every name between a node and the origin that holds
// no records itself (RFC 8020: such names exist and answer NODATA).
func (s *Snapshot) findENTs() {
	for name := range s.nodes {
		for n := name; n != s.origin && isSubdomain(n, s.origin); {
			_, n = splitFirst(n)
			if _, ok := s.nodes[n]; ok || s.ents[n] {
				break
			}
			s.ents[n] = true
		}
	}
	// Protocol labels exist even for a protocol with no service, so that
	// port lookups under them are never below an NXDOMAIN (RFC 8020);
	// with registered port names only, where some port is registered.
	for _, p := range registry.Protocols {
		n := protoLabel(p) + "." + s.origin
		if s.nodes[n] == nil && (s.opts.PortNames == PortNamesAll || s.ports.anyRegistered(p)) {
			s.ents[n] = true
		}
	}
}

// setSerial derives the SOA serial from the registry's date (YYYYMMDDnn),
// keeps the previous one when the content did not change, and otherwise
// moves strictly past it.
func (s *Snapshot) setSerial(reg *registry.Registry, prev Version) {
	s.digest = s.contentDigest()
	serial := dateSerial(reg)
	if prev != (Version{}) {
		switch {
		case prev.Digest == s.digest:
			serial = prev.Serial
		case serial <= prev.Serial:
			serial = prev.Serial + 1
		}
	}
	s.serial = serial
	s.soa.Serial = serial
}

// contentDigest hashes every record but the SOA's serial, field by field
// (cheaper than packing each record), so that a rebuild can tell whether
// the zone changed.
func (s *Snapshot) contentDigest() [sha256.Size]byte {
	h := sha256.New()
	w := bufio.NewWriterSize(h, 1<<16)
	field := func(v string) {
		w.WriteString(v)
		w.WriteByte(0)
	}
	num := func(v uint32) {
		w.Write([]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	for _, name := range s.order {
		n := s.nodes[name]
		field(name)
		if n.cname != nil {
			field("CNAME " + n.cname.Target)
			num(n.cname.Hdr.Ttl)
		}
		for _, set := range n.sets {
			for _, rr := range set.rrs {
				hd := rr.Header()
				num(uint32(hd.Rrtype))
				num(hd.Ttl)
				field(hd.Name) // case matters in instance names
				switch r := rr.(type) {
				case *dns.SOA:
					field(r.Ns)
					field(r.Mbox)
					num(r.Refresh)
					num(r.Retry)
					num(r.Expire)
					num(r.Minttl)
				case *dns.NS:
					field(r.Ns)
				case *dns.A:
					field(string(r.A))
				case *dns.AAAA:
					field(string(r.AAAA))
				case *dns.SRV:
					num(uint32(r.Priority)<<16 | uint32(r.Weight))
					num(uint32(r.Port))
					field(r.Target)
				case *dns.TXT:
					num(uint32(len(r.Txt)))
					for _, t := range r.Txt {
						field(t)
					}
				case *dns.PTR:
					field(r.Ptr)
				default:
					field(rr.String())
				}
			}
		}
	}
	// Port names are synthesized per query from the port table, so its
	// rows, and which of the ports have names, count as content too.
	num(uint32(s.opts.PortNames))
	for _, r := range s.ports.rows {
		num(uint32(r.ports.Lo)<<16 | uint32(r.ports.Hi))
		num(uint32(r.proto)<<8 | uint32(r.status))
		field(r.name)
		field(r.unauth)
		if f := r.facts; f != nil {
			field(f.desc)
			field(f.mod)
			field(f.refs)
			field(f.notes)
		}
	}
	w.Flush()
	var d [sha256.Size]byte
	copy(d[:], h.Sum(nil))
	return d
}

// dateSerial is YYYYMMDD00 from the registry's "updated" date or, where
// the source has none (CSV), the newest date in its rows.
func dateSerial(reg *registry.Registry) uint32 {
	d := reg.Updated
	if d.IsZero() {
		for i := range reg.Records {
			r := &reg.Records[i]
			if d.Before(r.Registered) {
				d = r.Registered
			}
			if d.Before(r.Modified) {
				d = r.Modified
			}
		}
	}
	if d.IsZero() {
		return 1
	}
	return uint32(d.Year)*1000000 + uint32(max(d.Month, 1))*10000 + uint32(max(d.Day, 1))*100
}

// Origin is the zone apex (lower-case FQDN).
func (s *Snapshot) Origin() string { return s.origin }

// Serial is the SOA serial.
func (s *Snapshot) Serial() uint32 { return s.serial }

// SOA returns the apex SOA record (shared: do not modify).
func (s *Snapshot) SOA() *dns.SOA { return s.soa }

// Records is the number of records in the zone (port names aside).
func (s *Snapshot) Records() int { return s.count }

// Names returns every owner name holding records, sorted canonically
// (RFC 4034 §6.1), for export and transfer.
func (s *Snapshot) Names() []string {
	return slices.Clone(s.sorted())
}

// RRs returns every record at an owner name (shared: do not modify).
func (s *Snapshot) RRs(name string) []dns.RR {
	n := s.nodes[strings.ToLower(name)]
	if n == nil {
		return nil
	}
	return n.records()
}
