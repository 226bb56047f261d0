package zone

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/registry"
)

// Snapshot is an immutable, queryable zone built from one registry and one
// set of options. It is never modified after Build returns: the server
// swaps whole snapshots, and the query path reads one without locks.
//
// The zone is kept compiled (compile.go): every answer the zone can give
// for a stored name is packed once, with its names compressed against the
// question, and the query path copies it. Records as dns.RR values are
// made on demand, from those bytes, for the slower users (Lookup, RRs,
// export, transfers).
type Snapshot struct {
	origin     string // presentation form, lower case
	originWire string // wire form, lower case
	opts       Options
	ports      *portTable
	serial     uint32
	digest     [sha256.Size]byte
	soa        *dns.SOA
	negTTL     uint32
	count      int // records

	// The compiled zone (compile.go).
	names     []byte // a nameRec per stored name
	nameCount int
	blobs     [][]byte // chunks of compiled answers
	index     nameIndex
	neg       negatives
	sig       *signedMemo // a signed zone's DO=1 answers, made as asked

	signed signedZone // made on first use when the zone is signed
	types  []string   // the DNS-SD service types, _NAME._PROTO.ORIGIN
	hosts  []string   // in-zone names with address records

	b *builder // during Build only
}

// builder holds a zone while Build makes it: every owner name with its
// records in wire form, names uncompressed.
type builder struct {
	nodes   map[string]*bnode // by lower-case wire owner
	order   []*bnode          // in the order made, which keeps builds alike
	scratch []byte            // for packing the records add is given
	// last and lastWire are the owner add was last given, in both forms:
	// records come in runs of one owner.
	last, lastWire string
	// nodeSlab and setSlab are where new nodes and their sets are taken
	// from, a chunk at a time: start-up makes tens of thousands of each.
	nodeSlab []bnode
	setSlab  []bset
}

// bnode is one owner name and its RRsets, in answer-preference order.
type bnode struct {
	owner string // wire form, case as published
	key   string // owner, lower case
	sets  []bset
	// cname is the target of a CNAME at this name ("" for none).
	cname    string
	cnameTTL uint32
	// instance marks a DNS-SD service instance, whose SRV and TXT go in
	// the additional section of a PTR answer (RFC 6763 §12.1);
	// ptrInstance is the instance a service's PTR names.
	instance    bool
	ptrInstance *bnode
	// ent marks an empty non-terminal: the name exists with no records
	// (RFC 8020).
	ent bool
}

// bset is one RRset: its records' rdata in wire form, names uncompressed.
// RFC 2181 §5.2: the records of a set share one TTL.
type bset struct {
	typ   uint16
	ttl   uint32
	rdata []string
}

func (n *bnode) get(t uint16) *bset {
	for i := range n.sets {
		if n.sets[i].typ == t {
			return &n.sets[i]
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
	ow, err := wireName(origin)
	if err != nil {
		return nil, fmt.Errorf("%w: origin: %v", ErrBuild, err)
	}
	s := &Snapshot{
		origin:     origin,
		originWire: ow,
		opts:       opts,
		ports:      newPortTable(reg),
		b:          &builder{nodes: make(map[string]*bnode, 2*len(reg.Records)), order: make([]*bnode, 0, 2*len(reg.Records))},
	}
	defer func() { s.b = nil }()
	if err := s.addApex(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBuild, err)
	}
	if err := s.addServices(reg); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBuild, err)
	}
	if err := s.addSigner(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBuild, err)
	}
	s.findENTs()
	s.ports.markServed(s.b, ow)
	s.setSerial(reg, prev)
	if err := s.compile(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBuild, err)
	}
	return s, nil
}

// lookup returns the build node of a wire name in any case, or nil.
func (b *builder) lookup(name string) *bnode {
	var buf [255]byte
	if len(name) > len(buf) {
		return nil
	}
	for i := 0; i < len(name); i++ {
		buf[i] = lowerByte(name[i])
	}
	return b.nodes[string(buf[:len(name)])]
}

// node returns the build node of a wire owner name, made if new.
func (s *Snapshot) node(owner string) *bnode {
	n := s.b.lookup(owner)
	if n == nil {
		key := lowerWire(owner)
		if len(s.b.nodeSlab) == 0 {
			s.b.nodeSlab = make([]bnode, slabChunk)
		}
		n = &s.b.nodeSlab[0]
		s.b.nodeSlab = s.b.nodeSlab[1:]
		n.owner, n.key = owner, key
		s.b.nodes[key] = n
		s.b.order = append(s.b.order, n)
	}
	return n
}

// slabChunk is how many build nodes are allocated at a time.
const slabChunk = 1024

// addWire adds one record in wire form at a wire owner name.
func (s *Snapshot) addWire(owner string, typ uint16, ttl uint32, rdata string) {
	s.addSet(s.node(owner), typ, ttl, []string{rdata})
}

// addSet adds records of one type, in wire form, at a node. rdata may be
// shared: it is never appended to in place.
func (s *Snapshot) addSet(n *bnode, typ uint16, ttl uint32, rdata []string) {
	if len(rdata) == 0 {
		return
	}
	s.count += len(rdata)
	if typ == dns.TypeCNAME {
		n.cname, n.cnameTTL = rdata[len(rdata)-1], ttl
		return
	}
	if set := n.get(typ); set != nil {
		set.rdata = append(set.rdata, rdata...) // a shared slice has no room: it is copied
		return
	}
	if n.sets == nil {
		if len(s.b.setSlab) < 3 {
			s.b.setSlab = make([]bset, 3*slabChunk)
		}
		n.sets = s.b.setSlab[:0:3]
		s.b.setSlab = s.b.setSlab[3:]
	}
	n.sets = append(n.sets, bset{typ: typ, ttl: ttl, rdata: rdata[:len(rdata):len(rdata)]})
}

// add puts rr at owner (presentation form); the owner keeps its case
// (instance names are meant to be read) and is found in any case.
func (s *Snapshot) add(owner string, rr dns.RR) {
	ow := s.b.lastWire
	if owner != s.b.last {
		var err error
		if ow, err = wireName(owner); err != nil {
			panic(fmt.Sprintf("zone: add %q: %v", owner, err)) // names here were made canonical already
		}
		s.b.last, s.b.lastWire = owner, ow
	}
	h := rr.Header()
	if p, ok := rr.(*dns.PTR); ok { // the browse tree's many
		target, err := wireName(p.Ptr)
		if err != nil {
			panic(fmt.Sprintf("zone: add %s: %v", rr, err))
		}
		s.addWire(ow, h.Rrtype, h.Ttl, target)
		return
	}
	if s.b.scratch == nil {
		s.b.scratch = make([]byte, dns.MaxMsgSize)
	}
	end, err := dns.PackRR(rr, s.b.scratch, 0, nil, false)
	if err != nil {
		panic(fmt.Sprintf("zone: add %s: %v", rr, err))
	}
	start := nameLen(ow) + 10 // the owner as packed, TYPE, CLASS, TTL, RDLENGTH
	s.addWire(ow, h.Rrtype, h.Ttl, string(s.b.scratch[start:end]))
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
	s.add(s.origin, s.soa) // its serial is set once the content is known
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
	w, _ := wireName(name)
	if n := s.b.lookup(w); n != nil && (n.get(dns.TypeA) != nil || n.get(dns.TypeAAAA) != nil) {
		return nil
	}
	s.hosts = append(s.hosts, name)
	for _, a := range h.Addrs {
		if a.Is4() {
			s.addWire(w, dns.TypeA, s.opts.TTL.Address, string(a.AsSlice()))
		} else {
			s.addWire(w, dns.TypeAAAA, s.opts.TTL.Address, string(a.AsSlice()))
		}
	}
	return nil
}

// serviceGroup is the registry's rows of one name+protocol: its records,
// or the name it is a historic alias of.
type serviceGroup struct {
	recs  []*registry.Record
	alias string
}

// groupServices gathers the rows the zone serves by name+protocol, in
// registry order. Rows without a protocol have no _PROTO label to live
// under and are not served (README, "Registry rows in the zone").
func groupServices(reg *registry.Registry) ([]registry.Key, map[registry.Key]*serviceGroup) {
	groups := make(map[registry.Key]*serviceGroup, len(reg.Records))
	keys := make([]registry.Key, 0, len(reg.Records))
	slab := make([]serviceGroup, len(reg.Records))
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
			g, slab = &slab[0], slab[1:]
			groups[k] = g
			keys = append(keys, k)
		}
		if r.Status == registry.Alias {
			g.alias = r.AliasOf
			continue
		}
		g.recs = append(g.recs, r)
	}
	return keys, groups
}

// browseTypes returns the service types DNS-SD lists (browsable, and not
// an alias), in registry order.
func browseTypes(keys []registry.Key, groups map[registry.Key]*serviceGroup, origin string) ([]serviceType, error) {
	types := make([]serviceType, 0, len(keys))
	for _, k := range keys {
		if len(groups[k].recs) > 0 && browsable(k) {
			owner, err := ServiceOwner(k.Name, k.Proto, origin)
			if err != nil {
				return nil, fmt.Errorf("service %s/%s: %w", k.Name, k.Proto, err)
			}
			types = append(types, serviceType{key: k, owner: owner})
		}
	}
	return types, nil
}

// addServices adds SRV+TXT for every valid name+protocol, and a CNAME for
// every historic alias.
func (s *Snapshot) addServices(reg *registry.Registry) error {
	keys, groups := groupServices(reg)
	hosts, err := s.targetHosts()
	if err != nil {
		return err
	}
	// The browse tree is laid out first, from the names alone, so that
	// each service's records can be made in the browse domain that lists
	// it (RFC 6763 §9).
	types, err := browseTypes(keys, groups, s.origin)
	if err != nil {
		return err
	}
	trees, domainOf, err := planBrowse(types, s.origin)
	if err != nil {
		return err
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
			var txt txtWriter
			for i := w; i < len(keys); i += workers {
				k := keys[i]
				made[i] = s.makeService(k, groups[k].recs, groups[k].alias, domainOf[k], hosts, &txt)
			}
		}()
	}
	wg.Wait()
	ttl := &s.opts.TTL
	for i := range made {
		m := &made[i]
		if m.err != nil {
			return fmt.Errorf("service %s/%s: %w", keys[i].Name, keys[i].Proto, m.err)
		}
		n := s.node(m.owner)
		if m.cname != "" {
			s.addSet(n, dns.TypeCNAME, ttl.CNAME, []string{m.cname})
			continue
		}
		s.addSet(n, dns.TypeSRV, ttl.SRV, m.srv)
		s.addSet(n, dns.TypeTXT, ttl.TXT, m.txt)
		for j, in := range m.instances {
			typ := n
			if j > 0 {
				typ = s.node(in.typ)
			}
			s.addSet(typ, dns.TypePTR, ttl.PTR, []string{in.name})
			inst := s.node(in.name)
			s.addSet(inst, dns.TypeSRV, ttl.SRV, m.instSRV)
			s.addSet(inst, dns.TypeTXT, ttl.TXT, m.instTXT)
			inst.instance = true
			typ.ptrInstance = inst
		}
	}
	s.types = make([]string, len(types))
	for i, t := range types {
		s.types[i] = t.owner
	}
	return s.addBrowsing(trees)
}

// targetHosts returns the SRV targets in wire form: the default target's,
// and each configured service's.
func (s *Snapshot) targetHosts() (map[string]string, error) {
	hosts := map[string]string{}
	add := func(name string) error {
		if _, ok := hosts[name]; ok {
			return nil
		}
		c, err := canonical(name)
		if err != nil {
			return fmt.Errorf("target: %w", err)
		}
		hosts[name], _ = wireName(c)
		return nil
	}
	if err := add(s.opts.Target.Name); err != nil {
		return nil, err
	}
	for _, targets := range s.opts.Services {
		for _, t := range targets {
			if err := add(t.Host.Name); err != nil {
				return nil, err
			}
		}
	}
	return hosts, nil
}

// madeService is the records of one name+protocol, made aside, in wire
// form: a CNAME for an alias, or the SRV and TXT rdata and the DNS-SD
// instances (RFC 6763 §4), each with its SRV and TXT.
type madeService struct {
	owner            string
	cname            string
	srv, txt         []string
	instances        []madeInstance
	instSRV, instTXT []string
	err              error
}

// madeInstance is one DNS-SD instance of a service: the type's name, whose
// PTR names it, and its own name, both in wire form.
type madeInstance struct {
	typ, name string
}

// serviceWire is the wire form of _NAME._PROTO.ORIGIN, as ServiceOwner
// names it in presentation form.
func serviceWire(name string, p registry.Protocol, origin string) (string, error) {
	l := "_" + strings.ToLower(name)
	pl := protoLabel(p)
	if len(l) > 63 || len(l)+len(pl)+2+len(origin) > 255 {
		return "", fmt.Errorf("name %q: %w", name, dns.ErrRdata)
	}
	b := make([]byte, 0, 2+len(l)+len(pl)+len(origin))
	b = append(append(append(append(b, byte(len(l))), l...), byte(len(pl))), pl...)
	return string(append(b, origin...)), nil
}

// makeService makes the records of one name+protocol: a CNAME for a
// historic alias; otherwise one SRV per port and target, the TXT, and the
// DNS-SD instance (RFC 6763 §4) at the origin and, for a browsable type,
// again in the browse domain dom that lists it (§9), where the type
// _NAME._PROTO.dom points at its instance there. It only reads the
// snapshot, so several run at once.
func (s *Snapshot) makeService(k registry.Key, recs []*registry.Record, alias, dom string, hosts map[string]string, txt *txtWriter) (m madeService) {
	o := &s.opts
	var err error
	if m.owner, err = serviceWire(k.Name, k.Proto, s.originWire); err != nil {
		return madeService{err: err}
	}
	if len(recs) == 0 {
		if m.cname, err = serviceWire(alias, k.Proto, s.originWire); err != nil {
			return madeService{err: fmt.Errorf("alias target: %w", err)}
		}
		return m
	}
	targets := o.Services[k]
	if targets == nil {
		targets = []Target{{Host: o.Target}}
	}
	srv := func(out []string, port uint16) []string {
		for _, t := range targets {
			p := port
			if t.Port != 0 {
				p = t.Port
			}
			var rd [6]byte
			binary.BigEndian.PutUint16(rd[0:], t.Priority)
			binary.BigEndian.PutUint16(rd[2:], t.Weight)
			binary.BigEndian.PutUint16(rd[4:], p)
			out = append(out, string(rd[:])+hosts[t.Host.Name])
		}
		return out
	}
	for _, r := range recs {
		if !r.HasPort {
			continue
		}
		for p := int(r.Ports.Lo); p <= int(r.Ports.Hi); p++ {
			m.srv = srv(m.srv, uint16(p))
		}
		// An instance is one place to connect to (RFC 6763 §5): the first
		// port of each registered row. A range (x11/tcp, 6000-6063) is one
		// service on each of its ports, which no DNS-SD client could tell
		// apart; the TXT's port= gives it whole, and _NAME._PROTO.ORIGIN
		// has an SRV for every port.
		m.instSRV = srv(m.instSRV, r.Ports.Lo)
	}
	full := serviceTXT(txt, recs, maxTXTTotal)
	m.txt = []string{full}

	label := unescapeLabel(instanceLabel(recs))
	instance := func(typ string) (madeInstance, error) {
		if len(label) > 63 || 1+len(label)+len(typ) > 255 {
			return madeInstance{}, fmt.Errorf("instance %q: %w", label, dns.ErrRdata)
		}
		return madeInstance{typ: typ, name: string(append([]byte{byte(len(label))}, label...)) + typ}, nil
	}
	inst, err := instance(m.owner)
	if err != nil {
		return madeService{err: err}
	}
	m.instances = []madeInstance{inst}
	qlen := len(inst.name)
	if dom != "" {
		dw, err := wireName(dom)
		var typ string
		if err == nil {
			typ, err = serviceWire(k.Name, k.Proto, dw)
		}
		if err == nil {
			inst, err = instance(typ)
		}
		if err != nil {
			return madeService{err: fmt.Errorf("instance in %s: %w", dom, err)}
		}
		m.instances = append(m.instances, inst)
		qlen = max(qlen, len(inst.name))
	}
	// RFC 6763 §6.2: the instance's TXT fits one reply of MaxDNSSDReply
	// bytes with the longest of its names in the question; the service's
	// own TXT keeps up to maxTXTTotal.
	m.instTXT = m.txt
	if limit := MaxDNSSDReply - headerLen - qlen - questionEnd - namePointer - rrFixed; len(full) > limit {
		m.instTXT = []string{serviceTXT(txt, recs, limit)}
	}
	return m
}

// findENTs records every name between a node and the origin that holds
// no records itself (RFC 8020: such names exist and answer NODATA).
func (s *Snapshot) findENTs() {
	for _, n := range s.b.order {
		for name := n.key; name != s.originWire && hasSuffixName(name, s.originWire); {
			name = parentName(name)
			if s.b.nodes[name] != nil {
				break
			}
			s.b.nodes[name] = &bnode{owner: name, key: name, ent: true}
			s.b.order = append(s.b.order, s.b.nodes[name])
		}
	}
	// Protocol labels exist even for a protocol with no service, so that
	// port lookups under them are never below an NXDOMAIN (RFC 8020);
	// with registered port names only, where some port is registered.
	for _, p := range registry.Protocols {
		pl := protoLabel(p)
		name := string(append([]byte{byte(len(pl))}, pl...)) + s.originWire
		if s.b.nodes[name] == nil && (s.opts.PortNames == PortNamesAll || s.ports.anyRegistered(p)) {
			s.b.nodes[name] = &bnode{owner: name, key: name, ent: true}
			s.b.order = append(s.b.order, s.b.nodes[name])
		}
	}
}

// setSerial derives the SOA serial from the registry's date (YYYYMMDDnn),
// keeps the previous one when the content did not change, and otherwise
// moves strictly past it. The SOA record is then complete.
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
	apex := s.b.nodes[s.originWire].get(dns.TypeSOA)
	rd := []byte(apex.rdata[0])
	m := nameLen(apex.rdata[0])
	binary.BigEndian.PutUint32(rd[m+nameLen(apex.rdata[0][m:]):], serial)
	apex.rdata[0] = string(rd)
}

// contentDigest hashes every record, the SOA's serial aside, and the port
// table, so that a rebuild can tell whether the zone changed.
func (s *Snapshot) contentDigest() [sha256.Size]byte {
	h := sha256.New()
	var buf []byte
	field := func(v string) {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(v)))
		buf = append(buf, v...)
	}
	num := func(v uint32) { buf = binary.BigEndian.AppendUint32(buf, v) }
	flush := func() {
		if len(buf) > 1<<16 {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	for _, n := range s.b.order {
		if n.ent {
			continue
		}
		field(n.owner) // case matters in instance names
		field(n.cname)
		num(n.cnameTTL)
		for _, set := range n.sets {
			num(uint32(set.typ))
			num(set.ttl)
			num(uint32(len(set.rdata)))
			for _, rd := range set.rdata {
				if set.typ == dns.TypeSOA { // the serial is what is being decided
					m := nameLen(rd)
					m += nameLen(rd[m:])
					rd = rd[:m] + rd[m+4:]
				}
				field(rd)
			}
		}
		flush()
	}
	// The signer's keys and epoch decide the signatures a secondary is
	// sent: a change re-signs the zone under a new serial.
	if s.opts.Signer != nil {
		field(s.opts.Signer.Fingerprint())
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
		flush()
	}
	h.Write(buf)
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

// ServiceTypes returns every DNS-SD service type of the zone (RFC 6763 §7:
// _tcp and _udp) as _NAME._PROTO.ORIGIN, in build order (shared: do not
// modify). Unicast DNS lists them in the browse tree below
// b._dns-sd._udp.ORIGIN; multicast DNS, which has no 512-byte limit,
// lists them all at _services._dns-sd._udp.ORIGIN.
func (s *Snapshot) ServiceTypes() []string { return s.types }

// Hosts returns the in-zone host names that have address records (name
// servers and SRV targets), which a multicast DNS responder claims and
// probes for (RFC 6762 §8) (shared: do not modify).
func (s *Snapshot) Hosts() []string { return s.hosts }

// Records is the number of records in the zone (port names aside).
func (s *Snapshot) Records() int { return s.count }
