package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/svcdns/svcdns/internal/testenv"
)

// TestDocs regenerates the command reference into a temporary directory
// and requires docs/cmd and docs/man to hold exactly those files: a change
// to a command, flag or help text that was not followed by
// `go generate ./cmd/svcdns` fails here, in CI too.
func TestDocs(t *testing.T) {
	tmp := t.TempDir()
	if err := writeDocs(tmp); err != nil {
		t.Fatal(err)
	}
	docs := filepath.Join(testenv.RepoRoot(), "docs")
	for _, sub := range []string{"cmd", "man"} {
		fresh := files(t, filepath.Join(tmp, sub))
		committed := files(t, filepath.Join(docs, sub))
		if len(fresh) < 10 {
			t.Errorf("docs/%s: only %d files generated", sub, len(fresh))
		}
		for name, want := range fresh {
			got, ok := committed[name]
			switch {
			case !ok:
				t.Errorf("docs/%s/%s is missing", sub, name)
			case got != want:
				t.Errorf("docs/%s/%s is not current", sub, name)
			}
		}
		for name := range committed {
			if _, ok := fresh[name]; !ok {
				t.Errorf("docs/%s/%s is no longer generated", sub, name)
			}
		}
	}
	if t.Failed() {
		t.Log("regenerate with: go generate ./cmd/svcdns")
	}
}

// files maps the names of the files in dir to their contents.
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

// TestDocsCoverEveryCommand: every command a user can run has its page in
// both forms, and the hidden generator has none.
func TestDocsCoverEveryCommand(t *testing.T) {
	tmp := t.TempDir()
	if err := writeDocs(tmp); err != nil {
		t.Fatal(err)
	}
	md := files(t, filepath.Join(tmp, "cmd"))
	man := files(t, filepath.Join(tmp, "man"))
	var want []string
	walk(newRoot(nil), func(c *cobra.Command) {
		if c.IsAvailableCommand() {
			want = append(want, c.CommandPath())
		}
	})
	if !slices.Contains(want, "svcdns registry update") || slices.Contains(want, "svcdns gendocs") {
		t.Fatalf("commands %q", want)
	}
	for _, path := range want {
		if _, ok := md[strings.ReplaceAll(path, " ", "_")+".md"]; !ok {
			t.Errorf("%s has no Markdown page", path)
		}
		if _, ok := man[strings.ReplaceAll(path, " ", "-")+".1"]; !ok {
			t.Errorf("%s has no man page", path)
		}
	}
	if len(md) != len(want) || len(man) != len(want) {
		t.Errorf("%d Markdown and %d man pages for %d commands", len(md), len(man), len(want))
	}
}
