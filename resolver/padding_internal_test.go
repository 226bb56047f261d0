package resolver

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
)

// padQuery packs a query, with EDNS(0) when edns is set and then with a
// Padding option when pad is.
func padQuery(t testing.TB, name string, qtype uint16, edns, pad bool) []byte {
	t.Helper()
	if !edns {
		return packQuery(t, name, qtype, 0, nil)
	}
	return packQuery(t, name, qtype, 1232, func(m *dns.Msg) {
		if pad {
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_PADDING{Padding: make([]byte, 5)})
		}
	})
}

// TestPadReply pads replies to 468-octet blocks (RFC 8467 §4.1) only for
// queries that carry a Padding option, and never corrupts the reply cache
// that the unpadded reply came from.
func TestPadReply(t *testing.T) {
	h := NewHandler(zonetest.Excerpt(t), 0, nil)
	for _, tc := range []struct {
		name      string
		qname     string
		qtype     uint16
		edns, pad bool
		padded    bool
	}{
		{"padded query", "_rets._tcp.ports.local.", dns.TypeSRV, true, true, true},
		{"padded NXDOMAIN", "_nosuch._tcp.ports.local.", dns.TypeSRV, true, true, true},
		{"no padding option", "_rets._tcp.ports.local.", dns.TypeSRV, true, false, false},
		{"no EDNS", "_rets._tcp.ports.local.", dns.TypeSRV, false, false, false},
		{"large reply", "b._dns-sd._udp.tcp.ports.local.", dns.TypePTR, true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // the second is a cache hit
				in := padQuery(t, tc.qname, tc.qtype, tc.edns, tc.pad)
				plain := h.AnswerWire(in, true, make([]byte, 0, 512))
				plainCopy := append([]byte(nil), plain...)
				out := padReply(in, h.AnswerWire(in, true, make([]byte, 0, 512)))
				r := new(dns.Msg)
				if err := r.Unpack(out); err != nil {
					t.Fatalf("padded reply does not unpack: %v", err)
				}
				var padLen = -1
				if opt := r.IsEdns0(); opt != nil {
					for _, o := range opt.Option {
						if p, ok := o.(*dns.EDNS0_PADDING); ok {
							padLen = len(p.Padding)
							for _, c := range p.Padding {
								if c != 0 {
									t.Fatal("padding octets are not zero (RFC 7830 §3)")
								}
							}
						}
					}
				}
				if tc.padded && (len(out)%paddingBlock != 0 || padLen < 0) {
					t.Errorf("reply of %d octets (padding %d), want a multiple of %d", len(out), padLen, paddingBlock)
				}
				if !tc.padded && (padLen >= 0 || len(out) != len(plainCopy)) {
					t.Errorf("reply padded (%d octets of padding) for a query without the option", padLen)
				}
				if tc.padded && len(out) != len(plainCopy)+4+padLen {
					t.Errorf("padded reply %d octets, want %d + 4 + %d", len(out), len(plainCopy), padLen)
				}
				// The same question unpadded: the cache was not touched.
				again := h.AnswerWire(padQuery(t, tc.qname, tc.qtype, tc.edns, false), true, make([]byte, 0, 512))
				if _, ok := queryOption(again, optPadding); ok {
					t.Fatal("an unpadded query got a padded reply: padding reached the cache")
				}
			}
		})
	}
}

// A reply near the 64 KiB limit is padded only up to 65535 octets.
func TestPadReplyLimit(t *testing.T) {
	in := padQuery(t, "x.ports.local.", dns.TypeTXT, true, true)
	reply := func(txt []string) []byte {
		m := new(dns.Msg)
		m.SetQuestion("x.ports.local.", dns.TypeTXT)
		m.Response = true
		m.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: "x.ports.local.", Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: txt}}
		m.SetEdns0(1232, false)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// 65529 octets with the option's 4: over the last block boundary
	// (65520) but under the limit.
	const target = 65525
	txt := make([]string, 255) // 65280 octets of RDATA, under its 65535
	for i := range txt {
		txt[i] = strings.Repeat("a", 255)
	}
	txt = append(txt, strings.Repeat("a", target-len(reply(txt))-1))
	resp := reply(txt)
	if len(resp) != target {
		t.Fatalf("built a reply of %d octets, want %d", len(resp), target)
	}
	out := padReply(in, resp)
	if len(out) != 65535 {
		t.Errorf("padded to %d octets, want the 65535 limit", len(out))
	}
	if r := new(dns.Msg); r.Unpack(out) != nil {
		t.Error("padded reply does not unpack")
	}
	if binary.BigEndian.Uint16(out[10:]) != 1 {
		t.Error("ARCOUNT changed")
	}
}
