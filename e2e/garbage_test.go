package e2e_test

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/querymix"
	"github.com/svcdns/svcdns/internal/testenv"
	"github.com/svcdns/svcdns/registry"
	"golang.org/x/net/ipv4"
)

// garbageSeed fixes the packets, so that a failure is reproducible.
const garbageSeed = 20260813

// garbagePacket is one packet of TestGarbagePackets and what miekg/dns
// (not svcdns) makes of it.
type garbagePacket struct {
	kind   string
	wire   []byte
	header bool          // at least 12 bytes: the server may reply
	qr     bool          // QR set: a response, which must never be answered
	opcode int           // as sent
	q      *dns.Question // the one question, when miekg/dns unpacks the packet
}

// garbageKinds are the ways a packet is made, with their weights.
var garbageKinds = []struct {
	name   string
	weight int
}{
	{"valid", 5}, {"random", 10}, {"bitflip", 20}, {"truncated", 10}, {"counts", 12},
	{"compression", 8}, {"edns", 12}, {"opcode", 8}, {"qr", 5}, {"flags", 5}, {"combined", 5},
}

// garbageGen makes mutated queries from a querymix set.
type garbageGen struct {
	rng   *rand.Rand
	bases [][]byte
	qs    []querymix.Query
	total int
}

func newGarbageGen(t testing.TB, seed uint64) *garbageGen {
	t.Helper()
	reg, err := registry.ParseFile(testenv.Excerpt())
	if err != nil {
		t.Fatal(err)
	}
	g := &garbageGen{rng: rand.New(rand.NewPCG(seed, seed^0x5DEECE66D))}
	g.qs = querymix.Generate(reg, origin, 1000, seed)
	for i, q := range g.qs {
		m := new(dns.Msg)
		m.SetQuestion(q.Name, q.Type)
		if i%2 == 0 {
			m.SetEdns0(1232, i%4 == 0)
		}
		b, err := m.Pack()
		if err != nil {
			t.Fatalf("pack %v: %v", q, err)
		}
		g.bases = append(g.bases, b)
	}
	for _, k := range garbageKinds {
		g.total += k.weight
	}
	return g
}

// fork returns a generator of the same queries with its own random
// stream, for use by another goroutine.
func (g *garbageGen) fork(seed uint64) *garbageGen {
	f := *g
	f.rng = rand.New(rand.NewPCG(seed, seed^0x5DEECE66D))
	return &f
}

// next returns a packet with the given ID (when it is long enough to
// carry one); tcp allows EDNS options up to a TCP message's size.
func (g *garbageGen) next(id uint16, tcp bool) garbagePacket {
	k := g.rng.IntN(g.total)
	var kind string
	for _, c := range garbageKinds {
		if k < c.weight {
			kind = c.name
			break
		}
		k -= c.weight
	}
	var b []byte
	if kind == "combined" {
		b = slices.Clone(g.bases[g.rng.IntN(len(g.bases))])
		for range 2 + g.rng.IntN(2) {
			b = g.mutate(garbageKinds[2+g.rng.IntN(len(garbageKinds)-3)].name, b, tcp)
		}
	} else {
		b = g.mutate(kind, nil, tcp)
	}
	if len(b) >= 2 {
		binary.BigEndian.PutUint16(b, id)
	}
	p := garbagePacket{kind: kind, wire: b, header: len(b) >= 12}
	if p.header {
		p.qr = b[2]&0x80 != 0
		p.opcode = int(b[2]>>3) & 0xF
	}
	var m dns.Msg
	if m.Unpack(b) == nil && len(m.Question) == 1 {
		p.q = &m.Question[0]
	}
	return p
}

// mutate applies one kind of damage to b (nil: a fresh valid query).
func (g *garbageGen) mutate(kind string, b []byte, tcp bool) []byte {
	rng := g.rng
	if b == nil {
		b = slices.Clone(g.bases[rng.IntN(len(g.bases))])
	}
	switch kind {
	case "random":
		b = make([]byte, rng.IntN(600))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if len(b) >= 12 && rng.IntN(2) == 0 {
			// Plausible header: QUERY, one question, the rest random.
			b[2], b[3] = 0x01, 0x00
			binary.BigEndian.PutUint16(b[4:], 1)
			binary.BigEndian.PutUint16(b[6:], 0)
		}
	case "bitflip":
		if len(b) == 0 {
			break
		}
		for range 1 + rng.IntN(8) {
			i := rng.IntN(len(b) * 8)
			b[i/8] ^= 1 << (i % 8)
		}
	case "truncated":
		if len(b) > 0 {
			b = b[:rng.IntN(len(b))]
		}
	case "counts":
		if len(b) < 12 {
			break
		}
		for f := 4; f < 12; f += 2 {
			switch rng.IntN(3) {
			case 0:
				binary.BigEndian.PutUint16(b[f:], uint16(rng.IntN(4)))
			case 1:
				binary.BigEndian.PutUint16(b[f:], uint16(rng.Uint32()))
			}
		}
	case "compression":
		b = g.compression()
	case "edns":
		b = g.edns(tcp)
	case "opcode":
		if len(b) >= 3 {
			b[2] = b[2]&^0x78 | byte(rng.IntN(16))<<3
		}
	case "qr":
		if len(b) >= 3 {
			b[2] |= 0x80
		}
	case "flags":
		if len(b) >= 4 {
			b[2] ^= byte(rng.Uint32()) &^ 0x80
			b[3] = byte(rng.Uint32())
		}
	}
	return b
}

// compression makes names whose compression pointers loop, point at
// themselves, into the header, past the end, or chain deeply.
func (g *garbageGen) compression() []byte {
	rng := g.rng
	h := rawHeader(1, 0, 0, 0)
	switch rng.IntN(7) {
	case 0: // a pointer to itself
		return cat(h, []byte{0xC0, 12}, typeClass)
	case 1: // a label, then back to it
		return cat(h, []byte{1, 'a', 0xC0, 12}, typeClass)
	case 2: // two pointers at each other
		return cat(h, []byte{0xC0, 14, 0xC0, 12}, typeClass)
	case 3: // into the header or anywhere
		return cat(h, []byte{0xC0 | byte(rng.IntN(4)), byte(rng.Uint32())}, typeClass)
	case 4: // a chain of 200 pointers, each to the one before
		b := cat(h, []byte{1, 'x', 0})
		for range 200 {
			prev := len(b) - 2
			if len(b) == 15 {
				prev = 12
			}
			b = append(b, 0xC0|byte(prev>>8), byte(prev))
		}
		return append(b, typeClass...)
	case 5: // a valid question, then an OPT whose owner name loops
		q := g.bases[rng.IntN(len(g.bases))]
		var m dns.Msg
		if m.Unpack(q) != nil {
			return q
		}
		m.Extra = nil
		b, err := m.Pack()
		if err != nil {
			return q
		}
		binary.BigEndian.PutUint16(b[10:], 1)
		self := len(b)
		return append(b, 0xC0|byte(self>>8), byte(self), 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0)
	default: // a name of many labels that ends in a loop
		b := slices.Clone(h)
		for range 1 + rng.IntN(20) {
			b = append(b, 3, 'a', 'b', 'c')
		}
		return append(b, 0xC0, 12+byte(4*rng.IntN(3)), 0, 33, 0, 1)
	}
}

// edns makes queries with oversized or broken OPT records: payload size
// 65535 with a large option, a version the server does not know, two
// OPTs, an option length that runs past the record.
func (g *garbageGen) edns(tcp bool) []byte {
	rng := g.rng
	q := g.qs[rng.IntN(len(g.qs))]
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Type)
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.SetUDPSize(uint16(rng.IntN(65536)))
	if rng.IntN(2) == 0 {
		opt.SetUDPSize(65535)
	}
	if rng.IntN(4) == 0 {
		opt.SetVersion(uint8(1 + rng.IntN(255)))
	}
	opt.SetDo(rng.IntN(2) == 0)
	maxOpt := 8000 // over UDP more than the 4096 bytes the server reads
	if tcp {
		maxOpt = 60000
	}
	opt.Option = append(opt.Option, &dns.EDNS0_LOCAL{Code: uint16(65001 + rng.IntN(500)), Data: make([]byte, rng.IntN(maxOpt))})
	if rng.IntN(3) == 0 {
		opt.Option = append(opt.Option, &dns.EDNS0_PADDING{Padding: make([]byte, rng.IntN(512))})
	}
	m.Extra = append(m.Extra, opt)
	if rng.IntN(5) == 0 {
		second := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		second.SetUDPSize(512)
		m.Extra = append(m.Extra, second)
	}
	b, err := m.Pack()
	if err != nil {
		return nil
	}
	if rng.IntN(4) == 0 {
		// The first option's length runs past the end of the record.
		off := 12 + len(q.Name) + 1 + 4 + 11 // root-terminated name, type, class, OPT header
		if off+4 <= len(b) {
			binary.BigEndian.PutUint16(b[off+2:], 0xFFF0)
		}
	}
	return b
}

// garbageTally counts the replies of one socket or connection and keeps
// the first problems.
type garbageTally struct {
	sent, replies   int
	byRcode, byKind map[string]int
	problems        []string
	problemsCount   int
	replied         []bool
}

func newGarbageTally(n int) *garbageTally {
	return &garbageTally{byRcode: map[string]int{}, byKind: map[string]int{}, replied: make([]bool, n)}
}

func (t *garbageTally) problem(format string, args ...any) {
	t.problemsCount++
	if len(t.problems) < 10 {
		t.problems = append(t.problems, fmt.Sprintf(format, args...))
	}
}

// check judges one reply against the packets sent, indexed by ID.
func (t *garbageTally) check(pkts []garbagePacket, b []byte) {
	t.replies++
	var r dns.Msg
	if err := r.Unpack(b); err != nil {
		t.problem("reply does not parse: %v: %s", err, hex.EncodeToString(b[:min(len(b), 64)]))
		return
	}
	rcode := dns.RcodeToString[r.Rcode]
	if r.Rcode == dns.RcodeBadVers {
		rcode = "BADVERS" // miekg/dns names 16 BADSIG, its TSIG meaning
	}
	t.byRcode[rcode]++
	if int(r.Id) >= len(pkts) {
		t.problem("reply with ID %d, which no query had", r.Id)
		return
	}
	p := &pkts[r.Id]
	t.byKind[p.kind]++
	switch {
	case !p.header:
		t.problem("reply to a %d-byte packet, too short to carry a header: %s", len(p.wire), hex.EncodeToString(p.wire))
	case t.replied[r.Id]:
		t.problem("second reply to ID %d (%s)", r.Id, p.kind)
	case p.qr:
		t.problem("reply to a packet with QR set (a response must never be answered): %s query %s -> %s", p.kind, hex.EncodeToString(p.wire[:min(len(p.wire), 64)]), dns.RcodeToString[r.Rcode])
	case !r.Response:
		t.problem("reply to ID %d without QR", r.Id)
	case r.Opcode != p.opcode:
		t.problem("reply to ID %d has opcode %d, the query %d", r.Id, r.Opcode, p.opcode)
	case p.q != nil && len(r.Question) > 0 && (len(r.Question) != 1 || r.Question[0] != *p.q):
		t.problem("reply to ID %d (%s) has question %v, the query %v", r.Id, p.kind, r.Question, *p.q)
	}
	t.replied[r.Id] = true
}

func (t *garbageTally) add(o *garbageTally) {
	t.sent += o.sent
	t.replies += o.replies
	t.problemsCount += o.problemsCount
	for k, v := range o.byRcode {
		t.byRcode[k] += v
	}
	for k, v := range o.byKind {
		t.byKind[k] += v
	}
	for _, p := range o.problems {
		if len(t.problems) < 20 {
			t.problems = append(t.problems, p)
		}
	}
}

func loadCountsString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, m[k])
	}
	return strings.TrimSpace(b.String())
}

// TestGarbagePackets sends 200,000 random and mutated packets over UDP
// and 3,000 over TCP (flipped bits, truncations, random section counts,
// compression loops, oversized EDNS, random opcodes, QR set...) with rate
// limiting off. Every reply must parse, echo its query's ID, opcode and
// question, and no response may be answered; the server must keep
// running, answer a normal query afterwards and exit 0 at SIGTERM, with
// no recovered panic in its log.
func TestGarbagePackets(t *testing.T) {
	const (
		udpSockets   = 4
		perSocket    = 50_000 // under 65,536: each ID names one packet of its socket
		tcpConns     = 4
		perConn      = 750
		rate         = 30_000 // packets a second, all sockets
		batch        = 32
		controlID    = 0xFFFF
		controlName  = "_rets._tcp.ports.local."
		controlPort  = 6103
		replyTimeout = time.Second
	)
	// Loopback may not transfer the zone here (the default allows it): a
	// garbage AXFR gets one REFUSED, not a transfer of many messages.
	srv := startLoadServer(t, []string{"SVCDNS_RRL_RATE=0", "SVCDNS_TRANSFER_ALLOW_NETWORKS=192.0.2.0/24"}, "--registry", testenv.Excerpt())
	server, err := net.ResolveUDPAddr("udp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	genStart := time.Now()
	gen := newGarbageGen(t, garbageSeed)
	// Each socket's and connection's packets from their own stream, made
	// on every CPU.
	udpPkts := make([][]garbagePacket, udpSockets)
	tcpPkts := make([][]garbagePacket, tcpConns)
	var genWG sync.WaitGroup
	for i := range udpSockets + tcpConns {
		g := gen.fork(garbageSeed + uint64(i) + 1)
		genWG.Add(1)
		go func() {
			defer genWG.Done()
			tcp, n := i >= udpSockets, perSocket
			if tcp {
				n = perConn
			}
			pkts := make([]garbagePacket, n)
			for j := range pkts {
				pkts[j] = g.next(uint16(j), tcp)
			}
			if tcp {
				tcpPkts[i-udpSockets] = pkts
			} else {
				udpPkts[i] = pkts
			}
		}()
	}
	genWG.Wait()
	sentByKind := map[string]int{}
	for _, ps := range append(slices.Clone(udpPkts), tcpPkts...) {
		for _, p := range ps {
			sentByKind[p.kind]++
		}
	}
	genTime := time.Since(genStart)
	before := srv.MustScrape(t)
	cpuBefore, _ := srv.CPUSeconds()
	rcvbufBefore := loadUDPRcvbufErrors()

	// UDP: each socket's sender paces its packets; its receiver and
	// checker judge the replies as they come.
	start := time.Now()
	tallies := make([]*garbageTally, udpSockets)
	var senders, receivers sync.WaitGroup
	sent := make(chan struct{}) // closed once every UDP packet is sent
	for i := range udpSockets {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadBuffer(8 << 20)
		pc := ipv4.NewPacketConn(c)
		tally := newGarbageTally(perSocket)
		tallies[i] = tally
		pkts := udpPkts[i]
		senders.Add(1)
		go func() {
			defer senders.Done()
			out := make([]ipv4.Message, batch)
			perSender := float64(rate) / udpSockets
			for tally.sent < len(pkts) {
				due := min(len(pkts), int(time.Since(start).Seconds()*perSender))
				if tally.sent >= due {
					time.Sleep(time.Millisecond)
					continue
				}
				n := min(batch, due-tally.sent)
				for j := range n {
					out[j] = ipv4.Message{Buffers: [][]byte{pkts[tally.sent+j].wire}, Addr: server}
				}
				k, err := pc.WriteBatch(out[:n], 0)
				if err != nil {
					k = max(k, 1) // skip a packet the kernel refuses
				}
				tally.sent += k
			}
		}()
		// The receiver only drains the socket; a checker, behind a deep
		// queue, judges the replies, so that checking (slow under -race)
		// does not let the socket buffer overflow.
		replies := make(chan []byte, perSocket)
		receivers.Add(2)
		go func() {
			defer receivers.Done()
			defer close(replies)
			in := make([]ipv4.Message, batch)
			for j := range in {
				in[j].Buffers = [][]byte{make([]byte, 65535)}
			}
			loadReadUntilQuiet(c, in, sent, replyTimeout, func(ms []ipv4.Message) {
				for _, m := range ms {
					replies <- slices.Clone(m.Buffers[0][:m.N])
				}
			})
		}()
		go func() {
			defer receivers.Done()
			for b := range replies {
				tally.check(pkts, b)
			}
		}()
	}

	// TCP, meanwhile: each connection pipelines its packets, then a
	// normal query, whose reply comes last: every earlier packet has been
	// handled by then.
	tcpTallies := make([]*garbageTally, tcpConns)
	tcpErrs := make([]error, tcpConns)
	var tcpWG sync.WaitGroup
	for i := range tcpConns {
		tally := newGarbageTally(perConn)
		tcpTallies[i] = tally
		control := loadPackQuery(t, controlID, controlName, dns.TypeSRV)
		tcpWG.Add(1)
		go func() {
			defer tcpWG.Done()
			tcpErrs[i] = garbageOverTCP(srv.Addr, tcpPkts[i], tally, control, controlPort)
		}()
	}

	senders.Wait()
	sendTime := time.Since(start)
	close(sent)
	receivers.Wait()
	tcpWG.Wait()
	after := srv.MustScrape(t)
	cpuAfter, _ := srv.CPUSeconds()
	rcvbufDrops := loadUDPRcvbufErrors() - rcvbufBefore

	udpTotal, tcpTotal := newGarbageTally(0), newGarbageTally(0)
	for _, tl := range tallies {
		udpTotal.add(tl)
	}
	for _, tl := range tcpTallies {
		tcpTotal.add(tl)
	}
	formerr := int(after.Sum("svcdns_queries_total", `kind="formerr"`) - before.Sum("svcdns_queries_total", `kind="formerr"`))
	handled := int(after.Sum("svcdns_queries_total") - before.Sum("svcdns_queries_total"))
	t.Logf("packets made in %v (seed %d): %s", genTime.Round(time.Millisecond), garbageSeed, loadCountsString(sentByKind))
	t.Logf("UDP: %d packets sent in %v (%.0f/s), %d replies; replies by rcode: %s; by kind of packet: %s",
		udpTotal.sent, sendTime.Round(time.Millisecond), float64(udpTotal.sent)/sendTime.Seconds(), udpTotal.replies,
		loadCountsString(udpTotal.byRcode), loadCountsString(udpTotal.byKind))
	t.Logf("TCP: %d packets sent on %d connections, %d replies; replies by rcode: %s", tcpTotal.sent, tcpConns, tcpTotal.replies, loadCountsString(tcpTotal.byRcode))
	t.Logf("server counted %d packets handled (%d FORMERR), used %.1f s of CPU; %d UDP datagrams lost to full receive buffers",
		handled, formerr, cpuAfter-cpuBefore, rcvbufDrops)

	// Garbage may be dropped, but a valid query must be answered: over
	// TCP always, over UDP when no datagram was lost to a full buffer.
	unanswered := map[string]int{}
	var unansweredValid []string
	for _, tr := range []struct {
		tallies []*garbageTally
		pkts    [][]garbagePacket
		net     string
	}{{tallies, udpPkts, "udp"}, {tcpTallies, tcpPkts, "tcp"}} {
		for i, tl := range tr.tallies {
			for j, p := range tr.pkts[i] {
				if !p.header || p.qr || tl.replied[j] {
					continue
				}
				unanswered[tr.net+"/"+p.kind]++
				if p.kind == "valid" && (tr.net == "tcp" || rcvbufDrops == 0) {
					unansweredValid = append(unansweredValid, tr.net+" "+hex.EncodeToString(p.wire))
				}
			}
		}
	}
	t.Logf("packets with a header and QR clear that got no reply, by transport/kind: %s", loadCountsString(unanswered))
	if len(unansweredValid) > 0 {
		t.Errorf("%d valid queries got no reply; the first: %v", len(unansweredValid), unansweredValid[:min(5, len(unansweredValid))])
	}

	for _, tot := range []struct {
		name string
		t    *garbageTally
	}{{"UDP", udpTotal}, {"TCP", tcpTotal}} {
		if tot.t.problemsCount > 0 {
			t.Errorf("%s: %d bad replies; the first:\n  %s", tot.name, tot.t.problemsCount, strings.Join(tot.t.problems, "\n  "))
		}
	}
	for i, err := range tcpErrs {
		if err != nil {
			t.Errorf("TCP connection %d: %v", i, err)
		}
	}
	if udpTotal.sent != udpSockets*perSocket {
		t.Errorf("sent %d UDP packets, want %d", udpTotal.sent, udpSockets*perSocket)
	}
	if !srv.Alive() {
		t.Fatal("svcdns exited under garbage")
	}
	if n := srv.LogCount("panic answering a query; dropped"); n > 0 {
		t.Errorf("svcdns recovered from %d panics answering garbage (each is a bug it survived)", n)
	}
	// Still answering, on both transports.
	r, _, err := loadUDPAsk(nil, server, 1, controlName, dns.TypeSRV, 2*time.Second)
	if err != nil {
		t.Fatalf("control query over UDP after the garbage: %v", err)
	}
	if why := loadCheckSRV(r, controlPort); why != "" {
		t.Errorf("control query over UDP after the garbage: %s", why)
	}
	r, err = loadTCPAsk(srv.Addr, controlName, dns.TypeSRV, 5*time.Second)
	if err != nil {
		t.Fatalf("control query over TCP after the garbage: %v", err)
	}
	if why := loadCheckSRV(r, controlPort); why != "" {
		t.Errorf("control query over TCP after the garbage: %s", why)
	}
}

// garbageOverTCP writes pkts, each framed, on one connection, then the
// control query; it checks every reply into tally and returns an error
// unless the control query's correct answer arrives.
func garbageOverTCP(addr string, pkts []garbagePacket, tally *garbageTally, control []byte, port uint16) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	werr := make(chan error, 1)
	go func() {
		w := make([]byte, 0, 1<<16)
		for _, p := range append(pkts, garbagePacket{wire: control}) {
			w = binary.BigEndian.AppendUint16(w[:0], uint16(len(p.wire)))
			w = append(w, p.wire...)
			if _, err := conn.Write(w); err != nil {
				werr <- err
				return
			}
			tally.sent++
		}
		tally.sent-- // the control query is not garbage
		werr <- nil
	}()
	controlID := binary.BigEndian.Uint16(control)
	var lb [2]byte
	buf := make([]byte, 65535)
	for {
		if _, err := io.ReadFull(conn, lb[:]); err != nil {
			<-werr
			return fmt.Errorf("after %d replies, before the control query's: %w", tally.replies, err)
		}
		b := buf[:binary.BigEndian.Uint16(lb[:])]
		if _, err := io.ReadFull(conn, b); err != nil {
			<-werr
			return fmt.Errorf("reply cut short after %d replies: %w", tally.replies, err)
		}
		if len(b) >= 2 && binary.BigEndian.Uint16(b) == controlID {
			if err := <-werr; err != nil {
				return err
			}
			var r dns.Msg
			if err := r.Unpack(b); err != nil {
				return fmt.Errorf("control reply: %v", err)
			}
			if why := loadCheckSRV(&r, port); why != "" {
				return fmt.Errorf("control reply: %s", why)
			}
			return nil
		}
		tally.check(pkts, b)
	}
}
