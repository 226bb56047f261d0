package resolver_test

import (
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/resolver"
)

// TestTruncatedCounted: a reply sent empty with TC=1 is counted as
// "truncated", not as "nodata"; the same question over TCP is an answer.
func TestTruncatedCounted(t *testing.T) {
	h := resolver.NewHandler(zonetest.Full(t), 0, nil)
	q := new(dns.Msg)
	q.SetQuestion("_x11._tcp.ports.local.", dns.TypeSRV)
	in, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if r := h.AnswerWire(in, false, nil); r[2]&0x02 == 0 {
			t.Fatal("the x11 SRV set fits 512 bytes: nothing to truncate")
		}
	}
	h.AnswerWire(in, true, nil)
	got := map[string]uint64{}
	for _, c := range h.Stats().Queries() {
		got[c.Type+"/"+c.Kind] = c.Count
	}
	want := map[string]uint64{"SRV/truncated": 3, "SRV/answer": 1}
	if len(got) != len(want) || got["SRV/truncated"] != 3 || got["SRV/answer"] != 1 {
		t.Errorf("query counters %v, want %v", got, want)
	}
}
