package e2e_test

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/quic-go/quic-go"
)

// encQuestions are asked over every transport: an SRV with its target's
// address, the alias chain, NXDOMAIN (with an Extended DNS Error), NODATA
// at an empty non-terminal, a port name computed per query, and a TXT.
var encQuestions = []struct{ name, qtype, rcode string }{
	{"_rets._tcp.ports.local", "SRV", "NOERROR"},
	{"_bmc_ctd_ldap._tcp.ports.local", "SRV", "NOERROR"},
	{"_nosuchsvc._udp.ports.local", "SRV", "NXDOMAIN"},
	{"_bad_name._tcp.ports.local", "SRV", "NXDOMAIN"},
	{"_udp.ports.local", "SRV", "NOERROR"},
	{"_6081._udp.ports.local", "PTR", "NOERROR"},
	{"_geneve._udp.ports.local", "TXT", "NOERROR"},
}

var (
	kdigSize = regexp.MustCompile(`;; Received (\d+) B`)
	digSize  = regexp.MustCompile(`;; MSG SIZE\s+rcvd: (\d+)`)
)

// replySize is the size of the reply a client printed.
func replySize(out string) int {
	for _, re := range []*regexp.Regexp{kdigSize, digSize} {
		if m := re.FindAllStringSubmatch(out, -1); m != nil {
			n, _ := strconv.Atoi(m[len(m)-1][1])
			return n
		}
	}
	return -1
}

// sameReply reports how got differs from want: rcode, answer, authority.
func sameReply(want, got *reply) []string {
	var d []string
	if want.Rcode != got.Rcode {
		d = append(d, fmt.Sprintf("rcode %s, want %s", got.Rcode, want.Rcode))
	}
	if x, y := opsRRTexts(want.Answer), opsRRTexts(got.Answer); !slices.Equal(x, y) {
		d = append(d, fmt.Sprintf("answer %q, want %q", y, x))
	}
	if x, y := opsRRTexts(want.Authority), opsRRTexts(got.Authority); !slices.Equal(x, y) {
		d = append(d, fmt.Sprintf("authority %q, want %q", y, x))
	}
	return d
}

// TestEncryptedTransports runs one svcdns serving the full registry over
// UDP, TCP, TLS, HTTPS and QUIC, with mutual TLS required for transfers,
// and checks it with clients and secondaries the project did not write:
// kdig and dig over TLS and HTTPS (strict certificate checks against the
// test's CA), Unbound forwarding over TLS, BIND 9.18 and NSD pulling the
// zone over TLS; and DoQ with a quic-go client written here.
func TestEncryptedTransports(t *testing.T) {
	t.Parallel()
	reg, full := fullRegistry(t)
	dir := t.TempDir()
	ca := newTestCA(t, dir, "svcdns-test")
	certFile, keyFile := ca.issue(t, dir, "server", true, 100)
	clientCert, clientKey := ca.issue(t, dir, "secondary", false, 200)
	srv := startEncrypted(t, encOpts{certFile: certFile, keyFile: keyFile, clientCA: ca.CertPEM, requireClientCert: true}, nil, "--registry", full)

	t.Run("Clients", func(t *testing.T) {
		strict := []string{"+tls-ca=" + ca.CertPEM, "+tls-hostname=" + encServerName}
		type variant struct {
			name, addr string
			client     toolQuery
			flags      []string
			session    string // what the client prints about the session
		}
		kdig, dig := clients[1], clients[0]
		variants := []variant{
			{"kdig tls", srv.TLS, kdig, append([]string{"+padding"}, strict...), ";; TLS session (TLS1.3)"},
			{"dig tls", srv.TLS, dig, append([]string{"+tls", "+padding=468"}, strict...), "(TLS)"},
			{"kdig https", srv.HTTPS, kdig, append([]string{"+https", "+padding"}, strict...), "(HTTP/2-POST)"},
			{"kdig https-get", srv.HTTPS, kdig, append([]string{"+https-get", "+padding"}, strict...), "(HTTP/2-GET)"},
			{"dig https", srv.HTTPS, dig, append([]string{"+https", "+padding=468"}, strict...), "(HTTPS)"},
			{"dig https-get", srv.HTTPS, dig, append([]string{"+https-get", "+padding=468"}, strict...), "(HTTPS-GET)"},
		}
		for _, q := range encQuestions {
			// Over UDP, asked for padding, the reply is not padded: only
			// encrypted transports pad (RFC 8467 §4).
			base, baseOut := dig.ask(t, srv.Addr, q.name, q.qtype, "+padding=468")
			if base.Rcode != q.rcode {
				t.Fatalf("%s %s over UDP: rcode %s, want %s\n%s", q.name, q.qtype, base.Rcode, q.rcode, baseOut)
			}
			if strings.Contains(baseOut, "PAD:") {
				t.Errorf("%s %s over UDP: reply padded\n%s", q.name, q.qtype, baseOut)
			}
			for _, v := range variants {
				r, out := v.client.ask(t, v.addr, q.name, q.qtype, v.flags...)
				if d := sameReply(base, r); len(d) > 0 {
					t.Errorf("%s %s %s: %s\n%s", v.name, q.name, q.qtype, strings.Join(d, "; "), out)
				}
				if !strings.Contains(out, v.session) {
					t.Errorf("%s %s %s: output lacks %q: not the transport asked for?\n%s", v.name, q.name, q.qtype, v.session, out)
				}
				if n := replySize(out); n <= 0 || n%468 != 0 || !strings.Contains(out, "PAD") {
					t.Errorf("%s %s %s: reply of %d octets, want padded to a multiple of 468\n%s", v.name, q.name, q.qtype, n, out)
				}
			}
		}
		// Unpadded queries get unpadded replies over TLS too.
		r, out := kdig.ask(t, srv.TLS, "_rets._tcp.ports.local", "SRV", append([]string{"+nopadding"}, strict...)...)
		if n := replySize(out); r.Rcode != "NOERROR" || n%468 == 0 || strings.Contains(out, "PADDING") {
			t.Errorf("kdig tls without +padding: %d octets, padded?\n%s", n, out)
		}
	})

	t.Run("UnboundOverTLS", func(t *testing.T) {
		before := srv.MustScrape(t)
		_, tlsPort, _ := net.SplitHostPort(srv.TLS)
		addr, _ := runUnbound(t, func(dir string, port int, pidfile, logPath string) string {
			c := fmt.Sprintf(unboundConf, dir, port, tlsPort+"#"+encServerName, pidfile, logPath)
			return strings.Replace(c, "\tlocal-zone:", fmt.Sprintf("\ttls-cert-bundle: %q\n\tlocal-zone:", ca.CertPEM), 1) +
				"\tstub-tls-upstream: yes\n"
		})
		dig := clients[0]
		for _, q := range []struct{ name, rcode, want string }{
			{"_rets._tcp.ports.local", "NOERROR", "6103 svc.ports.local."},
			{"_bmc_ctd_ldap._tcp.ports.local", "NOERROR", "6301 svc.ports.local."},
			{"_nosuchsvc._udp.ports.local", "NXDOMAIN", ""},
		} {
			r, out := dig.ask(t, addr, q.name, "SRV")
			if r.Rcode != q.rcode || !r.Flags["ra"] || (q.want != "" && !strings.Contains(fmt.Sprint(r.Answer), q.want)) {
				t.Errorf("%s via Unbound over TLS: rcode %s, answer %v; want %s with %q\n%s", q.name, r.Rcode, r.Answer, q.rcode, q.want, out)
			}
			if q.name == "_bmc_ctd_ldap._tcp.ports.local" && (len(r.Answer) != 2 || r.Answer[0].Header().Rrtype != dns.TypeCNAME) {
				t.Errorf("alias via Unbound: answer %v, want the CNAME and the SRV", r.Answer)
			}
		}
		after := srv.MustScrape(t)
		tlsQ := after.Sum("svcdns_transport_queries_total", `transport="tls"`) - before.Sum("svcdns_transport_queries_total", `transport="tls"`)
		plain := after.Sum("svcdns_transport_queries_total", `transport="udp"`) + after.Sum("svcdns_transport_queries_total", `transport="tcp"`) -
			before.Sum("svcdns_transport_queries_total", `transport="udp"`) - before.Sum("svcdns_transport_queries_total", `transport="tcp"`)
		if tlsQ < 3 || plain != 0 {
			t.Errorf("while Unbound resolved: %v queries over TLS, %v over UDP and TCP; want at least 3 over TLS and none in the clear", tlsQ, plain)
		}
	})

	t.Run("DoQ", func(t *testing.T) {
		roots := loadCertPool(t, ca.CertPEM)
		d := dialDoQ(t, srv.QUIC, roots)
		for _, q := range encQuestions {
			qt := dns.StringToType[q.qtype]
			want := query(t, "udp", srv.Addr, dns.Fqdn(q.name), qt)
			m := new(dns.Msg)
			m.SetQuestion(dns.Fqdn(q.name), qt)
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_PADDING{Padding: make([]byte, 8)})
			got, size, err := d.exchange(m)
			if err != nil {
				t.Fatalf("%s %s over QUIC: %v", q.name, q.qtype, err)
			}
			if got.Rcode != want.Rcode || !slices.Equal(opsRRTexts(got.Answer), opsRRTexts(want.Answer)) || !slices.Equal(opsRRTexts(got.Ns), opsRRTexts(want.Ns)) {
				t.Errorf("%s %s over QUIC: %v, over UDP: %v", q.name, q.qtype, got, want)
			}
			if size%468 != 0 || got.Id != 0 {
				t.Errorf("%s %s over QUIC: reply of %d octets with ID %d, want padded to 468-octet blocks and ID 0", q.name, q.qtype, size, got.Id)
			}
		}
		m := new(dns.Msg)
		m.SetAxfr("ports.local.")
		if r, _, err := d.exchange(m); err != nil || r.Rcode != dns.RcodeRefused {
			t.Errorf("AXFR over QUIC: %v %v, want REFUSED (no XoQ)", r, err)
		}

		// RFC 9250 §4.3.3: these break the protocol and close the
		// connection with DOQ_PROTOCOL_ERROR; the server goes on.
		q := new(dns.Msg)
		q.SetQuestion("_rets._tcp.ports.local.", dns.TypeSRV)
		q.Id = 4711
		wire, _ := q.Pack()
		frame := func(msg []byte) []byte { return append([]byte{byte(len(msg) >> 8), byte(len(msg))}, msg...) }
		zeroID := append([]byte{0, 0}, wire[2:]...)
		for _, tc := range []struct {
			name  string
			frame []byte
		}{
			{"non-zero message ID", frame(wire)},
			{"stream ends inside the message", frame(zeroID)[:20]},
			{"two messages on one stream", append(frame(zeroID), frame(zeroID)...)},
			{"length prefix cut", []byte{0}},
			{"shorter than a header", frame([]byte{0, 0, 1})},
		} {
			c := dialDoQ(t, srv.QUIC, roots)
			_, err := c.raw(tc.frame, true)
			var ae *quic.ApplicationError
			if !errors.As(err, &ae) || ae.ErrorCode != 0x2 || !ae.Remote {
				t.Errorf("%s: %v, want the connection closed with DOQ_PROTOCOL_ERROR (0x2)", tc.name, err)
			}
		}
		// A stream the client resets is dropped; its connection goes on.
		c := dialDoQ(t, srv.QUIC, roots)
		ctx := t.Context()
		st, err := c.conn.OpenStreamSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Write(frame(zeroID)[:10])
		st.CancelWrite(0x3)
		if r, _, err := c.exchange(q); err != nil || r.Rcode != dns.RcodeSuccess {
			t.Errorf("query after a reset stream on the same connection: %v %v", r, err)
		}
	})

	t.Run("Metrics", func(t *testing.T) {
		m := srv.MustScrape(t)
		for _, tr := range []string{"tls", "https", "quic"} {
			if n := m.Sum("svcdns_transport_queries_total", fmt.Sprintf("transport=%q", tr)); n == 0 {
				t.Errorf("svcdns_transport_queries_total{transport=%q} = 0 after queries over it", tr)
			}
			if n := m.Sum("svcdns_transport_connections_accepted_total", fmt.Sprintf("transport=%q", tr)); n == 0 {
				t.Errorf("svcdns_transport_connections_accepted_total{transport=%q} = 0", tr)
			}
		}
	})

	// Transfers go last: they run while the other transports serve, and
	// the DoQ protocol errors above have left the server as it was.
	t.Run("XoT", func(t *testing.T) { testXoT(t, srv, reg, ca, dir, clientCert, clientKey) })
}
