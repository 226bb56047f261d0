package resolver

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// cookieQueryRaw is a query for _rets._tcp.ports.local SRV whose OPT
// carries a COOKIE option with data, however long or short.
func cookieQueryRaw(data []byte) []byte {
	q := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1}
	q = append(q, "\x05_rets\x04_tcp\x05ports\x05local\x00"...)
	q = append(q, 0, 33, 0, 1)
	q = append(q, 0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0)
	q = binary.BigEndian.AppendUint16(q, uint16(4+len(data)))
	q = binary.BigEndian.AppendUint16(q, optCookie)
	q = binary.BigEndian.AppendUint16(q, uint16(len(data)))
	return append(q, data...)
}

// FuzzCookieOption feeds arbitrary COOKIE option data, and arbitrary
// packets, to the cookie parser and the protected answer path (cookies
// and rate limiting on, over UDP and TCP). It must never panic; the parser
// accepts exactly the lengths RFC 7873 §5.2.2 allows; an illegal length
// gets FORMERR; a legal one gets a reply with a COOKIE option that echoes
// the client cookie and carries a server cookie that verifies; and every
// reply unpacks and echoes the query's ID.
func FuzzCookieOption(f *testing.F) {
	for _, n := range []int{0, 7, 8, 9, 15, 16, 24, 40, 41} {
		f.Add(bytes.Repeat([]byte{0xA5}, n), []byte(nil))
	}
	f.Add([]byte("clientck\x01\x00\x00\x00\x6b\x0d\x81\xb7hashhash"), cookieQueryRaw([]byte("clientck")))
	f.Add([]byte(nil), []byte{0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 4, 0, 10, 0, 0}) // QDCOUNT 0, empty cookie
	var key [16]byte
	s := testServer(f, RRLConfig{ResponsesPerSecond: 3, ErrorsPerSecond: 3, NXDomainsPerSecond: 3, Window: 1, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56},
		&CookieConfig{Secrets: []CookieSecret{{Key: key}}})
	client := netip.MustParseAddr("192.0.2.1")
	f.Fuzz(func(t *testing.T, data, raw []byte) {
		if len(data) > 1000 {
			return
		}
		cc, sc, ok := parseCookieOption(data)
		legal := len(data) == 8 || len(data) >= 16 && len(data) <= 40
		if ok != legal {
			t.Fatalf("%d-byte option: ok %v, want %v", len(data), ok, legal)
		}
		if ok && (!bytes.Equal(cc, data[:8]) || !bytes.Equal(sc, data[8:])) {
			t.Fatalf("%x split as %x | %x", data, cc, sc)
		}
		for _, tcp := range []bool{false, true} {
			g := s.clock()
			resp := s.guardedAnswer(0, cookieQueryRaw(data), client, tcp, make([]byte, 0, 4096), &g)
			if resp == nil {
				continue // dropped by rate limiting
			}
			m := new(dns.Msg)
			if err := m.Unpack(resp); err != nil {
				t.Fatalf("reply to a %d-byte cookie does not unpack: %v", len(data), err)
			}
			var got *dns.EDNS0_COOKIE
			if opt := m.IsEdns0(); opt != nil {
				for _, o := range opt.Option {
					if c, isCookie := o.(*dns.EDNS0_COOKIE); isCookie {
						got = c
					}
				}
			}
			switch {
			case !legal && (m.Rcode != dns.RcodeFormatError || got != nil):
				t.Fatalf("%d-byte cookie: rcode %s, cookie %v; want FORMERR without", len(data), dns.RcodeToString[m.Rcode], got)
			case legal && got == nil:
				t.Fatalf("%d-byte cookie: no cookie in the reply", len(data))
			case legal:
				b, err := hex.DecodeString(got.Cookie)
				if err != nil || len(b) != cookieOptLen {
					t.Fatalf("cookie %q sent back", got.Cookie)
				}
				if !bytes.Equal(b[:8], data[:8]) || s.cookies.Load().verify(b[:8], b[8:], client, g.unix) != cookieValid {
					t.Fatalf("cookie %s sent back for %x", got.Cookie, data)
				}
			}
		}
		if len(raw) > 0 {
			for _, tcp := range []bool{false, true} {
				g := s.clock()
				if resp := s.guardedAnswer(0, raw, client, tcp, make([]byte, 0, 4096), &g); resp != nil {
					m := new(dns.Msg)
					if err := m.Unpack(resp); err != nil {
						t.Fatalf("reply to %x does not unpack: %v (%x)", raw, err, resp)
					}
					if len(raw) >= 2 && m.Id != binary.BigEndian.Uint16(raw) {
						t.Fatalf("reply ID %#x to query %x", m.Id, raw)
					}
				}
			}
		}
	})
}
