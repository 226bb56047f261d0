package zone_test

import (
	"testing"

	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/zone"
)

// BenchmarkBuild builds the zone of the full registry (parsed once).
func BenchmarkBuild(b *testing.B) {
	reg := zonetest.FullRegistry(b)
	opts := zone.DefaultOptions(zonetest.Origin)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := zone.Build(reg, opts, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupPort synthesizes port names, which are not stored.
func BenchmarkLookupPort(b *testing.B) {
	snap := zonetest.Full(b)
	b.ReportAllocs()
	for b.Loop() {
		snap.Lookup("_6081._udp.ports.local.", 16)
	}
}
