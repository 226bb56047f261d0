package resolver

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// The cost of the protections on the hot path. BenchmarkGuardedAnswer
// answers the same cached replies with nothing, with RRL, and with RRL and
// a DNS cookie; the difference between the first and the others is what
// they add to a query (compare with BenchmarkAnswerHit). Rates are set so
// that nothing is limited: every response is checked and sent.

func benchQueries(b *testing.B, n int, cookie string) [][]byte {
	qs := make([][]byte, n)
	for i := range qs {
		name := fmt.Sprintf("_%d._%s.ports.local.", i/2, []string{"tcp", "udp"}[i%2])
		qs[i] = packQuery(b, name, dns.TypeTXT, 1232, func(m *dns.Msg) {
			if cookie != "" {
				m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: cookie})
			}
		})
	}
	return qs
}

func BenchmarkGuardedAnswer(b *testing.B) {
	var key [16]byte
	noLimit := RRLConfig{ResponsesPerSecond: 1_000_000, NoDataPerSecond: 1_000_000, NXDomainsPerSecond: 1_000_000,
		ErrorsPerSecond: 1_000_000, Window: 1, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}
	for _, bc := range []struct {
		name    string
		rrl     RRLConfig
		cookies *CookieConfig
		cookie  string
	}{
		{"plain", RRLConfig{}, nil, ""},
		{"rrl", noLimit, nil, ""},
		{"rrl+client-cookie", noLimit, &CookieConfig{Secrets: []CookieSecret{{Key: key}}}, "0102030405060708"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := testServer(b, bc.rrl, bc.cookies)
			qs := benchQueries(b, 1024, bc.cookie)
			out := make([]byte, 0, 4096)
			g := s.clock()
			for i, q := range qs {
				s.guardedAnswer(0, q, netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), false, out, &g)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if i%32 == 0 {
					g = s.clock() // once per batch, as answerBatch does
				}
				s.guardedAnswer(0, qs[i%len(qs)], netip.AddrFrom4([4]byte{10, 0, byte(i >> 10), 1}), false, out, &g)
			}
		})
	}
}

// BenchmarkRRLCheck is the limiter alone on packed replies: classify, key,
// hash, one compare-and-swap.
func BenchmarkRRLCheck(b *testing.B) {
	s := testServer(b, RRLConfig{ResponsesPerSecond: 1_000_000, NXDomainsPerSecond: 1_000_000, Window: 1, IPv4Prefix: 24}, nil)
	var resps [][]byte
	for _, q := range benchQueries(b, 1024, "") {
		resps = append(resps, s.handler.AnswerWire(q, false, make([]byte, 0, 4096)))
	}
	nx := s.handler.AnswerWire(packQuery(b, "x7f3q.ports.local.", dns.TypeA, 1232, nil), false, make([]byte, 0, 4096))
	b.Run("answer", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			s.rrl.check(0, netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), resps[i%len(resps)], s.rrl.now())
		}
	})
	b.Run("nxdomain", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			s.rrl.check(0, netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), nx, s.rrl.now())
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				s.rrl.check(i, netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), resps[i%len(resps)], s.rrl.now())
				i++
			}
		})
	})
}

// BenchmarkCookie is reading a query's cookie and making the one to send
// back: a client cookie only (one SipHash), and a valid server cookie
// (verified, one SipHash, and echoed).
func BenchmarkCookie(b *testing.B) {
	var key [16]byte
	j := newCookieJar(CookieConfig{Secrets: []CookieSecret{{Key: key}}})
	ip := netip.MustParseAddr("192.0.2.1")
	const now = 1_800_000_000
	var opt [cookieOptLen]byte
	copy(opt[:], "clientck")
	j.make(&opt, ip, now)
	for _, bc := range []struct{ name, cookie string }{{"client", "0102030405060708"}, {"valid", fmt.Sprintf("%x", opt)}} {
		q := benchQueries(b, 1, bc.cookie)[0]
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if c := j.examine(q, ip, &guardClock{unix: now}); c.status < cookieClientOnly {
					b.Fatal(c.status)
				}
			}
		})
	}
}
