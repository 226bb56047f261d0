package e2e_test

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dchest/siphash"
	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/testenv"
)

// cookieSecret is the secret svcdns and its peers share in these tests.
const cookieSecret = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

// validServerCookie checks a 16-byte RFC 9018 server cookie made for
// client cookie cc, client address ip and cookieSecret, computed here
// independently of svcdns's code.
func validServerCookie(cc, sc []byte, ip net.IP) bool {
	if len(cc) != 8 || len(sc) != 16 || sc[0] != 1 {
		return false
	}
	key, _ := hex.DecodeString(cookieSecret)
	in := append(append([]byte{}, cc...), sc[:8]...)
	in = append(in, ip.To4()...)
	var sum [8]byte
	binary.LittleEndian.PutUint64(sum[:], siphash.Hash(binary.LittleEndian.Uint64(key[:8]), binary.LittleEndian.Uint64(key[8:]), in))
	return string(sum[:]) == string(sc[8:])
}

// cookieAsk sends one UDP query for the zone's SOA with a COOKIE option
// (hex) from 127.0.0.1 and returns the reply's rcode and COOKIE (hex).
func cookieAsk(t *testing.T, addr, cookie string) (rcode int, got string) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("ports.local.", dns.TypeSOA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: cookie})
	c := &dns.Client{Timeout: 2 * time.Second}
	var r *dns.Msg
	var err error
	for range 3 {
		if r, _, err = c.Exchange(m, addr); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("%s: %v", addr, err)
	}
	for _, o := range r.IsEdns0().Option {
		if ck, ok := o.(*dns.EDNS0_COOKIE); ok {
			return r.Rcode, ck.Cookie
		}
	}
	return r.Rcode, ""
}

// cookieTime is the timestamp of a cookie (hex, client and server parts).
func cookieTime(c string) uint32 {
	b, _ := hex.DecodeString(c)
	if len(b) < 16 {
		return 0
	}
	return binary.BigEndian.Uint32(b[12:16])
}

const cookiePeerZone = `$ORIGIN ports.local.
$TTL 300
@	SOA	ns1 hostmaster 1 3600 600 604800 300
@	NS	ns1
ns1	A	127.0.0.1
`

// startCookiePeer runs BIND, NSD or Knot on a free loopback port with DNS
// cookies keyed with cookieSecret, serving a small ports.local zone, and
// returns its address once it answers.
func startCookiePeer(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	zone := filepath.Join(dir, "ports.local.zone")
	opsWriteFile(t, zone, []byte(cookiePeerZone))
	conf := filepath.Join(dir, name+".conf")
	var bin string
	var args []string
	switch name {
	case "named":
		// require-server-cookie: a cookie it does not accept gets
		// BADCOOKIE, so accepting ours shows as NOERROR.
		opsWriteFile(t, conf, fmt.Appendf(nil, `options {
	directory "%[1]s";
	pid-file "%[1]s/named.pid";
	session-keyfile "%[1]s/session.key";
	listen-on port %[2]d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	cookie-algorithm siphash24;
	cookie-secret "%[3]s";
	require-server-cookie yes;
};
controls { };
zone "ports.local" { type primary; file "%[4]s"; };
`, dir, port, cookieSecret, zone))
		bin, args = testenv.Tool(t, "named"), []string{"-g", "-n", "1", "-c", conf}
	case "nsd":
		opsWriteFile(t, conf, fmt.Appendf(nil, `server:
    ip-address: 127.0.0.1
    port: %[2]d
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: %[1]s
    pidfile: %[1]s/nsd.pid
    xfrdfile: %[1]s/xfrd.state
    zonelistfile: %[1]s/zone.list
    database: ""
    rrl-ratelimit: 0
    answer-cookie: yes
    cookie-secret: "%[3]s"
    cookie-secret-file: %[1]s/nsd_cookiesecrets.txt
remote-control:
    control-enable: no
zone:
    name: ports.local
    zonefile: ports.local.zone
`, dir, port, cookieSecret))
		bin, args = testenv.Tool(t, "nsd"), []string{"-d", "-c", conf}
	case "knotd":
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		opsWriteFile(t, conf, fmt.Appendf(nil, `server:
    rundir: %[1]s
    user: %[4]s
    listen: 127.0.0.1@%[2]d
    pidfile: %[1]s/knot.pid
log:
  - target: stderr
    any: info
database:
    storage: %[1]s
control:
    listen: %[1]s/knot.sock
mod-cookies:
  - id: shared
    secret: 0x%[3]s
template:
  - id: default
    global-module: mod-cookies/shared
zone:
  - domain: ports.local
    storage: %[1]s
    file: ports.local.zone
`, dir, port, cookieSecret, u.Username))
		bin, args = testenv.Tool(t, "knotd"), []string{"-c", conf}
	}
	out := &syncBuffer{}
	runDaemon(t, name, out, bin, args...)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if !opsWaitFor(20*time.Second, 20*time.Millisecond, func() bool {
		_, err := opsSOASerial(addr)
		return err == nil
	}) {
		t.Fatalf("%s not answering on %s after 20 s\n%s", name, addr, tail(out.String(), 8<<10))
	}
	return addr
}

// TestCookies checks DNS cookies against a real `svcdns serve`: dig and
// kdig get valid server cookies (dig says "good"); with the same secret
// and client cookie, svcdns's server cookie is byte for byte what BIND,
// NSD and Knot return, svcdns accepts theirs and they accept its; and a
// flood that carries a valid cookie is not rate limited while the same
// flood without one is.
func TestCookies(t *testing.T) {
	srv := startLoadServer(t, []string{"SVCDNS_COOKIES_SECRETS=" + cookieSecret, "SVCDNS_STATE_DIR=" + t.TempDir()})
	_, port, _ := net.SplitHostPort(srv.Addr)
	lo := net.IPv4(127, 0, 0, 1)
	cookieLine := regexp.MustCompile(`(?m)^;* ?COOKIE: ([0-9a-fA-F]+)( \(good\))?`)

	t.Run("dig", func(t *testing.T) {
		out, _ := runTool(t, testenv.Tool(t, "dig"), "+cookie", "@127.0.0.1", "-p", port, "SRV", "_rets._tcp.ports.local.")
		m := cookieLine.FindStringSubmatch(out)
		if m == nil || m[2] == "" {
			t.Fatalf("dig +cookie: no good cookie reported:\n%s", out)
		}
		b, _ := hex.DecodeString(m[1])
		if len(b) != 24 || !validServerCookie(b[:8], b[8:], lo) {
			t.Errorf("dig got cookie %s: not an RFC 9018 server cookie for 127.0.0.1 and the secret", m[1])
		}
		// dig sending that cookie back is told it is still good, and gets
		// the same one back (it is under half an hour old).
		out, _ = runTool(t, testenv.Tool(t, "dig"), "+cookie="+m[1], "@127.0.0.1", "-p", port, "SRV", "_rets._tcp.ports.local.")
		if m2 := cookieLine.FindStringSubmatch(out); m2 == nil || m2[2] == "" || !strings.EqualFold(m2[1], m[1]) {
			t.Errorf("dig +cookie=%s: want the same cookie back, good:\n%s", m[1], out)
		}
		// Over TCP the cookie is added too.
		out, _ = runTool(t, testenv.Tool(t, "dig"), "+tcp", "+cookie", "@127.0.0.1", "-p", port, "SRV", "_rets._tcp.ports.local.")
		if m3 := cookieLine.FindStringSubmatch(out); m3 == nil || m3[2] == "" {
			t.Errorf("dig +tcp +cookie: no good cookie reported:\n%s", out)
		}
		t.Logf("dig: COOKIE %s (good), echoed when sent back; over TCP too", m[1])
	})
	t.Run("kdig", func(t *testing.T) {
		out, _ := runTool(t, testenv.Tool(t, "kdig"), "+cookie", "@127.0.0.1", "-p", port, "SRV", "_rets._tcp.ports.local.")
		m := cookieLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("kdig +cookie: no cookie:\n%s", out)
		}
		b, _ := hex.DecodeString(m[1])
		if len(b) != 24 || !validServerCookie(b[:8], b[8:], lo) {
			t.Errorf("kdig got cookie %s: not an RFC 9018 server cookie for 127.0.0.1 and the secret", m[1])
		}
		if r, err := parseReply(out); err != nil || r.Rcode != "NOERROR" || len(r.Answer) == 0 {
			t.Errorf("kdig +cookie: %v %+v", err, r)
		}
		t.Logf("kdig: COOKIE %s", m[1])
	})

	for _, peer := range []string{"named", "nsd", "knotd"} {
		t.Run(peer, func(t *testing.T) {
			addr := startCookiePeer(t, peer)
			const cc = "c0c1c2c3c4c5c6c7"
			// Byte for byte: the same client cookie to both within one
			// second (the timestamp is each server's clock).
			var theirs, ours string
			for try := 0; try < 5; try++ {
				_, theirs = cookieAsk(t, addr, cc)
				_, ours = cookieAsk(t, srv.Addr, cc)
				if cookieTime(theirs) == cookieTime(ours) {
					break
				}
			}
			if len(ours) != 48 || !strings.EqualFold(theirs, ours) {
				t.Errorf("same secret, client cookie and second: %s made %s, svcdns %s", peer, theirs, ours)
			}
			// Each accepts the other's, once it is a second old: svcdns
			// and NSD and Knot echo a valid cookie under half an hour
			// old (a rejected one would be replaced by one of now); BIND,
			// told to require a valid cookie, answers NOERROR, not
			// BADCOOKIE.
			time.Sleep(time.Until(time.Unix(int64(cookieTime(ours))+1, 100e6)))
			before := srv.MustScrape(t)
			rcode, back := cookieAsk(t, srv.Addr, theirs)
			after := srv.MustScrape(t)
			if rcode != dns.RcodeSuccess || !strings.EqualFold(back, theirs) || rrlDelta(before, after, "svcdns_cookies_total", `result="valid"`) != 1 {
				t.Errorf("svcdns given %s's cookie %s: %s, cookie %s back; want it accepted (echoed, counted valid)", peer, theirs, dns.RcodeToString[rcode], back)
			}
			rcode, back = cookieAsk(t, addr, ours)
			accepted := rcode == dns.RcodeSuccess && strings.EqualFold(back, ours)
			if b := mustDecode(back); peer == "named" {
				// BIND makes a new cookie on every reply.
				accepted = rcode == dns.RcodeSuccess && len(b) == 24 && validServerCookie(b[:8], b[8:], lo)
			}
			if !accepted {
				t.Errorf("%s given svcdns's cookie %s: %s, cookie %s back; want it accepted", peer, ours, dns.RcodeToString[rcode], back)
			}
			t.Logf("%s: server cookie %s, svcdns %s (byte-identical: %v); svcdns accepted %s's, %s accepted svcdns's: %v",
				peer, theirs[16:], ours[16:], strings.EqualFold(theirs, ours), peer, peer, accepted)
		})
	}

	t.Run("flood", func(t *testing.T) {
		server, err := net.ResolveUDPAddr("udp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		const cc, n = "a0a1a2a3a4a5a6a7", 5000
		// The cookie for this client's own address.
		valid := cookieFrom(t, rrlCookieSource, server, cc)
		flood := func(cookie string) [][]byte {
			qs := make([][]byte, n)
			for i := range qs {
				m := new(dns.Msg)
				m.SetQuestion(rrlLargeName, dns.TypePTR)
				m.Id = uint16(i)
				m.SetEdns0(1232, false)
				if cookie != "" {
					m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: cookie})
				}
				qs[i], _ = m.Pack()
			}
			return qs
		}
		for _, tc := range []struct {
			name, cookie string
			limited      bool
		}{
			{"valid cookie", valid, false},
			{"client cookie only", cc, true},
			{"no cookie", "", true},
		} {
			before := srv.MustScrape(t)
			res := blast(t, rrlCookieSource, server, flood(tc.cookie), dns.RcodeSuccess)
			after := srv.MustScrape(t)
			limited := rrlDelta(before, after, "svcdns_rrl_responses_total", `class="answer"`, `action="slipped"`) +
				rrlDelta(before, after, "svcdns_rrl_responses_total", `class="answer"`, `action="dropped"`)
			exempt := rrlDelta(before, after, "svcdns_rrl_exempt_total", `reason="cookie"`)
			reached := rrlDelta(before, after, "svcdns_queries_total", `qtype="PTR"`)
			t.Logf("flood of %d with %s from %v: %v; server: %d reached, %d limited, %d exempt by cookie", n, tc.name, rrlCookieSource, res, reached, limited, exempt)
			switch {
			case !tc.limited && (limited != 0 || res.slips+res.badCookie > 0 || exempt < res.full):
				t.Errorf("%s: %d limited, %d slips: a flood with a valid cookie must not be limited", tc.name, limited, res.slips+res.badCookie)
			case !tc.limited && (exempt != reached || reached < n/2):
				// What the client's socket buffer could not hold is its
				// own loss: the server's count says every one was sent.
				t.Errorf("%s: the server exempted %d of the %d queries that reached it", tc.name, exempt, reached)
			case tc.limited && (limited < n/2 || res.full > rrlDefaultRate*rrlDefaultWindow+int(rrlDefaultRate*(res.replies.Seconds()+0.25))):
				t.Errorf("%s: %d limited, %d full answers: the flood must be held to the rate", tc.name, limited, res.full)
			case tc.cookie == cc && res.badCookie == 0:
				t.Errorf("%s: no BADCOOKIE slips: a cookie-aware client is slipped its cookie", tc.name)
			}
		}
	})
}

func mustDecode(h string) []byte {
	b, _ := hex.DecodeString(h)
	return b
}

// cookieFrom asks svcdns for a server cookie from local with client cookie
// cc and returns the whole cookie (hex).
func cookieFrom(t *testing.T, local net.IP, server *net.UDPAddr, cc string) string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("ports.local.", dns.TypeSOA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: cc})
	c := &dns.Client{Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: local}}}
	r, _, err := c.Exchange(m, server.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range r.IsEdns0().Option {
		if ck, ok := o.(*dns.EDNS0_COOKIE); ok && len(ck.Cookie) == 48 {
			return ck.Cookie
		}
	}
	t.Fatalf("no server cookie from %v", server)
	return ""
}
