package main

import (
	"testing"

	"github.com/svcdns/svcdns/config"
	"github.com/svcdns/svcdns/internal/testenv"
)

// BenchmarkLoadFullRegistry is serve's start-up critical path before it
// can answer: read the full registry's XML, parse it and build the zone
// with the default configuration (buildZones). Process start (runtime and
// package initialization, ~40 ms) and opening the sockets (~1 ms) are not
// in it; `go run ./bench -loads none` measures the whole of it.
func BenchmarkLoadFullRegistry(b *testing.B) {
	cfg, err := config.Load("", nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Registry = testenv.FullXML(b)
	zs := &zoneSigning{}
	b.ReportAllocs()
	for b.Loop() {
		snaps, err := buildZones(cfg, nil, zs)
		if err != nil {
			b.Fatal(err)
		}
		if len(snaps) == 0 || snaps[0].Records() == 0 {
			b.Fatal("no zone built")
		}
	}
}
