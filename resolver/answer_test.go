package resolver_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/querymix"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/registry"
	"github.com/svcdns/svcdns/resolver"
	"github.com/svcdns/svcdns/zone"
)

// variant is one way a client may ask: transport and EDNS settings.
type variant struct {
	name    string
	tcp     bool
	edns    bool
	do      bool
	udpSize uint16
	cookie  bool // an EDNS COOKIE option, as BIND and Unbound send
}

var variants = []variant{
	{"udp-noedns", false, false, false, 0, false},
	{"udp-1232", false, true, false, 1232, false},
	{"udp-4096-do", false, true, true, 4096, false},
	{"udp-512", false, true, false, 512, false},
	{"udp-1232-cookie", false, true, false, 1232, true},
	{"tcp", true, true, false, 65535, false},
	{"tcp-noedns", true, false, false, 0, false},
}

func pack(t testing.TB, q querymix.Query, v variant, id uint16, rd bool) []byte {
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Type)
	m.Id = id
	m.RecursionDesired = rd
	m.CheckingDisabled = id%3 == 0
	if v.edns {
		m.SetEdns0(v.udpSize, v.do)
		if v.cookie {
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0123456789abcdef"})
		}
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kind is one kind of answer the wire path writes, with questions that
// get it.
type kind struct {
	name string
	qs   []querymix.Query
}

var kinds struct {
	once sync.Once
	all  []kind
}

// answerKinds samples every kind of name of the full zone: services (SRV,
// TXT, DNS-SD PTR with the instance in the additional section) and their
// instances, aliases (CNAME chains, through to NODATA), the browse tree's
// lists, the apex and hosts, empty non-terminals, port names of every
// protocol, invalid service names (EDE), names under the SOA's MNAME and
// RNAME (whose negative answers compress onto the question), unknown
// names, and names the zone refuses. Every alias is taken, and every 40th
// other name.
func answerKinds(t testing.TB) []kind {
	snap := zonetest.Full(t)
	kinds.once.Do(func() {
		k := map[string][]querymix.Query{}
		add := func(kind, name string, types ...uint16) {
			for _, ty := range types {
				k[kind] = append(k[kind], querymix.Query{Name: name, Type: ty})
			}
		}
		aliases := map[string]bool{}
		for _, r := range zonetest.FullRegistry(t).Records {
			if r.Status == registry.Alias && r.Proto != registry.ProtoNone {
				if owner, err := zone.ServiceOwner(r.Name, r.Proto, zonetest.Origin); err == nil {
					aliases[owner] = true
				}
			}
		}
		for i, name := range snap.Names() {
			if !aliases[name] && i%40 != 0 {
				continue
			}
			rrs := snap.RRs(name)
			alias := len(rrs) > 0 && rrs[0].Header().Rrtype == dns.TypeCNAME
			kind := "hit"
			switch {
			case alias:
				kind = "alias"
			case strings.Contains(name, "_dns-sd."):
				kind = "dnssd-list"
			case len(rrs) > 0 && rrs[0].Header().Rrtype == dns.TypeSRV && !strings.HasPrefix(name, "_"):
				kind = "dnssd-instance"
			}
			seen := map[uint16]bool{}
			for _, rr := range rrs {
				if t := rr.Header().Rrtype; !seen[t] {
					seen[t] = true
					add(kind, name, t)
				}
			}
			add(kind, name, dns.TypeANY, dns.TypeCNAME)
			add("nodata", name, dns.TypeAAAA, 0, 65280)
			add("unknown", "x-"+fmt.Sprint(i)+"."+name, dns.TypeA)
		}
		o := zonetest.Origin
		add("hit", o, dns.TypeSOA, dns.TypeNS, dns.TypeANY)
		add("hit", "svc."+o, dns.TypeA, dns.TypeANY)
		add("hit", "ns1."+o, dns.TypeA)
		add("nodata", "ns1."+o, dns.TypeAAAA, dns.TypeTXT)
		add("nodata", o, dns.TypeA, dns.TypeCNAME)
		for _, ent := range []string{"_tcp.", "_udp.", "_sctp.", "_dccp.", "_dns-sd._udp.", "tcp.", "_dns-sd._udp.tcp."} {
			add("nodata", ent+o, dns.TypeSRV, dns.TypePTR, dns.TypeANY)
		}
		for _, n := range []string{"x.ns1.", "a.b.ns1.", "hostmaster.", "x.hostmaster.", "ns2.", "_rets._tcp.x.", "x._bmc_ctd_ldap._tcp.",
			"_nosuchsvc._tcp.", "_unknown7._udp.", "a.b.c.d.e.f.g.h.", "xports.local." + o, "tcp.tcp."} {
			add("unknown", n+o, dns.TypeA, dns.TypeSRV)
		}
		for _, n := range []string{"_bad_name._tcp.", "_-lead._udp.", "_trail-._tcp.", "_a--b._udp.", "_waytoolongservicename._tcp.",
			"_123._sctp.", "_._tcp.", "_x\\.y._tcp.", "_caf\\195\\169._udp.", "_sp\\032ace._dccp.", "_q\\\"uote._tcp."} {
			add("invalid", n+o, dns.TypeSRV, dns.TypeTXT)
		}
		rng := rand.New(rand.NewPCG(12, 12))
		ports := []int{0, 1, 7, 53, 80, 443, 6000, 6031, 6063, 6081, 6103, 9999, 49151, 49152, 65535}
		for range 60 {
			ports = append(ports, rng.IntN(65536))
		}
		for _, p := range ports {
			for _, proto := range []string{"tcp", "udp", "sctp", "dccp"} {
				add("port", fmt.Sprintf("_%d._%s.%s", p, proto, o), dns.TypePTR, dns.TypeTXT, dns.TypeANY, dns.TypeSRV)
			}
		}
		add("port", "_06081._udp."+o, dns.TypeTXT) // leading zero: not a port name
		add("port", "_65536._udp."+o, dns.TypeTXT)
		add("port", "_6081._udp.x."+o, dns.TypeTXT)
		add("refused", "example.com.", dns.TypeA, dns.TypeSOA)
		add("refused", "local.", dns.TypeSOA)
		add("refused", ".", dns.TypeNS)
		add("refused", "xports.local.", dns.TypeA)
		add("refused", o, dns.TypeAXFR, dns.TypeIXFR)
		add("truncated", "_x11._tcp."+o, dns.TypeSRV, dns.TypeANY)
		add("truncated", "_services._dns-sd._udp.a.tcp."+o, dns.TypePTR)
		for _, name := range []string{"hit", "alias", "dnssd-list", "dnssd-instance", "nodata", "unknown", "invalid", "port", "refused", "truncated"} {
			kinds.all = append(kinds.all, kind{name, k[name]})
		}
	})
	return kinds.all
}

// mixCase flips the case of some letters, as a 0x20-randomizing resolver
// does.
func mixCase(rng *rand.Rand, s string) string {
	b := []byte(s)
	for i, c := range b {
		if (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') && rng.IntN(2) == 0 {
			b[i] ^= 0x20
		}
	}
	return string(b)
}

// TestWireEqualsMsgPath answers the benchmark query mix and a sample of
// every kind of name (answerKinds), on the wire path (from the compiled
// zone) and on dns.Msg values (Respond, packed by miekg/dns): the replies
// must be equal byte for byte, each with its OPT as its last record (so
// that options can be added to it, edns.go). Every question of the mix,
// and of the small kinds, is asked in every transport and EDNS variant;
// the others in one variant each, in turn. Every other question is asked
// in mixed case, with RD set, and IDs and CD bits vary.
func TestWireEqualsMsgPath(t *testing.T) {
	h := resolver.NewHandler(zonetest.Full(t), 0, nil)
	type sample struct {
		qs  []querymix.Query
		all bool // in every variant
	}
	samples := []sample{{querymix.Generate(zonetest.FullRegistry(t), zonetest.Origin, 3000, 1), true}}
	for _, k := range answerKinds(t) {
		if len(k.qs) == 0 {
			t.Errorf("no %s questions in the sample", k.name)
		}
		samples = append(samples, sample{k.qs, len(k.qs) < 100})
	}
	rng := rand.New(rand.NewPCG(3, 4))
	out := make([]byte, 0, 65535)
	n := 0
	compare := func(q querymix.Query, v variant, id uint16, odd bool) {
		if odd {
			q.Name = mixCase(rng, q.Name)
		}
		in := pack(t, q, v, id, odd)
		if !resolver.ParsesAsPlain(in) {
			t.Fatalf("%s %s: the wire path does not take the query", q, v.name)
		}
		got := h.AnswerWire(in, v.tcp, out)
		if v.edns && !resolver.EndsWithOPT(got) {
			t.Fatalf("%s %s: the reply's OPT is not its last record", q, v.name)
		}
		want := h.AnswerViaMsg(in, v.tcp)
		if !bytes.Equal(got, want) {
			g, w := new(dns.Msg), new(dns.Msg)
			g.Unpack(got)
			w.Unpack(want)
			t.Fatalf("%s %s: wire reply differs (%d bytes, want %d):\n%v\nwant\n%v\n% x\nwant\n% x", q, v.name, len(got), len(want), g, w, got, want)
		}
		n++
	}
	for _, s := range samples {
		for i, q := range s.qs {
			if !s.all {
				compare(q, variants[i%len(variants)], uint16(i), i/len(variants)%2 == 1)
				continue
			}
			for j, v := range variants {
				compare(q, v, uint16(i*len(variants)+j), (i+j)%2 == 1)
			}
		}
	}
	t.Logf("%d replies compared", n)
}

// TestReplyFollowsClient checks that a reply carries the client's ID, RD
// and CD bits and spelling, whatever was asked before.
func TestReplyFollowsClient(t *testing.T) {
	h := resolver.NewHandler(zonetest.Excerpt(t), 0, nil)
	v := variants[1]
	first := pack(t, querymix.Query{Name: "_rets._tcp.ports.local.", Type: dns.TypeSRV}, v, 1, false)
	h.AnswerWire(first, false, make([]byte, 0, 4096))
	second := pack(t, querymix.Query{Name: "_ReTs._TCP.ports.LOCAL.", Type: dns.TypeSRV}, v, 4242, true)
	m := new(dns.Msg)
	if err := m.Unpack(h.AnswerWire(second, false, make([]byte, 0, 4096))); err != nil {
		t.Fatal(err)
	}
	if m.Id != 4242 || !m.RecursionDesired || m.Question[0].Name != "_ReTs._TCP.ports.LOCAL." {
		t.Errorf("reply: id %d rd %v question %q", m.Id, m.RecursionDesired, m.Question[0].Name)
	}
	if len(m.Answer) != 1 || m.Answer[0].(*dns.SRV).Port != 6103 || m.Answer[0].Header().Name != "_ReTs._TCP.ports.LOCAL." {
		t.Errorf("answer %v", m.Answer)
	}
}

// A new snapshot is answered from as soon as it is swapped in.
func TestSwapServesNewZone(t *testing.T) {
	ex := zonetest.Excerpt(t)
	h := resolver.NewHandler(ex, 0, nil)
	in := pack(t, querymix.Query{Name: "_x11._tcp.ports.local.", Type: dns.TypeSRV}, variants[5], 7, false)
	m := new(dns.Msg)
	m.Unpack(h.AnswerWire(in, true, nil))
	if m.Rcode != dns.RcodeNameError {
		t.Fatalf("excerpt has no x11: %v", m)
	}
	if old := h.Swap(zonetest.Full(t)); old != ex {
		t.Errorf("Swap returned %p, want the excerpt's zone %p", old, ex)
	}
	m.Unpack(h.AnswerWire(in, true, nil))
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 64 {
		t.Errorf("after swap: rcode %s, %d answers", dns.RcodeToString[m.Rcode], len(m.Answer))
	}
}

// TestSeveralZones serves two origins built from one registry, one inside
// a parent domain of the other: each question goes to the zone with the
// longest origin containing it, and is refused outside both.
func TestSeveralZones(t *testing.T) {
	reg := zonetest.ExcerptRegistry(t)
	build := func(origin string) *zone.Snapshot {
		s, err := zone.Build(reg, zone.DefaultOptions(origin), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	local, home, deep := build("ports.local."), build("home.arpa."), build("ports.home.arpa.")
	if _, err := resolver.NewHandlerZones([]*zone.Snapshot{local, build("Ports.Local")}, 0, nil); err == nil {
		t.Error("two zones with one origin accepted")
	}
	h, err := resolver.NewHandlerZones([]*zone.Snapshot{home, local, deep}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
		owner string // the SOA's owner (negative) or the answer's (success)
	}{
		{"_rets._tcp.ports.local.", dns.TypeSRV, dns.RcodeSuccess, "_rets._tcp.ports.local."},
		{"_rets._tcp.PORTS.home.arpa.", dns.TypeSRV, dns.RcodeSuccess, "_rets._tcp.PORTS.home.arpa."},
		{"_rets._tcp.home.arpa.", dns.TypeSRV, dns.RcodeSuccess, "_rets._tcp.home.arpa."},
		{"x.ports.home.arpa.", dns.TypeA, dns.RcodeNameError, "ports.home.arpa."},
		{"x.home.arpa.", dns.TypeA, dns.RcodeNameError, "home.arpa."},
		{"_6081._udp.ports.home.arpa.", dns.TypePTR, dns.RcodeSuccess, "_6081._udp.ports.home.arpa."},
		{"arpa.", dns.TypeSOA, dns.RcodeRefused, ""},
		{"example.com.", dns.TypeA, dns.RcodeRefused, ""},
	} {
		for _, v := range []variant{variants[1], variants[5]} {
			in := pack(t, querymix.Query{Name: tc.name, Type: tc.qtype}, v, 9, false)
			wire := h.AnswerWire(in, v.tcp, nil)
			if via := h.AnswerViaMsg(in, v.tcp); !bytes.Equal(wire, via) {
				t.Errorf("%s %s: wire and dns.Msg replies differ", tc.name, v.name)
			}
			m := new(dns.Msg)
			if err := m.Unpack(wire); err != nil {
				t.Fatal(err)
			}
			var owner string
			switch {
			case len(m.Answer) > 0:
				owner = m.Answer[0].Header().Name
			case len(m.Ns) > 0:
				owner = m.Ns[0].Header().Name
			}
			if m.Rcode != tc.rcode || owner != tc.owner {
				t.Errorf("%s %s: %s from %q, want %s from %q", tc.name, v.name, dns.RcodeToString[m.Rcode], owner, dns.RcodeToString[tc.rcode], tc.owner)
			}
		}
	}
	if got := h.ZoneFor("PORTS.HOME.ARPA"); got != deep {
		t.Errorf("ZoneFor(PORTS.HOME.ARPA) = %v", got)
	}
	if old := h.Swap(build("ports.home.arpa.")); old != deep {
		t.Errorf("Swap replaced %v, want the zone with the same origin", old)
	}
	if n := len(h.Zones()); n != 3 {
		t.Errorf("%d zones after a swap, want 3", n)
	}
}
