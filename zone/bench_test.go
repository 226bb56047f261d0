package zone_test

import (
	"runtime"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/zone"
)

// BenchmarkBuild builds the zone of the full registry (parsed once), and
// reports the heap the snapshot holds: live bytes after a collection,
// with and without the last snapshot built.
func BenchmarkBuild(b *testing.B) {
	reg := zonetest.FullRegistry(b)
	opts := zone.DefaultOptions(zonetest.Origin)
	b.ReportAllocs()
	var snap *zone.Snapshot
	for b.Loop() {
		var err error
		if snap, err = zone.Build(reg, opts, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	runtime.KeepAlive(snap)
	snap = nil
	runtime.GC()
	runtime.ReadMemStats(&without)
	b.ReportMetric(float64(with.HeapAlloc-without.HeapAlloc)/(1<<20), "snapshot-MiB")
}

// BenchmarkLookupPort synthesizes port names, which are not stored, on
// the dns.RR path (`svcdns lookup`).
func BenchmarkLookupPort(b *testing.B) {
	snap := zonetest.Full(b)
	b.ReportAllocs()
	for b.Loop() {
		snap.Lookup("_6081._udp.ports.local.", dns.TypeTXT)
	}
}
