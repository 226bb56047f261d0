package resolver_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/dnssec"
	"github.com/svcdns/svcdns/internal/querymix"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/resolver"
	"github.com/svcdns/svcdns/zone"
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

// signedFull builds the full registry's zone signed with a CSK.
func signedFull(b *testing.B) *zone.Snapshot {
	b.Helper()
	key, err := dnssec.GenerateKey(zonetest.Origin, dns.ECDSAP256SHA256, true, signedNow.Add(-time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	p := dnssec.DefaultPolicy
	p.Now = func() time.Time { return signedNow }
	sg, err := dnssec.NewSigner(zonetest.Origin, []*dnssec.Key{key}, p, dnssec.NewCache(dnssec.DefaultCacheSize))
	if err != nil {
		b.Fatal(err)
	}
	opts := zone.DefaultOptions(zonetest.Origin)
	opts.Signer = sg
	snap, err := zone.Build(zonetest.FullRegistry(b), opts, nil)
	if err != nil {
		b.Fatal(err)
	}
	return snap
}

func packMixDO(b *testing.B, n int) [][]byte {
	mix := querymix.Generate(zonetest.FullRegistry(b), zonetest.Origin, n, 2)
	out := make([][]byte, len(mix))
	for i, q := range mix {
		out[i] = pack(b, q, variants[2], uint16(i), false) // udp-4096-do
	}
	return out
}

// BenchmarkSignedAnswerCached is BenchmarkAnswerHit's query mix with DO=1
// from the signed zone, every signature already in the signature cache:
// the cost today of a signed answer on the dns.Msg path, which skips the
// reply cache (compare BenchmarkAnswerMiss, the same path unsigned).
func BenchmarkSignedAnswerCached(b *testing.B) {
	h := resolver.NewHandler(signedFull(b), 0, nil)
	qs := packMixDO(b, 4096)
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
