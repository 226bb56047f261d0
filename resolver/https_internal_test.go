package resolver

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
	"golang.org/x/sys/unix"
)

func TestDecodeDoHRequest(t *testing.T) {
	q := padQuery(t, "_rets._tcp.ports.local.", dns.TypeSRV, true, false)
	b64 := base64.RawURLEncoding.EncodeToString(q)
	for _, tc := range []struct {
		name, method, ctype, query string
		body                       []byte
		status                     int // 0: decodes to q
	}{
		{"GET", "GET", "", "dns=" + b64, nil, 0},
		{"GET with other parameters", "GET", "", "ct=x&dns=" + b64 + "&y=1", nil, 0},
		{"GET padded base64", "GET", "", "dns=" + base64.URLEncoding.EncodeToString(q), nil, 0},
		{"GET percent-escaped", "GET", "", "dns=" + strings.ReplaceAll(b64, "_", "%5F"), nil, 0},
		{"HEAD", "HEAD", "", "dns=" + b64, nil, 0},
		{"POST", "POST", "application/dns-message", "", q, 0},
		{"POST with parameters in the type", "POST", "application/dns-message; charset=x", "", q, 0},
		{"GET without dns", "GET", "", "x=1", nil, http.StatusBadRequest},
		{"GET empty dns", "GET", "", "dns=", nil, http.StatusBadRequest},
		{"GET dns twice", "GET", "", "dns=" + b64 + "&dns=" + b64, nil, http.StatusBadRequest},
		{"GET standard base64", "GET", "", "dns=" + strings.ReplaceAll(base64.StdEncoding.EncodeToString(append(q, 0xfb)), "=", ""), nil, http.StatusBadRequest},
		{"GET bad escape", "GET", "", "dns=%zz", nil, http.StatusBadRequest},
		{"GET short message", "GET", "", "dns=" + base64.RawURLEncoding.EncodeToString(q[:11]), nil, http.StatusBadRequest},
		{"POST wrong type", "POST", "application/json", "", q, http.StatusUnsupportedMediaType},
		{"POST no type", "POST", "", "", q, http.StatusUnsupportedMediaType},
		{"POST empty", "POST", "application/dns-message", "", nil, http.StatusBadRequest},
		{"POST too large", "POST", "application/dns-message", "", make([]byte, 65536), http.StatusRequestEntityTooLarge},
		{"PUT", "PUT", "application/dns-message", "", q, http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeDoHRequest(tc.method, tc.ctype, tc.query, bytes.NewReader(tc.body))
			if tc.status == 0 {
				if err != nil || !bytes.Equal(got, q) {
					t.Errorf("= %x, %v; want the query", got, err)
				}
				return
			}
			var de *dohError
			if !errors.As(err, &de) || de.status != tc.status {
				t.Errorf("err = %v, want status %d", err, tc.status)
			}
		})
	}
	// A body that fails halfway is a bad request, not a crash.
	_, err := decodeDoHRequest("POST", dohType, "", iotest.ErrReader(errors.New("cut")))
	var de *dohError
	if !errors.As(err, &de) || de.status != http.StatusBadRequest {
		t.Errorf("failing body: %v", err)
	}
}

// TestMinTTL takes the freshness lifetime from the answer's smallest TTL,
// or from the SOA of a negative reply (RFC 8484 §5.1, RFC 2308 §5).
func TestMinTTL(t *testing.T) {
	h := NewHandler(zonetest.Excerpt(t), 0, nil)
	snap := h.Zone()
	soa := snap.SOA()
	negative := min(soa.Hdr.Ttl, soa.Minttl)
	for _, tc := range []struct {
		name  string
		qname string
		qtype uint16
		want  uint32
		ok    bool
	}{
		{"SRV", "_rets._tcp.ports.local.", dns.TypeSRV, 3600, true},
		{"alias chain", "_bmc_ctd_ldap._tcp.ports.local.", dns.TypeSRV, 3600, true},
		{"NXDOMAIN", "_nosuch._tcp.ports.local.", dns.TypeSRV, negative, true},
		{"NODATA", "_udp.ports.local.", dns.TypeSRV, negative, true},
		{"REFUSED", "example.com.", dns.TypeA, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.AnswerWire(padQuery(t, tc.qname, tc.qtype, true, false), true, nil)
			got, ok := minTTL(resp)
			if got != tc.want || ok != tc.ok {
				t.Errorf("minTTL = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	// The smallest of several: a reply with TTLs 300 and 60.
	m := new(dns.Msg)
	m.SetQuestion("a.ports.local.", dns.TypeA)
	m.Answer = []dns.RR{
		&dns.A{Hdr: dns.RR_Header{Name: "a.ports.local.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}},
		&dns.A{Hdr: dns.RR_Header{Name: "a.ports.local.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}},
	}
	b, _ := m.Pack()
	if got, ok := minTTL(b); got != 60 || !ok {
		t.Errorf("minTTL of TTLs 300 and 60 = %d, %v", got, ok)
	}
}

// FuzzDoHRequest feeds arbitrary requests to the DoH decoder and every
// query it accepts to the answer path: no panic; an accepted query is a
// message of 12 to 65535 octets; a refusal carries a 4xx status.
func FuzzDoHRequest(f *testing.F) {
	q := padQuery(f, "_rets._tcp.ports.local.", dns.TypeSRV, true, true)
	f.Add("GET", "", "dns="+base64.RawURLEncoding.EncodeToString(q), []byte(nil))
	f.Add("POST", dohType, "", q)
	f.Add("POST", "application/dns-message; x=\"", "", q)
	f.Add("GET", "", "dns=%", []byte(nil))
	f.Add("GET", "", "dns=AAAA&dns=", []byte(nil))
	h := NewHandler(zonetest.Excerpt(f), 0, nil)
	f.Fuzz(func(t *testing.T, method, ctype, query string, body []byte) {
		in, err := decodeDoHRequest(method, ctype, query, bytes.NewReader(body))
		if err != nil {
			var de *dohError
			if !errors.As(err, &de) || de.status < 400 || de.status > 499 {
				t.Fatalf("error %v is not a 4xx dohError", err)
			}
			return
		}
		if len(in) < 12 || len(in) > maxDoHMessage {
			t.Fatalf("accepted a %d-octet message", len(in))
		}
		resp := padReply(in, h.AnswerWire(in, true, make([]byte, 0, 512)))
		if resp != nil {
			if r := new(dns.Msg); r.Unpack(resp) != nil && len(resp) > 12 {
				// FORMERR replies to garbage are bare headers; anything
				// longer must unpack.
				t.Fatalf("reply does not unpack: %x", resp)
			}
			minTTL(resp)
		}
	})
}

// TestAckingConn checks that a DoH connection has what it reads
// acknowledged at once: a read leaves the socket in quick-ACK mode even
// when it was in delayed-ACK mode before, as it is once the server has
// answered. Without it, dnsperf's DoH client, which keeps Nagle's
// algorithm on and sends a POST's HEADERS and DATA in two writes, holds
// the DATA until the server's delayed ACK (see heldConn).
func TestAckingConn(t *testing.T) {
	cfg, roots := labTLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client := make(chan *tls.Conn, 1)
	go func() {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "ns1.ports.local"})
		if err != nil {
			t.Error(err)
		}
		client <- c
	}()
	raw, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// As the DoH listener hands it over: under the pool's wrapper.
	ac := newAckingConn(&releasingConn{Conn: raw})
	if ac.raw == nil {
		t.Fatal("no socket found under the connection")
	}
	sc := tls.Server(ac, cfg)
	if err := sc.Handshake(); err != nil {
		t.Fatal(err)
	}
	cc := <-client
	if cc == nil {
		t.FailNow()
	}
	defer cc.Close()

	sockopt := func(set int) (quick int) {
		err := ac.raw.Control(func(fd uintptr) {
			if set >= 0 {
				unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, set)
			}
			quick, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK)
		})
		if err != nil {
			t.Fatal(err)
		}
		return quick
	}
	for i := range 3 {
		if q := sockopt(0); q != 0 {
			t.Fatalf("round %d: TCP_QUICKACK reads %d after setting 0: cannot test", i, q)
		}
		if _, err := cc.Write([]byte("HEADERS of a POST")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		if n, err := sc.Read(buf); err != nil || string(buf[:n]) != "HEADERS of a POST" {
			t.Fatalf("round %d: read %q, %v", i, buf[:n], err)
		}
		if q := sockopt(-1); q != 1 {
			t.Errorf("round %d: after a read TCP_QUICKACK = %d, want 1 (acknowledge at once)", i, q)
		}
	}
}
