package resolver

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/dnssec"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/zone"
)

// packQuery packs a query for name and qtype with EDNS(0), or without
// when udpSize is 0; edit may change the message first.
func packQuery(t testing.TB, name string, qtype uint16, udpSize uint16, edit func(*dns.Msg)) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = 0x1234
	if udpSize > 0 {
		m.SetEdns0(udpSize, false)
	}
	if edit != nil {
		edit(m)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testServer is a server for the excerpt zone, not listening: its
// protections are driven through guardedAnswer with a clock the test sets.
func testServer(t testing.TB, cfg RRLConfig, cookies *CookieConfig) *Server {
	t.Helper()
	s := NewServer(NewHandler(zonetest.Excerpt(t), 0, nil), Limits{RRL: cfg, UDPSockets: 2}, nil)
	if cookies != nil {
		s.SetCookies(*cookies)
	}
	return s
}

func TestClassifyReply(t *testing.T) {
	h := NewHandler(zonetest.Excerpt(t), 0, nil)
	for _, tc := range []struct {
		name    string
		qtype   uint16
		edit    func(*dns.Msg)
		udpSize uint16
		class   rrlClass
		keyName string // "" : no name in the key
	}{
		{"_rets._tcp.ports.local.", dns.TypeSRV, nil, 1232, classAnswer, "_rets._tcp.ports.local."},
		{"_RETS._Tcp.PORTS.local.", dns.TypeSRV, nil, 1232, classAnswer, "_rets._tcp.ports.local."},
		{"_bmc_ctd_ldap._tcp.ports.local.", dns.TypeSRV, nil, 1232, classAnswer, "_bmc_ctd_ldap._tcp.ports.local."},
		{"_6081._udp.ports.local.", dns.TypeTXT, nil, 0, classAnswer, "_6081._udp.ports.local."},
		{"b._dns-sd._udp.ports.local.", dns.TypePTR, nil, 1232, classAnswer, "b._dns-sd._udp.ports.local."},
		{"_rets._tcp.ports.local.", dns.TypeA, nil, 1232, classNoData, "_rets._tcp.ports.local."},
		{"_udp.ports.local.", dns.TypeTXT, nil, 1232, classNoData, "_udp.ports.local."},
		{"nosuchname.ports.local.", dns.TypeA, nil, 1232, classNXDomain, "ports.local."},
		{"X7Q2.Ports.Local.", dns.TypeAAAA, nil, 0, classNXDomain, "ports.local."},
		{"_bmc_ldap!._tcp.ports.local.", dns.TypeSRV, nil, 1232, classNXDomain, "ports.local."},
		{"example.com.", dns.TypeA, nil, 1232, classError, ""},
		{"_rets._tcp.ports.local.", dns.TypeSRV, func(m *dns.Msg) { m.IsEdns0().SetVersion(1) }, 1232, classError, ""}, // BADVERS
		{"_rets._tcp.ports.local.", dns.TypeSRV, func(m *dns.Msg) { m.Opcode = dns.OpcodeStatus }, 1232, classError, ""},
		{"_rets._tcp.ports.local.", dns.TypeSRV, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }, 1232, classError, ""},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.name, dns.Type(tc.qtype)), func(t *testing.T) {
			resp := h.AnswerWire(packQuery(t, tc.name, tc.qtype, tc.udpSize, tc.edit), false, make([]byte, 0, 4096))
			cls, off, qtype := classifyReply(resp)
			if cls != tc.class {
				t.Fatalf("class %s, want %s", rrlClassNames[cls], rrlClassNames[tc.class])
			}
			got := ""
			if off >= 0 {
				got = wireNameString(resp, off)
			}
			if got != tc.keyName {
				t.Errorf("keyed on %q, want %q", got, tc.keyName)
			}
			if cls != classError && qtype != tc.qtype {
				t.Errorf("qtype %d, want %d", qtype, tc.qtype)
			}
		})
	}
	// A reply truncated for UDP stands for its answer.
	full := h.AnswerWire(packQuery(t, "_rets._tcp.ports.local.", dns.TypeSRV, 1232, nil), false, make([]byte, 0, 4096))
	tc := slipReply(bytes.Clone(full), false)
	if cls, off, _ := classifyReply(tc); cls != classAnswer || off != 12 {
		t.Errorf("truncated reply: class %s, want answer keyed on the question", rrlClassNames[cls])
	}
	for _, b := range [][]byte{nil, {1, 2, 3}, full[:14], append(bytes.Clone(full[:12]), 0xC0, 12, 0, 1, 0, 1)} {
		if cls, _, _ := classifyReply(b); cls != classError {
			t.Errorf("unreadable reply %x: class %s, want error", b, rrlClassNames[cls])
		}
	}
}

// TestClassifyCompactDenial: a signed zone's answer to a DO=1 query for
// a name that does not exist is a NOERROR with an NSEC whose bitmap has
// NXNAME (RFC 9824): accounted as the NXDOMAIN it stands for, to the
// zone, so that a random-subdomain flood with DO=1 is one account. With
// CO it is an NXDOMAIN anyway; a signed NODATA stays a NODATA.
func TestClassifyCompactDenial(t *testing.T) {
	now := time.Now()
	key, err := dnssec.GenerateKey(zonetest.Origin, dns.ECDSAP256SHA256, true, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sg, err := dnssec.NewSigner(zonetest.Origin, []*dnssec.Key{key}, dnssec.DefaultPolicy, dnssec.NewCache(100))
	if err != nil {
		t.Fatal(err)
	}
	opts := zone.DefaultOptions(zonetest.Origin)
	opts.Signer = sg
	snap, err := zone.Build(zonetest.ExcerptRegistry(t), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(snap, 0, nil)
	do := func(co bool) func(*dns.Msg) {
		return func(m *dns.Msg) {
			m.IsEdns0().SetDo()
			if co {
				m.IsEdns0().Hdr.Ttl |= 1 << 14 // RFC 9824 §4: Compact Answers OK
			}
		}
	}
	for _, tc := range []struct {
		name    string
		qtype   uint16
		edit    func(*dns.Msg)
		rcode   int
		class   rrlClass
		keyName string
	}{
		{"r8f3k2.ports.local.", dns.TypeA, do(false), dns.RcodeSuccess, classNXDomain, "ports.local."},
		{"_NoSuch._TCP.ports.local.", dns.TypeSRV, do(false), dns.RcodeSuccess, classNXDomain, "ports.local."},
		{"r8f3k2.ports.local.", dns.TypeA, do(true), dns.RcodeNameError, classNXDomain, "ports.local."},
		{"r8f3k2.ports.local.", dns.TypeA, nil, dns.RcodeNameError, classNXDomain, "ports.local."},
		{"_rets._tcp.ports.local.", dns.TypeA, do(false), dns.RcodeSuccess, classNoData, "_rets._tcp.ports.local."},
		{"_udp.ports.local.", dns.TypeTXT, do(false), dns.RcodeSuccess, classNoData, "_udp.ports.local."},
		{"_6081._udp.ports.local.", dns.TypeSRV, do(false), dns.RcodeSuccess, classNoData, "_6081._udp.ports.local."},
		{"_rets._tcp.ports.local.", dns.TypeSRV, do(false), dns.RcodeSuccess, classAnswer, "_rets._tcp.ports.local."},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.name, dns.Type(tc.qtype)), func(t *testing.T) {
			resp := h.AnswerWire(packQuery(t, tc.name, tc.qtype, 1232, tc.edit), false, make([]byte, 0, 4096))
			if rcode := int(resp[3] & 0xF); rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[rcode], dns.RcodeToString[tc.rcode])
			}
			cls, off, _ := classifyReply(resp)
			if cls != tc.class {
				t.Fatalf("class %s, want %s", rrlClassNames[cls], rrlClassNames[tc.class])
			}
			if got := wireNameString(resp, off); got != tc.keyName {
				t.Errorf("keyed on %q, want %q", got, tc.keyName)
			}
		})
	}
}

// take is one response to account key at now µs.
func take(r *rrl, key string, now uint64, cls rrlClass) bool {
	var kb [64]byte
	n := copy(kb[:], key)
	return r.take(&r.shards[0], mapHash(r, kb[:n]), now, r.interval[cls])
}

func mapHash(r *rrl, b []byte) uint64 {
	var h uint64
	for _, c := range b {
		h = h*1099511628211 ^ uint64(c)
	}
	// Spread over the fingerprint bits too, as maphash does.
	return h ^ h<<48 ^ uint64(len(b))<<56 | 1
}

// TestRRLBucket checks the token bucket: a fresh account allows a window
// of responses at once, then one per interval, smoothly; an idle account
// fills up again but never beyond a window.
func TestRRLBucket(t *testing.T) {
	r := newRRL(RRLConfig{ResponsesPerSecond: 10, Window: 2}, 1, nil)
	now := uint64(5e6)
	allowed := 0
	for range 100 {
		if take(r, "a", now, classAnswer) {
			allowed++
		}
	}
	if allowed != 20 {
		t.Fatalf("burst from a fresh account: %d allowed, want rate*window = 20", allowed)
	}
	// Another worker whose clock was read a little earlier (once per
	// batch) sees the account empty too, not full.
	for _, skew := range []uint64{1, 2e3, 30e6} {
		if take(r, "a", now-skew, classAnswer) {
			t.Errorf("allowed with a clock %v µs behind: the account read as full", skew)
		}
	}
	// 10/s is one every 100 ms: not at 50 ms, yes at 100 ms, once.
	if take(r, "a", now+50e3, classAnswer) {
		t.Error("allowed 50 ms after the bucket emptied, want none before 100 ms")
	}
	if !take(r, "a", now+100e3, classAnswer) || take(r, "a", now+100e3, classAnswer) {
		t.Error("want exactly one response 100 ms after the bucket emptied")
	}
	// Over 10 s of steady queries at 40/s, about 10/s get through.
	got := 0
	for i := range 400 {
		if take(r, "a", now+200e3+uint64(i)*25e3, classAnswer) {
			got++
		}
	}
	if got < 99 || got > 101 {
		t.Errorf("steady 40/s for 10 s: %d allowed, want ~100", got)
	}
	// Idle for an hour: full again, and no fuller than a window.
	later := now + 3600e6
	allowed = 0
	for range 100 {
		if take(r, "a", later, classAnswer) {
			allowed++
		}
	}
	if allowed != 20 {
		t.Errorf("after an hour idle: %d allowed at once, want 20", allowed)
	}
	// An account idle for about as long as the 48-bit clock takes to
	// wrap (8.9 years) would read as far in debt; it reads as full.
	wrapped := later + 1<<tatBits - 100e6
	allowed = 0
	for range 100 {
		if take(r, "a", wrapped, classAnswer) {
			allowed++
		}
	}
	if allowed != 20 {
		t.Errorf("an account idle until the clock wraps: %d allowed at once, want 20", allowed)
	}
}

// TestRRLConcurrent hammers one account from many goroutines at one
// instant: compare-and-swap must grant exactly the bucket, no more.
func TestRRLConcurrent(t *testing.T) {
	r := newRRL(RRLConfig{ResponsesPerSecond: 500, Window: 4}, 1, nil)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if take(r, "hot", 1e6, classAnswer) {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 2000 {
		t.Errorf("8 goroutines x 1000 responses at one instant: %d allowed, want the bucket, 2000", allowed.Load())
	}
}

// check runs one query from client through a server's protections at
// time now (µs) and says what went out.
func check(t testing.TB, s *Server, client string, q []byte, now uint64) []byte {
	g := guardClock{jar: s.cookies.Load(), unix: 1_700_000_000 + int64(now/1e6), rrlNow: now}
	return s.guardedAnswer(0, q, netip.MustParseAddr(client), false, make([]byte, 0, 4096), &g)
}

// TestRRLAccounts checks what shares an account: distinct questions from
// one client never do; a random-subdomain flood does (the zone's NXDOMAIN
// account); errors share the prefix's; other prefixes have their own.
func TestRRLAccounts(t *testing.T) {
	const rate = 5 // window 1: 5 responses, then none at the same instant
	cfg := RRLConfig{ResponsesPerSecond: rate, NoDataPerSecond: rate, NXDomainsPerSecond: rate, ErrorsPerSecond: rate,
		Window: 1, IPv4Prefix: 24, IPv6Prefix: 56}
	type ask struct {
		client, name string
		qtype        uint16
	}
	for _, tc := range []struct {
		name string
		asks func(i int) ask
		n    int
		sent int
	}{
		{"distinct port names", func(i int) ask { return ask{"192.0.2.1", fmt.Sprintf("_%d._udp.ports.local.", i), dns.TypeTXT} }, 2000, 2000},
		{"distinct NODATA names", func(i int) ask { return ask{"192.0.2.1", fmt.Sprintf("_%d._udp.ports.local.", i), dns.TypeA} }, 2000, 2000},
		{"one name and type", func(int) ask { return ask{"192.0.2.1", "_rets._tcp.ports.local.", dns.TypeSRV} }, 50, rate},
		{"one name, other types", func(i int) ask {
			return ask{"192.0.2.1", "_rets._tcp.ports.local.", []uint16{dns.TypeSRV, dns.TypeTXT, dns.TypePTR}[i%3]}
		}, 60, 3 * rate},
		{"NODATA of one name, any type", func(i int) ask {
			return ask{"192.0.2.1", "_rets._tcp.ports.local.", []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX}[i%3]}
		}, 60, rate},
		{"random subdomains", func(i int) ask { return ask{"192.0.2.1", fmt.Sprintf("r%d.ports.local.", i), dns.TypeA} }, 500, rate},
		{"random subdomains, mixed case", func(i int) ask { return ask{"192.0.2.1", fmt.Sprintf("R%d.PORTS.local.", i), dns.TypeA} }, 500, rate},
		{"out-of-zone names", func(i int) ask { return ask{"192.0.2.1", fmt.Sprintf("n%d.example.", i), dns.TypeA} }, 500, rate},
		{"one /24", func(i int) ask { return ask{fmt.Sprintf("192.0.2.%d", i%250), "_rets._tcp.ports.local.", dns.TypeSRV} }, 50, rate},
		{"other /24s", func(i int) ask { return ask{fmt.Sprintf("198.51.%d.7", i), "_rets._tcp.ports.local.", dns.TypeSRV} }, 200, 200},
		{"one /56", func(i int) ask {
			return ask{fmt.Sprintf("2001:db8:0:ab%02x::%x", i%256, i), "_rets._tcp.ports.local.", dns.TypeSRV}
		}, 50, rate},
		{"other /56s", func(i int) ask { return ask{fmt.Sprintf("2001:db8:%x::1", i), "_rets._tcp.ports.local.", dns.TypeSRV} }, 200, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testServer(t, cfg, nil)
			sent := 0
			for i := range tc.n {
				a := tc.asks(i)
				if resp := check(t, s, a.client, packQuery(t, a.name, a.qtype, 1232, nil), 1e6); len(resp) > 0 && resp[2]&0x02 == 0 {
					sent++
				}
			}
			if sent != tc.sent {
				t.Errorf("%d full replies of %d, want %d", sent, tc.n, tc.sent)
			}
		})
	}
}

// TestRRLActions checks slip and drop, the slip's form, exempt networks,
// log_only and all_rate.
func TestRRLActions(t *testing.T) {
	q := packQuery(t, "_rets._tcp.ports.local.", dns.TypeSRV, 1232, nil)
	base := RRLConfig{ResponsesPerSecond: 1, Window: 1, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}
	run := func(s *Server, client string, n int) (full, slips, dropped int, last []byte) {
		for range n {
			resp := check(t, s, client, q, 1e6)
			switch {
			case resp == nil:
				dropped++
			case resp[2]&0x02 != 0:
				slips++
				last = resp
			default:
				full++
			}
		}
		return
	}
	s := testServer(t, base, nil)
	full, slips, dropped, slip := run(s, "192.0.2.1", 101)
	if full != 1 || slips != 50 || dropped != 50 {
		t.Errorf("slip 2: %d full, %d slips, %d dropped; want 1, 50, 50", full, slips, dropped)
	}
	m := new(dns.Msg)
	if err := m.Unpack(slip); err != nil {
		t.Fatalf("slip does not unpack: %v", err)
	}
	if !m.Truncated || len(m.Answer)+len(m.Ns) != 0 || m.IsEdns0() == nil || len(m.Extra) != 1 || m.Id != 0x1234 || m.Question[0].Name != "_rets._tcp.ports.local." {
		t.Errorf("slip is not an empty TC=1 reply with the question and OPT:\n%v", m)
	}
	st, _ := s.RRLStats()
	want := map[string]uint64{"answer/sent": 1, "answer/slipped": 50, "answer/dropped": 50}
	for _, c := range st.Responses {
		if c.Count != want[c.Class+"/"+c.Action] {
			t.Errorf("counter %s/%s = %d, want %d", c.Class, c.Action, c.Count, want[c.Class+"/"+c.Action])
		}
	}

	noSlip := base
	noSlip.Slip = 0
	if full, slips, dropped, _ := run(testServer(t, noSlip, nil), "192.0.2.1", 20); full != 1 || slips != 0 || dropped != 19 {
		t.Errorf("slip 0: %d full, %d slips, %d dropped; want 1, 0, 19", full, slips, dropped)
	}

	exempt := base
	exempt.Exempt = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/28")}
	s = testServer(t, exempt, nil)
	if full, _, _, _ := run(s, "192.0.2.9", 50); full != 50 {
		t.Errorf("exempt network: %d of 50 answered", full)
	}
	if full, _, _, _ := run(s, "192.0.2.99", 50); full != 1 {
		t.Errorf("outside the exempt network: %d of 50 answered, want 1", full)
	}
	if st, _ := s.RRLStats(); st.ExemptNetwork != 50 {
		t.Errorf("exempt counter %d, want 50", st.ExemptNetwork)
	}

	var logs bytes.Buffer
	logOnly := base
	logOnly.LogOnly = true
	s = NewServer(NewHandler(zonetest.Excerpt(t), 0, nil), Limits{RRL: logOnly, UDPSockets: 1}, slog.New(slog.NewTextHandler(&logs, nil)))
	if full, _, _, _ := run(s, "192.0.2.1", 30); full != 30 {
		t.Errorf("log_only: %d of 30 answered", full)
	}
	if st, _ := s.RRLStats(); !hasCount(st, "answer", "logged", 29) {
		t.Errorf("log_only: counters %v, want 29 logged", st.Responses)
	}
	if l := logs.String(); !strings.Contains(l, "would limit") || !strings.Contains(l, "prefix=192.0.2.0/24") || !strings.Contains(l, "name=_rets._tcp.ports.local.") || strings.Count(l, "\n") != 1 {
		t.Errorf("log_only: want one line naming the prefix and name (at most one a second), got:\n%s", l)
	}

	all := RRLConfig{AllPerSecond: 3, Window: 1, Slip: 1, IPv4Prefix: 24, IPv6Prefix: 56}
	s = testServer(t, all, nil)
	full = 0
	for i := range 20 {
		if resp := check(t, s, "192.0.2.1", packQuery(t, fmt.Sprintf("_%d._tcp.ports.local.", i), dns.TypeTXT, 1232, nil), 1e6); resp != nil {
			if resp[2]&0x02 != 0 {
				t.Fatal("all_rate slipped a response: over all_rate they are dropped")
			}
			full++
		}
	}
	if full != 3 {
		t.Errorf("all_rate 3: %d of 20 distinct questions answered, want 3", full)
	}
}

func hasCount(st RRLStats, class, action string, n uint64) bool {
	for _, c := range st.Responses {
		if c.Class == class && c.Action == action {
			return c.Count == n
		}
	}
	return false
}

// TestRRLTableSurvivesSpoofedFlood limits one flood's account, then sends
// one response to each of 200,000 spoofed prefixes through a table of
// 1,024 accounts: the table does not grow, and the flood's account is not
// pushed out (it is the one most in debt), so it stays limited.
func TestRRLTableSurvivesSpoofedFlood(t *testing.T) {
	s := testServer(t, RRLConfig{ResponsesPerSecond: 10, NXDomainsPerSecond: 10, Window: 5, IPv4Prefix: 24, TableSize: 1024}, nil)
	q := packQuery(t, "_rets._tcp.ports.local.", dns.TypeSRV, 1232, nil)
	flood := func() (full int) {
		for range 200 {
			if r := check(t, s, "192.0.2.1", q, 10e6); r != nil {
				full++
			}
		}
		return full
	}
	if full := flood(); full != 50 {
		t.Fatalf("flood: %d answered, want the bucket, 50", full)
	}
	accounts := len(s.rrl.accounts)
	rnd := rand.New(rand.NewPCG(1, 2))
	nx := packQuery(t, "spoofed.ports.local.", dns.TypeA, 1232, nil)
	for range 200_000 {
		a := netip.AddrFrom4([4]byte{byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32()), 1})
		check(t, s, a.String(), nx, 10e6)
	}
	if len(s.rrl.accounts) != accounts || accounts != 1024 {
		t.Errorf("table has %d accounts after the flood, %d before; want 1024 throughout", len(s.rrl.accounts), accounts)
	}
	if full := flood(); full != 0 {
		t.Errorf("after 200,000 spoofed prefixes the flood got %d answers: its account was pushed out", full)
	}
	if st, _ := s.RRLStats(); st.Evicted != 0 {
		t.Errorf("%d accounts more than half spent were evicted; want none", st.Evicted)
	}
}

// TestRRLZeroAlloc checks that the protected answer path allocates
// nothing once the reply is cached: cookies and rate limiting included.
func TestRRLZeroAlloc(t *testing.T) {
	var key [16]byte
	s := testServer(t, RRLConfig{ResponsesPerSecond: 1_000_000, Window: 1, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56},
		&CookieConfig{Secrets: []CookieSecret{{Key: key}}})
	q := packQuery(t, "_rets._tcp.ports.local.", dns.TypeSRV, 1232, func(m *dns.Msg) {
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
	})
	out := make([]byte, 0, 4096)
	client := netip.MustParseAddr("192.0.2.1")
	g := s.clock()
	s.guardedAnswer(0, q, client, false, out, &g)
	if n := testing.AllocsPerRun(1000, func() { s.guardedAnswer(0, q, client, false, out, &g) }); n != 0 {
		t.Errorf("guardedAnswer allocates %v times a query, want 0", n)
	}
	resp := make([]byte, 0, 4096)
	resp = s.handler.AnswerWire(packQuery(t, "_rets._tcp.ports.local.", dns.TypeSRV, 1232, nil), false, resp)
	if n := testing.AllocsPerRun(1000, func() { s.rrl.check(0, client, resp, 1) }); n != 0 {
		t.Errorf("rrl.check allocates %v times a response, want 0", n)
	}
}
