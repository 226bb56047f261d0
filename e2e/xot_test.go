package e2e_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/querymix"
	"github.com/svcdns/svcdns/internal/testenv"
	"github.com/svcdns/svcdns/registry"
)

// xotSecondary is a BIND or NSD secondary pulling ports.local over TLS.
type xotSecondary struct {
	Addr string
	out  *syncBuffer
}

// runDaemon starts a secondary's binary in the foreground and stops it at
// cleanup, printing its output when the test failed.
func runDaemon(t *testing.T, name string, out *syncBuffer, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		stopProcess(t, name, cmd, done)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(out.String(), 32<<10))
		}
	})
}

// startBINDXoT runs named as a secondary of ports.local whose primary is
// svcdns's TLS listener (RFC 9103), checking the primary's certificate
// against caFile for encServerName, and presenting the client certificate
// when one is given.
func startBINDXoT(t *testing.T, tlsAddr, caFile, clientCert, clientKey string) *xotSecondary {
	t.Helper()
	bin := testenv.Tool(t, "named")
	check := testenv.Tool(t, "named-checkconf")
	host, port, _ := net.SplitHostPort(tlsAddr)
	dir := t.TempDir()
	own := freePort(t)
	client := ""
	if clientCert != "" {
		client = fmt.Sprintf("\tcert-file %q;\n\tkey-file %q;\n", clientCert, clientKey)
	}
	conf := fmt.Sprintf(`options {
	directory %[1]q;
	pid-file %[9]q;
	listen-on port %[2]d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
};
controls { };
logging {
	channel to_stderr { stderr; severity info; print-time yes; };
	category default { to_stderr; };
	category xfer-in { to_stderr; };
};
tls svcdns-tls {
	ca-file %[3]q;
	remote-hostname %[4]q;
%[5]s};
zone "ports.local" {
	type secondary;
	primaries { %[6]s port %[7]s tls svcdns-tls; };
	file %[8]q;
};
`, dir, own, caFile, encServerName, client, host, port, filepath.Join(dir, "ports.local.db"), filepath.Join(dir, "named.pid"))
	path := filepath.Join(dir, "named.conf")
	opsWriteFile(t, path, []byte(conf))
	runTool(t, check, path)
	s := &xotSecondary{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(own)), out: &syncBuffer{}}
	runDaemon(t, "named", s.out, bin, "-g", "-4", "-n", "1", "-c", path)
	return s
}

// startNSDXoT runs NSD as a secondary of ports.local pulling it from
// svcdns's TLS listener with a tls-auth clause: the primary's certificate
// is checked against caFile (tls-cert-bundle) for encServerName, and the
// client certificate presented for mutual TLS.
func startNSDXoT(t *testing.T, tlsAddr, caFile, clientCert, clientKey string) *xotSecondary {
	t.Helper()
	bin := testenv.Tool(t, "nsd")
	check := testenv.Tool(t, "nsd-checkconf")
	host, port, _ := net.SplitHostPort(tlsAddr)
	dir := t.TempDir()
	own := freePort(t)
	conf := fmt.Sprintf(`server:
	ip-address: 127.0.0.1@%[2]d
	port: %[2]d
	server-count: 1
	username: ""
	chroot: ""
	zonesdir: %[1]q
	pidfile: %[1]s/nsd.pid
	xfrdfile: %[1]s/xfrd.state
	zonelistfile: %[1]s/zone.list
	xfrdir: %[1]q
	database: ""
	verbosity: 2
	rrl-ratelimit: 0
	tls-cert-bundle: %[3]q
remote-control:
	control-enable: no
tls-auth:
	name: svcdns
	auth-domain-name: %[4]q
	client-cert: %[5]q
	client-key: %[6]q
zone:
	name: ports.local
	zonefile: ports.local.zone
	request-xfr: AXFR %[7]s@%[8]s NOKEY svcdns
	# Under mutual TLS, NSD 4.6.1's first XoT request arrives without a
	# client certificate and is refused (svcdns logs it); its retries
	# present the certificate. Retry soon rather than after 30 s.
	min-retry-time: 1
	max-retry-time: 2
`, dir, own, caFile, encServerName, clientCert, clientKey, host, port)
	path := filepath.Join(dir, "nsd.conf")
	opsWriteFile(t, path, []byte(conf))
	runTool(t, check, path)
	s := &xotSecondary{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(own)), out: &syncBuffer{}}
	runDaemon(t, "nsd", s.out, bin, "-d", "-c", path)
	return s
}

// testXoT has a BIND 9.18 and an NSD secondary transfer the full-registry
// zone from svcdns over TLS with mutual TLS, and checks that they answer
// as svcdns does; a secondary without a client certificate is refused.
func testXoT(t *testing.T, srv *encServer, reg *registry.Registry, ca *testCA, dir, clientCert, clientKey string) {
	serial, err := opsSOASerial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	bind := startBINDXoT(t, srv.TLS, ca.CertPEM, clientCert, clientKey)
	nsd := startNSDXoT(t, srv.TLS, ca.CertPEM, clientCert, clientKey)
	// A secondary that presents no client certificate.
	refusedBefore := opsCountLogLoad(srv.loadServer, "transfer refused: no verified client certificate")
	bare := startBINDXoT(t, srv.TLS, ca.CertPEM, "", "")

	// Port names included: the secondaries receive them (port_names).
	qs := querymix.Generate(reg, origin, 300, 20261130)
	for _, sec := range []struct {
		name string
		s    *xotSecondary
	}{{"bind", bind}, {"nsd", nsd}} {
		t.Run(sec.name, func(t *testing.T) {
			took := opsWaitSerial(t, sec.s.Addr, serial, 90*time.Second)
			t.Logf("%s loaded serial %d over TLS in %v", sec.name, serial, took.Round(time.Millisecond))
			a, b := dialTCP(t, srv.Addr), dialTCP(t, sec.s.Addr)
			differ := 0
			for _, q := range qs {
				x, err := a.Exchange(q.Name, q.Type)
				if err != nil {
					t.Fatal(err)
				}
				y, err := b.Exchange(q.Name, q.Type)
				if err != nil {
					t.Fatalf("%s: %v", sec.name, err)
				}
				if x.Rcode != y.Rcode || !slices.Equal(opsRRTexts(x.Answer), opsRRTexts(y.Answer)) {
					if differ++; differ <= 5 {
						t.Errorf("%s %s: svcdns %s %q, %s %s %q", q.Name, dns.TypeToString[q.Type], dns.RcodeToString[x.Rcode],
							opsRRTexts(x.Answer), sec.name, dns.RcodeToString[y.Rcode], opsRRTexts(y.Answer))
					}
				}
			}
			if differ > 0 {
				t.Errorf("%d of %d answers differ", differ, len(qs))
			}
		})
	}
	t.Run("NoClientCert", func(t *testing.T) {
		if !opsWaitFor(30*time.Second, 50*time.Millisecond, func() bool {
			return opsCountLogLoad(srv.loadServer, "transfer refused: no verified client certificate") > refusedBefore
		}) {
			t.Fatal("svcdns logged no refused transfer for the BIND secondary without a client certificate")
		}
		if s, err := opsSOASerial(bare.Addr); err == nil {
			t.Errorf("the secondary without a client certificate serves serial %d", s)
		}
		// The same over a raw TLS connection, without and with the
		// certificate: REFUSED, then the whole zone.
		roots := loadCertPool(t, ca.CertPEM)
		cert, err := tls.LoadX509KeyPair(clientCert, clientKey)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name  string
			certs []tls.Certificate
			rcode int
		}{{"without", nil, dns.RcodeRefused}, {"with", []tls.Certificate{cert}, dns.RcodeSuccess}} {
			c := &dns.Client{Net: "tcp-tls", Timeout: 30 * time.Second,
				TLSConfig: &tls.Config{RootCAs: roots, ServerName: encServerName, NextProtos: []string{"dot"}, Certificates: tc.certs}}
			m := new(dns.Msg)
			m.SetAxfr(origin)
			r, _, err := c.Exchange(m, srv.TLS)
			if err != nil || r.Rcode != tc.rcode {
				t.Errorf("AXFR over TLS %s a client certificate: %v %v, want %s", tc.name, r, err, dns.RcodeToString[tc.rcode])
			}
		}
	})
}

// opsCountLogLoad counts a load server's log lines whose msg starts with
// prefix.
func opsCountLogLoad(s *loadServer, prefix string) int {
	return opsCountLog(&server{stderr: s.stderr}, prefix)
}
