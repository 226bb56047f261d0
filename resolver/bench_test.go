package resolver_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/querymix"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/resolver"
)

func packMix(b *testing.B, n int) [][]byte {
	mix := querymix.Generate(zonetest.FullRegistry(b), zonetest.Origin, n, 2)
	out := make([][]byte, len(mix))
	for i, q := range mix {
		out[i] = pack(b, q, variants[1], uint16(i), false)
	}
	return out
}

// BenchmarkAnswerMix answers the query mix of the harness (200,000
// queries, about 63,000 distinct names): the replies and the zone's index
// do not fit the CPU's caches, as on a server under dnsperf.
func BenchmarkAnswerMix(b *testing.B) {
	h := resolver.NewHandler(zonetest.Full(b), 0, nil)
	qs := packMix(b, 200000)
	out := make([]byte, 0, 65535)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.AnswerWire(qs[i%len(qs)], false, out)
		i++
	}
}

// BenchmarkAnswerKinds answers each kind of question (answerKinds) over
// UDP with EDNS, round and round its sample, and three more:
//   - unique-nxdomain, a random-subdomain flood: every name new, made by
//     writing a counter into one query's first label;
//   - unique-port, every port 0-65535 in turn, TXT;
//   - truncated-noedns, _x11._tcp SRV without EDNS (TC=1).
func BenchmarkAnswerKinds(b *testing.B) {
	h := resolver.NewHandler(zonetest.Full(b), 0, nil)
	out := make([]byte, 0, 65535)
	run := func(name string, tcp bool, next func(i int) []byte) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				h.AnswerWire(next(i), tcp, out)
				i++
			}
		})
	}
	for _, k := range answerKinds(b) {
		qs := make([][]byte, len(k.qs))
		for i, q := range k.qs {
			qs[i] = pack(b, q, variants[1], uint16(i), false)
		}
		run(k.name, false, func(i int) []byte { return qs[i%len(qs)] })
	}
	flood := pack(b, querymix.Query{Name: "r00000000.ports.local.", Type: dns.TypeA}, variants[1], 1, false)
	run("unique-nxdomain", false, func(i int) []byte {
		for j := range 8 {
			flood[13+j] = "0123456789abcdef"[i>>(4*j)&0xF]
		}
		return flood
	})
	ports := make([][]byte, 65536)
	for p := range ports {
		ports[p] = pack(b, querymix.Query{Name: "_" + itoa(uint32(p)) + "._tcp.ports.local.", Type: dns.TypeTXT}, variants[1], uint16(p), false)
	}
	run("unique-port", false, func(i int) []byte { return ports[i%len(ports)] })
	x11 := pack(b, querymix.Query{Name: "_x11._tcp.ports.local.", Type: dns.TypeSRV}, variants[0], 1, false)
	run("truncated-noedns", false, func(i int) []byte { binary.BigEndian.PutUint16(x11, uint16(i)); return x11 })
}

// BenchmarkRespondMsg is the dns.Msg-level path used by `svcdns lookup`
// and the rare queries.
func BenchmarkRespondMsg(b *testing.B) {
	h := resolver.NewHandler(zonetest.Full(b), 0, nil)
	m := new(dns.Msg)
	m.SetQuestion("_rets._tcp.ports.local.", dns.TypeSRV)
	m.SetEdns0(1232, false)
	b.ReportAllocs()
	for b.Loop() {
		h.Respond(m, false)
	}
}

func packMixDO(b *testing.B, n int) [][]byte {
	mix := querymix.Generate(zonetest.FullRegistry(b), zonetest.Origin, n, 2)
	out := make([][]byte, len(mix))
	for i, q := range mix {
		out[i] = pack(b, q, variants[2], uint16(i), false) // udp-4096-do
	}
	return out
}

// BenchmarkSignedAnswerCached is BenchmarkAnswerMix's query mix with DO=1
// from the signed zone, every signature already made (the stored names'
// signed answers kept with the snapshot, port names' and unknown names'
// signatures in the signature cache). Compare BenchmarkAnswerMix, the
// same mix unsigned: signed answers are to run at 0.9x its rate or more.
func BenchmarkSignedAnswerCached(b *testing.B) {
	h := resolver.NewHandler(signedFull(b), 0, nil)
	qs := packMixDO(b, 200000)
	out := make([]byte, 0, 65535)
	for _, q := range qs {
		h.AnswerWire(q, false, out)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.AnswerWire(qs[i%len(qs)], false, out)
		i++
	}
}

// BenchmarkSignedVsUnsigned answers the same questions from the signed
// full zone with DO=0 (unsigned) and DO=1 (signed, every signature made
// before the timing): stored names (answerKinds' hit sample), a
// random-subdomain flood of 20,000 names asked before (NXDOMAIN, denied
// with compact NSECs from the signature cache) and 20,000 port names (TXT
// and PTR). UDP, EDNS with a payload of 1232 octets. The ratio of each
// pair's ns/op is the signed answers' cost; 0 allocations in both.
func BenchmarkSignedVsUnsigned(b *testing.B) {
	h := resolver.NewHandler(signedFull(b), 0, nil)
	out := make([]byte, 0, 65535)
	var hit []querymix.Query
	for _, k := range answerKinds(b) {
		if k.name == "hit" {
			hit = k.qs
		}
	}
	ports := querymix.PortNames(zonetest.Origin, 20000, 3)
	loads := []struct {
		name string
		qs   []querymix.Query
	}{
		{"hit", hit},
		{"nxdomain-flood", querymix.Flood(zonetest.Origin, 20000, 3)},
		{"port", ports},
	}
	unsigned, signed := variants[1], doVariants[0] // udp-1232, udp-1232-do
	for _, l := range loads {
		for _, v := range []variant{unsigned, signed} {
			qs := make([][]byte, len(l.qs))
			for i, q := range l.qs {
				qs[i] = pack(b, q, v, uint16(i), false)
			}
			for _, q := range qs {
				h.AnswerWire(q, false, out) // sign before the timing
			}
			name := l.name + "/unsigned"
			if v.do {
				name = l.name + "/signed"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					h.AnswerWire(qs[i%len(qs)], false, out)
					i++
				}
			})
		}
	}
}

// BenchmarkSignedRandomSubdomain is a random-subdomain flood with DO=1:
// every query is a name never asked, so each signs a new compact-denial
// NSEC (the SOA's signature is cached). Rate limiting is what holds it in
// production; this is the cost per query it holds back.
func BenchmarkSignedRandomSubdomain(b *testing.B) {
	h := resolver.NewHandler(signedFull(b), 0, nil)
	out := make([]byte, 0, 65535)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		q := pack(b, querymix.Query{Name: fmt.Sprintf("r%08x.ports.local.", i), Type: dns.TypeA}, variants[2], uint16(i), false)
		h.AnswerWire(q, false, out)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "answers/s")
}
