package dnssec_test

import (
	"fmt"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/dnssec"
)

// BenchmarkSign makes a new signature every time (no cache): the cost of
// a signature per algorithm, reported as signatures per second. It is
// what a name never signed before costs (a random-subdomain flood with
// DO=1 signs one NSEC per query).
func BenchmarkSign(b *testing.B) {
	for _, alg := range []uint8{dns.ECDSAP256SHA256, dns.ED25519, dns.ECDSAP384SHA384, dns.RSASHA256} {
		b.Run(dns.AlgorithmToString[alg], func(b *testing.B) {
			s, err := dnssec.NewSigner(origin, []*dnssec.Key{newKey(b, alg, true)}, fixedPolicy(epoch0), dnssec.NewCache(0))
			if err != nil {
				b.Fatal(err)
			}
			set := rrs(b, "_rets._tcp.ports.local. 3600 IN SRV 0 0 6103 svc.ports.local.")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(set, 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
		})
	}
}

// BenchmarkSignCached is a signature from the cache: the RRset put in
// canonical form and hashed for the key, and the lookup.
func BenchmarkSignCached(b *testing.B) {
	s, err := dnssec.NewSigner(origin, []*dnssec.Key{newKey(b, dns.ECDSAP256SHA256, true)}, fixedPolicy(epoch0), dnssec.NewCache(1000))
	if err != nil {
		b.Fatal(err)
	}
	var sets [][]dns.RR
	for i := range 100 {
		sets = append(sets, rrs(b, fmt.Sprintf("_s%d._tcp.ports.local. 3600 IN SRV 0 0 %d svc.ports.local.", i, 6000+i)))
	}
	for _, set := range sets {
		if _, err := s.Sign(set, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Sign(sets[i%len(sets)], 1); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkSignZone signs a small zone whole (NSEC chain), per record.
func BenchmarkSignZone(b *testing.B) {
	s, err := dnssec.NewSigner(origin, []*dnssec.Key{newKey(b, dns.ECDSAP256SHA256, true)}, fixedPolicy(epoch0), nil)
	if err != nil {
		b.Fatal(err)
	}
	in := append(rrs(b, smallZone...), s.Apex()...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.SignZone(in); err != nil {
			b.Fatal(err)
		}
	}
}
