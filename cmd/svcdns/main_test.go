package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/svcdns/svcdns/internal/testenv"
)

func runCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := []string{"XDG_CACHE_HOME=" + t.TempDir()}
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb, env)
	return out.String(), errb.String(), code
}

func TestRegistryCheck(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,Registration Date,Modification Date,Reference,Service Code,Unauthorized Use Reported,Assignment Notes\r\nfoo,1,tcp,Foo,,,,,,,,\r\nbar,70000,tcp,Bar,,,,,,,,\r\n"), 0o644)
	html := filepath.Join(t.TempDir(), "page.html")
	os.WriteFile(html, []byte("<!DOCTYPE html><html><body>502 Bad Gateway</body></html>"), 0o644)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		stderr   []string
		fullData bool
	}{
		{"embedded", []string{"registry", "check"}, 0,
			[]string{"format:   text", "updated:  2025-10-30", "records:  101", "assigned 76, reserved 11, unassigned 12, alias 2", "alias pairs: 1 (2 rows)", "invalid names without replacement: 0"}, nil, false},
		{"full xml", []string{"registry", "check", "XML"}, 0,
			[]string{"format:   xml", "records:  14533", "alias pairs: 96 (184 rows)", `invalid names without replacement: 1 ("edi_service")`, `:90481: warning: service name "edi_service"`}, nil, true},
		{"bad row", []string{"registry", "check", bad}, 1,
			[]string{"records:  1", bad + ":3: error: port 70000 is out of range 0-65535"}, []string{"1 row(s) could not be read"}, false},
		{"html page", []string{"registry", "check", html}, 1, nil, []string{"HTML page"}, false},
		{"missing file", []string{"registry", "check", "/nonexistent/x.csv"}, 1, nil, []string{"no such file"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fullData {
				tt.args[2] = testenv.FullXML(t)
			}
			out, errs, code := runCmd(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errs, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errs)
				}
			}
		})
	}
}

func TestRegistryCheckJSON(t *testing.T) {
	out, _, code := runCmd(t, "registry", "check", "--json", testenv.FullCSV(t))
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var rep struct {
		Format  string   `json:"format"`
		Records int      `json:"records"`
		Aliases int      `json:"aliases"`
		Invalid []string `json:"invalid"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	if rep.Format != "csv" || rep.Records != 14499 || rep.Aliases != 96 || len(rep.Invalid) != 1 || rep.Invalid[0] != "edi_service" {
		t.Errorf("report = %+v", rep)
	}
}

func TestLookupVersionExport(t *testing.T) {
	out, errs, code := runCmd(t, "lookup", "_rets._tcp")
	if code != 0 || !strings.Contains(out, "_rets._tcp.ports.local.\t3600\tIN\tSRV\t0 0 6103 svc.ports.local.") || !strings.Contains(out, "status: NOERROR") {
		t.Errorf("lookup: exit %d\n%s%s", code, out, errs)
	}
	out, _, code = runCmd(t, "lookup", "_bad_name._tcp.ports.local.", "TXT")
	if code != 0 || !strings.Contains(out, "NXDOMAIN") || !strings.Contains(out, "RFC 6335") {
		t.Errorf("lookup invalid: exit %d\n%s", code, out)
	}
	if _, errs, code := runCmd(t, "lookup", "_rets._tcp", "BOGUS"); code == 0 || !strings.Contains(errs, `unknown record type "BOGUS"`) {
		t.Errorf("lookup bad type: exit %d %s", code, errs)
	}
	out, _, code = runCmd(t, "version")
	if code != 0 || !strings.HasPrefix(out, "svcdns ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: %q", out)
	}
	f := filepath.Join(t.TempDir(), "z")
	if _, errs, code := runCmd(t, "zone", "export", "-o", f, "--origin", "ports.home.arpa."); code != 0 {
		t.Fatalf("export: %s", errs)
	}
	b, _ := os.ReadFile(f)
	lines := strings.Split(string(b), "\n")
	if len(lines) < 400 || !strings.HasPrefix(lines[1], "$ORIGIN ports.home.arpa.") || !strings.Contains(lines[2], "\tSOA\t") {
		t.Errorf("export starts %q", lines[:3])
	}
}
