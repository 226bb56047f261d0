package resolver_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/resolver"
)

// FuzzAnswerWire sends arbitrary packets to the handler, over "UDP" and
// "TCP": it must never panic; every reply must unpack, echo the query's
// ID and fit the transport; and a packet the wire path takes must get
// exactly the reply the dns.Msg path gives.
func FuzzAnswerWire(f *testing.F) {
	for _, q := range []struct {
		name string
		t    uint16
	}{{"_rets._tcp.ports.local.", dns.TypeSRV}, {"_bmc_ctd_ldap._tcp.ports.local.", dns.TypeSRV},
		{"_6081._udp.ports.local.", dns.TypeTXT}, {"b._dns-sd._udp.ports.local.", dns.TypePTR}, {"example.com.", dns.TypeA}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.t)
		m.SetEdns0(1232, true)
		b, _ := m.Pack()
		f.Add(b)
	}
	f.Add([]byte{0xbe, 0xef, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}) // pointer loop
	f.Add([]byte{0xbe, 0xef, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0})                       // QDCOUNT 2, no questions
	h := resolver.NewHandler(zonetest.Excerpt(f), 0, nil)
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, tcp := range []bool{false, true} {
			checkReply(t, h, in, tcp)
		}
	})
}

// checkReply answers in on both paths and checks what every reply must
// be: the wire path's reply the dns.Msg path's for a packet the wire path
// takes, and any reply unpacking, with the query's ID and QR set, within
// the UDP size. It returns the reply, unpacked (nil for none).
func checkReply(t *testing.T, h *resolver.Handler, in []byte, tcp bool) *dns.Msg {
	t.Helper()
	a := h.AnswerWire(in, tcp, make([]byte, 0, 512))
	if resolver.ParsesAsPlain(in) {
		if b := h.AnswerViaMsg(in, tcp); !bytes.Equal(a, b) {
			t.Fatalf("tcp=%v: wire and dns.Msg replies differ:\n% x\n% x", tcp, a, b)
		}
	}
	if a == nil {
		return nil
	}
	m := new(dns.Msg)
	if err := m.Unpack(a); err != nil {
		t.Fatalf("tcp=%v: reply does not unpack: %v", tcp, err)
	}
	if len(in) >= 2 && m.Id != binary.BigEndian.Uint16(in) {
		t.Fatalf("tcp=%v: reply ID %d, query ID %d", tcp, m.Id, binary.BigEndian.Uint16(in))
	}
	if !m.Response {
		t.Fatalf("tcp=%v: reply without QR", tcp)
	}
	if !tcp && len(a) > resolver.DefaultUDPSize {
		t.Fatalf("UDP reply of %d bytes", len(a))
	}
	return m
}

// FuzzSignedAnswerWire sends arbitrary packets to a handler of a signed
// zone: it must never panic, every reply must unpack and fit the
// transport, a packet the wire path takes must get exactly the reply the
// dns.Msg path gives, and a NOERROR or NXDOMAIN reply to a DO=1 query
// must carry signatures that verify (compact denial included, for any
// name).
func FuzzSignedAnswerWire(f *testing.F) {
	for _, q := range []struct {
		name string
		t    uint16
	}{{"_rets._tcp.ports.local.", dns.TypeSRV}, {"_NoSuch._tcp.ports.local.", dns.TypeA}, {"_tcp.ports.local.", dns.TypeNSEC},
		{"_6081._udp.ports.local.", dns.TypeTXT}, {"ports.local.", dns.TypeDNSKEY}, {`\000.x.ports.local.`, dns.TypeRRSIG}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.t)
		m.SetEdns0(1232, true)
		m.IsEdns0().SetCo()
		b, _ := m.Pack()
		f.Add(b)
	}
	snap, _ := signedExcerpt(f)
	h := resolver.NewHandler(snap, 0, nil)
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, tcp := range []bool{false, true} {
			m := checkReply(t, h, in, tcp)
			if m == nil {
				continue
			}
			opt := m.IsEdns0()
			if opt == nil || !opt.Do() || m.Truncated || len(m.Question) != 1 || m.Question[0].Qtype == dns.TypeRRSIG ||
				(m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError) {
				continue
			}
			validate(t, snap, m)
		}
	})
}
