// Package testenv locates the data and tools that tests need and decides
// what happens when one is missing: outside CI the test is skipped with the
// reason; in CI (CI=true) it fails, because a skipped test there is a
// promise not kept.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// SkipLogEnv names a file to which Missing appends one line per skipped
// test ("package<TAB>test<TAB>reason"); scripts/test sets it and prints
// what was skipped and why once the run is over, since `go test` shows
// skips only with -v.
const SkipLogEnv = "SKIPPED_TESTS_LOG"

// Missing skips the test, or fails it in CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("required in CI: "+format, args...)
	}
	logSkip(t.Name(), fmt.Sprintf(format, args...))
	t.Skipf("missing: "+format, args...)
}

// logSkip appends to the SkipLogEnv file. Each line is one write to a
// file opened for appending, so the test binaries of several packages
// running at once do not mix their lines.
func logSkip(test, reason string) {
	path := os.Getenv(SkipLogEnv)
	if path == "" {
		return
	}
	pkg := "."
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(RepoRoot(), wd); err == nil {
			pkg = rel
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	f.WriteString(pkg + "\t" + test + "\t" + strings.ReplaceAll(reason, "\n", " ") + "\n")
}

// RepoRoot is the module root (the directory holding go.mod).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Shared returns the path of a file under ../shared beside the repo, or
// skips (fails in CI) when it is not there. SVCDNS_SHARED overrides the
// location.
func Shared(t testing.TB, rel string) string {
	t.Helper()
	dir := os.Getenv("SVCDNS_SHARED")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "..", "shared")
	}
	p := filepath.Join(dir, rel)
	if _, err := os.Stat(p); err != nil {
		Missing(t, "shared data %s (../shared beside the clone holds the full IANA registry; see README: Development and tests)", filepath.Clean(p))
	}
	return p
}

// FullXML is the full registry in XML form (registry updated 2026-08-17).
func FullXML(t testing.TB) string { return Shared(t, "data/iana/service-names-port-numbers.xml") }

// FullCSV is the full registry in CSV form (same version as XML20260213).
func FullCSV(t testing.TB) string { return Shared(t, "data/iana/service-names-port-numbers.csv") }

// XML20260213 is the XML of the same registry version as the CSV.
func XML20260213(t testing.TB) string {
	return Shared(t, "data/iana/service-names-port-numbers-2026-02-13.xml")
}

// Excerpt is the repo's fixture copy of the text-table excerpt.
func Excerpt() string { return filepath.Join(RepoRoot(), "testdata", "iana-ports-excerpt.txt") }

// Tool returns the path of an executable on PATH, or skips (fails in CI).
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "tool %s not on PATH (./scripts/test installs it)", name)
	}
	return p
}
