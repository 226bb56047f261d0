package zone_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/registry"
	"github.com/svcdns/svcdns/resolver"
	"github.com/svcdns/svcdns/zone"
)

// handlerExchange answers through the query handler over "TCP" (no size
// limit), as a client speaking DNS would be answered.
func handlerExchange(snap *zone.Snapshot) zonetest.Exchange {
	h := resolver.NewHandler(snap, 0, nil)
	return func(name string, qtype uint16) (*dns.Msg, error) {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.SetEdns0(1232, false)
		return h.Respond(m, true), nil
	}
}

// legacyUDP answers as Avahi and mDNSResponder browse wide-area DNS: over
// UDP, without EDNS, never retrying over TCP. It keeps the size of the
// largest reply packed by the handler and how many it answered.
type legacyUDP struct {
	h       *resolver.Handler
	largest int
	biggest string // the question of the largest reply
	queries int
}

func (l *legacyUDP) exchange(name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.Id = uint16(l.queries)
	in, err := q.Pack()
	if err != nil {
		return nil, err
	}
	wire := l.h.AnswerWire(in, false, make([]byte, 0, 512))
	l.queries++
	if len(wire) > l.largest {
		l.largest, l.biggest = len(wire), name+" "+dns.TypeToString[qtype]
	}
	m := new(dns.Msg)
	return m, m.Unpack(wire)
}

// browsablePairs is the registry's valid name+protocol pairs that DNS-SD
// lists (RFC 6763 §7: _tcp and _udp), with the first port of each row.
func browsablePairs(reg *registry.Registry) map[registry.Key][]uint16 {
	out := map[registry.Key][]uint16{}
	for k := range validPairs(reg) {
		if k.Proto == registry.TCP || k.Proto == registry.UDP {
			out[k] = nil
		}
	}
	for i := range reg.Records {
		r := &reg.Records[i]
		if _, ok := out[r.Key()]; ok && r.Status == registry.Assigned && r.HasPort {
			out[r.Key()] = append(out[r.Key()], r.Ports.Lo)
		}
	}
	return out
}

// TestDNSSDWalkReachesEveryType browses each zone as Avahi does over
// wide-area DNS (512-byte UDP, no EDNS, no TCP), following the §9 names,
// and must reach every _tcp/_udp type of the registry and resolve every
// instance: its SRV on the first port of each registered row, its TXT a
// cut of the service's own.
func TestDNSSDWalkReachesEveryType(t *testing.T) {
	for _, tc := range []struct {
		name string
		snap func(testing.TB) *zone.Snapshot
		reg  func(testing.TB) *registry.Registry
	}{
		{"excerpt", zonetest.Excerpt, zonetest.ExcerptRegistry},
		{"full", zonetest.Full, zonetest.FullRegistry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := tc.snap(t)
			origin := snap.Origin()
			ex := &legacyUDP{h: resolver.NewHandler(snap, 0, nil)}
			got, err := zonetest.Walk(ex.exchange, origin)
			if err != nil {
				t.Fatal(err)
			}
			want := browsablePairs(tc.reg(t))
			if len(got) != len(want) {
				t.Errorf("walk reached %d types, registry has %d valid tcp/udp name+protocol pairs", len(got), len(want))
			}
			withPort := 0
			for k, ports := range want {
				owner, _ := zone.ServiceOwner(k.Name, k.Proto, origin)
				svc := strings.TrimSuffix(owner, "."+origin)
				in, ok := got[svc]
				if !ok {
					t.Errorf("%s not reached", svc)
					continue
				}
				var gotPorts []uint16
				for _, s := range in.SRV {
					gotPorts = append(gotPorts, s.Port)
				}
				slices.Sort(gotPorts)
				slices.Sort(ports)
				if !slices.Equal(gotPorts, ports) {
					t.Errorf("%s: instance SRV ports %v, want the first port of each row %v", in.Instance, gotPorts, ports)
				}
				if len(ports) > 0 {
					withPort++
				}
				// The instance's TXT is the service's, cut to fit.
				full := overTheWire(t, snap.Lookup(owner, dns.TypeTXT).Answer[0]).(*dns.TXT).Txt
				if !isCutOf(in.TXT, full) {
					t.Errorf("%s: instance TXT %q is not a cut of the service's %q", in.Instance, in.TXT, full)
				}
			}
			if ex.largest > 512 {
				t.Errorf("largest reply %d bytes (%s)", ex.largest, ex.biggest)
			}
			t.Logf("%d types reached (%d with a port, all resolved) in %d queries over 512-byte UDP without EDNS; largest reply %d bytes (%s)",
				len(got), withPort, ex.queries, ex.largest, ex.biggest)
		})
	}
}

// overTheWire returns rr as a client reads it: miekg/dns writes the bytes
// of a TXT string that are not printable ASCII as \DDD when unpacking.
func overTheWire(t *testing.T, rr dns.RR) dns.RR {
	t.Helper()
	m := new(dns.Msg)
	m.Answer = []dns.RR{rr}
	wire, err := m.Pack()
	if err == nil {
		err = m.Unpack(wire)
	}
	if err != nil {
		t.Fatal(err)
	}
	return m.Answer[0]
}

// isCutOf reports whether cut is full with strings dropped from the end
// and the last one kept possibly shortened, txtvers and port kept.
func isCutOf(cut, full []string) bool {
	if len(cut) < 2 || len(cut) > len(full) || cut[0] != full[0] || cut[1] != full[1] {
		return len(cut) == len(full) && slices.Equal(cut, full)
	}
	last := len(cut) - 1
	return slices.Equal(cut[:last], full[:last]) && strings.HasPrefix(full[last], cut[last])
}

// dnssdQuestions returns the DNS-SD questions of the zone that a walk of
// the browse tree does not ask: the default and legacy browse domains
// (§11), and each type's PTR at the origin with its instance's SRV and
// TXT there (the names RFC 2782 clients and lb/db browsing reach); with
// every 8th question of the tree's own.
func dnssdQuestions(snap *zone.Snapshot) []dns.Question {
	var out []dns.Question
	q := func(name string, t uint16) {
		out = append(out, dns.Question{Name: name, Qtype: t, Qclass: dns.ClassINET})
	}
	origin := snap.Origin()
	for i, name := range snap.Names() {
		atOrigin := dns.CountLabel(name) == dns.CountLabel(origin)+2
		switch {
		case strings.HasPrefix(name, "db._dns-sd._udp."), strings.HasPrefix(name, "lb._dns-sd._udp."):
			q(name, dns.TypePTR)
		case strings.HasPrefix(name, "b._dns-sd._udp."), strings.HasPrefix(name, "_services._dns-sd._udp."):
			if i%8 == 0 {
				q(name, dns.TypePTR)
			}
		case strings.HasPrefix(name, "_") && (atOrigin || i%8 == 0):
			for _, rr := range snap.RRs(name) {
				if p, ok := rr.(*dns.PTR); ok {
					q(name, dns.TypePTR)
					q(p.Ptr, dns.TypeSRV)
					q(p.Ptr, dns.TypeTXT)
				}
			}
		}
	}
	return out
}

// TestDNSSDRepliesFit512 asks the DNS-SD questions of the full zone over
// UDP without EDNS and with EDNS at 512 and 1232: none is truncated, none
// is larger than 512 bytes unless the client allows it, and with EDNS at
// 1232 the type PTRs carry their instance (RFC 6763 §12.1).
func TestDNSSDRepliesFit512(t *testing.T) {
	snap := zonetest.Full(t)
	h := resolver.NewHandler(snap, 0, nil)
	qs := dnssdQuestions(snap)
	if len(qs) < 3*11000 {
		t.Fatalf("only %d DNS-SD questions", len(qs))
	}
	largest := 0
	for i, q := range qs {
		for _, edns := range []uint16{0, 512, 1232} {
			if edns > 0 && i%4 != 0 {
				continue
			}
			m := new(dns.Msg)
			m.Question = []dns.Question{q}
			if edns > 0 {
				m.SetEdns0(edns, false)
			}
			in, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			wire := h.AnswerWire(in, false, nil)
			r := new(dns.Msg)
			if err := r.Unpack(wire); err != nil {
				t.Fatalf("%s: %v", q.String(), err)
			}
			noData := snap.Lookup(q.Name, q.Qtype).Outcome == zone.NoData // a service without a port has no SRV
			if r.Truncated || r.Rcode != dns.RcodeSuccess || (len(r.Answer) == 0) != noData || len(wire) > max(512, int(edns)) {
				t.Errorf("%s (EDNS %d): %d bytes, rcode %s, %d answers, TC=%v", q.String(), edns, len(wire), dns.RcodeToString[r.Rcode], len(r.Answer), r.Truncated)
				continue
			}
			if edns == 0 {
				largest = max(largest, len(wire))
			}
			if edns == 1232 && !noData && q.Qtype == dns.TypePTR && strings.HasPrefix(q.Name, "_") && !strings.HasPrefix(q.Name, "_services.") {
				inst := r.Answer[0].(*dns.PTR).Ptr
				want := map[uint16]bool{dns.TypeTXT: true}
				if len(snap.Lookup(inst, dns.TypeSRV).Answer) > 0 {
					want[dns.TypeSRV], want[dns.TypeA] = true, true
				}
				for _, rr := range r.Extra {
					delete(want, rr.Header().Rrtype)
				}
				if len(want) > 0 {
					t.Errorf("%s (EDNS 1232): additional %v, want the instance's SRV, TXT and address", q.String(), r.Extra)
				}
			}
		}
	}
	t.Logf("%d DNS-SD questions, each fits 512 bytes without EDNS; largest %d", len(qs), largest)
}

// TestBrowseTree checks the shape of the full registry's browse tree: every
// domain listed at b._dns-sd._udp is inner (lists more domains) or a leaf
// (lists types), lists stay far below BIND's 100 records, and every leaf's
// types exist there (§9). It reports the shape.
func TestBrowseTree(t *testing.T) {
	snap := zonetest.Full(t)
	ptrs := func(name string) []string {
		var out []string
		for _, rr := range snap.Lookup(name, dns.TypePTR).Answer {
			out = append(out, rr.(*dns.PTR).Ptr)
		}
		return out
	}
	domains, leaves, depth, biggest := 0, 0, 0, 0
	var visit func(d string, level int)
	visit = func(d string, level int) {
		domains++
		depth = max(depth, level)
		subs, types := ptrs("b._dns-sd._udp."+d), ptrs("_services._dns-sd._udp."+d)
		biggest = max(biggest, len(subs), len(types))
		if (len(subs) == 0) == (len(types) == 0) {
			t.Errorf("%s: %d sub-domains and %d types; want one or the other", d, len(subs), len(types))
		}
		for _, s := range subs {
			if !dns.IsSubDomain(d, s) || s == d {
				t.Errorf("%s lists %s, not a sub-domain", d, s)
			}
			visit(s, level+1)
		}
		if len(types) > 0 {
			leaves++
		}
		for _, typ := range types {
			inst := ptrs(typ)
			if len(inst) != 1 || snap.Lookup(inst[0], dns.TypeSRV).Outcome == zone.NameError {
				t.Errorf("%s: type %s has instance %v", d, typ, inst)
			}
		}
	}
	top := ptrs("b._dns-sd._udp." + zonetest.Origin)
	slices.Sort(top)
	if want := []string{"tcp." + zonetest.Origin, "udp." + zonetest.Origin}; !slices.Equal(top, want) {
		t.Errorf("browse domains at the origin %q, want %q (RFC 6763 §7: no sctp, dccp)", top, want)
	}
	for _, d := range top {
		visit(d, 1)
	}
	if biggest > 40 {
		t.Errorf("a list of %d records", biggest)
	}
	t.Logf("browse tree: %d domains (%d leaves), depth %d below the origin, biggest list %d records", domains, leaves, depth, biggest)
}

func TestDefaultAndLegacyBrowseDomains(t *testing.T) {
	snap := zonetest.Excerpt(t)
	// RFC 6763 §11: db (default) and lb (legacy) name the origin, where
	// every type exists at _NAME._PROTO.ORIGIN.
	for _, l := range []string{"db", "lb"} {
		a := snap.Lookup(l+"._dns-sd._udp."+zonetest.Origin, dns.TypePTR)
		if a.Outcome != zone.Success || len(a.Answer) != 1 || a.Answer[0].(*dns.PTR).Ptr != zonetest.Origin {
			t.Errorf("%s._dns-sd._udp: %v %v, want PTR %s", l, a.Outcome, a.Answer, zonetest.Origin)
		}
	}
	a := snap.Lookup("_rets._tcp."+zonetest.Origin, dns.TypePTR)
	if a.Outcome != zone.Success || len(a.Answer) != 1 {
		t.Errorf("_rets._tcp at the origin: %v %v", a.Outcome, a.Answer)
	}
}

// TestPortRangeInstance: an instance with a port range publishes its first
// port; the TXT gives the range and _NAME._PROTO.ORIGIN keeps every port.
func TestPortRangeInstance(t *testing.T) {
	snap := zonetest.Full(t)
	const owner = "_x11._tcp.ports.local."
	if n := len(snap.Lookup(owner, dns.TypeSRV).Answer); n != 64 {
		t.Errorf("%s SRV: %d records, want 64", owner, n)
	}
	inst := snap.Lookup(owner, dns.TypePTR).Answer[0].(*dns.PTR).Ptr
	srv := snap.Lookup(inst, dns.TypeSRV).Answer
	if len(srv) != 1 || srv[0].(*dns.SRV).Port != 6000 {
		t.Errorf("%s SRV: %v, want port 6000 only", inst, srv)
	}
	if txt := snap.Lookup(inst, dns.TypeTXT).Answer[0].(*dns.TXT).Txt; !slices.Contains(txt, "port=6000-6063") {
		t.Errorf("%s TXT: %q, want port=6000-6063", inst, txt)
	}
}

func TestPTRAdditionalRecords(t *testing.T) {
	snap := zonetest.Excerpt(t)
	a := snap.Lookup("_rets._tcp.ports.local.", dns.TypePTR)
	if a.Outcome != zone.Success || len(a.Answer) != 1 {
		t.Fatalf("PTR: %v %v", a.Outcome, a.Answer)
	}
	inst := a.Answer[0].(*dns.PTR).Ptr
	var types []string
	for _, rr := range a.Additional {
		types = append(types, dns.TypeToString[rr.Header().Rrtype]+" "+rr.Header().Name)
	}
	slices.Sort(types)
	want := []string{"A svc.ports.local.", "SRV " + inst, "TXT " + inst}
	if !slices.Equal(types, want) {
		t.Errorf("PTR additional = %q, want %q (RFC 6763 §12.1)", types, want)
	}
	// §12.2: SRV answers carry addresses; §12.3: TXT answers nothing.
	if a := snap.Lookup(inst, dns.TypeSRV); len(a.Additional) != 1 || a.Additional[0].Header().Rrtype != dns.TypeA {
		t.Errorf("instance SRV additional = %v", a.Additional)
	}
	if a := snap.Lookup(inst, dns.TypeTXT); len(a.Additional) != 0 {
		t.Errorf("instance TXT additional = %v", a.Additional)
	}
}

func TestInstanceNames(t *testing.T) {
	snap := zonetest.Full(t)
	for _, tc := range []struct{ owner, want string }{
		{"_geneve._udp.ports.local.", `Generic\ Network\ Virtualization\ Encapsulation\ \(Geneve\)._geneve._udp.ports.local.`},
		{"_rets._tcp.ports.local.", "RETS._rets._tcp.ports.local."},
		// Dots in the description are escaped, not label breaks.
		{"_z39-50._tcp.ports.local.", `ANSI\ Z39\.50._z39-50._tcp.ports.local.`},
	} {
		a := snap.Lookup(tc.owner, dns.TypePTR)
		if len(a.Answer) != 1 || a.Answer[0].(*dns.PTR).Ptr != tc.want {
			t.Errorf("%s PTR = %v, want %s", tc.owner, a.Answer, tc.want)
		}
	}
	// Every instance label is at most 63 bytes and valid UTF-8.
	for _, name := range snap.Names() {
		for _, rr := range snap.RRs(name) {
			p, ok := rr.(*dns.PTR)
			if !ok || !strings.HasPrefix(name, "_") || strings.HasPrefix(name, "_services.") {
				continue
			}
			labels := dns.SplitDomainName(p.Ptr)
			buf := make([]byte, 300)
			n, err := dns.PackDomainName(p.Ptr, buf, 0, nil, false)
			if err != nil || buf[0] > 63 || n > 255 {
				t.Errorf("%s: bad instance name %q: %v", name, p.Ptr, err)
			}
			if !isUTF8(string(buf[1 : 1+buf[0]])) {
				t.Errorf("%s: instance label %q is not UTF-8", name, labels[0])
			}
		}
	}
}

func TestAliasesStayOutOfEnumeration(t *testing.T) {
	snap := zonetest.Full(t)
	for _, name := range snap.Names() {
		if !strings.HasPrefix(name, "_services._dns-sd._udp.") {
			continue
		}
		for _, rr := range snap.RRs(name) {
			if p, ok := rr.(*dns.PTR); ok {
				if a := snap.Lookup(p.Ptr, dns.TypeCNAME); a.Outcome == zone.Success {
					t.Errorf("%s lists alias %s", name, p.Ptr)
				}
			}
		}
	}
}

func TestServicesApexPointsAtBrowseDomains(t *testing.T) {
	snap := zonetest.Full(t)
	a := snap.Lookup("_services._dns-sd._udp.ports.local.", dns.TypeTXT)
	if a.Outcome != zone.Success || !slices.Contains(a.Answer[0].(*dns.TXT).Txt, "browse=b._dns-sd._udp.ports.local.") {
		t.Errorf("apex _services TXT = %v", a.Answer)
	}
	// The types are too many to list at the origin; ServiceTypes has them
	// all (multicast DNS lists them there, RFC 6762 has no 512-byte limit).
	types := snap.ServiceTypes()
	if len(types) < 11000 || !slices.Contains(types, "_rets._tcp.ports.local.") || slices.ContainsFunc(types, func(s string) bool {
		return strings.HasSuffix(s, "._sctp.ports.local.") || strings.HasSuffix(s, "._dccp.ports.local.")
	}) {
		t.Errorf("ServiceTypes: %d types, want _rets._tcp among them and no sctp/dccp", len(types))
	}
}

// BrowseNames names exactly the DNS-SD lists of the built zone: each
// answers PTR, and every name of the zone that holds a browse or
// services list, the apex's TXT-only _services name aside, is among them;
// and its instances are the zone's, each with its TXT (and its SRV when
// the service has a port).
func TestBrowseNamesAreTheZones(t *testing.T) {
	for _, tc := range []struct {
		name string
		snap *zone.Snapshot
		reg  *registry.Registry
	}{
		{"excerpt", zonetest.Excerpt(t), zonetest.ExcerptRegistry(t)},
		{"full", zonetest.Full(t), zonetest.FullRegistry(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names, err := zone.BrowseNames(tc.reg, zonetest.Origin)
			if err != nil {
				t.Fatal(err)
			}
			lists := names.Lists
			want := map[string]bool{}
			for _, l := range lists {
				want[l] = true
				if a := tc.snap.Lookup(l, dns.TypePTR); a.Outcome != zone.Success || len(a.Answer) == 0 {
					t.Errorf("%s: %s with no PTR", l, a.Outcome)
				}
			}
			n := 0
			for _, name := range tc.snap.Names() {
				first, _, _ := strings.Cut(name, ".")
				if first != "b" && first != "_services" || !strings.Contains(name, "._dns-sd._udp.") {
					continue
				}
				if name == "_services._dns-sd._udp."+zonetest.Origin {
					continue
				}
				n++
				if !want[name] {
					t.Errorf("the zone's list %s is not among BrowseNames", name)
				}
			}
			if n != len(lists) {
				t.Errorf("%d lists in the zone, %d from BrowseNames", n, len(lists))
			}
			instances := 0
			for _, name := range tc.snap.Names() {
				if strings.HasPrefix(name, "_") {
					continue
				}
				if a := tc.snap.Lookup(name, dns.TypeTXT); a.Outcome == zone.Success {
					instances++
				}
			}
			for _, inst := range names.Instances {
				if a := tc.snap.Lookup(inst, dns.TypeTXT); a.Outcome != zone.Success || a.Answer[0].Header().Name != inst {
					t.Errorf("instance %s TXT: %s %v", inst, a.Outcome, a.Answer)
				}
			}
			if instances != len(names.Instances) {
				t.Errorf("%d instances in the zone, %d from BrowseNames", instances, len(names.Instances))
			}
			t.Logf("%d lists, %d instances", n, instances)
		})
	}
}
