package resolver_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"math/rand/v2"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/dnssec"
	"github.com/svcdns/svcdns/internal/querymix"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/resolver"
	"github.com/svcdns/svcdns/zone"
)

// signedNow is the clock of the signed test zones.
var signedNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// signedExcerpt builds the excerpt's zone signed with a KSK and a ZSK.
func signedExcerpt(t testing.TB) (*zone.Snapshot, *dnssec.Cache) {
	t.Helper()
	ksk, err := dnssec.GenerateKey(zonetest.Origin, dns.ECDSAP256SHA256, true, signedNow.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	zsk, err := dnssec.GenerateKey(zonetest.Origin, dns.ED25519, false, signedNow.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return signedZone(t, ksk, zsk)
}

// signedZone builds the excerpt's zone signed with keys.
func signedZone(t testing.TB, keys ...*dnssec.Key) (*zone.Snapshot, *dnssec.Cache) {
	t.Helper()
	return signedZonePorts(t, zone.PortNamesAll, keys...)
}

// signedZonePorts is signedZone with the port names of mode.
func signedZonePorts(t testing.TB, mode zone.PortNames, keys ...*dnssec.Key) (*zone.Snapshot, *dnssec.Cache) {
	t.Helper()
	p := dnssec.DefaultPolicy
	p.Now = func() time.Time { return signedNow }
	cache := dnssec.NewCache(10000)
	sg, err := dnssec.NewSigner(zonetest.Origin, keys, p, cache)
	if err != nil {
		t.Fatal(err)
	}
	opts := zone.DefaultOptions(zonetest.Origin)
	opts.Signer, opts.PortNames = sg, mode
	snap, err := zone.Build(zonetest.ExcerptRegistry(t), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return snap, cache
}

var signedFullZone struct {
	once sync.Once
	snap *zone.Snapshot
	err  error
}

// signedFull builds the full registry's zone signed with an ECDSA CSK,
// once: its signed answers are made as the tests and benchmarks ask.
func signedFull(t testing.TB) *zone.Snapshot {
	t.Helper()
	reg := zonetest.FullRegistry(t)
	signedFullZone.once.Do(func() {
		key, err := dnssec.GenerateKey(zonetest.Origin, dns.ECDSAP256SHA256, true, signedNow.Add(-time.Hour))
		if err != nil {
			signedFullZone.err = err
			return
		}
		p := dnssec.DefaultPolicy
		p.Now = func() time.Time { return signedNow }
		sg, err := dnssec.NewSigner(zonetest.Origin, []*dnssec.Key{key}, p, dnssec.NewCache(dnssec.DefaultCacheSize))
		if err != nil {
			signedFullZone.err = err
			return
		}
		opts := zone.DefaultOptions(zonetest.Origin)
		opts.Signer = sg
		signedFullZone.snap, signedFullZone.err = zone.Build(reg, opts, nil)
	})
	if signedFullZone.err != nil {
		t.Fatal(signedFullZone.err)
	}
	return signedFullZone.snap
}

// validate checks a reply as a validator would, with miekg/dns's Verify:
// every RRset of every section has an RRSIG by a published key that
// verifies over it (owner names compared in any case), and no RRSIG is
// left over.
func validate(t testing.TB, snap *zone.Snapshot, m *dns.Msg) {
	t.Helper()
	keys := map[uint16]*dns.DNSKEY{}
	for _, rr := range snap.Signer().Apex() {
		if k, ok := rr.(*dns.DNSKEY); ok {
			keys[k.KeyTag()] = k
		}
	}
	for _, sec := range []struct {
		name string
		rrs  []dns.RR
	}{{"answer", m.Answer}, {"authority", m.Ns}, {"additional", m.Extra}} {
		type key struct {
			owner string
			typ   uint16
		}
		sets := map[key][]dns.RR{}
		sigs := map[key][]*dns.RRSIG{}
		for _, rr := range sec.rrs {
			h := rr.Header()
			if h.Rrtype == dns.TypeOPT {
				continue
			}
			c := dns.Copy(rr)
			c.Header().Name = strings.ToLower(h.Name)
			if s, ok := c.(*dns.RRSIG); ok {
				sigs[key{c.Header().Name, s.TypeCovered}] = append(sigs[key{c.Header().Name, s.TypeCovered}], s)
				continue
			}
			sets[key{c.Header().Name, h.Rrtype}] = append(sets[key{c.Header().Name, h.Rrtype}], c)
		}
		for k, set := range sets {
			if len(sigs[k]) == 0 {
				t.Errorf("%s: %s %s has no RRSIG", sec.name, k.owner, dns.TypeToString[k.typ])
			}
			for _, s := range sigs[k] {
				dk := keys[s.KeyTag]
				if dk == nil {
					t.Errorf("%s: %v by an unpublished key", sec.name, s)
					continue
				}
				if err := s.Verify(dk, set); err != nil {
					t.Errorf("%s: %v does not verify over %v: %v", sec.name, s, set, err)
				}
				if !s.ValidityPeriod(signedNow) {
					t.Errorf("%s: %v not valid now", sec.name, s)
				}
				if s.Hdr.Ttl > s.OrigTtl || s.Hdr.Ttl != set[0].Header().Ttl {
					t.Errorf("%s: %v: TTL %d, covered RRset %d, original %d", sec.name, s, s.Hdr.Ttl, set[0].Header().Ttl, s.OrigTtl)
				}
			}
		}
		for k := range sigs {
			if sets[k] == nil {
				t.Errorf("%s: RRSIG over %s %s with no such RRset", sec.name, k.owner, dns.TypeToString[k.typ])
			}
		}
	}
}

func dnssecQuery(name string, qtype uint16, co bool) query {
	return query{name: name, qtype: qtype, tcp: true, edit: func(m *dns.Msg) {
		m.IsEdns0().SetDo()
		if co {
			m.IsEdns0().SetCo()
		}
	}}
}

// types lists the types of a section's records, in order.
func types(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if t := rr.Header().Rrtype; t != dns.TypeOPT {
			out = append(out, dns.TypeToString[t])
		}
	}
	return out
}

func nsecOf(t *testing.T, m *dns.Msg) *dns.NSEC {
	t.Helper()
	for _, rr := range append(append([]dns.RR{}, m.Answer...), m.Ns...) {
		if n, ok := rr.(*dns.NSEC); ok {
			return n
		}
	}
	t.Fatalf("no NSEC in %v", m)
	return nil
}

func bitmap(types ...uint16) []uint16 {
	slices.Sort(types)
	return types
}

// TestSignedAnswers answers DO=1 queries from a signed zone on the
// compiled path and checks the sections, the compact denial records and
// every signature, and that Respond (the dns.Msg path) gives the same
// bytes.
func TestSignedAnswers(t *testing.T) {
	snap, _ := signedExcerpt(t)
	h := resolver.NewHandler(snap, 0, nil)
	soaNeg := []string{"SOA", "RRSIG", "NSEC", "RRSIG"}
	cases := []struct {
		name       string
		q          query
		rcode      int
		answer     []string
		authority  []string
		additional []string
		nsec       string   // owner of the NSEC; "" none
		bitmap     []uint16 // its types
		ede        string
		co         bool // CO in the reply's OPT
	}{
		{name: "SRV", q: dnssecQuery("_rets._tcp.ports.local.", dns.TypeSRV, false),
			answer: []string{"SRV", "RRSIG"}, additional: []string{"A", "RRSIG"}},
		{name: "TXT", q: dnssecQuery("_geneve._udp.ports.local.", dns.TypeTXT, false), answer: []string{"TXT", "RRSIG"}},
		{name: "0x20 mixed case", q: dnssecQuery("_ReTs._TcP.PoRtS.LoCaL.", dns.TypeSRV, false),
			answer: []string{"SRV", "RRSIG"}, additional: []string{"A", "RRSIG"}},
		{name: "alias CNAME chain", q: dnssecQuery("_bmc_ctd_ldap._tcp.ports.local.", dns.TypeSRV, false),
			answer: []string{"CNAME", "RRSIG", "SRV", "RRSIG"}, additional: []string{"A", "RRSIG"}},
		{name: "DNS-SD PTR with its additionals", q: dnssecQuery("_rets._tcp.ports.local.", dns.TypePTR, false),
			answer: []string{"PTR", "RRSIG"}, additional: []string{"SRV", "RRSIG", "TXT", "RRSIG", "A", "RRSIG"}},
		{name: "port name", q: dnssecQuery("_6081._udp.ports.local.", dns.TypePTR, false), answer: []string{"PTR", "RRSIG"}},
		{name: "port name TXT", q: dnssecQuery("_65000._sctp.ports.local.", dns.TypeTXT, false), answer: []string{"TXT", "RRSIG"}},
		{name: "DNSKEY", q: dnssecQuery("ports.local.", dns.TypeDNSKEY, false), answer: []string{"DNSKEY", "DNSKEY", "RRSIG"}},
		{name: "CDS", q: dnssecQuery("ports.local.", dns.TypeCDS, false), answer: []string{"CDS", "RRSIG"}},
		{name: "CDNSKEY", q: dnssecQuery("ports.local.", dns.TypeCDNSKEY, false), answer: []string{"CDNSKEY", "RRSIG"}},
		{name: "NXDOMAIN becomes NOERROR with NXNAME", q: dnssecQuery("_nosuchsvc._tcp.ports.local.", dns.TypeSRV, false),
			authority: soaNeg, nsec: "_nosuchsvc._tcp.ports.local.", bitmap: bitmap(dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNXNAME)},
		{name: "NXDOMAIN with CO", q: dnssecQuery("_nosuchsvc._tcp.ports.local.", dns.TypeSRV, true), rcode: dns.RcodeNameError, co: true,
			authority: soaNeg, nsec: "_nosuchsvc._tcp.ports.local.", bitmap: bitmap(dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNXNAME)},
		{name: "invalid name keeps its EDE", q: dnssecQuery("_bad_name._tcp.ports.local.", dns.TypeSRV, false),
			authority: soaNeg, nsec: "_bad_name._tcp.ports.local.", bitmap: bitmap(dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNXNAME), ede: "may contain only"},
		{name: "NXDOMAIN in mixed case", q: dnssecQuery("_NoSuchSvc._TCP.ports.local.", dns.TypeSRV, false),
			authority: soaNeg, nsec: "_nosuchsvc._tcp.ports.local.", bitmap: bitmap(dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNXNAME)},
		{name: "NODATA lists the types present", q: dnssecQuery("_rets._tcp.ports.local.", dns.TypeAAAA, false),
			authority: soaNeg, nsec: "_rets._tcp.ports.local.", bitmap: bitmap(dns.TypeSRV, dns.TypeTXT, dns.TypePTR, dns.TypeRRSIG, dns.TypeNSEC)},
		{name: "NODATA at a port name", q: dnssecQuery("_6081._udp.ports.local.", dns.TypeSRV, false),
			authority: soaNeg, nsec: "_6081._udp.ports.local.", bitmap: bitmap(dns.TypePTR, dns.TypeTXT, dns.TypeRRSIG, dns.TypeNSEC)},
		{name: "NODATA at the apex", q: dnssecQuery("ports.local.", dns.TypeA, false),
			authority: soaNeg, nsec: "ports.local.", bitmap: bitmap(dns.TypeSOA, dns.TypeNS, dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY, dns.TypeRRSIG, dns.TypeNSEC)},
		{name: "empty non-terminal", q: dnssecQuery("_tcp.ports.local.", dns.TypeSRV, false),
			authority: soaNeg, nsec: "_tcp.ports.local.", bitmap: bitmap(dns.TypeRRSIG, dns.TypeNSEC)},
		{name: "NODATA after a CNAME", q: dnssecQuery("_bmc_ctd_ldap._tcp.ports.local.", dns.TypeAAAA, false),
			answer: []string{"CNAME", "RRSIG"}, authority: soaNeg, nsec: "_bmc-ctd-ldap._tcp.ports.local.",
			bitmap: bitmap(dns.TypeSRV, dns.TypeTXT, dns.TypePTR, dns.TypeRRSIG, dns.TypeNSEC)},
		{name: "NSEC query answers the NSEC", q: dnssecQuery("_rets._tcp.ports.local.", dns.TypeNSEC, false),
			answer: []string{"NSEC", "RRSIG"}, nsec: "_rets._tcp.ports.local.", bitmap: bitmap(dns.TypeSRV, dns.TypeTXT, dns.TypePTR, dns.TypeRRSIG, dns.TypeNSEC)},
		{name: "RRSIG query answers the RRSIGs", q: dnssecQuery("_geneve._udp.ports.local.", dns.TypeRRSIG, false),
			answer: []string{"RRSIG", "RRSIG", "RRSIG"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, err := tc.q.msg().Pack()
			if err != nil {
				t.Fatal(err)
			}
			compiled := h.Stats().Compiled()
			wire := h.AnswerWire(in, true, make([]byte, 0, 65535))
			if h.Stats().Compiled() != compiled+1 {
				t.Error("not answered from the compiled zone")
			}
			if via := h.AnswerViaMsg(in, true); !bytes.Equal(wire, via) {
				t.Errorf("the compiled reply differs from Respond's:\n% x\n% x", wire, via)
			}
			m := new(dns.Msg)
			if err := m.Unpack(wire); err != nil {
				t.Fatal(err)
			}
			if m.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.rcode])
			}
			if !m.Authoritative {
				t.Error("AA=0")
			}
			for _, sec := range []struct {
				name      string
				got, want []string
			}{{"answer", types(m.Answer), tc.answer}, {"authority", types(m.Ns), tc.authority}, {"additional", types(m.Extra), tc.additional}} {
				if !slices.Equal(sec.got, sec.want) {
					t.Errorf("%s %v, want %v\n%v", sec.name, sec.got, sec.want, m)
				}
			}
			if tc.name != "RRSIG query answers the RRSIGs" {
				validate(t, snap, m)
			}
			if tc.nsec != "" {
				n := nsecOf(t, m)
				if n.Hdr.Name != tc.nsec && !strings.EqualFold(n.Hdr.Name, tc.q.name) {
					t.Errorf("NSEC owner %s, want %s", n.Hdr.Name, tc.nsec)
				}
				if n.NextDomain != `\000.`+tc.nsec {
					t.Errorf("NSEC next %s, want \\000.%s (RFC 9824: it covers the name alone)", n.NextDomain, tc.nsec)
				}
				if !slices.Equal(n.TypeBitMap, tc.bitmap) {
					t.Errorf("NSEC types %v, want %v", n.TypeBitMap, tc.bitmap)
				}
				if n.Hdr.Ttl != snap.NegativeTTL() {
					t.Errorf("NSEC TTL %d, want %d", n.Hdr.Ttl, snap.NegativeTTL())
				}
			}
			opt := m.IsEdns0()
			if opt == nil || !opt.Do() || opt.Co() != tc.co {
				t.Errorf("reply OPT %v, want DO and CO=%v", opt, tc.co)
			}
			if ede := edeText(m); (ede == "") != (tc.ede == "") || !strings.Contains(ede, tc.ede) {
				t.Errorf("EDE %q, want %q", ede, tc.ede)
			}
		})
	}
}

// TestSignedRRSIGQuery: an RRSIG query gets the RRSIGs over every RRset at
// the name, each of which verifies over its set.
func TestSignedRRSIGQuery(t *testing.T) {
	snap, _ := signedExcerpt(t)
	h := resolver.NewHandler(snap, 0, nil)
	m := h.Respond(dnssecQuery("_geneve._udp.ports.local.", dns.TypeRRSIG, false).msg(), true)
	sets, _ := snap.RRsets("_geneve._udp.ports.local.")
	if len(m.Answer) != len(sets) {
		t.Fatalf("%d RRSIGs for %d RRsets", len(m.Answer), len(sets))
	}
	for i, set := range sets {
		sig := m.Answer[i].(*dns.RRSIG)
		if sig.TypeCovered != set[0].Header().Rrtype {
			t.Errorf("RRSIG %d covers %s, want %s", i, dns.TypeToString[sig.TypeCovered], dns.TypeToString[set[0].Header().Rrtype])
		}
	}
}

// TestNXNAMEQuery: RFC 9824 §3.5, a query for the NXNAME meta-type gets
// FORMERR from a signed zone, with or without DO.
func TestNXNAMEQuery(t *testing.T) {
	snap, _ := signedExcerpt(t)
	h := resolver.NewHandler(snap, 0, nil)
	for _, q := range []query{dnssecQuery("_rets._tcp.ports.local.", dns.TypeNXNAME, false), {name: "_rets._tcp.ports.local.", qtype: dns.TypeNXNAME}} {
		if m := h.Respond(q.msg(), false); m.Rcode != dns.RcodeFormatError || len(m.Answer)+len(m.Ns) != 0 {
			t.Errorf("NXNAME query: %v", m)
		}
		// The compiled path refuses it alike, byte for byte.
		in, err := q.msg().Pack()
		if err != nil {
			t.Fatal(err)
		}
		compiled := h.Stats().Compiled()
		wire := h.AnswerWire(in, false, make([]byte, 0, 512))
		if h.Stats().Compiled() != compiled+1 {
			t.Error("NXNAME query: not answered on the compiled path")
		}
		if via := h.AnswerViaMsg(in, false); !bytes.Equal(wire, via) {
			t.Errorf("NXNAME query: the compiled reply differs from Respond's:\n% x\n% x", wire, via)
		}
		if m := new(dns.Msg); m.Unpack(wire) != nil || m.Rcode != dns.RcodeFormatError {
			t.Errorf("NXNAME query on the compiled path: %v", m)
		}
	}
	// An unsigned zone does not implement RFC 9824: it answers as before.
	u := resolver.NewHandler(zonetest.Excerpt(t), 0, nil)
	if m := u.Respond(query{name: "_rets._tcp.ports.local.", qtype: dns.TypeNXNAME}.msg(), false); m.Rcode != dns.RcodeSuccess {
		t.Errorf("unsigned zone, NXNAME query: %s", dns.RcodeToString[m.Rcode])
	}
}

// TestCompactDenialLongName: a name whose \000 label would pass 255
// octets gets the next name RFC 4471 §3.1.2 derives, and it validates.
func TestCompactDenialLongName(t *testing.T) {
	snap, _ := signedExcerpt(t)
	h := resolver.NewHandler(snap, 0, nil)
	// 255 octets in wire form: ports.local is 13 with the root, three
	// labels of 63 take 192, which leaves 50 for a label of 49.
	name := strings.Repeat("a", 49) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + ".ports.local."
	if l := len(name) + 1; l != 255 {
		t.Fatalf("test name is %d octets", l)
	}
	m := h.Respond(dnssecQuery(name, dns.TypeA, false).msg(), true)
	validate(t, snap, m)
	n := nsecOf(t, m)
	want := strings.Repeat("a", 48) + "b" + strings.TrimPrefix(name, strings.Repeat("a", 49))
	if n.NextDomain != want {
		t.Errorf("next %s, want %s", n.NextDomain, want)
	}
	if !slices.Contains(n.TypeBitMap, dns.TypeNXNAME) {
		t.Errorf("types %v lack NXNAME", n.TypeBitMap)
	}
}

// TestDO0Unchanged: DO=0 replies of a signed zone are the replies of the
// same zone unsigned, byte for byte once the SOA serial (which the keys
// move) is set alike, over the benchmark query mix, on the cached path.
func TestDO0Unchanged(t *testing.T) {
	signed, _ := signedExcerpt(t)
	plain := zonetest.Excerpt(t)
	hs, hp := resolver.NewHandler(signed, 0, nil), resolver.NewHandler(plain, 0, nil)
	mix := querymix.Generate(zonetest.ExcerptRegistry(t), zonetest.Origin, 2000, 14)
	out1, out2 := make([]byte, 0, 65535), make([]byte, 0, 65535)
	n := 0
	for i, q := range mix {
		for _, v := range variants {
			if v.do {
				continue
			}
			in := pack(t, q, v, uint16(i), false)
			a := normalizeSerial(t, hs.AnswerWire(in, v.tcp, out1))
			b := normalizeSerial(t, hp.AnswerWire(in, v.tcp, out2))
			if !bytes.Equal(a, b) {
				t.Fatalf("%s %s %+v: signed zone's DO=0 reply differs\n%v\nunsigned:\n%v", q.Name, dns.TypeToString[q.Type], v, unpackOrErr(a), unpackOrErr(b))
			}
			n++
		}
	}
	t.Logf("%d replies compared", n)
}

func unpackOrErr(b []byte) any {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return err
	}
	return m
}

// normalizeSerial sets the serial of every SOA in a reply to 1, packing
// the reply again the way the handler packs it.
func normalizeSerial(t *testing.T, wire []byte) []byte {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(wire); err != nil {
		t.Fatal(err)
	}
	for _, rr := range append(m.Answer, m.Ns...) {
		if s, ok := rr.(*dns.SOA); ok {
			s.Serial = 1
		}
	}
	m.Compress = true
	out, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSignedOncePerSnapshot: DO=1 queries of a signed zone are answered
// from the compiled zone. A stored name's signed answer is made on the
// first DO=1 question that needs it and kept with the snapshot: later
// questions do not even look at the signature cache. A new snapshot of
// the same zone version and signing epoch (a reload without change)
// takes its signatures from the cache; one of the next epoch signs
// again. DO=0 queries of a signed zone, and DO=1 queries of an unsigned
// one, get unsigned compiled answers.
func TestSignedOncePerSnapshot(t *testing.T) {
	ksk, err := dnssec.GenerateKey(zonetest.Origin, dns.ECDSAP256SHA256, true, signedNow.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	now := signedNow
	p := dnssec.DefaultPolicy
	p.Now = func() time.Time { return now }
	cache := dnssec.NewCache(1000)
	build := func(prev *zone.Snapshot) *zone.Snapshot {
		sg, err := dnssec.NewSigner(zonetest.Origin, []*dnssec.Key{ksk}, p, cache)
		if err != nil {
			t.Fatal(err)
		}
		opts := zone.DefaultOptions(zonetest.Origin)
		opts.Signer = sg
		snap, err := zone.Build(zonetest.ExcerptRegistry(t), opts, prev)
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	snap := build(nil)
	h := resolver.NewHandler(snap, 0, nil)
	q := dnssecQuery("_rets._tcp.ports.local.", dns.TypeSRV, false)
	q.tcp = false
	in, err := q.msg().Pack()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 0, 65535)
	answer := func() []byte { return append([]byte(nil), h.AnswerWire(in, false, out)...) }
	first := answer()
	for range 3 {
		if again := answer(); !bytes.Equal(again, first) {
			t.Fatal("a later DO=1 reply differs from the first")
		}
	}
	if c, m := h.Stats().Compiled(), h.Stats().Message(); c != 4 || m != 0 {
		t.Errorf("DO=1 of a signed zone: %d compiled answers, %d on dns.Msg; want 4 and 0", c, m)
	}
	st := cache.Stats()
	// Two RRsets (SRV, and A in the additional section), signed once.
	if st.Misses() != 2 || st.Hits() != 0 || st.Signatures() != 2 {
		t.Errorf("signature cache: %d misses, %d hits, %d signatures; want 2, 0, 2", st.Misses(), st.Hits(), st.Signatures())
	}
	m := new(dns.Msg)
	if err := m.Unpack(first); err != nil {
		t.Fatal(err)
	}
	validate(t, snap, m)

	// The same zone again, as a reload without change builds it.
	same := build(snap)
	if same.Serial() != snap.Serial() {
		t.Fatalf("serial %d after a reload without change, was %d", same.Serial(), snap.Serial())
	}
	h.Swap(same)
	if again := answer(); !bytes.Equal(again, first) {
		t.Error("the same zone's next snapshot sends other signatures")
	}
	if st.Misses() != 2 || st.Hits() != 2 {
		t.Errorf("after a reload: %d misses, %d hits; want 2 and 2", st.Misses(), st.Hits())
	}

	// The next signing epoch: the zone is re-signed under a new serial.
	now = now.Add(p.Validity - p.Refresh)
	next := build(same)
	h.Swap(next)
	m = new(dns.Msg)
	if err := m.Unpack(answer()); err != nil {
		t.Fatal(err)
	}
	if st.Misses() != 4 || st.Signatures() != 4 {
		t.Errorf("next epoch: %d misses, %d signatures; want 4 each", st.Misses(), st.Signatures())
	}
	old := new(dns.Msg)
	if err := old.Unpack(first); err != nil {
		t.Fatal(err)
	}
	if a, b := m.Answer[1].(*dns.RRSIG), old.Answer[1].(*dns.RRSIG); a.Inception <= b.Inception || a.Expiration <= b.Expiration {
		t.Errorf("next epoch: %v, last epoch %v", a, b)
	}

	q.edit = nil
	in0, err := q.msg().Pack()
	if err != nil {
		t.Fatal(err)
	}
	m = new(dns.Msg)
	if err := m.Unpack(h.AnswerWire(in0, false, out)); err != nil {
		t.Fatal(err)
	}
	if n := len(m.Answer) + len(m.Extra); n != 3 {
		t.Errorf("DO=0 of a signed zone: %d records, want SRV, A and OPT", n)
	}

	u := resolver.NewHandler(zonetest.Excerpt(t), 0, nil)
	m = new(dns.Msg)
	if err := m.Unpack(u.AnswerWire(in, false, out)); err != nil {
		t.Fatal(err)
	}
	if c := u.Stats().Compiled(); c != 1 || len(m.Answer) != 1 {
		t.Errorf("unsigned zone, DO=1: %d compiled answers, answer %v", c, m.Answer)
	}
}

// doVariants are the ways a validating resolver asks: DO=1 over UDP
// with several payload sizes (512 truncates many signed answers), with
// a cookie, and over TCP.
var doVariants = []variant{
	{"udp-1232-do", false, true, true, 1232, false},
	{"udp-4096-do", false, true, true, 4096, false},
	{"udp-512-do", false, true, true, 512, false},
	{"udp-1232-cookie-do", false, true, true, 1232, true},
	{"tcp-do", true, true, true, 65535, false},
}

// packDO is pack with DO=1, and the CO flag when co is set.
func packDO(t testing.TB, q querymix.Query, v variant, id uint16, odd, co bool) []byte {
	in := pack(t, q, v, id, odd)
	if co {
		// The OPT is the last record: its TTL's flags follow its CLASS.
		in[len(in)-4-len(optionBytes(v))] |= 0x40
	}
	return in
}

// optionBytes is the EDNS options pack writes for v.
func optionBytes(v variant) []byte {
	if v.cookie {
		return make([]byte, 4+8) // code, length, an 8-byte client cookie
	}
	return nil
}

// TestSignedWireEqualsMsgPath is TestWireEqualsMsgPath for DO=1 queries to
// the full registry's zone signed: the compiled path (stored names'
// signed answers, port names and denials signed per query) and Respond
// must give the same bytes, over the benchmark query mix in every DO
// variant and a sample of every kind of name (answerKinds) in one variant
// each in turn, plus questions for NSEC and RRSIG at each kind. Every
// other question is in mixed case, every third sets CO; a sample of the
// replies is checked as a validator would.
func TestSignedWireEqualsMsgPath(t *testing.T) {
	snap := signedFull(t)
	h := resolver.NewHandler(snap, 0, nil)
	samples := [][]querymix.Query{querymix.Generate(zonetest.FullRegistry(t), zonetest.Origin, 600, 5)}
	for _, k := range answerKinds(t) {
		qs := k.qs
		for i, q := range k.qs {
			if i%5 == 0 {
				qs = append(qs, querymix.Query{Name: q.Name, Type: dns.TypeNSEC}, querymix.Query{Name: q.Name, Type: dns.TypeRRSIG})
			}
		}
		samples = append(samples, qs)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	out := make([]byte, 0, 65535)
	n, validated := 0, 0
	compare := func(q querymix.Query, v variant, id uint16, odd, co bool) {
		if odd {
			q.Name = mixCase(rng, q.Name)
		}
		in := packDO(t, q, v, id, odd, co)
		got := h.AnswerWire(in, v.tcp, out)
		if !resolver.EndsWithOPT(got) {
			t.Fatalf("%s %s: the reply's OPT is not its last record", q, v.name)
		}
		want := h.AnswerViaMsg(in, v.tcp)
		if !bytes.Equal(got, want) {
			g, w := new(dns.Msg), new(dns.Msg)
			g.Unpack(got)
			w.Unpack(want)
			t.Fatalf("%s %s co=%v: compiled reply differs (%d bytes, want %d):\n%v\nwant\n%v", q, v.name, co, len(got), len(want), g, w)
		}
		n++
		if n%7 == 0 {
			m := new(dns.Msg)
			if err := m.Unpack(got); err != nil {
				t.Fatal(err)
			}
			if !m.Truncated && q.Type != dns.TypeRRSIG && (m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError) {
				validate(t, snap, m)
				validated++
			}
		}
	}
	for s, qs := range samples {
		for i, q := range qs {
			if s > 0 {
				compare(q, doVariants[i%len(doVariants)], uint16(i), i/len(doVariants)%2 == 1, i%3 == 0)
				continue
			}
			for j, v := range doVariants {
				compare(q, v, uint16(i*len(doVariants)+j), (i+j)%2 == 1, (i+j)%3 == 0)
			}
		}
	}
	if m := h.Stats().Message(); m != 0 {
		t.Errorf("%d DO=1 queries answered on dns.Msg values", m)
	}
	t.Logf("%d replies compared, %d validated", n, validated)
}

// TestSignedAnswersAllocateNothing: once signed, a DO=1 answer of every
// kind (answerKinds) costs no allocation, in every DO variant: stored
// names copy their signed answers, and port names and names that do not
// exist find their signatures in the cache without allocating. So does
// a random-subdomain flood whose names were signed before.
func TestSignedAnswersAllocateNothing(t *testing.T) {
	h := resolver.NewHandler(signedFull(t), 0, nil)
	out := make([]byte, 0, 65535)
	check := func(name string, qs [][]byte, tcp bool) {
		t.Helper()
		for _, q := range qs {
			h.AnswerWire(q, tcp, out) // signed on first use
		}
		requireNoAllocs(t, h, name, qs, tcp, out)
	}
	for _, k := range answerKinds(t) {
		for j, v := range doVariants {
			qs := make([][]byte, min(len(k.qs), 60))
			for i := range qs {
				qs[i] = packDO(t, k.qs[i*len(k.qs)/len(qs)], v, uint16(i), i%2 == 0, (i+j)%3 == 0)
			}
			check(k.name+"/"+v.name, qs, v.tcp)
		}
	}
	var flood [][]byte
	for _, q := range querymix.Flood(zonetest.Origin, 300, 7) {
		flood = append(flood, packDO(t, q, doVariants[0], 1, false, false))
	}
	check("flood", flood, false)
}

// TestSignedTruncation: a signed answer too large for UDP loses its
// additional section first, then is sent empty with TC=1, and is whole
// over TCP.
func TestSignedTruncation(t *testing.T) {
	snap, _ := signedExcerpt(t)
	h := resolver.NewHandler(snap, 0, nil)
	q := dnssecQuery("_rets._tcp.ports.local.", dns.TypePTR, false)
	tcp := h.Respond(q.msg(), true)
	q.tcp, q.udpSize = false, 512
	for _, size := range []uint16{512, 1232} {
		q.udpSize = size
		udp := h.Respond(q.msg(), false)
		if l := udp.Len(); l > int(size) {
			t.Errorf("UDP reply of %d bytes for a payload size of %d", l, size)
		}
		if !udp.Truncated && len(udp.Answer) != len(tcp.Answer) {
			t.Errorf("size %d: answer cut without TC", size)
		}
	}
	validate(t, snap, tcp)
	if fmt.Sprint(types(tcp.Extra)) != "[SRV RRSIG TXT RRSIG A RRSIG]" {
		t.Errorf("TCP additional %v", types(tcp.Extra))
	}
}

// TestSignedAXFR: a transfer of a signed zone carries the signed zone
// whole, between two SOAs, and every signature in it verifies.
//
// The zone has the registered port names (the default with DNSSEC):
// signing every one of the 262,144 takes tens of seconds.
func TestSignedAXFR(t *testing.T) {
	ksk, err := dnssec.GenerateKey(zonetest.Origin, dns.ECDSAP256SHA256, true, signedNow.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := signedZonePorts(t, zone.PortNamesRegistered, ksk)
	h := resolver.NewHandler(snap, 0, nil)
	xfr := h.Transfer(resolver.TransferPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		q := make([]byte, int(l[0])<<8|int(l[1]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		if err := xfr(c, q); err != nil {
			t.Errorf("transfer: %v", err)
		}
	}()
	m := new(dns.Msg)
	m.SetAxfr(zonetest.Origin)
	env, err := (&dns.Transfer{}).In(m, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var got []dns.RR
	for e := range env {
		if e.Error != nil {
			t.Fatal(e.Error)
		}
		got = append(got, e.RR...)
	}
	want, err := snap.SignedZone()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want)+1 || got[0].Header().Rrtype != dns.TypeSOA || got[len(got)-1].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("AXFR of %d records, want the %d of the signed zone and the closing SOA", len(got), len(want))
	}
	for i := range want {
		if got[i].String() != want[i].String() {
			t.Fatalf("record %d: %v, want %v", i, got[i], want[i])
		}
	}
	var nsec, sigs int
	for _, rr := range got {
		switch rr.Header().Rrtype {
		case dns.TypeNSEC:
			nsec++
		case dns.TypeRRSIG:
			sigs++
		}
	}
	if nsec == 0 || sigs == 0 {
		t.Fatalf("%d NSEC and %d RRSIG records in the transfer", nsec, sigs)
	}
	validate(t, snap, &dns.Msg{Answer: got[1:]})
}
