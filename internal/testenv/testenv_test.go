package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMissingLogsSkip: outside CI a missing requirement skips the test and,
// when SKIPPED_TESTS_LOG names a file, adds a line saying which test and why.
func TestMissingLogsSkip(t *testing.T) {
	t.Setenv("CI", "") // a run outside CI, also when this one is in CI
	log := filepath.Join(t.TempDir(), "skipped")
	t.Setenv(SkipLogEnv, log)
	t.Run("needs data", func(t *testing.T) {
		Shared(t, "no/such/file.xml")
		t.Error("Shared returned for a missing file")
	})
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Split(strings.TrimSuffix(string(b), "\n"), "\t")
	if len(fields) != 3 || fields[0] != "internal/testenv" || fields[1] != "TestMissingLogsSkip/needs_data" ||
		!strings.Contains(fields[2], filepath.Join("no", "such", "file.xml")) || !strings.Contains(fields[2], "README") {
		t.Errorf("skip log %q", b)
	}
}

// TestMissingFailsInCI runs a test that lacks a tool with CI=true in a
// child process: it must fail, not skip.
func TestMissingFailsInCI(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "1" {
		Tool(t, "no-such-tool-i17")
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestMissingFailsInCI$", "-test.v")
	cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", "CI=true")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "required in CI: tool no-such-tool-i17") {
		t.Errorf("with CI=true: %v\n%s", err, out)
	}
}
