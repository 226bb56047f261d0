package resolver

import (
	"testing"

	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/zone"
)

func TestUnderOrigin(t *testing.T) {
	for _, tc := range []struct {
		name, origin string
		want         bool
	}{
		{"ports.local.", "ports.local.", true},
		{"_rets._tcp.PORTS.Local.", "ports.local.", true},
		{"xports.local.", "ports.local.", false},
		{`a\.ports.local.`, "ports.local.", false}, // one label "a.ports", then local.
		{`a\\.ports.local.`, "ports.local.", true}, // an escaped backslash, then a dot
		{"local.", "ports.local.", false},
	} {
		if got := underOrigin(tc.name, tc.origin); got != tc.want {
			t.Errorf("underOrigin(%q, %q) = %v, want %v", tc.name, tc.origin, got, tc.want)
		}
	}
}

// The longest origin a name is under answers it.
func TestZoneSetPicksLongestOrigin(t *testing.T) {
	reg := zonetest.ExcerptRegistry(t)
	build := func(o string) *zone.Snapshot {
		s, err := zone.Build(reg, zone.DefaultOptions(o), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	outer, inner := build("example."), build("ports.example.")
	zs := newZoneSet([]*zone.Snapshot{outer, inner})
	for name, want := range map[string]*zone.Snapshot{
		"_rets._tcp.ports.example.": inner, "ports.example.": inner,
		"www.example.": outer, "example.": outer, "example.org.": nil,
	} {
		if got := zs.pick(name); got != want {
			t.Errorf("pick(%q) = %v, want %v", name, got, want)
		}
	}
}
