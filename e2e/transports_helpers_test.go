package e2e_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/quic-go/quic-go"
)

// The encrypted transports' tests make their own PKI, as an operator
// would: a CA, a server certificate for the name server's name, and
// client certificates for secondaries (mutual TLS).

// encServerName is the name in the server certificate, the one strict
// clients check (kdig +tls-hostname, Unbound's addr@port#name).
const encServerName = "ns1.ports.local"

// testCA is a certificate authority made by the test.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	CertPEM string // path of the CA certificate
}

func newTestCA(t testing.TB, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, CertPEM: filepath.Join(dir, name+"-ca.pem")}
	writePEM(t, ca.CertPEM, "CERTIFICATE", der, 0o644)
	return ca
}

// issue writes a certificate signed by the CA and its key as
// <base>-cert.pem and <base>-key.pem in dir; server certificates carry
// encServerName, localhost and 127.0.0.1. It returns the two paths and the
// certificate's serial number.
func (ca *testCA) issue(t testing.TB, dir, base string, server bool, serial int64) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: base},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{encServerName, "localhost"}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, base+"-cert.pem"), filepath.Join(dir, base+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der, 0o644)
	writePEM(t, keyFile, "PRIVATE KEY", pkcs8, 0o600)
	return certFile, keyFile
}

func writePEM(t testing.TB, path, typ string, der []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), perm); err != nil {
		t.Fatal(err)
	}
}

// encServer is a running svcdns with encrypted listeners.
type encServer struct {
	*loadServer
	TLS, HTTPS, QUIC string // host:port of each listener
}

// encOpts configure startEncrypted.
type encOpts struct {
	certFile, keyFile string // "" for a generated lab certificate
	clientCA          string // xot.client_ca_file
	requireClientCert bool
	extra             string // more YAML at the top level
}

// startEncrypted runs svcdns with DNS over TLS, HTTPS and QUIC on free
// loopback ports and returns their addresses from the ready log line.
func startEncrypted(t testing.TB, o encOpts, env []string, args ...string) *encServer {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "svcdns.yaml")
	y := fmt.Sprintf("tls:\n  listen: [\"127.0.0.1:0\"]\n  cert_file: %q\n  key_file: %q\n", o.certFile, o.keyFile) +
		"https:\n  listen: [\"127.0.0.1:0\"]\nquic:\n  listen: [\"127.0.0.1:0\"]\n" +
		fmt.Sprintf("xot:\n  client_ca_file: %q\n  require_client_cert: %v\n", o.clientCA, o.requireClientCert) + o.extra
	if err := os.WriteFile(conf, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &encServer{loadServer: startLoadServer(t, env, append([]string{"--config", conf}, args...)...)}
	for _, line := range strings.Split(s.Stderr(), "\n") {
		var rec struct {
			Msg       string              `json:"msg"`
			Encrypted map[string][]string `json:"encrypted"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "ready" {
			first := func(k string) string {
				if len(rec.Encrypted[k]) == 0 {
					t.Fatalf("ready line lists no %s listener: %s", k, line)
				}
				return rec.Encrypted[k][0]
			}
			s.TLS, s.HTTPS, s.QUIC = first("tls"), first("https"), first("quic")
		}
	}
	if s.TLS == "" {
		t.Fatalf("no ready line with encrypted listeners\n%s", tail(s.Stderr(), 8<<10))
	}
	return s
}

// doqConn is a DNS over QUIC client written for the tests with quic-go:
// no packaged DoQ client exists on Debian 12 (kdig 3.2 is built without
// QUIC there).
type doqConn struct {
	conn *quic.Conn
}

func dialDoQ(t testing.TB, addr string, roots *x509.CertPool) *doqConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := quic.DialAddr(ctx, addr, &tls.Config{RootCAs: roots, ServerName: encServerName, NextProtos: []string{"doq"}},
		&quic.Config{MaxIdleTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("doq dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.CloseWithError(0, "") })
	return &doqConn{conn: c}
}

// raw sends frame as the whole content of a new stream and returns what
// the server sent back on it before its FIN, or the error that ended it.
func (d *doqConn) raw(frame []byte, fin bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := d.conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	st.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := st.Write(frame); err != nil {
		return nil, err
	}
	if fin {
		st.Close()
	}
	return io.ReadAll(st)
}

// exchange asks m (ID set to 0, RFC 9250 §4.2.1) on a new stream.
func (d *doqConn) exchange(m *dns.Msg) (*dns.Msg, int, error) {
	m.Id = 0
	wire, err := m.Pack()
	if err != nil {
		return nil, 0, err
	}
	b, err := d.raw(append(binary.BigEndian.AppendUint16(nil, uint16(len(wire))), wire...), true)
	if err != nil {
		return nil, 0, err
	}
	if len(b) < 2 || int(binary.BigEndian.Uint16(b)) != len(b)-2 {
		return nil, 0, fmt.Errorf("reply stream of %d octets is not one length-prefixed message", len(b))
	}
	r := new(dns.Msg)
	if err := r.Unpack(b[2:]); err != nil {
		return nil, 0, err
	}
	return r, len(b) - 2, nil
}

// loadCertPool reads a PEM bundle.
func loadCertPool(t testing.TB, path string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatalf("%s: no certificate", path)
	}
	return p
}
