package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/svcdns/svcdns/registry"
)

// updateTestXML is a well-formed XML registry of n records.
func updateTestXML(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version='1.0' encoding='UTF-8'?>
<registry xmlns="http://www.iana.org/assignments" id="service-names-port-numbers">
  <title>Service Name and Transport Protocol Port Number Registry</title>
`)
	for i := range n {
		fmt.Fprintf(&b, "  <record><name>svc%d</name><protocol>udp</protocol><number>%d</number></record>\n", i, 2000+i)
	}
	b.WriteString("</registry>\n")
	return b.Bytes()
}

// updateTestServer serves what its fields say, with ETag "vN" for
// version N, answering If-None-Match.
type updateTestServer struct {
	mu      sync.Mutex
	status  int // 0: serve the registry
	version int
	records int
}

func (s *updateTestServer) set(status, version, records int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.version, s.records = status, version, records
}

func (s *updateTestServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	status, version, records := s.status, s.version, s.records
	s.mu.Unlock()
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	etag := fmt.Sprintf(`"v%d"`, version)
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(updateTestXML(records))
}

// TestRegistryUpdateCmd runs `svcdns registry update` through run, step by
// step against one server and one file.
func TestRegistryUpdateCmd(t *testing.T) {
	var srv updateTestServer
	ts := httptest.NewServer(&srv)
	defer ts.Close()
	path := filepath.Join(t.TempDir(), "svcdns", "registry.xml")
	base := []string{"registry", "update", "--url", ts.URL + "/service-names-port-numbers.xml", "--out", path}

	steps := []struct {
		name                     string
		status, version, records int
		flags                    []string
		wantCode                 int
		wantStdout               string // exact
		wantStderr               []string
		wantFileRecords          int
	}{
		{
			name: "200 writes the file", version: 1, records: 120,
			wantStdout: fmt.Sprintf("updated %s: 120 records (was 0)\n", path), wantFileRecords: 120,
		},
		{
			name: "304 leaves it", version: 1, records: 120,
			wantStdout: fmt.Sprintf("%s is up to date (304 Not Modified)\n", path), wantFileRecords: 120,
		},
		{
			name: "500 is refused", status: http.StatusInternalServerError,
			wantCode: 1, wantStderr: []string{"svcdns registry update: GET ", "500 Internal Server Error"}, wantFileRecords: 120,
		},
		{
			name: "a much smaller registry is refused", version: 2, records: 10,
			wantCode:   1,
			wantStderr: []string{"has 10 records", "has 120", "--force"}, wantFileRecords: 120,
		},
		{
			name: "and accepted with --force", version: 2, records: 10, flags: []string{"--force"},
			wantStdout: fmt.Sprintf("updated %s: 10 records (was 120)\n", path), wantFileRecords: 10,
		},
		{
			name: "a larger one replaces it", version: 3, records: 130, flags: []string{"--timeout", "5s"},
			wantStdout: fmt.Sprintf("updated %s: 130 records (was 10)\n", path), wantFileRecords: 130,
		},
		{
			name: "a negative timeout is an error", version: 3, records: 130, flags: []string{"--timeout", "-1s"},
			wantCode: 1, wantStderr: []string{"--timeout"}, wantFileRecords: 130,
		},
		{
			name: "arguments are an error", version: 3, records: 130, flags: []string{"extra"},
			wantCode: 2, wantStderr: []string{`svcdns registry update: takes no arguments; got "extra"`, "Usage: svcdns registry update [flags]"}, wantFileRecords: 130,
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			srv.set(st.status, st.version, st.records)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append(append([]string{}, base...), st.flags...), nil, &stdout, &stderr, nil)
			if code != st.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, st.wantCode, stderr.String())
			}
			if stdout.String() != st.wantStdout {
				t.Errorf("stdout %q, want %q", stdout.String(), st.wantStdout)
			}
			for _, w := range st.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not say %q", stderr.String(), w)
				}
			}
			if st.wantStderr == nil && stderr.Len() > 0 {
				t.Errorf("unexpected stderr %q", stderr.String())
			}
			reg, err := registry.ParseFile(path)
			if err != nil || len(reg.Records) != st.wantFileRecords {
				t.Fatalf("file after the step: %v; want %d records", err, st.wantFileRecords)
			}
		})
	}
}

// TestRegistryUpdateCmdDefaultOut: without --out the file goes to the
// user cache directory, where serve looks.
func TestRegistryUpdateCmdDefaultOut(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("XDG_CACHE_HOME is honoured on Linux")
	}
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	var srv updateTestServer
	srv.set(0, 1, 5)
	ts := httptest.NewServer(&srv)
	defer ts.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"registry", "update", "--url", ts.URL}, nil, &stdout, &stderr, nil)
	want := filepath.Join(cache, "svcdns", "service-names-port-numbers.xml")
	if code != 0 || stdout.String() != fmt.Sprintf("updated %s: 5 records (was 0)\n", want) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	if _, err := os.Stat(want); err != nil {
		t.Error(err)
	}
}
