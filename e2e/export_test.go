package e2e_test

import (
	"testing"

	"github.com/svcdns/svcdns/internal/testenv"
)

// TestExportedZoneLoads exports the zone of the full registry and loads it
// with the zone checkers of BIND, Knot DNS and NSD: the master file is the
// hand-over to standard secondaries, so all three must accept it.
func TestExportedZoneLoads(t *testing.T) {
	t.Parallel()
	full := testenv.FullXML(t)
	zoneFile := opsExportZone(t, t.TempDir(), "--registry", full)
	rrs := opsZoneRecords(t, zoneFile)
	if len(rrs) < 50000 {
		t.Fatalf("exported zone has %d records: not the full registry", len(rrs))
	}
	checks := [][]string{
		{"named-checkzone", "ports.local", zoneFile},
		{"kzonecheck", "-o", "ports.local", zoneFile},
		{"nsd-checkzone", "ports.local", zoneFile},
	}
	for _, c := range checks {
		t.Run(c[0], func(t *testing.T) {
			t.Parallel()
			out, errOut := runTool(t, testenv.Tool(t, c[0]), c[1:]...)
			t.Logf("%s: %d records: %s%s", c[0], len(rrs), out, errOut)
		})
	}
}
