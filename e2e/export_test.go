package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/svcdns/svcdns/internal/testenv"
)

// TestExportedZoneLoads exports the zone of the full registry, port names
// included, and loads it with the zone checkers of BIND, Knot DNS and
// NSD: the master file is the hand-over to standard secondaries, so all
// three must accept it. Both port name modes are exported; the sizes,
// and each checker's load time and peak memory, are reported (from a
// machine shared with other work: compare them with each other only).
func TestExportedZoneLoads(t *testing.T) {
	t.Parallel()
	full := testenv.FullXML(t)
	portName := regexp.MustCompile(`^_\d+\._(tcp|udp|sctp|dccp)\.ports\.local\.$`)
	for _, mode := range []struct {
		name      string
		portNames int // _PORT._PROTO names with a TXT record
	}{
		{"all", 4 * 65536},
		{"registered", 0}, // counted from the export, checked against the TXT statuses
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			conf := filepath.Join(dir, "svcdns.yaml")
			opsWriteFile(t, conf, []byte("port_names: "+mode.name+"\n"))
			zoneFile := opsExportZone(t, dir, "--config", conf, "--registry", full)
			// Counted line by line: the zone parsers below read it whole.
			data, err := os.ReadFile(zoneFile)
			if err != nil {
				t.Fatal(err)
			}
			records, names, unregistered := 0, 0, 0
			for line := range bytes.Lines(data) {
				if len(line) == 0 || line[0] == ';' || line[0] == '$' {
					continue
				}
				records++
				owner, rest, _ := bytes.Cut(line, []byte("\t"))
				if portName.Match(owner) && bytes.Contains(rest, []byte("\tTXT\t")) {
					names++
					if bytes.Contains(rest, []byte(`"status=unassigned"`)) || bytes.Contains(rest, []byte(`"status=dynamic"`)) {
						unregistered++
					}
				}
			}
			if records < 50000 {
				t.Fatalf("exported zone has %d records: not the full registry", records)
			}
			switch {
			case mode.portNames != 0 && names != mode.portNames:
				t.Errorf("%d port names exported, want %d", names, mode.portNames)
			case mode.portNames == 0 && (names < 10000 || unregistered != 0):
				t.Errorf("%d port names exported, %d of them unassigned or dynamic; want the registered ones only", names, unregistered)
			}
			st, err := os.Stat(zoneFile)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("port_names %s: %d records, %d port names, %.1f MB", mode.name, records, names, float64(st.Size())/1e6)
			for _, c := range [][]string{
				{"named-checkzone", "ports.local", zoneFile},
				{"kzonecheck", "-o", "ports.local", zoneFile},
				{"nsd-checkzone", "ports.local", zoneFile},
			} {
				took, rss, out := loadZone(t, testenv.Tool(t, c[0]), c[1:]...)
				t.Logf("%s: loaded in %v, peak RSS %.0f MiB: %s", c[0], took.Round(10*time.Millisecond), rss, strings.TrimSpace(out))
			}
		})
	}
}

// loadZone runs a zone checker, requires success, and returns its wall
// time and peak resident memory.
func loadZone(t *testing.T, tool string, args ...string) (time.Duration, float64, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, tail(out.String(), 4<<10))
	}
	took := time.Since(start)
	rss := 0.0
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return took, rss, firstLine(out.String())
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return fmt.Sprint(line)
}
