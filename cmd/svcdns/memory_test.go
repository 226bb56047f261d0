package main

import (
	"runtime/metrics"
	"testing"
)

func TestShouldTrim(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		name      string
		prev, cur heapSample
		want      bool
	}{
		{"settled with much free", heapSample{100 * mb, 0}, heapSample{101 * mb, 40 * mb}, true},
		{"settled at the quiet limit", heapSample{100 * mb, 0}, heapSample{100*mb + trimQuiet, trimMinFree}, true},
		{"still allocating", heapSample{100 * mb, 0}, heapSample{100*mb + trimQuiet + 1, 40 * mb}, false},
		{"cache filling", heapSample{100 * mb, 0}, heapSample{300 * mb, 60 * mb}, false},
		{"little free", heapSample{100 * mb, 0}, heapSample{100 * mb, trimMinFree - 1}, false},
		{"nothing at all", heapSample{}, heapSample{}, false},
	} {
		if got := shouldTrim(tc.prev, tc.cur); got != tc.want {
			t.Errorf("%s: shouldTrim(%+v, %+v) = %v, want %v", tc.name, tc.prev, tc.cur, got, tc.want)
		}
	}
}

// TestTrimMetricsExist checks that the runtime still publishes the
// metrics the trimmer reads, as uint64s: an unknown name reads as KindBad,
// which would silently turn the trimmer off.
func TestTrimMetricsExist(t *testing.T) {
	s := trimSamples()
	metrics.Read(s)
	for _, m := range s {
		if m.Value.Kind() != metrics.KindUint64 {
			t.Errorf("runtime metric %s: kind %v, want uint64", m.Name, m.Value.Kind())
		}
	}
	if h := readHeap(s); h.allocated == 0 {
		t.Errorf("/gc/heap/allocs:bytes reads 0 in a process that has allocated")
	}
}
