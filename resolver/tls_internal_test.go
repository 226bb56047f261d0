package resolver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"io"
	"math/big"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
)

// clientCert is a self-signed client certificate, its own CA.
func clientCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "secondary"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, pool
}

// tlsServer serves the excerpt over TCP and TLS on loopback with a lab
// certificate, the transfer policy and the XoT policy given.
func tlsServer(t *testing.T, allow []netip.Prefix, xot XoTPolicy, clientCAs *x509.CertPool, lim ConnLimits) (tcpAddr, tlsAddr string, roots *x509.CertPool) {
	t.Helper()
	cfg, roots := labTLS(t)
	h := NewHandler(zonetest.Excerpt(t), 0, nil)
	s := NewServer(h, DefaultLimits, nil)
	s.SetTransfer(h.Transfer(TransferPolicy{Allow: allow}))
	s.SetXoTPolicy(xot)
	if err := s.Listen([]string{"127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if clientCAs != nil {
		cfg.ClientAuth, cfg.ClientCAs = tls.VerifyClientCertIfGiven, clientCAs
	}
	if err := s.ListenTLS([]string{"127.0.0.1:0"}, cfg, lim, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s.Addrs()[0].String(), s.EncryptedAddrs()[0].Addr.String(), roots
}

// axfr asks for the zone and returns the first reply's rcode and the
// number of records received.
func axfr(t *testing.T, network, addr string, conf *tls.Config) (int, int) {
	t.Helper()
	c := &dns.Client{Net: network, TLSConfig: conf, Timeout: 10 * time.Second}
	conn, err := c.Dial(addr)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	defer conn.Close()
	tr := &dns.Transfer{Conn: conn}
	m := new(dns.Msg)
	m.SetAxfr(zonetest.Origin)
	env, err := tr.In(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for e := range env {
		if e.Error != nil {
			if e.Error.Error() == "dns: bad xfr rcode: 5" { // REFUSED
				return dns.RcodeRefused, n
			}
			t.Fatalf("transfer: %v", e.Error)
		}
		n += len(e.RR)
	}
	return dns.RcodeSuccess, n
}

func TestXoTPolicy(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cert, pool := clientCert(t)
	for _, tc := range []struct {
		name         string
		allow        []netip.Prefix
		xot          XoTPolicy
		withCert     bool
		tcp, overTLS int
	}{
		{"open", loopback, XoTPolicy{}, false, dns.RcodeSuccess, dns.RcodeSuccess},
		{"tls only", loopback, XoTPolicy{TLSOnly: true}, false, dns.RcodeRefused, dns.RcodeSuccess},
		{"client cert missing", loopback, XoTPolicy{RequireClientCert: true}, false, dns.RcodeSuccess, dns.RcodeRefused},
		{"client cert given", loopback, XoTPolicy{RequireClientCert: true}, true, dns.RcodeSuccess, dns.RcodeSuccess},
		// The network rule applies over TLS too, certificate or not.
		{"source not allowed", []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, XoTPolicy{RequireClientCert: true}, true, dns.RcodeRefused, dns.RcodeRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tcpAddr, tlsAddr, roots := tlsServer(t, tc.allow, tc.xot, pool, ConnLimits{})
			conf := &tls.Config{RootCAs: roots, ServerName: "ns1.ports.local", NextProtos: []string{"dot"}}
			if tc.withCert {
				conf.Certificates = []tls.Certificate{cert}
			}
			rc, n := axfr(t, "tcp", tcpAddr, nil)
			if rc != tc.tcp {
				t.Errorf("AXFR over TCP: %s, want %s", dns.RcodeToString[rc], dns.RcodeToString[tc.tcp])
			}
			rc, m := axfr(t, "tcp-tls", tlsAddr, conf)
			if rc != tc.overTLS {
				t.Errorf("AXFR over TLS: %s, want %s", dns.RcodeToString[rc], dns.RcodeToString[tc.overTLS])
			}
			if rc == dns.RcodeSuccess && n > 0 && m != n {
				t.Errorf("TLS transfer has %d records, TCP %d", m, n)
			}
			if rc == dns.RcodeSuccess && m < 100 {
				t.Errorf("TLS transfer of %d records: not the zone", m)
			}
		})
	}
}

// TestDoTConnection pipelines queries on one TLS connection (RFC 7766
// §6.2.1.1) and has it closed when idle.
func TestDoTConnection(t *testing.T) {
	_, tlsAddr, roots := tlsServer(t, nil, XoTPolicy{}, nil, ConnLimits{Idle: 300 * time.Millisecond})
	c, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: roots, ServerName: "ns1.ports.local"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "" {
		t.Errorf("a client without ALPN got %q", p)
	}
	conn := &dns.Conn{Conn: c}
	names := []string{"_rets._tcp.ports.local.", "_geneve._udp.ports.local.", "_nosuch._tcp.ports.local."}
	for i, n := range names {
		m := new(dns.Msg)
		m.SetQuestion(n, dns.TypeSRV)
		m.Id = uint16(i + 1)
		if err := conn.WriteMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i, n := range names {
		r, err := conn.ReadMsg()
		if err != nil || r.Id != uint16(i+1) || r.Question[0].Name != n {
			t.Fatalf("reply %d: %v %v, want the reply to %s in order", i, r, err, n)
		}
	}
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.ReadMsg(); err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("idle connection: read %v after %v, want closed after the 300 ms idle timeout", err, time.Since(start))
	}
}

// TestIXFROverTLS: an IXFR request over TLS goes to the same transfer
// function as over TCP (today a full transfer, RFC 1995 §4).
func TestIXFROverTLS(t *testing.T) {
	_, tlsAddr, roots := tlsServer(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, XoTPolicy{}, nil, ConnLimits{})
	c := &dns.Client{Net: "tcp-tls", Timeout: 10 * time.Second,
		TLSConfig: &tls.Config{RootCAs: roots, ServerName: "ns1.ports.local", NextProtos: []string{"dot"}}}
	conn, err := c.Dial(tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := new(dns.Msg)
	m.SetIxfr(zonetest.Origin, 1, "ns1."+zonetest.Origin, "hostmaster."+zonetest.Origin)
	env, err := (&dns.Transfer{Conn: conn}).In(m, tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for e := range env {
		if e.Error != nil {
			t.Fatalf("IXFR over TLS: %v", e.Error)
		}
		n += len(e.RR)
	}
	if n < 100 {
		t.Errorf("IXFR over TLS: %d records, want the zone", n)
	}
}

// TestDoTRepliesBatched pipelines 40 queries over DoT, each in a TLS
// record of its own and all in one write, and checks that the replies are
// the answers and leave in a few writes to the socket, not one each
// (heldConn under serveTLS).
func TestDoTRepliesBatched(t *testing.T) {
	cfg, roots := labTLS(t)
	h := NewHandler(zonetest.Excerpt(t), 0, nil)
	s := NewServer(h, DefaultLimits, nil)
	st := &stream{transport: trTLS, idle: 10 * time.Second, handshake: 5 * time.Second, pad: true, tls: serverTLS(cfg, alpnDoT)}
	addr, served := serveCounted(t, func(cc net.Conn) { s.serveTLS(cc, 0, st) })
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// The client sends each query in a TLS record of its own, as dnsperf
	// does, and the records together: a heldConn of its own.
	held := &heldConn{Conn: raw}
	c := tls.Client(held, &tls.Config{RootCAs: roots, ServerName: "ns1.ports.local", NextProtos: []string{alpnDoT}})
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	cc := <-served
	if cc == nil {
		t.FailNow()
	}
	q := packQuery(t, "_rets._tcp.ports.local.", dns.TypeSRV, 1232, nil)
	want := h.AnswerWire(q, true, nil)
	framed := binary.BigEndian.AppendUint16(nil, uint16(len(q)))
	framed = append(framed, q...)
	readReply := func() {
		t.Helper()
		var size [2]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, binary.BigEndian.Uint16(size[:]))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("reply differs from the answer path's")
		}
	}
	c.Write(framed)
	readReply()
	time.Sleep(50 * time.Millisecond) // the handshake's and first reply's writes are done
	cc.take()
	held.batch(0, 5*time.Second)
	for range 40 {
		c.Write(framed)
	}
	if err := held.unbatch(); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		readReply()
	}
	// The client's write may reach the server in several reads; each
	// read is answered by one write.
	if writes := cc.take(); len(writes) > 10 {
		t.Errorf("40 replies in %d writes to the socket, want them gathered", len(writes))
	} else {
		t.Logf("40 replies in %d writes", len(writes))
	}
}
