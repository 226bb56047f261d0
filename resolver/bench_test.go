package resolver_test

import (
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

// BenchmarkAnswerHit is the cache-hit path over the full query mix: every
// reply is already packed, so only the ID, flags and spelling are patched.
func BenchmarkAnswerHit(b *testing.B) { benchHit(b, 4096) }

// BenchmarkAnswerHitWorkingSet is the cache-hit path over the harness's
// query file (200,000 queries, about 63,000 distinct replies): unlike
// BenchmarkAnswerHit, the replies and the cache's index do not fit in the
// CPU's caches, as on a server under dnsperf.
func BenchmarkAnswerHitWorkingSet(b *testing.B) { benchHit(b, 200000) }

// benchHit answers n queries of the mix once, then times answering them
// again from the cache, round and round.
func benchHit(b *testing.B, n int) {
	h := resolver.NewHandler(zonetest.Full(b), 0, nil)
	qs := packMix(b, n)
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

// BenchmarkAnswerMiss computes every reply (no cache): the cost of a
// first query, and of the path the cache is measured against.
func BenchmarkAnswerMiss(b *testing.B) {
	h := resolver.NewHandler(zonetest.Full(b), 0, nil)
	h.SetCacheSize(0)
	qs := packMix(b, 4096)
	out := make([]byte, 0, 65535)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.AnswerWire(qs[i%len(qs)], false, out)
		i++
	}
}

// BenchmarkRespondMsg is the dns.Msg-level path used by `svcdns lookup`.
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
