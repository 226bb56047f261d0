package zone_test

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/dnssec"
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

// BenchmarkAll walks what a secondary receives (All) of the full
// registry's zone in each port_names mode, as AXFR and export do.
func BenchmarkAll(b *testing.B) {
	reg := zonetest.FullRegistry(b)
	for _, mode := range []zone.PortNames{zone.PortNamesAll, zone.PortNamesRegistered} {
		b.Run(mode.String(), func(b *testing.B) {
			opts := zone.DefaultOptions(zonetest.Origin)
			opts.PortNames = mode
			snap, err := zone.Build(reg, opts, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			records := 0
			for b.Loop() {
				records = 0
				for _, rrs := range snap.All() {
					records += len(rrs)
				}
			}
			b.ReportMetric(float64(records), "records")
		})
	}
}

// BenchmarkSignedZone signs the full registry's zone for secondaries in
// each port_names mode, as a reload at a new signing epoch does: CPU
// seconds on every core (the signer uses them all), and the heap the
// signed zone holds while the snapshot serves.
func BenchmarkSignedZone(b *testing.B) {
	reg := zonetest.FullRegistry(b)
	k, err := dnssec.GenerateKey(zonetest.Origin, dns.ECDSAP256SHA256, true, time.Now().Add(-time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	sg, err := dnssec.NewSigner(zonetest.Origin, []*dnssec.Key{k}, dnssec.DefaultPolicy, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []zone.PortNames{zone.PortNamesRegistered, zone.PortNamesAll} {
		b.Run(mode.String(), func(b *testing.B) {
			opts := zone.DefaultOptions(zonetest.Origin)
			opts.PortNames, opts.Signer = mode, sg
			records := 0
			var heap float64
			var cpu time.Duration
			for b.Loop() {
				snap, err := zone.Build(reg, opts, nil)
				if err != nil {
					b.Fatal(err)
				}
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				u0 := cpuTime()
				rrs, err := snap.SignedZone()
				if err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - u0
				runtime.GC()
				runtime.ReadMemStats(&after)
				records = len(rrs)
				heap = float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
				runtime.KeepAlive(snap)
			}
			b.ReportMetric(float64(records), "records")
			b.ReportMetric(heap, "signed-MiB")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
