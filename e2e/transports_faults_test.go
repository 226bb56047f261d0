package e2e_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/quic-go/quic-go"
	"github.com/svcdns/svcdns/internal/testenv"
)

// encCheckAll asks one question over every transport and requires the
// right answer from each: the server is up and no transport was taken
// down by what the caller did to another.
func encCheckAll(t *testing.T, srv *encServer, roots *x509.CertPool) {
	t.Helper()
	check := func(transport string, r *dns.Msg, err error) {
		t.Helper()
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.SRV).Port != 6103 {
			t.Errorf("%s: %v %v, want the SRV of _rets._tcp on 6103", transport, r, err)
		}
	}
	m := new(dns.Msg)
	m.SetQuestion("_rets._tcp.ports.local.", dns.TypeSRV)
	for _, network := range []string{"udp", "tcp"} {
		r, _, err := (&dns.Client{Net: network, Timeout: 5 * time.Second}).Exchange(m, srv.Addr)
		check(network, r, err)
	}
	tc := &dns.Client{Net: "tcp-tls", Timeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: roots, ServerName: encServerName}}
	r, _, err := tc.Exchange(m, srv.TLS)
	check("tls", r, err)
	r, err = dohPost(roots, srv.HTTPS, m)
	check("https", r, err)
	d := dialDoQ(t, srv.QUIC, roots)
	r, _, err = d.exchange(m.Copy())
	check("quic", r, err)
}

// dohPost sends m to a DoH server over HTTP/2 and unpacks the reply.
func dohPost(roots *x509.CertPool, addr string, m *dns.Msg) (*dns.Msg, error) {
	wire, err := m.Pack()
	if err != nil {
		return nil, err
	}
	resp, err := dohClient(roots).Post("https://"+addr+"/dns-query", "application/dns-message", bytes.NewReader(wire))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	r := new(dns.Msg)
	return r, r.Unpack(b)
}

func dohClient(roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: encServerName}, ForceAttemptHTTP2: true}}
}

// TestEncryptedGarbage sends what is not DNS to each encrypted transport
// (TLS records that are not DNS, truncated frames, HTTP requests with bad
// bodies, QUIC datagrams and streams cut short), holds handshakes open,
// and goes over the connection limits; after each the server must answer
// over every transport, and it must log no panic.
func TestEncryptedGarbage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newTestCA(t, dir, "garbage")
	certFile, keyFile := ca.issue(t, dir, "server", true, 7)
	srv := startEncrypted(t, encOpts{certFile: certFile, keyFile: keyFile}, []string{"SVCDNS_TLS_HANDSHAKE_TIMEOUT=1", "SVCDNS_TLS_MAX_PER_SOURCE=20"}, "--registry", testenv.Excerpt())
	roots := loadCertPool(t, ca.CertPEM)
	rng := rand.New(rand.NewPCG(20261130, 15))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	tlsConf := &tls.Config{RootCAs: roots, ServerName: encServerName, NextProtos: []string{"dot"}}
	encCheckAll(t, srv, roots)

	t.Run("TLS", func(t *testing.T) {
		// Not TLS: a plain DNS query, and random bytes.
		q := loadPackQuery(t, 1, "_rets._tcp.ports.local.", dns.TypeSRV)
		for i := range 40 {
			c, err := net.Dial("tcp", srv.TLS)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...))
			} else {
				c.Write(random(1 + rng.IntN(4096)))
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			io.Copy(io.Discard, c) // until the server closes it
			c.Close()
		}
		// TLS, then frames that are not DNS or are cut short.
		for i := range 40 {
			c, err := tls.Dial("tcp", srv.TLS, tlsConf)
			if err != nil {
				t.Fatalf("tls dial: %v", err)
			}
			switch i % 4 {
			case 0: // a length with less behind it
				c.Write([]byte{0xFF, 0xFF, 1, 2, 3})
			case 1: // random frames
				for range 20 {
					b := random(rng.IntN(600))
					c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...))
				}
			case 2: // random bytes
				c.Write(random(rng.IntN(8192)))
			case 3: // a zero-length message, then half a length
				c.Write([]byte{0, 0, 0})
			}
			c.CloseWrite()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			io.Copy(io.Discard, c)
			c.Close()
		}
		// A client offering only another protocol is refused (RFC 7301).
		if c, err := tls.Dial("tcp", srv.TLS, &tls.Config{RootCAs: roots, ServerName: encServerName, NextProtos: []string{"h2"}}); err == nil {
			c.Close()
			t.Error("TLS handshake offering only ALPN h2 succeeded on the DoT port")
		}
		encCheckAll(t, srv, roots)
	})

	t.Run("HandshakeTimeout", func(t *testing.T) {
		// tls.handshake_timeout is 1 s: a client that connects and says
		// nothing is closed soon after.
		c, err := net.Dial("tcp", srv.TLS)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		_, err = c.Read(make([]byte, 1))
		if took := time.Since(start); err == nil || took > 10*time.Second {
			t.Errorf("a silent client was held %v (read: %v), want closed after the 1 s handshake timeout", took, err)
		}
	})

	t.Run("PerSourceLimit", func(t *testing.T) {
		// tls.max_per_source is 20: the 21st connection from 127.0.0.1 is
		// closed at once, and a 127.0.0.2 client is still served.
		var conns []*tls.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range 20 {
			c, err := tls.Dial("tcp", srv.TLS, tlsConf)
			if err != nil {
				t.Fatalf("connection within the limit: %v", err)
			}
			conns = append(conns, c)
		}
		if c, err := tls.Dial("tcp", srv.TLS, tlsConf); err == nil {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, rerr := c.Read(make([]byte, 1))
			c.Close()
			if rerr == nil || errors.Is(rerr, os.ErrDeadlineExceeded) {
				t.Errorf("the 21st TLS connection from one source was kept open (read: %v)", rerr)
			}
		}
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", srv.TLS, tlsConf)
		if err != nil {
			t.Fatalf("another source: %v", err)
		}
		dc := &dns.Conn{Conn: c}
		m := new(dns.Msg)
		m.SetQuestion("_rets._tcp.ports.local.", dns.TypeSRV)
		if err := dc.WriteMsg(m); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if r, err := dc.ReadMsg(); err != nil || r.Rcode != dns.RcodeSuccess {
			t.Errorf("another source over TLS while 127.0.0.1 is at its limit: %v %v", r, err)
		}
		c.Close()
		m2 := srv.MustScrape(t)
		if m2.Sum("svcdns_transport_connections_refused_total", `transport="tls"`, `limit="per_source"`) < 1 {
			t.Error("no per-source refusal counted for tls")
		}
	})

	t.Run("HTTPS", func(t *testing.T) {
		hc := dohClient(roots)
		url := "https://" + srv.HTTPS + "/dns-query"
		do := func(method, ctype, target string, body []byte) int {
			t.Helper()
			req, _ := http.NewRequest(method, target, bytes.NewReader(body))
			if ctype != "" {
				req.Header.Set("Content-Type", ctype)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, target, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		for _, tc := range []struct {
			name, method, ctype, target string
			body                        []byte
			want                        int
		}{
			{"wrong method", "PUT", "application/dns-message", url, []byte("x"), 405},
			{"wrong content type", "POST", "text/plain", url, loadPackQuery(t, 0, "_rets._tcp.ports.local.", dns.TypeSRV), 415},
			{"body over 64 KiB", "POST", "application/dns-message", url, make([]byte, 70000), 413},
			{"empty body", "POST", "application/dns-message", url, nil, 400},
			{"short body", "POST", "application/dns-message", url, []byte{1, 2, 3}, 400},
			{"no dns parameter", "GET", "", url, nil, 400},
			{"bad base64", "GET", "", url + "?dns=%%%", nil, 400},
			{"not base64url", "GET", "", url + "?dns=@@@@", nil, 400},
			{"other path", "GET", "", "https://" + srv.HTTPS + "/", nil, 404},
			{"response as query", "POST", "application/dns-message", url, func() []byte {
				b := loadPackQuery(t, 0, "_rets._tcp.ports.local.", dns.TypeSRV)
				b[2] |= 0x80
				return b
			}(), 400},
		} {
			if got := do(tc.method, tc.ctype, tc.target, tc.body); got != tc.want {
				t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
			}
		}
		// Random bodies: a DNS error reply (200) or 400, never a crash.
		for range 100 {
			b := random(rng.IntN(700))
			if got := do("POST", "application/dns-message", url, b); got != 200 && got != 400 {
				t.Errorf("random body of %d octets: status %d", len(b), got)
			}
			enc := base64.RawURLEncoding.EncodeToString(random(rng.IntN(300)))
			if got := do("GET", "", url+"?dns="+enc, nil); got != 200 && got != 400 {
				t.Errorf("random GET: status %d", got)
			}
		}
		// A body cut short: Content-Length promises more than comes.
		c, err := tls.Dial("tcp", srv.HTTPS, &tls.Config{RootCAs: roots, ServerName: encServerName, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /dns-query HTTP/1.1\r\nHost: x\r\nContent-Type: application/dns-message\r\nContent-Length: 300\r\n\r\n0123456789")
		c.CloseWrite()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, c)
		c.Close()
		// HTTP/1.1 garbage, and no TLS at all.
		for i := range 20 {
			var c net.Conn
			var err error
			if i%2 == 0 {
				c, err = tls.Dial("tcp", srv.HTTPS, &tls.Config{RootCAs: roots, ServerName: encServerName, NextProtos: []string{"http/1.1"}})
			} else {
				c, err = net.Dial("tcp", srv.HTTPS)
			}
			if err != nil {
				t.Fatal(err)
			}
			c.Write(random(1 + rng.IntN(2000)))
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, c)
			c.Close()
		}
		encCheckAll(t, srv, roots)
	})

	t.Run("QUIC", func(t *testing.T) {
		// Datagrams that are not QUIC.
		u, err := net.Dial("udp", srv.QUIC)
		if err != nil {
			t.Fatal(err)
		}
		for range 2000 {
			u.Write(random(1 + rng.IntN(1400)))
		}
		u.Close()
		// Another ALPN than doq: the handshake fails.
		ctx := t.Context()
		if c, err := quic.DialAddr(ctx, srv.QUIC, &tls.Config{RootCAs: roots, ServerName: encServerName, NextProtos: []string{"h3"}}, nil); err == nil {
			c.CloseWithError(0, "")
			t.Error("QUIC handshake with ALPN h3 succeeded")
		}
		// Streams cut short, reset, or left open, on many connections.
		var wg sync.WaitGroup
		for i := range 8 {
			d := dialDoQ(t, srv.QUIC, roots)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 30 {
					st, err := d.conn.OpenStreamSync(ctx)
					if err != nil {
						return // closed by a protocol error: expected
					}
					switch (i + j) % 3 {
					case 0:
						st.Write([]byte{0, 40, 1, 2})
						st.CancelWrite(0x3)
					case 1:
						st.Write([]byte{0, 40, 1, 2})
						st.Close()
					case 2:
						st.Write([]byte{0}) // left open: the read timeout ends it
					}
				}
			}()
		}
		wg.Wait()
		encCheckAll(t, srv, roots)
	})

	t.Run("Afterwards", func(t *testing.T) {
		m := srv.MustScrape(t)
		for _, tr := range []string{"tls", "https", "quic"} {
			if m.Sum("svcdns_transport_handshake_failures_total", fmt.Sprintf("transport=%q", tr)) < 1 {
				t.Errorf("no handshake failure counted for %s after handshakes that could not succeed", tr)
			}
		}
		if strings.Contains(srv.Stderr(), "panic") {
			t.Errorf("the server logged a panic:\n%s", tail(srv.Stderr(), 16<<10))
		}
		if !srv.Alive() {
			t.Fatal("the server is gone")
		}
	})
}

// TestEncryptedCertReload replaces the certificate and key on disk, as
// certbot does, and requires new connections on every transport to get
// the new certificate without a restart, while an open connection goes
// on and a broken replacement leaves the good certificate in service.
func TestEncryptedCertReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newTestCA(t, dir, "reload")
	certFile, keyFile := ca.issue(t, dir, "server", true, 100)
	srv := startEncrypted(t, encOpts{certFile: certFile, keyFile: keyFile}, nil, "--registry", testenv.Excerpt())
	roots := loadCertPool(t, ca.CertPEM)

	serialOf := func(transport string) (int64, error) {
		switch transport {
		case "quic":
			c, err := quic.DialAddr(t.Context(), srv.QUIC, &tls.Config{RootCAs: roots, ServerName: encServerName, NextProtos: []string{"doq"}}, nil)
			if err != nil {
				return 0, err
			}
			defer c.CloseWithError(0, "")
			return c.ConnectionState().TLS.PeerCertificates[0].SerialNumber.Int64(), nil
		default:
			addr, alpn := srv.TLS, "dot"
			if transport == "https" {
				addr, alpn = srv.HTTPS, "h2"
			}
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: encServerName, NextProtos: []string{alpn}})
			if err != nil {
				return 0, err
			}
			defer c.Close()
			return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), nil
		}
	}
	for _, tr := range []string{"tls", "https", "quic"} {
		if s, err := serialOf(tr); err != nil || s != 100 {
			t.Fatalf("%s: certificate serial %d (%v), want 100", tr, s, err)
		}
	}
	// A DoT connection opened before the replacement.
	old, err := tls.Dial("tcp", srv.TLS, &tls.Config{RootCAs: roots, ServerName: encServerName, NextProtos: []string{"dot"}})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldConn := &dns.Conn{Conn: old}
	ask := func() error {
		m := new(dns.Msg)
		m.SetQuestion("_rets._tcp.ports.local.", dns.TypeSRV)
		old.SetDeadline(time.Now().Add(5 * time.Second))
		if err := oldConn.WriteMsg(m); err != nil {
			return err
		}
		r, err := oldConn.ReadMsg()
		if err == nil && r.Rcode != dns.RcodeSuccess {
			err = fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
		return err
	}
	if err := ask(); err != nil {
		t.Fatal(err)
	}

	// Replace both files by rename: a new key and certificate.
	next := t.TempDir()
	newCert, newKey := ca.issue(t, next, "server", true, 101)
	for _, p := range [][2]string{{newKey, keyFile}, {newCert, certFile}} {
		b, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		opsReplaceByRename(t, p[1], b)
	}
	for _, tr := range []string{"tls", "https", "quic"} {
		var s int64
		var err error
		if !opsWaitFor(15*time.Second, 100*time.Millisecond, func() bool {
			s, err = serialOf(tr)
			return err == nil && s == 101
		}) {
			t.Errorf("%s: new connections still get serial %d (%v) 15 s after the files were replaced", tr, s, err)
		}
	}
	if err := ask(); err != nil {
		t.Errorf("the DoT connection opened before the replacement: %v", err)
	}
	// kdig pins the new key.
	pin := spkiPin(t, newCert)
	kdig := clients[1]
	if r, out := kdig.ask(t, srv.TLS, "_rets._tcp.ports.local", "SRV", "+tls-pin="+pin); r.Rcode != "NOERROR" {
		t.Errorf("kdig +tls-pin of the new certificate: %s\n%s", r.Rcode, out)
	}

	// A broken certificate file is logged and the good one stays; SIGHUP
	// rereads the files.
	opsReplaceByRename(t, certFile, []byte("not a certificate\n"))
	if !opsWaitFor(10*time.Second, 50*time.Millisecond, func() bool {
		return srv.LogCount("certificate reload failed; still serving the previous certificate") > 0
	}) {
		t.Error("a broken certificate file was not logged as a failed reload")
	}
	if s, err := serialOf("tls"); err != nil || s != 101 {
		t.Errorf("after a broken replacement: serial %d (%v), want 101 still", s, err)
	}
	third, _ := ca.issue(t, t.TempDir(), "server", true, 102)
	b, err := os.ReadFile(third)
	if err != nil {
		t.Fatal(err)
	}
	// Key 101 with certificate 102 do not match: still 101. Then the
	// matching pair through SIGHUP.
	if err := os.WriteFile(certFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if s, err := serialOf("tls"); err != nil || s != 101 {
		t.Errorf("certificate and key that do not match: serial %d (%v), want 101 still", s, err)
	}
	b, _ = os.ReadFile(newCert)
	if err := os.WriteFile(certFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(srv.PID, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !opsWaitFor(10*time.Second, 50*time.Millisecond, func() bool {
		for _, r := range opsLogRecords(&server{stderr: srv.stderr}) {
			if r.str("msg") == "certificate reloaded" && r.str("reason") == "SIGHUP" {
				return true
			}
		}
		return false
	}) {
		t.Error("no certificate reload logged for SIGHUP")
	}
	if s, err := serialOf("tls"); err != nil || s != 101 {
		t.Errorf("after SIGHUP: serial %d (%v), want 101", s, err)
	}
}

// spkiPin is the base64 SHA-256 of a certificate file's public key.
func spkiPin(t testing.TB, certFile string) string {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", certFile)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestEncryptedLabCert starts svcdns with encrypted listeners and no
// certificate: it generates a self-signed one in the state directory
// (key 0600), logs its SPKI pin, `svcdns tls pin` prints the same, kdig
// connects with that pin, and a restart keeps the same certificate.
func TestEncryptedLabCert(t *testing.T) {
	t.Parallel()
	state := filepath.Join(t.TempDir(), "state")
	env := []string{"SVCDNS_STATE_DIR=" + state}
	pins := map[string]bool{}
	for round := range 2 {
		srv := startEncrypted(t, encOpts{}, env)
		want := "generated a self-signed lab certificate"
		if round == 1 {
			want = "tls certificate"
		}
		var logged string
		for _, r := range opsLogRecords(&server{stderr: srv.stderr}) {
			if r.str("msg") == want {
				logged = r.str("spki_pin")
			}
		}
		if logged == "" {
			t.Fatalf("round %d: no %q log line with spki_pin\n%s", round, want, srv.Stderr())
		}
		pins[logged] = true
		cmd := exec.Command(svcdnsBin, "tls", "pin")
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != logged {
			t.Errorf("round %d: svcdns tls pin = %q (%v), want the logged pin %q", round, out, err, logged)
		}
		if r, out := clients[1].ask(t, srv.TLS, "_rets._tcp.ports.local", "SRV", "+tls-pin="+logged); r.Rcode != "NOERROR" {
			t.Errorf("kdig +tls-pin: %s\n%s", r.Rcode, out)
		}
		st, err := os.Stat(filepath.Join(state, "tls", "lab-key.pem"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("lab key: %v, mode %v, want 0600", err, st.Mode().Perm())
		}
	}
	if len(pins) != 1 {
		t.Errorf("pins over two starts: %v, want one certificate kept", pins)
	}
}
