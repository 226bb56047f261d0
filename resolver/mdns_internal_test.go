package resolver

import (
	"bytes"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/zone"
)

// mdnsHarness drives the responder without sockets: a clock moved by
// hand, timers run when it passes them, and every datagram sent kept.
type mdnsHarness struct {
	t      *testing.T
	m      *MDNS
	link   *mdnsLink
	now    time.Time
	timers []mdnsTimer
	sent   []mdnsSend
	logs   *syncBuf
}

type mdnsTimer struct {
	at time.Time
	f  func()
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const testIf = 7

var (
	peer     = netip.MustParseAddrPort("192.0.2.10:5353")
	legacy   = netip.MustParseAddrPort("192.0.2.10:40000")
	ourAddr  = netip.MustParseAddr("192.0.2.1")
	group4   = netip.AddrPortFrom(mdnsGroup4, mdnsPort)
	offLink  = netip.MustParseAddrPort("198.51.100.7:5353")
	neighbor = netip.MustParseAddrPort("192.0.2.20:5353")
)

func newHarness(t *testing.T, snap *zone.Snapshot) *mdnsHarness {
	h := &mdnsHarness{t: t, now: time.Unix(1_000_000_000, 0), logs: &syncBuf{}}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.m = NewMDNS(MDNSConfig{}, func() []*zone.Snapshot { return []*zone.Snapshot{snap} }, log)
	h.m.now = func() time.Time { return h.now }
	h.m.after = func(d time.Duration, f func()) { h.timers = append(h.timers, mdnsTimer{h.now.Add(d), f}) }
	h.m.delay = func(lo, _ time.Duration) time.Duration { return lo }
	h.m.send = func(s mdnsSend) { h.sent = append(h.sent, s) }
	h.link = newLink(testIf, "test0", 1500)
	h.link.prefixes = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	h.link.prefixesAt = h.now.Add(24 * time.Hour)
	h.m.links[testIf] = h.link
	return h
}

// advance moves the clock, running the timers it passes in order.
func (h *mdnsHarness) advance(d time.Duration) {
	end := h.now.Add(d)
	for {
		i := -1
		for j, tm := range h.timers {
			if !tm.at.After(end) && (i < 0 || tm.at.Before(h.timers[i].at)) {
				i = j
			}
		}
		if i < 0 {
			break
		}
		tm := h.timers[i]
		h.timers = slices.Delete(h.timers, i, i+1)
		if tm.at.After(h.now) {
			h.now = tm.at
		}
		tm.f()
	}
	h.now = end
}

// verified probes for the zone's host names until they are announced and
// forgets what that sent.
func (h *mdnsHarness) verified() {
	h.m.probeHosts()
	h.advance(3 * time.Second)
	h.sent = nil
}

func (h *mdnsHarness) receive(src netip.AddrPort, dst netip.Addr, m *dns.Msg) {
	h.t.Helper()
	wire, err := m.Pack()
	if err != nil {
		h.t.Fatal(err)
	}
	h.m.receive(mdnsPacket{ifIndex: testIf, src: src, dst: dst, data: wire})
}

// take returns and forgets what was sent, unpacked.
func (h *mdnsHarness) take() ([]mdnsSend, []*dns.Msg) {
	h.t.Helper()
	sent := h.sent
	h.sent = nil
	var msgs []*dns.Msg
	for _, s := range sent {
		m := new(dns.Msg)
		if err := m.Unpack(s.msg); err != nil {
			h.t.Fatalf("sent an unreadable message: %v", err)
		}
		msgs = append(msgs, m)
	}
	return sent, msgs
}

func query(name string, qtype uint16, qu bool, known ...dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.Id = 0
	class := uint16(dns.ClassINET)
	if qu {
		class |= mdnsClassBit
	}
	m.Question = []dns.Question{{Name: name, Qtype: qtype, Qclass: class}}
	m.Answer = known
	return m
}

const (
	instance = "RETS._rets._tcp.ports.local."
	service  = "_rets._tcp.ports.local."
	host     = "svc.ports.local."
)

func TestMDNSProbesThenAnnounces(t *testing.T) {
	h := newHarness(t, zonetest.Excerpt(t))
	h.m.probeHosts()
	var probes, announcements []*dns.Msg
	for range 12 {
		h.advance(250 * time.Millisecond)
		_, msgs := h.take()
		for _, m := range msgs {
			if m.Response {
				announcements = append(announcements, m)
			} else {
				probes = append(probes, m)
			}
		}
	}
	// Two host names (ns1 and svc), three probes each (§8.1).
	if len(probes) != 6 {
		t.Fatalf("%d probes, want 3 for each of 2 host names", len(probes))
	}
	for _, p := range probes {
		q := p.Question[0]
		if q.Qtype != dns.TypeANY || q.Qclass != dns.ClassINET|mdnsClassBit || len(p.Ns) != 1 || p.Ns[0].Header().Rrtype != dns.TypeA ||
			!strings.EqualFold(p.Ns[0].Header().Name, q.Name) {
			t.Errorf("probe %v: want ANY, QU, its A record in the authority section", p)
		}
	}
	// §8.3: each verified name announced twice, a second apart.
	if len(announcements) != 4 {
		t.Fatalf("%d announcements, want 2 for each of 2 host names", len(announcements))
	}
	for _, a := range announcements {
		rr := a.Answer[0].Header()
		if rr.Class != dns.ClassINET|mdnsClassBit || rr.Ttl != mdnsHostTTL || a.Id != 0 || len(a.Question) != 0 {
			t.Errorf("announcement %v: want ID 0, no question, cache-flush A with TTL 120", a)
		}
	}
	h.advance(10 * time.Second)
	if sent, _ := h.take(); len(sent) != 0 {
		t.Errorf("%d more packets after the announcements: the responder does not announce the zone", len(sent))
	}
	if !strings.Contains(h.logs.String(), "verified") {
		t.Errorf("no log of the verified host names:\n%s", h.logs)
	}
}

func TestMDNSAnswers(t *testing.T) {
	type want struct {
		to      netip.AddrPort
		delayed bool // sent only after 20 ms (shared records, §6)
		answer  []string
		extra   []string
		legacy  bool
	}
	inGroup := mdnsGroup4
	for _, tc := range []struct {
		name string
		src  netip.AddrPort
		dst  netip.Addr
		q    *dns.Msg
		want *want // nil: nothing is sent
	}{
		{"QM SRV: unique, at once, cache-flush, host TTL; address and NSEC for AAAA", peer, inGroup, query(instance, dns.TypeSRV, false),
			&want{to: group4, answer: []string{"SRV " + instance + " 120 flush"}, extra: []string{"A " + host + " 120 flush", "NSEC " + host + " 120 flush"}}},
		{"QM PTR: shared, delayed, no cache-flush, 75 minutes; instance in additional", peer, inGroup, query(service, dns.TypePTR, false),
			&want{to: group4, delayed: true, answer: []string{"PTR " + service + " 4500"},
				extra: []string{"SRV " + instance + " 120 flush", "TXT " + instance + " 4500 flush", "A " + host + " 120 flush", "NSEC " + host + " 120 flush"}}},
		{"QU for a record not multicast lately: multicast (§5.4)", peer, inGroup, query(instance, dns.TypeTXT, true),
			&want{to: group4, answer: []string{"TXT " + instance + " 4500 flush"}}},
		{"sent to our unicast address: unicast reply (§5.5)", peer, ourAddr, query(instance, dns.TypeTXT, false),
			&want{to: peer, answer: []string{"TXT " + instance + " 4500 flush"}}},
		{"legacy unicast (§6.7)", legacy, inGroup, func() *dns.Msg { m := query(instance, dns.TypeSRV, false); m.Id = 4242; return m }(),
			&want{to: legacy, legacy: true, answer: []string{"SRV " + instance + " 10"}, extra: []string{"A " + host + " 10", "NSEC " + host + " 10"}}},
		{"NSEC for a type the name lacks (§6.1)", peer, inGroup, query(host, dns.TypeAAAA, false),
			&want{to: group4, answer: []string{"NSEC " + host + " 120 flush"}}},
		{"ANY: every record at the name", peer, inGroup, query(instance, dns.TypeANY, false),
			&want{to: group4, answer: []string{"SRV " + instance + " 120 flush", "TXT " + instance + " 4500 flush"}, extra: []string{}}},
		{"port name", peer, inGroup, query("_6103._tcp.ports.local.", dns.TypeTXT, false),
			&want{to: group4, answer: []string{"TXT _6103._tcp.ports.local. 4500 flush"}}},
		{"alias: CNAME and the replacement's SRV", peer, inGroup, query("_bmc_ctd_ldap._tcp.ports.local.", dns.TypeSRV, false),
			&want{to: group4, answer: []string{"CNAME _bmc_ctd_ldap._tcp.ports.local. 4500 flush", "SRV _bmc-ctd-ldap._tcp.ports.local. 120 flush"}}},
		{"a name the zone does not hold: silence", peer, inGroup, query("_nosuch._tcp.ports.local.", dns.TypeSRV, false), nil},
		{"an empty non-terminal is not owned: silence", peer, inGroup, query("_tcp.ports.local.", dns.TypeSRV, false), nil},
		{"outside the origin: silence", peer, inGroup, query("printer.local.", dns.TypeA, false), nil},
		{"a zone transfer is not an mDNS question: silence", peer, inGroup, query("ports.local.", dns.TypeAXFR, false), nil},
		{"legacy query for a name not held: silence", legacy, inGroup, query("_nosuch._tcp.ports.local.", dns.TypeSRV, false), nil},
		{"off-link source: ignored (§11)", offLink, inGroup, query(instance, dns.TypeSRV, false), nil},
		{"known answer with its TTL: suppressed (§7.1)", peer, inGroup, query(service, dns.TypePTR, false,
			&dns.PTR{Hdr: dns.RR_Header{Name: service, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 4500}, Ptr: instance}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, zonetest.Excerpt(t))
			h.verified()
			h.receive(tc.src, tc.dst, tc.q)
			sent, msgs := h.take()
			if tc.want != nil && tc.want.delayed {
				if len(sent) != 0 {
					t.Fatalf("sent at once: %d packets; shared records wait 20-120 ms", len(sent))
				}
				h.advance(20 * time.Millisecond)
			}
			h.advance(time.Millisecond)
			more, moreMsgs := h.take()
			sent, msgs = append(sent, more...), append(msgs, moreMsgs...)
			if tc.want == nil {
				if len(sent) != 0 {
					t.Fatalf("sent %v, want nothing", msgs)
				}
				return
			}
			if len(sent) != 1 {
				t.Fatalf("sent %d packets, want 1", len(sent))
			}
			m := msgs[0]
			if sent[0].to != tc.want.to || sent[0].ifIndex != testIf {
				t.Errorf("sent to %v on %d, want %v on %d", sent[0].to, sent[0].ifIndex, tc.want.to, testIf)
			}
			if !m.Response || !m.Authoritative {
				t.Errorf("QR=%v AA=%v, want both", m.Response, m.Authoritative)
			}
			if tc.want.legacy {
				if m.Id != tc.q.Id || len(m.Question) != 1 || m.Question[0] != tc.q.Question[0] {
					t.Errorf("legacy reply ID %d question %v, want the query's %d %v", m.Id, m.Question, tc.q.Id, tc.q.Question)
				}
			} else if m.Id != 0 || len(m.Question) != 0 {
				t.Errorf("ID %d, %d questions; a multicast DNS response has ID 0 and no question (§18)", m.Id, len(m.Question))
			}
			if got := summary(m.Answer); !slices.Equal(got, tc.want.answer) {
				t.Errorf("answer %q, want %q", got, tc.want.answer)
			}
			if tc.want.extra != nil {
				if got := summary(m.Extra); !slices.Equal(got, tc.want.extra) {
					t.Errorf("additional %q, want %q", got, tc.want.extra)
				}
			}
		})
	}
}

// summary writes each record as "TYPE name ttl [flush]".
func summary(rrs []dns.RR) []string {
	out := []string{}
	for _, rr := range rrs {
		h := rr.Header()
		s := dns.TypeToString[h.Rrtype] + " " + h.Name + " " + itoa(int(h.Ttl))
		if h.Class&mdnsClassBit != 0 {
			s += " flush"
		}
		out = append(out, s)
	}
	return out
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestMDNSNSECLists(t *testing.T) {
	h := newHarness(t, zonetest.Excerpt(t))
	h.verified()
	h.receive(peer, mdnsGroup4, query(instance, dns.TypeA, false))
	_, msgs := h.take()
	if len(msgs) != 1 || len(msgs[0].Answer) != 1 {
		t.Fatalf("replies %v, want one NSEC", msgs)
	}
	n, ok := msgs[0].Answer[0].(*dns.NSEC)
	if !ok || !strings.EqualFold(n.NextDomain, instance) || !slices.Equal(n.TypeBitMap, []uint16{dns.TypeTXT, dns.TypeSRV}) {
		t.Errorf("NSEC %v, want next name = owner and the types TXT, SRV", msgs[0].Answer[0])
	}
	// §6.1: the TTL the records would have had (SRV: 120 s).
	if n != nil && n.Hdr.Ttl != mdnsHostTTL {
		t.Errorf("NSEC TTL %d, want %d", n.Hdr.Ttl, mdnsHostTTL)
	}
}

func TestMDNSQUUnicastAfterMulticast(t *testing.T) {
	h := newHarness(t, zonetest.Excerpt(t))
	h.verified()
	h.receive(peer, mdnsGroup4, query(instance, dns.TypeTXT, false))
	if sent, _ := h.take(); len(sent) != 1 || sent[0].to != group4 {
		t.Fatalf("QM: %v, want one multicast", sent)
	}
	// Multicast within a quarter of its TTL: a QU question now gets a
	// unicast reply (§5.4).
	h.advance(2 * time.Second)
	h.receive(peer, mdnsGroup4, query(instance, dns.TypeTXT, true))
	if sent, _ := h.take(); len(sent) != 1 || sent[0].to != peer {
		t.Fatalf("QU: %v, want one unicast reply to %v", sent, peer)
	}
}

func TestMDNSRateLimit(t *testing.T) {
	h := newHarness(t, zonetest.Excerpt(t))
	h.verified()
	ask := func() int {
		h.receive(neighbor, mdnsGroup4, query(instance, dns.TypeSRV, false))
		sent, _ := h.take()
		return len(sent)
	}
	if n := ask(); n != 1 {
		t.Fatalf("first query: %d packets, want 1", n)
	}
	h.advance(500 * time.Millisecond)
	if n := ask(); n != 0 {
		t.Errorf("again after 500 ms: %d packets; a record is multicast at most once a second (§6)", n)
	}
	h.advance(600 * time.Millisecond)
	if n := ask(); n != 1 {
		t.Errorf("again after 1.1 s: %d packets, want 1", n)
	}
	// A probe for one of our host names is defended after 250 ms.
	h.receive(neighbor, mdnsGroup4, query(host, dns.TypeA, false))
	h.take()
	h.advance(300 * time.Millisecond)
	probe := query(host, dns.TypeANY, true)
	probe.Ns = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: host, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 120}, A: netip.MustParseAddr("192.0.2.99").AsSlice()}}
	h.receive(neighbor, mdnsGroup4, probe)
	_, msgs := h.take()
	if len(msgs) != 1 || len(msgs[0].Answer) == 0 || msgs[0].Answer[0].Header().Rrtype != dns.TypeA {
		t.Errorf("probe 300 ms after the answer: %v, want the A record defended at once", msgs)
	}
}

// §7.2: a query with TC is held for its further known answers.
func TestMDNSKnownAnswersOverSeveralPackets(t *testing.T) {
	h := newHarness(t, zonetest.Excerpt(t))
	h.verified()
	q := query(service, dns.TypePTR, false)
	q.Question = append(q.Question, dns.Question{Name: "_6103._tcp.ports.local.", Qtype: dns.TypePTR, Qclass: dns.ClassINET})
	q.Truncated = true
	h.receive(peer, mdnsGroup4, q)
	h.advance(300 * time.Millisecond)
	if sent, _ := h.take(); len(sent) != 0 {
		t.Fatalf("answered a truncated query after 300 ms: %d packets", len(sent))
	}
	more := new(dns.Msg)
	more.Answer = []dns.RR{&dns.PTR{Hdr: dns.RR_Header{Name: service, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 4000}, Ptr: instance}}
	h.receive(peer, mdnsGroup4, more)
	h.advance(time.Second)
	_, msgs := h.take()
	if len(msgs) != 1 {
		t.Fatalf("%d replies, want 1", len(msgs))
	}
	got := summary(msgs[0].Answer)
	if want := []string{"PTR _6103._tcp.ports.local. 4500"}; !slices.Equal(got, want) {
		t.Errorf("answer %q, want %q: the PTR known from the second packet is left out", got, want)
	}
}

func TestMDNSConflicts(t *testing.T) {
	h := newHarness(t, zonetest.Excerpt(t))
	h.verified()
	resp := func(rrs ...dns.RR) *dns.Msg {
		m := new(dns.Msg)
		m.Response, m.Authoritative = true, true
		m.Answer = rrs
		return m
	}
	a := func(ip string) dns.RR {
		return &dns.A{Hdr: dns.RR_Header{Name: host, Rrtype: dns.TypeA, Class: dns.ClassINET | mdnsClassBit, Ttl: 120}, A: netip.MustParseAddr(ip).AsSlice()}
	}
	// Our own announcement heard back is no conflict.
	h.receive(neighbor, mdnsGroup4, resp(a("127.0.0.1")))
	if strings.Contains(h.logs.String(), "conflict") {
		t.Fatalf("our own record taken for a conflict:\n%s", h.logs)
	}
	// A response from port 5353 only: a legacy reply is no claim.
	h.receive(legacy, mdnsGroup4, resp(a("192.0.2.99")))
	if strings.Contains(h.logs.String(), "conflict") {
		t.Fatalf("a response from port 40000 taken for a conflict:\n%s", h.logs)
	}
	h.receive(neighbor, mdnsGroup4, resp(a("192.0.2.99")))
	if !strings.Contains(h.logs.String(), "multicast DNS conflict") || !strings.Contains(h.logs.String(), host) {
		t.Fatalf("no conflict logged:\n%s", h.logs)
	}
	// The name is withheld on the interface: its address is not answered,
	// nor given as additional data.
	h.receive(peer, mdnsGroup4, query(host, dns.TypeA, false))
	h.receive(peer, mdnsGroup4, query(instance, dns.TypeSRV, false))
	_, msgs := h.take()
	for _, m := range msgs {
		for _, rr := range slices.Concat(m.Answer, m.Extra) {
			if strings.EqualFold(rr.Header().Name, host) {
				t.Errorf("answered for %s while it is in use elsewhere: %v", host, rr)
			}
		}
	}
	// A minute later it is probed for again; with nobody defending, it
	// is verified and answered again.
	h.advance(mdnsConflictRetry + 3*time.Second)
	h.take()
	h.receive(peer, mdnsGroup4, query(host, dns.TypeA, false))
	if _, msgs := h.take(); len(msgs) != 1 {
		t.Errorf("after the conflict cleared: %d replies, want 1", len(msgs))
	}
}

// §8.2: simultaneous probes; the lexicographically later data wins.
func TestMDNSProbeTieBreak(t *testing.T) {
	for _, tc := range []struct {
		theirs string
		lose   bool
	}{
		{"192.0.2.200", true}, // 192 > 127: theirs is later
		{"10.0.0.1", false},
	} {
		h := newHarness(t, zonetest.Excerpt(t))
		h.m.probeHosts()
		h.advance(0)
		h.take()
		probe := query(host, dns.TypeANY, true)
		probe.Ns = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: host, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 120}, A: netip.MustParseAddr(tc.theirs).AsSlice()}}
		h.receive(neighbor, mdnsGroup4, probe)
		h.take()
		h.advance(800 * time.Millisecond)
		_, msgs := h.take()
		announced := false
		for _, m := range msgs {
			if m.Response && strings.EqualFold(m.Answer[0].Header().Name, host) {
				announced = true
			}
		}
		if announced == tc.lose {
			t.Errorf("against %s: announced=%v after 800 ms, want %v", tc.theirs, announced, !tc.lose)
		}
		if tc.lose {
			// Probes again a second later and then verifies.
			h.advance(3 * time.Second)
			if !strings.Contains(h.logs.String(), "tie-break") || h.m.withheld(h.link, host) {
				t.Errorf("after losing the tie-break: withheld=%v\n%s", h.m.withheld(h.link, host), h.logs)
			}
		}
	}
}

// Multicast DNS lists every service type at the origin, in as many
// packets as it takes, each within the interface MTU.
func TestMDNSEnumeratesEveryType(t *testing.T) {
	snap := zonetest.Full(t)
	h := newHarness(t, snap)
	h.verified()
	h.receive(peer, mdnsGroup4, query("_services._dns-sd._udp.ports.local.", dns.TypePTR, false))
	h.advance(200 * time.Millisecond)
	sent, msgs := h.take()
	var got []string
	for i, m := range msgs {
		if len(sent[i].msg) > h.link.maxPacket() {
			t.Errorf("packet of %d bytes, over %d", len(sent[i].msg), h.link.maxPacket())
		}
		for _, rr := range m.Answer {
			got = append(got, rr.(*dns.PTR).Ptr)
		}
	}
	want := slices.Clone(snap.ServiceTypes())
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%d types listed, want %d", len(got), len(want))
	}
	t.Logf("%d types in %d packets", len(got), len(msgs))
}

func TestMDNSGoodbye(t *testing.T) {
	h := newHarness(t, zonetest.Excerpt(t))
	h.verified()
	if err := h.m.Close(); err != nil {
		t.Fatal(err)
	}
	_, msgs := h.take()
	n := 0
	for _, m := range msgs {
		for _, rr := range m.Answer {
			if rr.Header().Ttl != 0 {
				t.Errorf("goodbye %v: TTL %d, want 0 (§10.1)", rr, rr.Header().Ttl)
			}
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d goodbye records, want the 2 host names'", n)
	}
}

func FuzzMDNSReceive(f *testing.F) {
	for _, q := range []*dns.Msg{query(instance, dns.TypeSRV, false), query(service, dns.TypePTR, true), query(host, dns.TypeANY, true)} {
		wire, _ := q.Pack()
		f.Add(wire, uint16(5353))
		f.Add(wire, uint16(40000))
	}
	snap := zonetest.Excerpt(f)
	f.Fuzz(func(t *testing.T, data []byte, port uint16) {
		h := newHarness(t, snap)
		h.m.receive(mdnsPacket{ifIndex: testIf, src: netip.AddrPortFrom(peer.Addr(), port), dst: mdnsGroup4, data: data})
		h.advance(time.Second)
		for _, s := range h.sent {
			if len(s.msg) > mdnsMaxPacket {
				t.Errorf("sent %d bytes", len(s.msg))
			}
		}
	})
}
