package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The zone and the reply cache are the server's memory, and both stop
// growing: once the cache holds the clients' working set, answers
// allocate nothing. The heap the runtime grew to while the cache filled
// (up to twice the live data, as GOGC=100 allows) then sits unused, and
// the runtime's scavenger returns only what lies above that goal. A
// trimmer returns it: when the heap has been quiet for a while and holds
// much free memory, it collects and gives the free pages back.
const (
	trimEvery = 10 * time.Second // how often the heap is looked at
	// trimQuiet is the most the heap may have allocated in trimEvery for
	// the server to count as settled; under a stream of cache misses or
	// reloads nothing is trimmed, as the memory is about to be reused.
	trimQuiet = 4 << 20
	// trimMinFree is the least free heap memory worth a collection.
	trimMinFree = 8 << 20
)

// heapSample is what the trimmer reads of the runtime, without stopping
// the world (runtime/metrics, unlike runtime.ReadMemStats).
type heapSample struct {
	allocated uint64 // cumulative bytes allocated
	free      uint64 // free heap memory not yet returned to the system
}

// shouldTrim says whether to collect and return memory, from the sample
// taken trimEvery before (prev) and the one just taken.
func shouldTrim(prev, cur heapSample) bool {
	return cur.allocated-prev.allocated <= trimQuiet && cur.free >= trimMinFree
}

func trimSamples() []metrics.Sample {
	return []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/memory/classes/heap/free:bytes"}}
}

func readHeap(s []metrics.Sample) heapSample {
	metrics.Read(s)
	var h heapSample
	if s[0].Value.Kind() == metrics.KindUint64 {
		h.allocated = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		h.free = s[1].Value.Uint64()
	}
	return h
}

// trimMemory runs the trimmer until ctx ends.
func trimMemory(ctx context.Context, log *slog.Logger) {
	s := trimSamples()
	prev := readHeap(s)
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := readHeap(s)
		if shouldTrim(prev, cur) {
			start := time.Now()
			debug.FreeOSMemory()
			cur = readHeap(s)
			log.Debug("returned free heap memory to the system", "took", time.Since(start).Round(time.Microsecond))
		}
		prev = cur
	}
}
