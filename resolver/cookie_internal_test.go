package resolver

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func secret(t testing.TB, h string) (k [16]byte) {
	copy(k[:], mustHex(t, h))
	return k
}

// TestServerCookieVectors checks server cookies against the test vectors
// of RFC 9018 Appendix A: made from a client cookie, a client address, a
// secret and a time, and verified (with the reserved bytes of another
// implementation, and after a secret rollover).
func TestServerCookieVectors(t *testing.T) {
	const s1, s6, s7 = "e5e973e5a6b2a43f48e7dc849e37bfcf", "dd3bdf9344b678b185a6f5cb60fca715", "445536bcd2513298075a5d379663c962"
	for _, v := range []struct {
		name, ip, client, secret string
		when                     int64
		server                   string
	}{
		{"A.1 learning a new server cookie", "198.51.100.100", "2464c4abcf10c957", s1, 1559731985, "010000005cf79f111f8130c3eee29480"},
		{"A.2 the same client, renewed", "198.51.100.100", "2464c4abcf10c957", s1, 1559734385, "010000005cf7a871d4a564a1442aca77"},
		{"A.4 IPv6", "2001:db8:220:1:59de:d0f4:8769:82b8", "22681ab97d52c298", s6, 1559741817, "010000005cf7c57926556bd0934c72f8"},
		{"A.4 IPv6, rolled secret", "2001:db8:220:1:59de:d0f4:8769:82b8", "22681ab97d52c298", s7, 1559741961, "010000005cf7c609a6bb79d16625507a"},
	} {
		t.Run(v.name, func(t *testing.T) {
			j := newCookieJar(CookieConfig{Secrets: []CookieSecret{{Key: secret(t, v.secret)}}})
			var opt [cookieOptLen]byte
			copy(opt[:], mustHex(t, v.client))
			ip := netip.MustParseAddr(v.ip)
			j.make(&opt, ip, v.when)
			if got := hex.EncodeToString(opt[cookieClientLen:]); got != v.server {
				t.Errorf("server cookie %s, want %s", got, v.server)
			}
			if st := j.verify(opt[:8], opt[8:], ip, v.when+10); st != cookieValid {
				t.Errorf("own cookie verifies as %s", cookieStatusNames[st])
			}
			mapped := netip.AddrFrom16(ip.As16())
			if ip.Is4() && j.verify(opt[:8], opt[8:], mapped, v.when) != cookieValid {
				t.Error("the same IPv4 client arriving as IPv4-mapped IPv6 is not recognised")
			}
		})
	}
	// A.3: another implementation's cookie, reserved bytes set, is
	// verified over the bytes it carries.
	j := newCookieJar(CookieConfig{Secrets: []CookieSecret{{Key: secret(t, s1)}}})
	if st := j.verify(mustHex(t, "fc93fc62807ddb86"), mustHex(t, "01abcdef5cf78f71a314227b6679ebf5"), netip.MustParseAddr("203.0.113.203"), 1559727985); st != cookieValid {
		t.Errorf("A.3 cookie with reserved bytes: %s, want valid", cookieStatusNames[st])
	}
	// After the rollover the new secret makes cookies, the old one still
	// verifies them.
	j = newCookieJar(CookieConfig{Secrets: []CookieSecret{{Key: secret(t, s7)}, {Key: secret(t, s6)}}})
	if st := j.verify(mustHex(t, "22681ab97d52c298"), mustHex(t, "010000005cf7c57926556bd0934c72f8"), netip.MustParseAddr("2001:db8:220:1:59de:d0f4:8769:82b8"), 1559741961); st != cookieValid {
		t.Errorf("cookie of the previous secret: %s, want valid", cookieStatusNames[st])
	}
}

// cookieQuery packs a query with a COOKIE option of data (hex).
func cookieQuery(t testing.TB, name string, data string) []byte {
	return packQuery(t, name, dns.TypeSRV, 1232, func(m *dns.Msg) {
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: data})
	})
}

// TestCookieExamine runs RFC 7873 §5.2's cases through examine: what the
// option is, and which server cookie goes back.
func TestCookieExamine(t *testing.T) {
	const now = 1_800_000_000
	k1, k2 := secret(t, "000102030405060708090a0b0c0d0e0f"), secret(t, "f0e0d0c0b0a090807060504030201000")
	j := newCookieJar(CookieConfig{Secrets: []CookieSecret{{Key: k1}, {Key: k2, Until: time.Unix(now+60, 0)}}})
	other := newCookieJar(CookieConfig{Secrets: []CookieSecret{{Key: k2}}})
	ip := netip.MustParseAddr("192.0.2.1")
	const cc = "0102030405060708"
	cookieAt := func(jar *cookieJar, when int64, addr netip.Addr) string {
		var opt [cookieOptLen]byte
		copy(opt[:], mustHex(t, cc))
		jar.make(&opt, addr, when)
		return hex.EncodeToString(opt[:])
	}
	for _, tc := range []struct {
		name   string
		option string // hex; "-" none
		when   int64
		status cookieStatus
		echo   bool // the server cookie sent back is the one presented
	}{
		{"no option", "-", now, cookieAbsent, false},
		{"client cookie", cc, now, cookieClientOnly, false},
		{"too short", "01020304050607", now, cookieMalformed, false},
		{"9 bytes", cc + "01", now, cookieMalformed, false},
		{"15 bytes", cc + "01020304050607", now, cookieMalformed, false},
		{"41 bytes", cc + hex.EncodeToString(make([]byte, 33)), now, cookieMalformed, false},
		{"valid, fresh", cookieAt(j, now-10, ip), now, cookieValid, true},
		{"valid, 29 min old", cookieAt(j, now-1799, ip), now, cookieValid, true},
		{"valid, 31 min old: renewed", cookieAt(j, now-1860, ip), now, cookieValid, false},
		{"1 hour old", cookieAt(j, now-3600, ip), now, cookieValid, false},
		{"over 1 hour old", cookieAt(j, now-3601, ip), now, cookieExpired, false},
		{"5 min ahead", cookieAt(j, now+300, ip), now, cookieValid, true},
		{"over 5 min ahead", cookieAt(j, now+301, ip), now, cookieExpired, false},
		{"previous secret, in its grace", cookieAt(other, now-5, ip), now, cookieValid, true},
		{"previous secret, after its grace", cookieAt(other, now+55, ip), now + 61, cookieBad, false},
		{"another client's", cookieAt(j, now, netip.MustParseAddr("192.0.2.2")), now, cookieBad, false},
		{"another secret's", cookieAt(newCookieJar(CookieConfig{Secrets: []CookieSecret{{Key: secret(t, "ffffffffffffffffffffffffffffffff")}}}), now, ip), now, cookieBad, false},
		{"version 2", cc + "02" + cookieAt(j, now, ip)[18:], now, cookieBad, false},
		{"8-byte server cookie", cc + "0102030405060708", now, cookieBad, false},
		{"32-byte server cookie", cc + hex.EncodeToString(make([]byte, 32)), now, cookieBad, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := packQuery(t, "_rets._tcp.ports.local.", dns.TypeSRV, 1232, nil)
			if tc.option != "-" {
				q = cookieQuery(t, "_rets._tcp.ports.local.", tc.option)
			}
			c := j.examine(q, ip, &guardClock{unix: tc.when})
			if c.status != tc.status {
				t.Fatalf("status %s, want %s", cookieStatusNames[c.status], cookieStatusNames[tc.status])
			}
			if !c.aware() {
				return
			}
			if got := hex.EncodeToString(c.opt[:8]); got != cc {
				t.Errorf("client cookie sent back %s, want %s", got, cc)
			}
			if echoed := hex.EncodeToString(c.opt[:]) == tc.option; echoed != tc.echo {
				t.Errorf("echoed %v, want %v (sent %x)", echoed, tc.echo, c.opt)
			}
			if !tc.echo {
				if got, want := hex.EncodeToString(c.opt[:]), cookieAt(j, tc.when, ip); got != want {
					t.Errorf("new server cookie %s, want %s (first secret, now)", got, want)
				}
			}
			if st := j.verify(c.opt[:8], c.opt[8:], ip, tc.when); st != cookieValid {
				t.Errorf("the cookie sent back verifies as %s", cookieStatusNames[st])
			}
		})
	}
}

// unpackCookie unpacks a reply and returns it with its COOKIE option (hex;
// "" none).
func unpackCookie(t testing.TB, b []byte) (*dns.Msg, string) {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatalf("reply does not unpack: %v (%x)", err, b)
	}
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if c, ok := o.(*dns.EDNS0_COOKIE); ok {
				return m, c.Cookie
			}
		}
	}
	return m, ""
}

// TestGuardedCookies runs queries with cookies through a server's
// protections: what each gets back over UDP and TCP, with and without
// require_cookie, and how cookies meet rate limiting.
func TestGuardedCookies(t *testing.T) {
	const cc = "0102030405060708"
	key := secret(t, "000102030405060708090a0b0c0d0e0f")
	rrlCfg := RRLConfig{ResponsesPerSecond: 2, Window: 1, Slip: 1, IPv4Prefix: 24, IPv6Prefix: 56}
	client := netip.MustParseAddr("192.0.2.1")
	ask := func(s *Server, q []byte, tcp bool, now uint64) []byte {
		g := guardClock{jar: s.cookies.Load(), unix: 1_800_000_000, rrlNow: now}
		return s.guardedAnswer(0, q, client, tcp, make([]byte, 0, 4096), &g)
	}
	valid := func(s *Server) string {
		_, c := unpackCookie(t, ask(s, cookieQuery(t, "_rets._tcp.ports.local.", cc), true, 0))
		return c
	}
	for _, require := range []bool{false, true} {
		s := testServer(t, RRLConfig{}, &CookieConfig{Secrets: []CookieSecret{{Key: key}}, RequireUDP: require})
		good := valid(s)
		for _, tc := range []struct {
			name   string
			q      []byte
			tcp    bool
			rcode  int
			answer bool
			cookie string // "client": a fresh cookie for cc; "same": good
		}{
			{"no cookie", packQuery(t, "_rets._tcp.ports.local.", dns.TypeSRV, 1232, nil), false, dns.RcodeSuccess, true, ""},
			{"client cookie", cookieQuery(t, "_rets._tcp.ports.local.", cc), false, map[bool]int{false: dns.RcodeSuccess, true: dns.RcodeBadCookie}[require], !require, "client"},
			{"client cookie, TCP", cookieQuery(t, "_rets._tcp.ports.local.", cc), true, dns.RcodeSuccess, true, "client"},
			{"valid cookie", cookieQuery(t, "_rets._tcp.ports.local.", good), false, dns.RcodeSuccess, true, "same"},
			{"bad cookie", cookieQuery(t, "_rets._tcp.ports.local.", cc+"01000000"+good[24:32]+"0000000000000000"), false, map[bool]int{false: dns.RcodeSuccess, true: dns.RcodeBadCookie}[require], !require, "client"},
			{"malformed", cookieQuery(t, "_rets._tcp.ports.local.", cc+"01"), false, dns.RcodeFormatError, false, ""},
			{"malformed, TCP", cookieQuery(t, "_rets._tcp.ports.local.", cc+"01"), true, dns.RcodeFormatError, false, ""},
			{"no question, client cookie", qdZero(t, cc), false, dns.RcodeSuccess, false, "client"},
			{"no question, valid cookie", qdZero(t, good), false, dns.RcodeSuccess, false, "same"},
			{"no question, bad cookie", qdZero(t, cc+"0100000000000000"+"0000000000000000"), false, dns.RcodeBadCookie, false, "client"},
		} {
			t.Run(map[bool]string{false: "optional/", true: "required/"}[require]+tc.name, func(t *testing.T) {
				m, c := unpackCookie(t, ask(s, tc.q, tc.tcp, 0))
				if m.Rcode != tc.rcode || (len(m.Answer) > 0) != tc.answer {
					t.Errorf("rcode %s with %d answers, want %s and answer %v", dns.RcodeToString[m.Rcode], len(m.Answer), dns.RcodeToString[tc.rcode], tc.answer)
				}
				if m.Id != 0x1234 {
					t.Errorf("ID %#x, want 0x1234", m.Id)
				}
				switch tc.cookie {
				case "":
					if c != "" {
						t.Errorf("cookie %s in the reply, want none", c)
					}
				case "same":
					if c != good {
						t.Errorf("cookie %s, want the valid one echoed, %s", c, good)
					}
				case "client":
					if len(c) != 48 || c[:16] != cc || s.cookies.Load().verify(mustHex(t, c[:16]), mustHex(t, c[16:]), client, 1_800_000_000) != cookieValid {
						t.Errorf("cookie %q, want %s and a valid server cookie", c, cc)
					}
				}
			})
		}
	}

	// Rate limiting: a flood with a valid cookie is not limited; the
	// same flood without one is, and a cookie-aware client's slips are
	// BADCOOKIE with its cookie (so that it can retry with it).
	s := testServer(t, rrlCfg, &CookieConfig{Secrets: []CookieSecret{{Key: key}}})
	good := valid(s)
	full := func(q []byte) (n, badCookie int) {
		for range 100 {
			m, c := unpackCookie(t, ask(s, q, false, 5e6))
			switch {
			case m.Rcode == dns.RcodeBadCookie && c != "" && c[:16] == cc:
				badCookie++
			case m.Rcode == dns.RcodeSuccess && !m.Truncated && len(m.Answer) > 0:
				n++
			}
		}
		return n, badCookie
	}
	if n, _ := full(cookieQuery(t, "_rets._tcp.ports.local.", good)); n != 100 {
		t.Errorf("100 queries with a valid cookie: %d answered, want all", n)
	}
	if n, bc := full(cookieQuery(t, "_rets._tcp.ports.local.", cc)); n != 2 || bc != 98 {
		t.Errorf("100 queries with a client cookie only: %d answered, %d BADCOOKIE slips; want 2 and 98", n, bc)
	}
	if st, _ := s.RRLStats(); st.ExemptCookie != 100 {
		t.Errorf("cookie exemptions counted %d, want 100", st.ExemptCookie)
	}
	cs := s.CookieStats()
	if cs.BadCookie != 0 {
		t.Errorf("BADCOOKIE counted %d for slips, want 0 (only replies made without the handler count)", cs.BadCookie)
	}
}

// qdZero packs a query with no question and a COOKIE option (RFC 7873
// §5.4).
func qdZero(t testing.TB, cookie string) []byte {
	m := new(dns.Msg)
	m.Id = 0x1234
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: cookie})
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAddCookieFits checks that a reply the cookie would push over the
// client's payload size goes out truncated, cookie kept, within it.
func TestAddCookieFits(t *testing.T) {
	for _, size := range []int{512, 1232} {
		m := new(dns.Msg)
		m.SetQuestion("_big._tcp.ports.local.", dns.TypeTXT)
		m.Response, m.Authoritative = true, true
		m.SetEdns0(uint16(size), false)
		// Strings of 200 bytes, the last one sized so that the reply is
		// 10 bytes short of the limit: too full for a 28-byte option.
		txt := &dns.TXT{Hdr: dns.RR_Header{Name: "_big._tcp.ports.local.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}}
		m.Answer = []dns.RR{txt}
		for m.Len() < size-10 {
			if n := len(txt.Txt); n == 0 || len(txt.Txt[n-1]) == 200 {
				txt.Txt = append(txt.Txt, "")
			}
			txt.Txt[len(txt.Txt)-1] += "x"
		}
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		var opt [cookieOptLen]byte
		copy(opt[:], "clientck")
		out := addCookie(append(make([]byte, 0, 4096), b...), &opt, size)
		r, c := unpackCookie(t, out)
		if len(out) > size || !r.Truncated || len(r.Answer) != 0 || c != hex.EncodeToString(opt[:]) {
			t.Errorf("size %d: %d-byte reply + cookie: got %d bytes, TC %v, %d answers, cookie %q; want TC=1, empty, with the cookie, within %d",
				size, len(b), len(out), r.Truncated, len(r.Answer), c, size)
		}
		txt.Txt = txt.Txt[:1]
		small, _ := m.PackBuffer(make([]byte, 0, 4096))
		out = addCookie(small, &opt, size)
		if r, c := unpackCookie(t, out); r.Truncated || len(r.Answer) != 1 || c == "" || binary.BigEndian.Uint16(out[10:]) != 1 {
			t.Errorf("size %d: a small reply lost its answer or got no cookie", size)
		}
	}
}
