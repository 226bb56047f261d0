package registry_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/svcdns/svcdns/internal/testenv"
	"github.com/svcdns/svcdns/registry"
)

// updXML is a well-formed XML registry of n records; tag varies the bytes
// without changing the count.
func updXML(n int, tag string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version='1.0' encoding='UTF-8'?>
<registry xmlns="http://www.iana.org/assignments" id="service-names-port-numbers">
  <title>Service Name and Transport Protocol Port Number Registry</title>
  <updated>2026-08-17</updated>
`)
	for i := range n {
		fmt.Fprintf(&b, "  <record><name>svc%d</name><protocol>tcp</protocol><number>%d</number><description>%s %d</description></record>\n", i, 1000+i, tag, i)
	}
	b.WriteString("</registry>\n")
	return b.Bytes()
}

// updFile is what a test remembers of a file to prove it was not touched.
type updFile struct {
	Mode  fs.FileMode
	MTime time.Time
	Sum   [32]byte
}

// updSnapshot records every entry under dir, so that a comparison also
// catches a leftover temporary file.
func updSnapshot(t *testing.T, dir string) map[string]updFile {
	t.Helper()
	out := map[string]updFile{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		f := updFile{Mode: fi.Mode(), MTime: fi.ModTime()}
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			f.Sum = sha256.Sum256(data)
		}
		out[p] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func updSameSnapshot(t *testing.T, before, after map[string]updFile) {
	t.Helper()
	if maps.Equal(before, after) {
		return
	}
	for _, p := range slices.Sorted(maps.Keys(after)) {
		if b, ok := before[p]; !ok {
			t.Errorf("new file %s", p)
		} else if b != after[p] {
			t.Errorf("%s changed: %+v -> %+v", p, b, after[p])
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s removed", p)
		}
	}
}

// backdate moves a file's mtime an hour back, so that a rewrite within the
// file system's timestamp granularity still shows.
func backdate(t *testing.T, paths ...string) {
	t.Helper()
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, p := range paths {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
}

// updRequests records the requests a test server saw.
type updRequests struct {
	mu   sync.Mutex
	reqs []http.Header
}

func (r *updRequests) add(h http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, h.Clone())
}

func (r *updRequests) last(t *testing.T) http.Header {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("the server saw no request")
	}
	return r.reqs[len(r.reqs)-1]
}

func updOptions(srv *httptest.Server, urlPath, path string) registry.UpdateOptions {
	return registry.UpdateOptions{URL: srv.URL + urlPath, Path: path, Client: srv.Client()}
}

func TestUpdateConditionalGET(t *testing.T) {
	modTime := time.Date(2026, 8, 17, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		etag       bool
		lastMod    bool
		wantHeader string // conditional header of the second request
	}{
		{"ETag", true, false, "If-None-Match"},
		{"Last-Modified", false, true, "If-Modified-Since"},
		{"both", true, true, "If-None-Match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := updXML(120, tc.name)
			var seen updRequests
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen.add(r.Header)
				if tc.etag {
					w.Header().Set("ETag", `"v1"`)
				}
				if tc.lastMod {
					w.Header().Set("Last-Modified", modTime.Format(http.TimeFormat))
				}
				// ServeContent answers the validators as a real server does.
				http.ServeContent(w, r, "registry.xml", modTime, bytes.NewReader(body))
			}))
			defer srv.Close()
			path := filepath.Join(t.TempDir(), "cache", "svcdns", "registry.xml")
			o := updOptions(srv, "/registry.xml", path)

			res, err := registry.Update(context.Background(), o)
			if err != nil {
				t.Fatalf("first Update: %v", err)
			}
			want := registry.UpdateResult{Changed: true, Records: 120, Format: registry.FormatXML, Path: path}
			if res != want {
				t.Errorf("first Update = %+v, want %+v", res, want)
			}
			first := seen.last(t)
			if first.Get("If-None-Match") != "" || first.Get("If-Modified-Since") != "" {
				t.Errorf("first request was conditional: %v", first)
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("file after 200: %d bytes, err %v; want the %d served", len(got), err, len(body))
			}
			if reg := parseFile(t, path); len(reg.Records) != 120 {
				t.Errorf("file parses to %d records, want 120", len(reg.Records))
			}

			backdate(t, path, path+".meta")
			before := updSnapshot(t, filepath.Dir(path))
			res, err = registry.Update(context.Background(), o)
			if err != nil {
				t.Fatalf("second Update: %v", err)
			}
			want = registry.UpdateResult{NotModified: true, Records: 120, PreviousRecords: 120, Format: registry.FormatXML, Path: path}
			if res != want {
				t.Errorf("second Update = %+v, want %+v", res, want)
			}
			second := seen.last(t)
			switch tc.wantHeader {
			case "If-None-Match":
				if g := second.Get("If-None-Match"); g != `"v1"` {
					t.Errorf("If-None-Match = %q, want %q", g, `"v1"`)
				}
			case "If-Modified-Since":
				if g := second.Get("If-Modified-Since"); g != modTime.Format(http.TimeFormat) {
					t.Errorf("If-Modified-Since = %q, want %q", g, modTime.Format(http.TimeFormat))
				}
			}
			updSameSnapshot(t, before, updSnapshot(t, filepath.Dir(path)))
		})
	}
}

// TestUpdateFullRegistry round-trips the real registry: written as served,
// then a 304.
func TestUpdateFullRegistry(t *testing.T) {
	t.Parallel()
	full, err := os.ReadFile(testenv.FullXML(t))
	if err != nil {
		t.Fatal(err)
	}
	var seen updRequests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.add(r.Header)
		w.Header().Set("ETag", `"full"`)
		http.ServeContent(w, r, "service-names-port-numbers.xml", time.Time{}, bytes.NewReader(full))
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "service-names-port-numbers.xml")
	o := updOptions(srv, "/assignments/service-names-port-numbers.xml", path)

	res, err := registry.Update(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	reg := parseFile(t, path)
	if !res.Changed || res.Records != len(reg.Records) || res.Records != 14533 {
		t.Errorf("Update = %+v; the file parses to %d records, want 14533", res, len(reg.Records))
	}
	backdate(t, path, path+".meta")
	before := updSnapshot(t, filepath.Dir(path))
	if res, err = registry.Update(context.Background(), o); err != nil || !res.NotModified || res.Changed {
		t.Errorf("second Update = %+v, %v; want NotModified", res, err)
	}
	if g := seen.last(t).Get("If-None-Match"); g != `"full"` {
		t.Errorf("If-None-Match = %q", g)
	}
	updSameSnapshot(t, before, updSnapshot(t, filepath.Dir(path)))
}

// TestUpdateIgnoresStaleValidators: validators are sent only while the file
// holds the bytes they were served with, and only to the URL they came
// from; otherwise a 304 would keep a file the server never vouched for.
func TestUpdateIgnoresStaleValidators(t *testing.T) {
	tests := []struct {
		name    string
		urlPath string
		tamper  func(t *testing.T, path string)
	}{
		{"same file, same URL (control)", "/a", func(*testing.T, string) {}},
		{"file replaced by hand", "/a", func(t *testing.T, path string) {
			if err := os.WriteFile(path, updXML(100, "by hand"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"file no longer parses", "/a", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("<html>oops</html>"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"file removed", "/a", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
		{"sidecar garbled", "/a", func(t *testing.T, path string) {
			if err := os.WriteFile(path+".meta", []byte("{"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"other URL", "/b", func(*testing.T, string) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var seen updRequests
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen.add(r.Header)
				w.Header().Set("ETag", `"v1"`)
				w.Header().Set("Last-Modified", "Mon, 17 Aug 2026 12:00:00 GMT")
				w.Write(updXML(100, "served"))
			}))
			defer srv.Close()
			path := filepath.Join(t.TempDir(), "registry.xml")
			if _, err := registry.Update(context.Background(), updOptions(srv, "/a", path)); err != nil {
				t.Fatal(err)
			}
			tc.tamper(t, path)
			if _, err := registry.Update(context.Background(), updOptions(srv, tc.urlPath, path)); err != nil {
				t.Fatal(err)
			}
			h := seen.last(t)
			control := strings.HasSuffix(tc.name, "(control)")
			if sent := h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != ""; sent != control {
				t.Errorf("conditional headers sent = %v, want %v (%v)", sent, control, h)
			}
		})
	}
}

// TestUpdateRefused: every failure leaves the current file and its sidecar
// exactly as they were, and leaves no temporary file behind.
func TestUpdateRefused(t *testing.T) {
	full, err := os.ReadFile(testenv.FullXML(t))
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(updXML(500, "gzip"))
	zw.Close()

	tests := []struct {
		name     string
		handler  http.HandlerFunc
		force    bool
		maxBytes int64
		wantIs   error
		wantMsg  []string
	}{
		{
			name: "truncated XML with a matching Content-Length",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Write(full[:len(full)/2])
			},
			force:   true, // the parse check does not yield to Force
			wantIs:  registry.ErrMalformed,
			wantMsg: []string{"does not parse", "truncated"},
		},
		{
			name: "Content-Length larger than the body, connection closed",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(full)))
				w.Write(full[:len(full)/2])
				rc := http.NewResponseController(w)
				rc.Flush()
				conn, _, err := rc.Hijack()
				if err != nil {
					panic(err)
				}
				conn.Close()
			},
			force:   true,
			wantIs:  io.ErrUnexpectedEOF,
			wantMsg: []string{"connection closed", "before the body was complete"},
		},
		{
			name: "chunked body aborted",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Write(full[:len(full)/2])
				http.NewResponseController(w).Flush()
				panic(http.ErrAbortHandler)
			},
			force:  true,
			wantIs: io.ErrUnexpectedEOF,
		},
		{
			name: "gzip stream cut short",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(gz.Bytes()[:gz.Len()/2])
			},
			force:  true,
			wantIs: io.ErrUnexpectedEOF,
		},
		{
			name: "HTML error page with status 200",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				io.WriteString(w, "<!DOCTYPE html><html><body>Service Unavailable</body></html>")
			},
			force:   true,
			wantIs:  registry.ErrNotRegistry,
			wantMsg: []string{"HTML"},
		},
		{
			name:    "empty body",
			handler: func(http.ResponseWriter, *http.Request) {},
			force:   true,
			wantIs:  registry.ErrNotRegistry,
			wantMsg: []string{"empty"},
		},
		{
			name: "binary garbage",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Write([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
			},
			force:  true,
			wantIs: registry.ErrNotRegistry,
		},
		{
			name: "XML registry without records",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Write(updXML(0, ""))
			},
			force:  true,
			wantIs: registry.ErrNoRecords,
		},
		{
			name: "500",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "boom", http.StatusInternalServerError)
			},
			force:   true,
			wantMsg: []string{"500 Internal Server Error"},
		},
		{
			name:    "404",
			handler: http.NotFound,
			force:   true,
			wantMsg: []string{"404 Not Found"},
		},
		{
			name: "206 Partial Content",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusPartialContent)
				w.Write(updXML(100, "partial"))
			},
			force:   true,
			wantMsg: []string{"206 Partial Content"},
		},
		{
			name: "304 to a request without validators",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusNotModified)
			},
			force:   true,
			wantMsg: []string{"304 Not Modified", "without validators"},
		},
		{
			name: "over the size cap, Content-Length known",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				body := updXML(100, "big")
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.Write(body)
			},
			force:    true,
			maxBytes: 1024,
			wantMsg:  []string{"body of 1", "exceeds the 1024-byte cap"},
		},
		{
			name: "over the size cap, chunked",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				for range 100 {
					w.Write(bytes.Repeat([]byte("x"), 100))
					http.NewResponseController(w).Flush()
				}
			},
			force:    true,
			maxBytes: 1024,
			wantMsg:  []string{"exceeds the 1024-byte cap"},
		},
		{
			name: "drastically smaller",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Write(updXML(89, "smaller"))
			},
			wantIs:  registry.ErrTooSmall,
			wantMsg: []string{"has 89 records", "has 100"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/seed" {
					w.Header().Set("ETag", `"seed"`)
					w.Write(updXML(100, "seed"))
					return
				}
				tc.handler(w, r)
			}))
			defer srv.Close()
			dir := t.TempDir()
			path := filepath.Join(dir, "registry.xml")
			// The current file and its sidecar come from an update of
			// another URL, so the request under test carries no validators.
			if _, err := registry.Update(context.Background(), updOptions(srv, "/seed", path)); err != nil {
				t.Fatal(err)
			}
			backdate(t, path, path+".meta")
			before := updSnapshot(t, dir)

			o := updOptions(srv, "/registry.xml", path)
			o.Force, o.MaxBytes = tc.force, tc.maxBytes
			res, err := registry.Update(context.Background(), o)
			if err == nil {
				t.Fatalf("Update = %+v, want an error", res)
			}
			t.Logf("error: %v", err)
			if res.Changed || res.NotModified {
				t.Errorf("Update = %+v with error %v", res, err)
			}
			if !strings.HasPrefix(err.Error(), "registry: update: ") {
				t.Errorf("error %q lacks the registry: update: prefix", err)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %q is not %v", err, tc.wantIs)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not say %q", err, m)
				}
			}
			updSameSnapshot(t, before, updSnapshot(t, dir))
		})
	}
}

func TestUpdateMinRatio(t *testing.T) {
	tests := []struct {
		name     string
		served   int
		minRatio float64
		force    bool
		wantErr  bool
	}{
		{"90 of 100 is enough", 90, 0, false, false},
		{"89 of 100 is not", 89, 0, false, true},
		{"89 of 100 with Force", 89, 0, true, false},
		{"larger", 150, 0, false, false},
		{"50 of 100 with MinRatio 0.5", 50, 0.5, false, false},
		{"49 of 100 with MinRatio 0.5", 49, 0.5, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write(updXML(tc.served, "new"))
			}))
			defer srv.Close()
			path := filepath.Join(t.TempDir(), "registry.xml")
			if err := os.WriteFile(path, updXML(100, "old"), 0o644); err != nil {
				t.Fatal(err)
			}
			o := updOptions(srv, "/", path)
			o.MinRatio, o.Force = tc.minRatio, tc.force
			res, err := registry.Update(context.Background(), o)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Update = %+v, %v; want error %v", res, err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, registry.ErrTooSmall) {
					t.Errorf("error %q is not ErrTooSmall", err)
				}
				return
			}
			if !res.Changed || res.Records != tc.served || res.PreviousRecords != 100 {
				t.Errorf("Update = %+v, want Changed with %d records (was 100)", res, tc.served)
			}
		})
	}
}

// TestUpdateExcerptOverFullRegistry: the embedded excerpt is refused over
// the real registry, and accepted with Force.
func TestUpdateExcerptOverFullRegistry(t *testing.T) {
	t.Parallel()
	full, err := os.ReadFile(testenv.FullXML(t))
	if err != nil {
		t.Fatal(err)
	}
	excerpt := registry.DefaultSource()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(excerpt)
	}))
	defer srv.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.xml")
	if err := os.WriteFile(path, full, 0o644); err != nil {
		t.Fatal(err)
	}
	before := updSnapshot(t, dir)
	o := updOptions(srv, "/", path)
	_, err = registry.Update(context.Background(), o)
	if !errors.Is(err, registry.ErrTooSmall) {
		t.Fatalf("Update: %v, want ErrTooSmall", err)
	}
	for _, m := range []string{"has 101 records", "has 14533"} {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not say %q", err, m)
		}
	}
	updSameSnapshot(t, before, updSnapshot(t, dir))

	o.Force = true
	res, err := registry.Update(context.Background(), o)
	if err != nil {
		t.Fatalf("forced Update: %v", err)
	}
	want := registry.UpdateResult{Changed: true, Records: 101, PreviousRecords: 14533, Format: registry.FormatText, Path: path}
	if res != want {
		t.Errorf("forced Update = %+v, want %+v", res, want)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, excerpt) {
		t.Errorf("file holds %d bytes, want the excerpt's %d", len(got), len(excerpt))
	}
}

// TestUpdateReplaces: a changed registry replaces the file in place,
// keeping its permissions, and refreshes the validators.
func TestUpdateReplaces(t *testing.T) {
	var (
		mu      sync.Mutex
		version = 1
		seen    updRequests
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.add(r.Header)
		mu.Lock()
		v := version
		mu.Unlock()
		etag := fmt.Sprintf(`"v%d"`, v)
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(updXML(100+v, etag))
	}))
	defer srv.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.xml")
	o := updOptions(srv, "/", path)
	if _, err := registry.Update(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	version = 2
	mu.Unlock()
	res, err := registry.Update(context.Background(), o)
	want := registry.UpdateResult{Changed: true, Records: 102, PreviousRecords: 101, Format: registry.FormatXML, Path: path}
	if err != nil || res != want {
		t.Fatalf("Update = %+v, %v; want %+v", res, err, want)
	}
	if g := seen.last(t).Get("If-None-Match"); g != `"v1"` {
		t.Errorf("If-None-Match = %q, want the first version's", g)
	}
	if fi, err := os.Stat(path); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o640) {
		t.Errorf("mode after replace: %v, %v; want 0640 kept", fi.Mode(), err)
	}
	if res, err = registry.Update(context.Background(), o); err != nil || !res.NotModified {
		t.Errorf("third Update = %+v, %v; want 304 to the new ETag", res, err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"registry.xml", "registry.xml.meta"}; !slices.Equal(names, want) {
		t.Errorf("directory holds %v, want %v", names, want)
	}
}

// TestUpdateSameContent: a server that ignores validators and sends the
// same bytes leaves the file (and the mtime serve watches) alone.
func TestUpdateSameContent(t *testing.T) {
	body := updXML(100, "same")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(body)
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "registry.xml")
	o := updOptions(srv, "/", path)
	if _, err := registry.Update(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	backdate(t, path)
	before, _ := os.Stat(path)
	res, err := registry.Update(context.Background(), o)
	if err != nil || res.Changed || res.NotModified || res.Records != 100 {
		t.Errorf("Update = %+v, %v; want unchanged, 100 records", res, err)
	}
	if after, _ := os.Stat(path); !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("mtime changed from %v to %v", before.ModTime(), after.ModTime())
	}
}

// TestUpdateUnwritable uses failures that root meets too (CI runs as
// root, which permission bits do not stop).
func TestUpdateUnwritable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(updXML(100, "new"))
	}))
	defer srv.Close()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path to update
	}{
		{"grandparent is a regular file", func(t *testing.T, dir string) string {
			if err := os.WriteFile(filepath.Join(dir, "blocker"), []byte("not a directory"), 0o644); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "blocker", "svcdns", "registry.xml")
		}},
		{"directory is a regular file", func(t *testing.T, dir string) string {
			if err := os.WriteFile(filepath.Join(dir, "blocker"), []byte("not a directory"), 0o644); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "blocker", "registry.xml")
		}},
		{"path is a directory", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "registry.xml")
			if err := os.MkdirAll(filepath.Join(p, "inside"), 0o755); err != nil {
				t.Fatal(err)
			}
			return p
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tc.setup(t, dir)
			before := updSnapshot(t, dir)
			res, err := registry.Update(context.Background(), updOptions(srv, "/", path))
			if err == nil {
				t.Fatalf("Update = %+v, want an error", res)
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			updSameSnapshot(t, before, updSnapshot(t, dir))
		})
	}
}

// TestUpdateSidecarUnwritable: the registry is replaced even when its
// validators cannot be stored; the result says so.
func TestUpdateSidecarUnwritable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Write(updXML(100, "new"))
	}))
	defer srv.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.xml")
	if err := os.MkdirAll(filepath.Join(path+".meta", "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := registry.Update(context.Background(), updOptions(srv, "/", path))
	if err != nil || !res.Changed || res.Records != 100 {
		t.Fatalf("Update = %+v, %v; want the registry replaced", res, err)
	}
	if res.MetaErr == nil || !strings.Contains(res.MetaErr.Error(), path+".meta") {
		t.Errorf("MetaErr = %v, want one naming %s.meta", res.MetaErr, path)
	}
	if reg := parseFile(t, path); len(reg.Records) != 100 {
		t.Errorf("file parses to %d records", len(reg.Records))
	}
}

func TestUpdateTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.xml")
	if err := os.WriteFile(path, updXML(100, "old"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := updSnapshot(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := registry.Update(ctx, updOptions(srv, "/", path)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Update: %v, want DeadlineExceeded", err)
	}
	updSameSnapshot(t, before, updSnapshot(t, dir))
}

func TestUpdateBadOptions(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		o    registry.UpdateOptions
		want string
	}{
		{"file URL", registry.UpdateOptions{URL: "file:///etc/services", Path: filepath.Join(dir, "r")}, "scheme must be http or https"},
		{"MinRatio above 1", registry.UpdateOptions{URL: "http://127.0.0.1:1/", Path: filepath.Join(dir, "r"), MinRatio: 1.5}, "MinRatio"},
		{"negative MaxBytes", registry.UpdateOptions{URL: "http://127.0.0.1:1/", Path: filepath.Join(dir, "r"), MaxBytes: -1}, "MaxBytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := registry.Update(context.Background(), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Update: %v, want an error saying %q", err, tc.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("bad options wrote %d file(s)", len(entries))
	}
}

func TestDefaultCachePath(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("XDG_CACHE_HOME is honoured on Linux")
	}
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	p, err := registry.DefaultCachePath()
	if want := filepath.Join(cache, "svcdns", "service-names-port-numbers.xml"); err != nil || p != want {
		t.Errorf("DefaultCachePath() = %q, %v; want %q", p, err, want)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if p, err := registry.DefaultCachePath(); err == nil {
		t.Errorf("DefaultCachePath() with no XDG_CACHE_HOME and no HOME = %q, want an error", p)
	}
}
