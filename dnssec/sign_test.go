package dnssec_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/dnssec"
)

const origin = "ports.local."

// epoch0 is a fixed clock for signatures whose times tests compare.
var epoch0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return rr
}

func rrs(t testing.TB, lines ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, l := range lines {
		out = append(out, mustRR(t, l))
	}
	return out
}

func newKey(t testing.TB, alg uint8, sep bool) *dnssec.Key {
	t.Helper()
	k, err := dnssec.GenerateKey(origin, alg, sep, epoch0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func fixedPolicy(now time.Time) dnssec.Policy {
	p := dnssec.DefaultPolicy
	p.Now = func() time.Time { return now }
	return p
}

func newSigner(t testing.TB, keys ...*dnssec.Key) *dnssec.Signer {
	t.Helper()
	s, err := dnssec.NewSigner(origin, keys, fixedPolicy(epoch0), dnssec.NewCache(1000))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// verify checks every RRSIG over rrset against the signer's DNSKEYs with
// miekg/dns's validator, an implementation independent of the signer's.
func verify(t testing.TB, s *dnssec.Signer, rrset []dns.RR, sigs []dns.RR) {
	t.Helper()
	if len(sigs) == 0 {
		t.Fatalf("no RRSIG over %v", rrset)
	}
	keys := map[uint16]*dns.DNSKEY{}
	for _, rr := range s.Apex() {
		if k, ok := rr.(*dns.DNSKEY); ok {
			keys[k.KeyTag()] = k
		}
	}
	for _, rr := range sigs {
		sig := rr.(*dns.RRSIG)
		k := keys[sig.KeyTag]
		if k == nil {
			t.Fatalf("%v: no published DNSKEY with tag %d", sig, sig.KeyTag)
		}
		if err := sig.Verify(k, rrset); err != nil {
			t.Errorf("%v does not verify over %v: %v", sig, rrset, err)
		}
		if now := s.Policy().Now(); !sig.ValidityPeriod(now) {
			t.Errorf("%v: not valid at %v", sig, now)
		}
	}
}

// TestSignVerifies signs RRsets with every algorithm svcdns offers and
// checks each RRSIG with miekg/dns's Verify, with the names spelled as a
// 0x20 query would echo them: the signature covers the canonical form, so
// any spelling of the owner and of the RDATA names that RFC 4034 §6.2
// canonicalizes verifies, and any other change does not. (miekg/dns's
// Verify wants one spelling of the owner within a set; validators
// canonicalize each record.)
func TestSignVerifies(t *testing.T) {
	algs := []uint8{dns.ECDSAP256SHA256, dns.ED25519, dns.ECDSAP384SHA384, dns.RSASHA256}
	for _, alg := range algs {
		t.Run(dns.AlgorithmToString[alg], func(t *testing.T) {
			t.Parallel()
			s := newSigner(t, newKey(t, alg, true))
			set := rrs(t,
				"_RETS._tcp.Ports.Local. 3600 IN SRV 0 0 6103 SVC.ports.LOCAL.",
				"_RETS._tcp.Ports.Local. 3600 IN SRV 0 0 6104 svc.ports.local.")
			sigs, err := s.Sign(set, 1)
			if err != nil {
				t.Fatal(err)
			}
			verify(t, s, set, sigs)
			sig := sigs[0].(*dns.RRSIG)
			if sig.Hdr.Name != "_rets._tcp.ports.local." || sig.Labels != 4 || sig.OrigTtl != 3600 || sig.TypeCovered != dns.TypeSRV {
				t.Errorf("RRSIG fields %v", sig)
			}
			// Another spelling of the same RRset verifies too.
			lower := rrs(t,
				"_rets._tcp.ports.local. 3600 IN SRV 0 0 6104 svc.ports.local.",
				"_rets._tcp.ports.local. 3600 IN SRV 0 0 6103 svc.ports.local.")
			verify(t, s, lower, sigs)
			// Content the signature does not cover does not.
			changed := rrs(t,
				"_rets._tcp.ports.local. 3600 IN SRV 0 0 6104 svc.ports.local.",
				"_rets._tcp.ports.local. 3600 IN SRV 0 0 6105 svc.ports.local.")
			if err := sig.Verify(s.Apex()[0].(*dns.DNSKEY), changed); err == nil {
				t.Error("the RRSIG verifies over a changed RRset")
			}
		})
	}
}

// TestSignCaseOfUncanonicalizedData: the bytes RFC 4034 does not
// canonicalize (TXT strings, NSEC next names) are signed exactly as sent.
func TestSignCaseOfUncanonicalizedData(t *testing.T) {
	s := newSigner(t, newKey(t, dns.ECDSAP256SHA256, true))
	txt := rrs(t, `_rets._tcp.ports.local. 3600 IN TXT "desc=RETS"`)
	sigs, err := s.Sign(txt, 1)
	if err != nil {
		t.Fatal(err)
	}
	verify(t, s, txt, sigs)
	upper := rrs(t, `_rets._tcp.ports.local. 3600 IN TXT "desc=rets"`)
	if err := sigs[0].(*dns.RRSIG).Verify(s.Apex()[0].(*dns.DNSKEY), upper); err == nil {
		t.Error("a TXT string of another case verifies: the signature does not cover the bytes sent")
	}
}

// TestSignerRoles: with a KSK and a ZSK active, the DNSKEY, CDS and
// CDNSKEY RRsets are signed by the KSK and everything else by the ZSK; a
// CSK alone signs both.
func TestSignerRoles(t *testing.T) {
	ksk, zsk := newKey(t, dns.ECDSAP256SHA256, true), newKey(t, dns.ECDSAP256SHA256, false)
	split := newSigner(t, ksk, zsk)
	csk := newKey(t, dns.ED25519, true)
	single := newSigner(t, csk)
	soa := rrs(t, "ports.local. 3600 IN SOA ns1.ports.local. hostmaster.ports.local. 1 3600 600 604800 300")
	cases := []struct {
		name   string
		s      *dnssec.Signer
		set    func(s *dnssec.Signer) []dns.RR
		signer uint16
	}{
		{"split/DNSKEY", split, keysOf(dns.TypeDNSKEY), ksk.Tag()},
		{"split/CDS", split, keysOf(dns.TypeCDS), ksk.Tag()},
		{"split/CDNSKEY", split, keysOf(dns.TypeCDNSKEY), ksk.Tag()},
		{"split/SOA", split, func(*dnssec.Signer) []dns.RR { return soa }, zsk.Tag()},
		{"csk/DNSKEY", single, keysOf(dns.TypeDNSKEY), csk.Tag()},
		{"csk/SOA", single, func(*dnssec.Signer) []dns.RR { return soa }, csk.Tag()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set := tc.set(tc.s)
			if len(set) == 0 {
				t.Fatal("no such RRset at the apex")
			}
			sigs, err := tc.s.Sign(set, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(sigs) != 1 || sigs[0].(*dns.RRSIG).KeyTag != tc.signer {
				t.Fatalf("RRSIGs %v, want one by key %d", sigs, tc.signer)
			}
			verify(t, tc.s, set, sigs)
		})
	}
	// DNSKEY holds both keys; CDS and CDNSKEY only the KSK (its
	// SyncPublish is set when generated).
	if n := len(keysOf(dns.TypeDNSKEY)(split)); n != 2 {
		t.Errorf("%d DNSKEYs, want 2", n)
	}
	for _, typ := range []uint16{dns.TypeCDS, dns.TypeCDNSKEY} {
		set := keysOf(typ)(split)
		if len(set) != 1 {
			t.Fatalf("%d %s records, want 1 (the KSK's)", len(set), dns.TypeToString[typ])
		}
	}
	if cds := keysOf(dns.TypeCDS)(split)[0].(*dns.CDS); cds.KeyTag != ksk.Tag() || cds.DigestType != dns.SHA256 {
		t.Errorf("CDS %v, want the KSK's SHA-256 digest", cds)
	}
}

func keysOf(typ uint16) func(s *dnssec.Signer) []dns.RR {
	return func(s *dnssec.Signer) []dns.RR {
		var out []dns.RR
		for _, rr := range s.Apex() {
			if rr.Header().Rrtype == typ {
				out = append(out, rr)
			}
		}
		return out
	}
}

// TestSignatureTimes: inception is backdated by the offset and the
// signature is valid for Validity from its epoch, which leaves at least
// Refresh at any time within the epoch.
func TestSignatureTimes(t *testing.T) {
	k := newKey(t, dns.ECDSAP256SHA256, true)
	p := dnssec.DefaultPolicy
	for _, at := range []time.Time{epoch0, epoch0.Add(3 * 24 * time.Hour), epoch0.Add(6*24*time.Hour + 23*time.Hour)} {
		p.Now = func() time.Time { return at }
		s, err := dnssec.NewSigner(origin, []*dnssec.Key{k}, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		sigs, err := s.Sign(rrs(t, "ports.local. 3600 IN NS ns1.ports.local."), 1)
		if err != nil {
			t.Fatal(err)
		}
		sig := sigs[0].(*dns.RRSIG)
		inc, exp := time.Unix(int64(sig.Inception), 0), time.Unix(int64(sig.Expiration), 0)
		epoch := s.Epoch(at)
		if epoch.After(at) || at.Sub(epoch) >= p.Validity-p.Refresh {
			t.Errorf("at %v: epoch %v does not contain it", at, epoch)
		}
		if !inc.Equal(epoch.Add(-p.InceptionOffset)) || !exp.Equal(epoch.Add(p.Validity)) {
			t.Errorf("at %v: inception %v expiration %v, want %v and %v", at, inc, exp, epoch.Add(-p.InceptionOffset), epoch.Add(p.Validity))
		}
		if left := exp.Sub(at); left < p.Refresh {
			t.Errorf("at %v: only %v of validity left, want at least %v", at, left, p.Refresh)
		}
		if !inc.Before(at) {
			t.Errorf("at %v: inception %v not backdated", at, inc)
		}
	}
}

// TestCacheKeys: the cache returns a signature only for the same content,
// zone version and epoch; anything else is signed anew.
func TestCacheKeys(t *testing.T) {
	k := newKey(t, dns.ECDSAP256SHA256, true)
	now := epoch0
	p := dnssec.DefaultPolicy
	p.Now = func() time.Time { return now }
	cache := dnssec.NewCache(100)
	s, err := dnssec.NewSigner(origin, []*dnssec.Key{k}, p, cache)
	if err != nil {
		t.Fatal(err)
	}
	set := rrs(t, `_rets._tcp.ports.local. 3600 IN TXT "port=6103"`)
	first, err := s.Sign(set, 7)
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		name    string
		set     []dns.RR
		version uint32
		advance time.Duration
		cached  bool
	}
	steps := []step{
		{"same", set, 7, 0, true},
		{"other spelling of the owner", rrs(t, `_RETS._tcp.ports.local. 3600 IN TXT "port=6103"`), 7, 0, true},
		{"other version", set, 8, 0, false},
		{"other text", rrs(t, `_rets._tcp.ports.local. 3600 IN TXT "port=6104"`), 7, 0, false},
		{"other TTL", rrs(t, `_rets._tcp.ports.local. 60 IN TXT "port=6103"`), 7, 0, false},
		{"other owner", rrs(t, `_rets._udp.ports.local. 3600 IN TXT "port=6103"`), 7, 0, false},
		{"same, later in the epoch", set, 7, time.Hour, true},
		{"next epoch", set, 7, p.Validity - p.Refresh, false},
	}
	for _, st := range steps {
		now = now.Add(st.advance)
		hits := cache.Stats().Hits()
		sigs, err := s.Sign(st.set, st.version)
		if err != nil {
			t.Fatal(err)
		}
		got := cache.Stats().Hits() > hits
		if got != st.cached {
			t.Errorf("%s: from the cache %v, want %v", st.name, got, st.cached)
		}
		// ECDSA signatures are randomized: the same one again is the cached one.
		if same := sigs[0].String() == first[0].String(); same != st.cached {
			t.Errorf("%s: the first signature returned again %v, want %v", st.name, same, st.cached)
		}
		verify(t, s, st.set, sigs)
	}
}

// TestCacheSingleflight: a burst of requests for one RRset that is not in
// the cache makes one signature; the others wait for it.
func TestCacheSingleflight(t *testing.T) {
	k := newKey(t, dns.RSASHA256, true) // the slowest to sign: the widest window
	cache := dnssec.NewCache(100)
	s, err := dnssec.NewSigner(origin, []*dnssec.Key{k}, fixedPolicy(epoch0), cache)
	if err != nil {
		t.Fatal(err)
	}
	set := rrs(t, "svc.ports.local. 3600 IN A 127.0.0.1")
	const n = 64
	start := make(chan struct{})
	var wg sync.WaitGroup
	got := make([]dns.RR, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			sigs, err := s.Sign(set, 1)
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = sigs[0]
		}()
	}
	close(start)
	wg.Wait()
	st := cache.Stats()
	if st.Signatures() != 1 || st.Misses() != 1 {
		t.Fatalf("%d signatures made, %d misses, want 1 each (waits %d, hits %d)", st.Signatures(), st.Misses(), st.Waits(), st.Hits())
	}
	if st.Hits()+st.Waits() != n-1 {
		t.Errorf("hits %d + waits %d, want %d", st.Hits(), st.Waits(), n-1)
	}
	for i := range got {
		if got[i].String() != got[0].String() {
			t.Fatalf("request %d got another signature", i)
		}
	}
}

// TestSignErrors: what is not one RRset is refused with the reason.
func TestSignErrors(t *testing.T) {
	s := newSigner(t, newKey(t, dns.ECDSAP256SHA256, true))
	cases := []struct {
		name string
		set  []dns.RR
		want string
	}{
		{"empty", nil, "not an RRset"},
		{"two types", rrs(t, "a.ports.local. 60 IN A 127.0.0.1", "a.ports.local. 60 IN AAAA ::1"), "AAAA"},
		{"two owners", rrs(t, "a.ports.local. 60 IN A 127.0.0.1", "b.ports.local. 60 IN A 127.0.0.2"), "owners"},
	}
	for _, tc := range cases {
		_, err := s.Sign(tc.set, 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}

// TestNoActiveKey: a key set with nothing active at the time is an error
// naming each key's state, never an unsigned zone.
func TestNoActiveKey(t *testing.T) {
	k := newKey(t, dns.ECDSAP256SHA256, true)
	k.Timing.Publish = epoch0.Add(-time.Hour)
	k.Timing.Activate = epoch0.Add(time.Hour)
	_, err := dnssec.NewSigner(origin, []*dnssec.Key{k}, fixedPolicy(epoch0), nil)
	if !errors.Is(err, dnssec.ErrPolicy) || !strings.Contains(err.Error(), "published") {
		t.Fatalf("error %v, want ErrPolicy naming the key as published", err)
	}
	_, err = dnssec.NewSigner(origin, nil, fixedPolicy(epoch0), nil)
	if !errors.Is(err, dnssec.ErrPolicy) || !strings.Contains(err.Error(), "no keys") {
		t.Fatalf("error %v, want ErrPolicy saying there are no keys", err)
	}
}
