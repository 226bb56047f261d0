package journal_test

import (
	"testing"

	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/journal"
	"github.com/svcdns/svcdns/zone"
)

// BenchmarkDiffFullRegistry diffs the full registry's zone, every port
// name included, against itself: the walk a reload pays for.
func BenchmarkDiffFullRegistry(b *testing.B) {
	s := zonetest.Full(b)
	opts := zone.DefaultOptions(zonetest.Origin)
	opts.TTL.SRV = 60
	other, err := zone.Build(zonetest.FullRegistry(b), opts, s)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := journal.Diff(s, other); err != nil {
			b.Fatal(err)
		}
	}
}
