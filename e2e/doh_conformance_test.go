package e2e_test

import (
	"encoding/xml"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/svcdns/svcdns/internal/testenv"
)

// h2specReport is the part of h2spec's JUnit report the test reads.
type h2specReport struct {
	Suites []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Cases    []struct {
			Name    string    `xml:"classname,attr"`
			Failure *struct{} `xml:"failure"`
			Error   *struct{} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestDoHHTTP2Conformance runs h2spec, the HTTP/2 conformance suite (RFC
// 9113 framing, streams, flow control and errors, RFC 7541 HPACK, its
// strict cases included), against the DoH listener, whose HTTP/2 server
// is svcdns's own: every case must pass, none be skipped, and the server
// must answer over every transport afterwards.
func TestDoHHTTP2Conformance(t *testing.T) {
	t.Parallel()
	h2spec := testenv.Tool(t, "h2spec")
	dir := t.TempDir()
	ca := newTestCA(t, dir, "h2spec")
	certFile, keyFile := ca.issue(t, dir, "server", true, 7)
	srv := startEncrypted(t, encOpts{certFile: certFile, keyFile: keyFile}, nil, "--registry", testenv.Excerpt())
	roots := loadCertPool(t, ca.CertPEM)
	host, port, err := net.SplitHostPort(srv.HTTPS)
	if err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "h2spec.xml")
	// h2spec cannot be given a CA, hence --insecure: the certificate is
	// not what is under test here.
	out, err := exec.Command(h2spec, "--tls", "--insecure", "--strict", "-h", host, "-p", port,
		"-P", "/dns-query", "-o", "5", "-j", report).CombinedOutput()
	b, rerr := os.ReadFile(report)
	if rerr != nil {
		t.Fatalf("h2spec wrote no report (%v): %v\n%s", err, rerr, tail(string(out), 8<<10))
	}
	var rep h2specReport
	if err := xml.Unmarshal(b, &rep); err != nil {
		t.Fatalf("h2spec report: %v", err)
	}
	tests, bad := 0, []string{}
	for _, s := range rep.Suites {
		tests += s.Tests
		if s.Skipped > 0 {
			bad = append(bad, s.Name+": skipped")
		}
		for _, c := range s.Cases {
			if c.Failure != nil || c.Error != nil {
				bad = append(bad, s.Name+": "+c.Name)
			}
		}
	}
	// h2spec 2.2.1 has 146 cases with --strict.
	if err != nil || len(bad) > 0 || tests < 146 {
		t.Errorf("h2spec: %d cases, exit %v; failed:\n  %s\n%s", tests, err, strings.Join(bad, "\n  "), tail(string(out), 16<<10))
	}
	t.Logf("h2spec: %d cases passed", tests)
	encCheckAll(t, srv, roots)
}
