// Package zonetest builds zones and handlers from the repo's fixtures for
// tests in several packages.
package zonetest

import (
	"sync"
	"testing"

	"github.com/svcdns/svcdns/internal/testenv"
	"github.com/svcdns/svcdns/registry"
	"github.com/svcdns/svcdns/zone"
)

// Origin is the zone origin the fixtures are served under.
const Origin = "ports.local."

// Excerpt builds the zone of the text-table excerpt with default options.
func Excerpt(t testing.TB) *zone.Snapshot {
	t.Helper()
	return build(t, ExcerptRegistry(t))
}

// ExcerptRegistry parses the text-table excerpt.
func ExcerptRegistry(t testing.TB) *registry.Registry {
	t.Helper()
	reg, err := registry.ParseFile(testenv.Excerpt())
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

var full struct {
	once sync.Once
	reg  *registry.Registry
	snap *zone.Snapshot
	err  error
}

// FullRegistry parses the full XML registry once per test binary.
func FullRegistry(t testing.TB) *registry.Registry {
	t.Helper()
	path := testenv.FullXML(t)
	full.once.Do(func() {
		full.reg, full.err = registry.ParseFile(path)
		if full.err == nil {
			full.snap, full.err = zone.Build(full.reg, zone.DefaultOptions(Origin), nil)
		}
	})
	if full.err != nil {
		t.Fatal(full.err)
	}
	return full.reg
}

// Full builds (once) the zone of the full XML registry.
func Full(t testing.TB) *zone.Snapshot {
	t.Helper()
	FullRegistry(t)
	return full.snap
}

func build(t testing.TB, reg *registry.Registry) *zone.Snapshot {
	t.Helper()
	s, err := zone.Build(reg, zone.DefaultOptions(Origin), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
