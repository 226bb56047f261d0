package dnssec_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/dnssec"
)

// wireSet is an RRset as the compiled answer path holds it: the owner
// and each record's RDATA preceded by its length, names uncompressed.
func wireSet(t testing.TB, set []dns.RR) (owner, rdata []byte) {
	t.Helper()
	buf := make([]byte, 65535)
	for i, rr := range set {
		end, err := dns.PackRR(rr, buf, 0, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		n, off, err := dns.UnpackDomainName(buf, 0)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			owner = make([]byte, 255)
			l, _ := dns.PackDomainName(n, owner, 0, nil, false)
			owner = owner[:l]
		}
		rd := buf[off+10 : end]
		rdata = binary.BigEndian.AppendUint16(rdata, uint16(len(rd)))
		rdata = append(rdata, rd...)
	}
	return owner, rdata
}

// TestSignWireSharesSign: an RRset signed in wire form gets the
// signatures Sign makes of it, from the same cache entry whichever asks
// first, in any spelling and record order; the signatures verify.
func TestSignWireSharesSign(t *testing.T) {
	k := newKey(t, dns.ECDSAP256SHA256, true) // randomized: equal bytes mean one signing
	cache := dnssec.NewCache(100)
	s, err := dnssec.NewSigner(origin, []*dnssec.Key{k}, fixedPolicy(epoch0), cache)
	if err != nil {
		t.Fatal(err)
	}
	sets := [][]string{
		{`_rets._tcp.ports.local. 3600 IN TXT "port=6103" "desc=RETS"`},
		{"_6081._udp.ports.local. 3600 IN PTR _geneve._udp.ports.local.", "_6081._udp.ports.local. 3600 IN PTR _Alpha._UDP.ports.local."},
		{"_x11._tcp.ports.local. 3600 IN SRV 0 0 6001 svc.ports.local.", "_x11._tcp.ports.local. 3600 IN SRV 0 0 6000 SVC.ports.local.",
			"_x11._tcp.ports.local. 3600 IN SRV 0 0 6001 svc.ports.local."},
		{"ports.local. 3600 IN SOA ns1.ports.local. hostmaster.ports.local. 2026113000 3600 600 604800 300"},
		{`nx.ports.local. 300 IN NSEC \000.nx.ports.local. RRSIG NSEC TYPE128`},
	}
	for i, lines := range sets {
		set := rrs(t, lines...)
		owner, rdata := wireSet(t, set)
		var wire dnssec.Sigs
		var rr []dns.RR
		if i%2 == 0 { // the wire form asks first
			wire, err = s.SignWire(bytes.ToUpper(owner), set[0].Header().Rrtype, set[0].Header().Ttl, rdata, 5, nil)
			if err == nil {
				rr, err = s.Sign(set, 5)
			}
		} else {
			rr, err = s.Sign(set, 5)
			if err == nil {
				wire, err = s.SignWire(owner, set[0].Header().Rrtype, set[0].Header().Ttl, rdata, 5, make([]byte, 0, 16))
			}
		}
		if err != nil {
			t.Fatalf("%v: %v", lines, err)
		}
		if wire.Count() != len(rr) {
			t.Fatalf("%v: %d RRSIGs in wire form, %d records", lines, wire.Count(), len(rr))
		}
		rd, _ := wire.Next()
		buf := make([]byte, 512)
		end, err := dns.PackRR(rr[0], buf, 0, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(buf[:end], rd) || binary.BigEndian.Uint16(buf[end-len(rd)-2:]) != uint16(len(rd)) {
			t.Errorf("%v: wire RRSIG\n% x\nis not the RDATA of\n%v", lines, rd, rr[0])
		}
		verify(t, s, set, rr)
	}
	if st := cache.Stats(); st.Misses() != uint64(len(sets)) || st.Signatures() != uint64(len(sets)) {
		t.Errorf("%d misses and %d signatures for %d RRsets asked for twice each", st.Misses(), st.Signatures(), len(sets))
	}
}

// TestSignWireAllocatesNothing: a cached signature costs no allocation
// when scratch has room.
func TestSignWireAllocatesNothing(t *testing.T) {
	s := newSigner(t, newKey(t, dns.ED25519, true))
	set := rrs(t, "_6081._udp.ports.local. 3600 IN PTR _geneve._udp.ports.local.", "_6081._udp.ports.local. 3600 IN PTR _alpha._udp.ports.local.")
	owner, rdata := wireSet(t, set)
	scratch := make([]byte, 0, 4096)
	if _, err := s.SignWire(owner, dns.TypePTR, 3600, rdata, 1, scratch); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := s.SignWire(owner, dns.TypePTR, 3600, rdata, 1, scratch); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%.1f allocations per cached signature", n)
	}
}

// TestSignWireErrors: RDATA that does not parse, or no record, is refused.
func TestSignWireErrors(t *testing.T) {
	s := newSigner(t, newKey(t, dns.ED25519, true))
	owner := []byte("\x02nx\x05ports\x05local\x00")
	for name, tc := range map[string]struct{ owner, rdata []byte }{
		"no record":           {owner, nil},
		"length past the end": {owner, []byte{0, 9, 1}},
		"owner not a name":    {[]byte("\x05ports"), []byte{0, 1, 1}},
		"bad name in RDATA":   {owner, []byte{0, 2, 70, 0}},
	} {
		typ := uint16(dns.TypeTXT)
		if name == "bad name in RDATA" {
			typ = dns.TypePTR
		}
		if _, err := s.SignWire(tc.owner, typ, 300, tc.rdata, 1, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestAppendCompactNSEC: the RDATA written in wire form is what miekg/dns
// packs of CompactNSEC's record, long names included.
func TestAppendCompactNSEC(t *testing.T) {
	long := strings.Repeat("a", 49) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + ".ports.local."
	cases := []struct {
		name  string
		types []uint16
		nx    bool
	}{
		{"nx.ports.local.", nil, true},
		{"_rets._tcp.ports.local.", []uint16{dns.TypeTXT, dns.TypeSRV, dns.TypePTR}, false},
		{"ports.local.", []uint16{dns.TypeSOA, dns.TypeNS, dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY}, false},
		{"_tcp.ports.local.", nil, false},
		{long, nil, true},
		{"x.ports.local.", []uint16{dns.TypeA, 1000, dns.TypeA}, false},
	}
	for _, tc := range cases {
		n := dnssec.CompactNSEC(tc.name, tc.types, tc.nx, 300)
		buf := make([]byte, 1024)
		end, err := dns.PackRR(n, buf, 0, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		want := buf[end-int(n.Hdr.Rdlength) : end]
		owner := make([]byte, 255)
		l, _ := dns.PackDomainName(tc.name, owner, 0, nil, false)
		if got := dnssec.AppendCompactNSEC(nil, owner[:l], tc.types, tc.nx); !bytes.Equal(got, want) {
			t.Errorf("%s: \n% x\nwant\n% x", tc.name, got, want)
		}
	}
}
