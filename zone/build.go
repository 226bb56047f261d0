package zone

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/registry"
)

// Snapshot is an immutable, queryable zone built from one registry and one
// set of options. It is never modified after Build returns: the server
// swaps whole snapshots, and the query path reads one without locks.
type Snapshot struct {
	origin string // lower-case FQDN
	opts   Options
	reg    *registry.Registry
	serial uint32
	digest [sha256.Size]byte
	soa    *dns.SOA
	negTTL uint32

	nodes map[string]*node
	ents  map[string]bool
	order []string // node names in build order, for export and transfer
	count int      // records
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
	origin, err := canonical(opts.Origin)
	if err != nil {
		return nil, fmt.Errorf("%w: origin: %v", ErrBuild, err)
	}
	s := &Snapshot{
		origin: origin,
		opts:   opts,
		reg:    reg,
		nodes:  make(map[string]*node, len(reg.Records)),
		ents:   map[string]bool{},
	}
	if err := s.addApex(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBuild, err)
	}
	if err := s.addServices(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBuild, err)
	}
	s.findENTs()
	s.setSerial(prev)
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
func (s *Snapshot) addServices() error {
	type group struct {
		recs  []*registry.Record
		alias string
	}
	groups := map[registry.Key]*group{}
	var keys []registry.Key
	for i := range s.reg.Records {
		r := &s.reg.Records[i]
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
	o := s.opts
	var types []serviceType
	for _, k := range keys {
		g := groups[k]
		owner, err := ServiceOwner(k.Name, k.Proto, s.origin)
		if err != nil {
			return fmt.Errorf("service %s/%s: %w", k.Name, k.Proto, err)
		}
		if len(g.recs) == 0 {
			target, err := ServiceOwner(g.alias, k.Proto, s.origin)
			if err != nil {
				return fmt.Errorf("alias %s/%s: %w", k.Name, k.Proto, err)
			}
			s.add(owner, &dns.CNAME{Hdr: hdr(owner, dns.TypeCNAME, o.TTL.CNAME), Target: target})
			continue
		}
		targets := o.Services[k]
		if targets == nil {
			targets = []Target{{Host: o.Target}}
		}
		var srv []dns.RR
		for _, r := range g.recs {
			if !r.HasPort {
				continue
			}
			for p := int(r.Ports.Lo); p <= int(r.Ports.Hi); p++ {
				for _, t := range targets {
					host, err := canonical(t.Host.Name)
					if err != nil {
						return fmt.Errorf("service %s/%s target: %w", k.Name, k.Proto, err)
					}
					port := uint16(p)
					if t.Port != 0 {
						port = t.Port
					}
					rr := &dns.SRV{Hdr: hdr(owner, dns.TypeSRV, o.TTL.SRV),
						Priority: t.Priority, Weight: t.Weight, Port: port, Target: host}
					s.add(owner, rr)
					srv = append(srv, rr)
				}
			}
		}
		txt := &dns.TXT{Hdr: hdr(owner, dns.TypeTXT, o.TTL.TXT), Txt: serviceTXT(g.recs)}
		s.add(owner, txt)
		if err := s.addInstance(owner, g.recs, srv, txt); err != nil {
			return fmt.Errorf("service %s/%s instance: %w", k.Name, k.Proto, err)
		}
		types = append(types, serviceType{name: k.Name, proto: k.Proto, owner: owner})
	}
	return s.addBrowsing(types)
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
	// port lookups under them are never below an NXDOMAIN (RFC 8020).
	for _, p := range registry.Protocols {
		n := protoLabel(p) + "." + s.origin
		if s.nodes[n] == nil {
			s.ents[n] = true
		}
	}
}

// setSerial derives the SOA serial from the registry's date (YYYYMMDDnn),
// keeps the previous one when the content did not change, and otherwise
// moves strictly past it.
func (s *Snapshot) setSerial(prev *Snapshot) {
	h := sha256.New()
	buf := make([]byte, 0, 512)
	for _, name := range s.order {
		n := s.nodes[name]
		rrs := []dns.RR{}
		if n.cname != nil {
			rrs = append(rrs, n.cname)
		}
		for _, set := range n.sets {
			rrs = append(rrs, set.rrs...)
		}
		for _, rr := range rrs {
			if rr == dns.RR(s.soa) {
				continue
			}
			buf = buf[:cap(buf)]
			off, err := dns.PackRR(rr, buf, 0, nil, false)
			for err != nil && errors.Is(err, dns.ErrBuf) {
				buf = make([]byte, 2*len(buf))
				off, err = dns.PackRR(rr, buf, 0, nil, false)
			}
			h.Write(buf[:off])
		}
	}
	fmt.Fprintf(h, "%s %s %d %d %d %d %d", s.soa.Ns, s.soa.Mbox, s.soa.Hdr.Ttl, s.soa.Refresh, s.soa.Retry, s.soa.Expire, s.soa.Minttl)
	copy(s.digest[:], h.Sum(nil))

	serial := dateSerial(s.reg)
	if prev != nil {
		switch {
		case prev.digest == s.digest:
			serial = prev.serial
		case serial <= prev.serial:
			serial = prev.serial + 1
		}
	}
	s.serial = serial
	s.soa.Serial = serial
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

// Registry is the registry the zone was built from.
func (s *Snapshot) Registry() *registry.Registry { return s.reg }

// Names returns every owner name holding records, sorted canonically
// (RFC 4034 §6.1), for export and transfer.
func (s *Snapshot) Names() []string {
	out := append([]string(nil), s.order...)
	sort.Slice(out, func(i, j int) bool { return canonicalLess(out[i], out[j]) })
	return out
}

// RRs returns every record at an owner name (shared: do not modify).
func (s *Snapshot) RRs(name string) []dns.RR {
	n := s.nodes[strings.ToLower(name)]
	if n == nil {
		return nil
	}
	var out []dns.RR
	if n.cname != nil {
		out = append(out, n.cname)
	}
	for _, set := range n.sets {
		out = append(out, set.rrs...)
	}
	return out
}

// canonicalLess orders names by their labels from the right (RFC 4034 §6.1).
func canonicalLess(a, b string) bool {
	la, lb := dns.SplitDomainName(a), dns.SplitDomainName(b)
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		x, y := unescapeLabel(la[i]), unescapeLabel(lb[j])
		if x != y {
			return x < y
		}
	}
	return len(la) < len(lb)
}
