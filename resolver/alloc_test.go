package resolver_test

import (
	"testing"

	"github.com/svcdns/svcdns/internal/querymix"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/resolver"
)

// requireNoAllocs answers each of qs into out in turn and fails the test
// if an answer allocates.
func requireNoAllocs(t *testing.T, h *resolver.Handler, name string, qs [][]byte, tcp bool, out []byte) {
	t.Helper()
	i := 0
	if n := testing.AllocsPerRun(len(qs), func() {
		h.AnswerWire(qs[i%len(qs)], tcp, out)
		i++
	}); n != 0 {
		t.Errorf("%s: %.2f allocations per answer", name, n)
	}
}

// TestAnswerWireAllocatesNothing answers every kind of question
// (answerKinds: hits, aliases, DNS-SD lists and instances, NODATA,
// unknown and invalid names with their EDE, port names, refused and
// truncated answers) in every transport and EDNS variant, and a
// random-subdomain flood of names never asked before: none may allocate.
func TestAnswerWireAllocatesNothing(t *testing.T) {
	h := resolver.NewHandler(zonetest.Full(t), 0, nil)
	out := make([]byte, 0, 65535)
	check := func(name string, qs [][]byte, tcp bool) {
		t.Helper()
		requireNoAllocs(t, h, name, qs, tcp, out)
	}
	for _, k := range answerKinds(t) {
		for _, v := range variants {
			qs := make([][]byte, min(len(k.qs), 200))
			for i := range qs {
				qs[i] = pack(t, k.qs[i*len(k.qs)/len(qs)], v, uint16(i), i%2 == 0)
			}
			check(k.name+"/"+v.name, qs, v.tcp)
		}
	}
	var flood [][]byte
	for _, q := range querymix.Flood(zonetest.Origin, 2000, 7) {
		flood = append(flood, pack(t, q, variants[1], 1, false))
	}
	check("flood", flood, false)
}
