package resolver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/zone"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Multicast DNS (RFC 6762) constants.
const (
	mdnsPort = 5353
	// §10: records that hold or name a host (A, AAAA, SRV) live 120 s;
	// the others 75 minutes.
	mdnsHostTTL  = 120
	mdnsOtherTTL = 75 * 60
	// §6.7: legacy unicast replies carry TTLs of at most ten seconds.
	mdnsLegacyTTL = 10
	// §10.2 and §5.4: the top bit of the class is the cache-flush bit in
	// a record and the unicast-response (QU) bit in a question.
	mdnsClassBit = 1 << 15
	// §6: a record is multicast at most once a second per interface; an
	// answer to a probe at most every 250 ms.
	mdnsRepeat      = time.Second
	mdnsProbeRepeat = 250 * time.Millisecond
	// §8.1: three probes 250 ms apart; a lost tie-break waits one second.
	mdnsProbes        = 3
	mdnsProbeInterval = 250 * time.Millisecond
	mdnsProbeRetry    = time.Second
	// A host name found in use is probed for again this often.
	mdnsConflictRetry = time.Minute
	// §17: at most 9000 bytes; a packet is kept within the interface MTU.
	mdnsMaxPacket = 9000
	// How many records' last multicast times are kept per interface: more
	// than the full registry's service types, which one enumeration lists.
	mdnsSentMemory = 1 << 15
)

var (
	mdnsGroup4 = netip.MustParseAddr("224.0.0.251")
	mdnsGroup6 = netip.MustParseAddr("ff02::fb")
)

// MDNSConfig configures the multicast DNS responder.
type MDNSConfig struct {
	// Interfaces are the names of the network interfaces answered on.
	Interfaces []string
}

// MDNS answers multicast DNS (RFC 6762) on the configured interfaces for
// the names of the zones whose origin is under .local: QM and QU
// questions, legacy unicast queries (§6.7), with known-answer suppression
// (§7.1), cache-flush bits (§10.2), the §10 TTLs, NSEC negative answers
// (§6.1) and the per-interface multicast rate limit (§6). It probes for
// the zone's host names at start (§8) and logs conflicts (§9). It answers
// and does not announce the zone's services.
//
// Its replies are not the unicast handler's packed ones: a multicast
// response has no question section, its records carry cache-flush bits
// and mDNS TTLs, and what it holds depends on the querier's known answers
// and on what was multicast in the last second. It reads the zones
// through their lookups (zone.Snapshot.Lookup).
type MDNS struct {
	cfg   MDNSConfig
	zones func() []*zone.Snapshot
	log   *slog.Logger

	// Seams for tests: the clock, timers, random delays and the sender.
	now   func() time.Time
	after func(time.Duration, func())
	delay func(lo, hi time.Duration) time.Duration
	send  func(mdnsSend)

	links map[int]*mdnsLink // by interface index

	mu      sync.Mutex
	pending map[pendingKey]*mdnsQuery
	closed  bool

	conn4  *ipv4.PacketConn
	conn6  *ipv6.PacketConn
	sendMu sync.Mutex // the IPv4 socket's multicast interface is socket state
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

// mdnsLink is one interface's state.
type mdnsLink struct {
	index int
	name  string
	mtu   int
	sent  *lru.Cache[uint64, time.Time] // last multicast of each record (§6), by recordKey

	mu         sync.Mutex
	prefixes   []netip.Prefix // the interface's own, for the §11 source check
	prefixesAt time.Time
	hosts      map[string]*mdnsHost // probed host names (§8)
	enumAt     time.Time            // when the service types were last listed
	warned     map[string]time.Time // zone names another responder answers differently
}

// mdnsHost is the probing state of one host name on one interface.
type mdnsHost struct {
	name     string
	records  []dns.RR // its address records, in mDNS form
	state    hostState
	round    int // a new probing round ignores the timers of the last
	announce bool
}

type hostState uint8

const (
	hostProbing hostState = iota
	hostVerified
	hostConflict
)

// mdnsPacket is one datagram received on an interface.
type mdnsPacket struct {
	ifIndex int
	src     netip.AddrPort
	dst     netip.Addr
	data    []byte
}

// mdnsSend is one datagram to send on an interface.
type mdnsSend struct {
	ifIndex int
	to      netip.AddrPort
	src     netip.Addr // for a unicast reply: the address the query came to
	msg     []byte
}

type pendingKey struct {
	ifIndex int
	src     netip.AddrPort
}

// mdnsQuery is a query being answered, possibly spread over several
// packets of known answers (§7.2).
type mdnsQuery struct {
	link      *mdnsLink
	src       netip.AddrPort
	dst       netip.Addr
	questions []dns.Question
	known     []dns.RR
	probe     bool
	gen       int
}

// NewMDNS returns a responder for the zones that zones returns (those
// under .local are answered). Start binds it; log may be nil.
func NewMDNS(cfg MDNSConfig, zones func() []*zone.Snapshot, log *slog.Logger) *MDNS {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &MDNS{cfg: cfg, zones: zones, log: log.With("proto", "mdns"),
		now:     time.Now,
		after:   func(d time.Duration, f func()) { time.AfterFunc(d, f) },
		delay:   func(lo, hi time.Duration) time.Duration { return lo + rand.N(hi-lo) },
		links:   map[int]*mdnsLink{},
		pending: map[pendingKey]*mdnsQuery{}}
	m.send = m.write
	return m
}

func newLink(index int, name string, mtu int) *mdnsLink {
	sent, _ := lru.New[uint64, time.Time](mdnsSentMemory)
	return &mdnsLink{index: index, name: name, mtu: mtu, sent: sent,
		hosts: map[string]*mdnsHost{}, warned: map[string]time.Time{}}
}

// maxPacket is the largest mDNS message sent on the link: its MTU less
// the IPv6 and UDP headers (§17).
func (l *mdnsLink) maxPacket() int {
	if l.mtu <= 0 {
		return 1500 - 48
	}
	return min(l.mtu-48, mdnsMaxPacket)
}

// Start binds UDP port 5353 on IPv4 and IPv6, joins 224.0.0.251 and
// ff02::fb on each configured interface, starts answering and probes for
// the zones' host names. It fails when an interface does not exist or
// cannot multicast, or when neither family can join.
func (m *MDNS) Start() error {
	var ifis []*net.Interface
	for _, name := range m.cfg.Interfaces {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return fmt.Errorf("mdns: interface %q: %w", name, err)
		}
		if ifi.Flags&net.FlagMulticast == 0 {
			return fmt.Errorf("mdns: interface %q cannot multicast", name)
		}
		ifis = append(ifis, ifi)
		m.links[ifi.Index] = newLink(ifi.Index, ifi.Name, ifi.MTU)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	lc := net.ListenConfig{Control: reuseAddrPort}
	var joined []string
	if pc, err := lc.ListenPacket(ctx, "udp4", fmt.Sprintf("0.0.0.0:%d", mdnsPort)); err != nil {
		m.log.Warn("no IPv4 multicast DNS", "err", err)
	} else {
		c := ipv4.NewPacketConn(pc)
		_ = c.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true)
		_ = c.SetMulticastTTL(255) // §11
		_ = c.SetTTL(255)
		_ = c.SetMulticastLoopback(true) // other responders on this host hear us
		n := 0
		for _, ifi := range ifis {
			if err := c.JoinGroup(ifi, &net.UDPAddr{IP: mdnsGroup4.AsSlice()}); err != nil {
				m.log.Warn("cannot join 224.0.0.251", "interface", ifi.Name, "err", err)
				continue
			}
			n++
			joined = append(joined, ifi.Name+"/ipv4")
		}
		if n == 0 {
			pc.Close()
		} else {
			m.conn4 = c
		}
	}
	if pc, err := lc.ListenPacket(ctx, "udp6", fmt.Sprintf("[::]:%d", mdnsPort)); err != nil {
		m.log.Warn("no IPv6 multicast DNS", "err", err)
	} else {
		c := ipv6.NewPacketConn(pc)
		_ = c.SetControlMessage(ipv6.FlagInterface|ipv6.FlagDst, true)
		_ = c.SetMulticastHopLimit(255)
		_ = c.SetHopLimit(255)
		_ = c.SetMulticastLoopback(true)
		n := 0
		for _, ifi := range ifis {
			if err := c.JoinGroup(ifi, &net.UDPAddr{IP: mdnsGroup6.AsSlice()}); err != nil {
				m.log.Warn("cannot join ff02::fb", "interface", ifi.Name, "err", err)
				continue
			}
			n++
			joined = append(joined, ifi.Name+"/ipv6")
		}
		if n == 0 {
			pc.Close()
		} else {
			m.conn6 = c
		}
	}
	if m.conn4 == nil && m.conn6 == nil {
		cancel()
		return fmt.Errorf("mdns: could not join the multicast DNS group on %s", strings.Join(m.cfg.Interfaces, ", "))
	}
	if m.conn4 != nil {
		m.wg.Add(1)
		go m.read4()
	}
	if m.conn6 != nil {
		m.wg.Add(1)
		go m.read6()
	}
	m.wg.Add(1)
	go m.watchHosts(ctx)
	m.log.Info("multicast DNS responder listening", "on", strings.Join(joined, ","), "port", mdnsPort)
	return nil
}

// reuseAddrPort lets svcdns share port 5353 with the host's own mDNS
// responder (Avahi, mDNSResponder, systemd-resolved), as they do.
func reuseAddrPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// Close says goodbye for the verified host names (§10.1), closes the
// sockets and waits for the readers.
func (m *MDNS) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.mu.Unlock()
	for _, l := range m.links {
		m.goodbye(l)
	}
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	if m.stop != nil {
		m.stop()
	}
	var errs []error
	if m.conn4 != nil {
		errs = append(errs, m.conn4.Close())
	}
	if m.conn6 != nil {
		errs = append(errs, m.conn6.Close())
	}
	m.wg.Wait()
	return errors.Join(errs...)
}

func (m *MDNS) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// mdnsControl is what a read needs of a packet's control message: the
// interface it came in on and the address it was sent to.
type mdnsControl struct {
	ifIndex int
	dst     net.IP
}

func (m *MDNS) read4() {
	m.readLoop(true, func(b []byte) (int, *mdnsControl, net.Addr, error) {
		n, cm, src, err := m.conn4.ReadFrom(b)
		if cm == nil {
			return n, nil, src, err
		}
		return n, &mdnsControl{cm.IfIndex, cm.Dst}, src, err
	})
}

func (m *MDNS) read6() {
	m.readLoop(false, func(b []byte) (int, *mdnsControl, net.Addr, error) {
		n, cm, src, err := m.conn6.ReadFrom(b)
		if cm == nil {
			return n, nil, src, err
		}
		return n, &mdnsControl{cm.IfIndex, cm.Dst}, src, err
	})
}

// readLoop hands every packet read to safeReceive until the connection is
// closed; unmap turns IPv4-mapped addresses into IPv4 ones (the IPv4
// socket's).
func (m *MDNS) readLoop(unmap bool, read func([]byte) (int, *mdnsControl, net.Addr, error)) {
	defer m.wg.Done()
	buf := make([]byte, mdnsMaxPacket)
	for {
		n, cm, src, err := read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		ua, ok := src.(*net.UDPAddr)
		if !ok || cm == nil {
			continue
		}
		sa, _ := netip.AddrFromSlice(ua.IP)
		dst, _ := netip.AddrFromSlice(cm.dst)
		if unmap {
			sa, dst = sa.Unmap(), dst.Unmap()
		}
		m.safeReceive(mdnsPacket{ifIndex: cm.ifIndex, src: netip.AddrPortFrom(sa, uint16(ua.Port)), dst: dst, data: slices.Clone(buf[:n])})
	}
}

// safeReceive turns a panic into a dropped packet: no packet may take the
// responder down.
func (m *MDNS) safeReceive(p mdnsPacket) {
	defer func() {
		if r := recover(); r != nil {
			m.log.Error("panic handling a multicast DNS packet; dropped", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	m.receive(p)
}

// write sends one datagram on its interface.
func (m *MDNS) write(s mdnsSend) {
	l := m.links[s.ifIndex]
	if l == nil {
		return
	}
	var err error
	if s.to.Addr().Is4() {
		if m.conn4 == nil {
			return
		}
		cm := &ipv4.ControlMessage{IfIndex: s.ifIndex}
		if s.src.IsValid() && s.src.Is4() {
			cm.Src = s.src.AsSlice()
		}
		m.sendMu.Lock()
		if s.to.Addr().IsMulticast() {
			if ifi, e := net.InterfaceByIndex(s.ifIndex); e == nil {
				_ = m.conn4.SetMulticastInterface(ifi)
			}
		}
		_, err = m.conn4.WriteTo(s.msg, cm, net.UDPAddrFromAddrPort(s.to))
		m.sendMu.Unlock()
	} else {
		if m.conn6 == nil {
			return
		}
		cm := &ipv6.ControlMessage{IfIndex: s.ifIndex}
		to := net.UDPAddrFromAddrPort(s.to)
		if to.IP.IsLinkLocalMulticast() || to.IP.IsLinkLocalUnicast() {
			to.Zone = l.name
		}
		_, err = m.conn6.WriteTo(s.msg, cm, to)
	}
	if err != nil {
		m.log.Debug("send failed", "to", s.to.String(), "interface", l.name, "err", err)
	}
}

// receive handles one datagram: a query is answered, a response is
// checked for conflicts with the host names probed for.
func (m *MDNS) receive(p mdnsPacket) {
	l := m.links[p.ifIndex]
	if l == nil || !m.onLink(l, p.src.Addr()) {
		return // §11: only the local link, only the interfaces enabled
	}
	msg := new(dns.Msg)
	if err := msg.Unpack(p.data); err != nil {
		return
	}
	// §18.3, §18.11: other opcodes and non-zero rcodes are ignored.
	if msg.Opcode != dns.OpcodeQuery || msg.Rcode != dns.RcodeSuccess {
		return
	}
	if msg.Response {
		if p.src.Port() == mdnsPort {
			m.checkResponse(l, msg)
		}
		return
	}
	if p.src.Port() != mdnsPort {
		m.answerLegacy(l, p, msg)
		return
	}
	probe := len(msg.Question) > 0 && len(msg.Ns) > 0
	if probe {
		m.probeSeen(l, msg)
	}
	key := pendingKey{p.ifIndex, p.src}
	m.mu.Lock()
	if q := m.pending[key]; q != nil {
		// §7.2: more known answers (and questions) for a query already
		// held; another TC holds it 400-500 ms more.
		q.known = append(q.known, msg.Answer...)
		q.questions = append(q.questions, msg.Question...)
		if msg.Truncated {
			q.gen++
			m.hold(key, q)
		}
		m.mu.Unlock()
		return
	}
	if len(msg.Question) == 0 {
		m.mu.Unlock()
		return
	}
	q := &mdnsQuery{link: l, src: p.src, dst: p.dst, questions: msg.Question, known: msg.Answer, probe: probe}
	if msg.Truncated {
		m.pending[key] = q
		m.hold(key, q)
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	m.respond(q)
}

// hold answers q once 400-500 ms pass without another packet of its
// known answers (§7.2). m.mu is held.
func (m *MDNS) hold(key pendingKey, q *mdnsQuery) {
	gen := q.gen
	m.after(m.delay(400*time.Millisecond, 500*time.Millisecond), func() {
		m.mu.Lock()
		if m.pending[key] != q || q.gen != gen || m.closed {
			m.mu.Unlock()
			return
		}
		delete(m.pending, key)
		m.mu.Unlock()
		m.respond(q)
	})
}

// onLink reports whether src is on the link of l: an address in one of
// its prefixes, or an IPv6 link-local address (§11).
func (m *MDNS) onLink(l *mdnsLink, src netip.Addr) bool {
	if src.Is6() && src.IsLinkLocalUnicast() {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := m.now()
	if l.prefixes == nil || now.Sub(l.prefixesAt) > 10*time.Second {
		l.prefixes = interfacePrefixes(l.index)
		l.prefixesAt = now
	}
	for _, p := range l.prefixes {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// interfacePrefixes returns the prefixes of an interface's addresses.
func interfacePrefixes(index int) []netip.Prefix {
	ifi, err := net.InterfaceByIndex(index)
	if err != nil {
		return []netip.Prefix{}
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return []netip.Prefix{}
	}
	out := []netip.Prefix{}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if p, err := netip.ParsePrefix(n.String()); err == nil {
				out = append(out, p.Masked())
			}
		}
	}
	return out
}

// localZones returns the served snapshots whose origin is under .local,
// longest origin first.
func (m *MDNS) localZones() zoneSet {
	var out []*zone.Snapshot
	for _, s := range m.zones() {
		if underOrigin(s.Origin(), "local.") {
			out = append(out, s)
		}
	}
	return newZoneSet(out)
}

// mdnsAnswer is what the zone says to one question, in mDNS form.
type mdnsAnswer struct {
	answer, additional []dns.RR
}

// lookup answers one question from the zones: the records in mDNS form
// (§10 TTLs; cache-flush bits unless legacy), an NSEC when the name
// exists without the type (§6.1), nothing for a name the zones do not
// hold. At the origin's _services._dns-sd._udp every service type is
// listed: multicast DNS has no 512-byte limit (RFC 6763 §9).
func (m *MDNS) lookup(zs zoneSet, l *mdnsLink, q dns.Question, legacy bool) mdnsAnswer {
	var out mdnsAnswer
	snap := zs.pick(q.Name)
	if snap == nil || metaType(q.Qtype) {
		return out
	}
	name := strings.ToLower(q.Name)
	if m.withheld(l, name) {
		return out
	}
	conv := func(rrs []dns.RR) []dns.RR {
		res := make([]dns.RR, 0, len(rrs))
		for _, rr := range rrs {
			if !m.withheld(l, strings.ToLower(rr.Header().Name)) {
				res = append(res, mdnsRecord(rr, legacy))
			}
		}
		return res
	}
	enum := name == "_services._dns-sd._udp."+snap.Origin() && (q.Qtype == dns.TypePTR || q.Qtype == dns.TypeANY)
	switch {
	case q.Qtype == dns.TypeANY:
		// §6.5: ANY is answered with every record at the name.
		out.answer = conv(recordsAt(snap, name))
	case enum:
	default:
		a := snap.Lookup(name, q.Qtype)
		switch {
		case a.Outcome == zone.Success:
			out.answer = conv(a.Answer)
			out.additional = conv(a.Additional)
		case a.Outcome == zone.NoData:
			if nsec := nsecFor(snap, name, legacy); nsec != nil {
				out.answer = []dns.RR{nsec}
			}
		}
	}
	if enum && m.enumerate(l) {
		for _, t := range snap.ServiceTypes() {
			out.answer = append(out.answer, mdnsRecord(&dns.PTR{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET}, Ptr: t}, legacy))
		}
	}
	// §6.1: with a host's addresses, an NSEC says which family it lacks.
	seen := map[string]bool{}
	for _, rr := range slices.Concat(out.answer, out.additional) {
		h := rr.Header()
		if (h.Rrtype == dns.TypeA || h.Rrtype == dns.TypeAAAA) && !seen[strings.ToLower(h.Name)] {
			seen[strings.ToLower(h.Name)] = true
			if nsec := nsecFor(snap, strings.ToLower(h.Name), legacy); nsec != nil && len(nsec.(*dns.NSEC).TypeBitMap) == 1 {
				out.additional = append(out.additional, nsec)
			}
		}
	}
	return out
}

// metaType reports whether t is a question type that multicast DNS does
// not answer: zone transfers, OPT, TSIG and the like (ANY excepted).
func metaType(t uint16) bool {
	switch t {
	case dns.TypeOPT, dns.TypeTKEY, dns.TypeTSIG, dns.TypeIXFR, dns.TypeAXFR, dns.TypeMAILB, dns.TypeMAILA:
		return true
	}
	return t == 0
}

// enumerate reports whether the service types may be listed on l now: at
// most once a second, as the §6 rate limit would allow them out anyway,
// so that a querier cannot make the full registry's ~12,000 PTRs be
// computed at its own pace.
func (m *MDNS) enumerate(l *mdnsLink) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := m.now()
	if now.Sub(l.enumAt) < mdnsRepeat {
		return false
	}
	l.enumAt = now
	return true
}

// recordsAt returns every record at a name: its stored records, or a
// port name's synthesized PTR and TXT.
func recordsAt(snap *zone.Snapshot, name string) []dns.RR {
	if rrs := snap.RRs(name); len(rrs) > 0 {
		return rrs
	}
	var out []dns.RR
	for _, t := range []uint16{dns.TypePTR, dns.TypeTXT} {
		if a := snap.Lookup(name, t); a.Outcome == zone.Success {
			out = append(out, a.Answer...)
		}
	}
	return out
}

// nsecFor is the §6.1 negative answer for a name the zone holds records
// at: an NSEC whose next name is the name itself and whose bitmap lists
// the types it has. It is nil for a name with no records (an empty
// non-terminal is not a name the responder owns).
func nsecFor(snap *zone.Snapshot, name string, legacy bool) dns.RR {
	rrs := recordsAt(snap, name)
	if len(rrs) == 0 {
		return nil
	}
	var types []uint16
	ttl := uint32(mdnsOtherTTL)
	for _, rr := range rrs {
		t := rr.Header().Rrtype
		if !slices.Contains(types, t) && t < 256 {
			types = append(types, t)
		}
		// §6.1: the TTL the record would have had.
		ttl = min(ttl, mdnsTTL(t))
	}
	slices.Sort(types)
	return mdnsRecord(&dns.NSEC{Hdr: dns.RR_Header{Name: rrs[0].Header().Name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
		NextDomain: rrs[0].Header().Name, TypeBitMap: types}, legacy)
}

// mdnsTTL is the §10 TTL of a record type.
func mdnsTTL(t uint16) uint32 {
	switch t {
	case dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypeNS, dns.TypeSOA:
		return mdnsHostTTL
	}
	return mdnsOtherTTL
}

// mdnsRecord copies rr into multicast DNS form: the §10 TTL (at most ten
// seconds in a legacy reply, §6.7), class IN, and the cache-flush bit on
// unique records (§10.2), which a legacy reply never carries. Only PTRs
// are shared here: DNS-SD's type and enumeration lists.
func mdnsRecord(rr dns.RR, legacy bool) dns.RR {
	c := dns.Copy(rr)
	h := c.Header()
	h.Class = dns.ClassINET
	h.Ttl = mdnsTTL(h.Rrtype)
	if n, ok := rr.(*dns.NSEC); ok {
		h.Ttl = n.Hdr.Ttl
	}
	if legacy {
		h.Ttl = min(h.Ttl, mdnsLegacyTTL)
	} else if h.Rrtype != dns.TypePTR {
		h.Class |= mdnsClassBit
	}
	return c
}

// answerLegacy answers a query from a port other than 5353 (§6.7) as
// unicast DNS does: to its source, with its ID and question, TTLs of at
// most ten seconds and no cache-flush bits, cut to the client's size.
func (m *MDNS) answerLegacy(l *mdnsLink, p mdnsPacket, msg *dns.Msg) {
	zs := m.localZones()
	resp := new(dns.Msg)
	resp.Id = msg.Id
	resp.Response, resp.Authoritative = true, true
	resp.Question = msg.Question
	resp.Compress = true
	for _, q := range msg.Question {
		a := m.lookup(zs, l, q, true)
		resp.Answer = append(resp.Answer, a.answer...)
		resp.Extra = append(resp.Extra, a.additional...)
	}
	if len(resp.Answer) == 0 {
		return // §6: only a positive answer or an NSEC is sent
	}
	size := dns.MinMsgSize
	if opt := msg.IsEdns0(); opt != nil {
		size = int(max(dns.MinMsgSize, min(opt.UDPSize(), uint16(l.maxPacket()))))
		resp.SetEdns0(uint16(size), false)
	}
	resp.Truncate(size)
	wire, err := resp.Pack()
	if err != nil {
		return
	}
	var src netip.Addr
	if !p.dst.IsMulticast() {
		src = p.dst
	}
	m.send(mdnsSend{ifIndex: l.index, to: p.src, src: src, msg: wire})
}

// respond answers a multicast DNS query: QU questions and queries sent to
// a unicast address get a unicast reply (§5.4, §5.5) unless the record has
// not been multicast within a quarter of its TTL; the rest is multicast,
// at most once a second per record, after 20-120 ms when it holds shared
// records (§6), at once for unique ones and probes.
func (m *MDNS) respond(q *mdnsQuery) {
	l := q.link
	zs := m.localZones()
	var known, uni, multi, uniExtra, multiExtra recordSet
	for _, rr := range q.known {
		if rr.Header().Ttl > 0 {
			known.add(rr)
		}
	}
	// §7.1: a known answer counts when it has at least half its TTL left.
	isKnown := func(rr dns.RR) bool {
		return known.has(rr) && knownAnswer(q.known, rr)
	}
	for _, qq := range q.questions {
		if c := qq.Qclass &^ mdnsClassBit; c != dns.ClassINET && c != dns.ClassANY {
			continue
		}
		direct := !q.dst.IsMulticast()
		wantUnicast := direct || qq.Qclass&mdnsClassBit != 0
		a := m.lookup(zs, l, qq, false)
		for _, rr := range a.answer {
			if isKnown(rr) {
				continue // §7.1
			}
			if direct || wantUnicast && m.multicastWithin(l, q.src.Addr(), rr, time.Duration(rr.Header().Ttl)*time.Second/4) {
				uni.add(rr)
			} else {
				multi.add(rr)
			}
		}
		for _, rr := range a.additional {
			if isKnown(rr) {
				continue
			}
			if wantUnicast {
				uniExtra.add(rr)
			} else {
				multiExtra.add(rr)
			}
		}
	}
	if len(uni.rrs) > 0 {
		var src netip.Addr
		if !q.dst.IsMulticast() {
			src = q.dst
		}
		for _, wire := range packResponses(uni.rrs, uniExtra.without(&uni), l.maxPacket()) {
			m.send(mdnsSend{ifIndex: l.index, to: q.src, src: src, msg: wire})
		}
	}
	if len(multi.rrs) == 0 {
		return
	}
	group := netip.AddrPortFrom(mdnsGroup4, mdnsPort)
	if q.src.Addr().Is6() {
		group = netip.AddrPortFrom(mdnsGroup6, mdnsPort)
	}
	extra := multiExtra.without(&multi)
	send := func() {
		if m.isClosed() {
			return
		}
		ans := m.rateLimit(l, group.Addr(), multi.rrs, q.probe)
		if len(ans) == 0 {
			return
		}
		ext := m.rateLimit(l, group.Addr(), extra, q.probe)
		for _, wire := range packResponses(ans, ext, l.maxPacket()) {
			m.send(mdnsSend{ifIndex: l.index, to: group, msg: wire})
		}
	}
	shared := slices.ContainsFunc(multi.rrs, func(rr dns.RR) bool { return rr.Header().Class&mdnsClassBit == 0 })
	if shared && !q.probe {
		m.after(m.delay(20*time.Millisecond, 120*time.Millisecond), send)
		return
	}
	send()
}

// recordSet collects records once each (name in any case, type, class
// without the cache-flush bit, rdata).
type recordSet struct {
	rrs  []dns.RR
	seen map[uint64]bool
}

func (s *recordSet) add(rr dns.RR) {
	if s.seen == nil {
		s.seen = map[uint64]bool{}
	}
	k := recordKey(rr)
	if !s.seen[k] {
		s.seen[k] = true
		s.rrs = append(s.rrs, rr)
	}
}

func (s *recordSet) has(rr dns.RR) bool { return s.seen[recordKey(rr)] }

// without returns the records of s that are not in other.
func (s *recordSet) without(other *recordSet) []dns.RR {
	var out []dns.RR
	for _, rr := range s.rrs {
		if !other.has(rr) {
			out = append(out, rr)
		}
	}
	return out
}

// recordSeed keys recordKey's hashes; one per process is enough.
var recordSeed = maphash.MakeSeed()

// recordKey hashes what identifies a record (§7.1, §9): name in lower
// case, type, class without the cache-flush bit, and rdata.
func recordKey(rr dns.RR) uint64 {
	h := rr.Header()
	var m maphash.Hash
	m.SetSeed(recordSeed)
	m.WriteString(strings.ToLower(h.Name))
	c := h.Class &^ mdnsClassBit
	m.Write([]byte{byte(h.Rrtype >> 8), byte(h.Rrtype), byte(c >> 8), byte(c)})
	m.Write(rdata(rr))
	return m.Sum64()
}

// sameRecord compares name (any case), type, class (cache-flush bit
// aside) and rdata.
func sameRecord(a, b dns.RR) bool {
	ha, hb := a.Header(), b.Header()
	if ha.Rrtype != hb.Rrtype || ha.Class&^mdnsClassBit != hb.Class&^mdnsClassBit || !strings.EqualFold(ha.Name, hb.Name) {
		return false
	}
	return bytes.Equal(rdata(a), rdata(b))
}

// rdata packs a record's RDATA, names uncompressed and case kept, to
// compare records as §8.2 and §9 do.
func rdata(rr dns.RR) []byte {
	buf := make([]byte, dns.Len(rr)+16)
	off, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return nil
	}
	_, hl, err := packedHeaderLen(buf[:off])
	if err != nil {
		return nil
	}
	return buf[hl:off]
}

// packedHeaderLen returns the length of a packed record's owner name and
// fixed fields.
func packedHeaderLen(b []byte) (name int, header int, err error) {
	_, off, err := dns.UnpackDomainName(b, 0)
	if err != nil {
		return 0, 0, err
	}
	return off, off + 10, nil
}

// knownAnswer reports whether the querier listed rr among its known
// answers with at least half of its TTL left (§7.1).
func knownAnswer(known []dns.RR, rr dns.RR) bool {
	for _, k := range known {
		if k.Header().Ttl >= rr.Header().Ttl/2 && sameRecord(k, rr) {
			return true
		}
	}
	return false
}

// sentKey identifies a record multicast on a link, by family.
func sentKey(group netip.Addr, rr dns.RR) uint64 {
	k := recordKey(rr)
	if group.Is6() {
		k ^= 1 // the families are multicast apart
	}
	return k
}

// multicastWithin reports whether rr was multicast on l (in the family
// of addr) less than d ago.
func (m *MDNS) multicastWithin(l *mdnsLink, addr netip.Addr, rr dns.RR, d time.Duration) bool {
	group := mdnsGroup4
	if addr.Is6() {
		group = mdnsGroup6
	}
	at, ok := l.sent.Get(sentKey(group, rr))
	return ok && m.now().Sub(at) < d
}

// rateLimit drops the records multicast on l less than a second ago (a
// quarter of that when defending a probe, §6) and marks the others sent.
func (m *MDNS) rateLimit(l *mdnsLink, group netip.Addr, rrs []dns.RR, probe bool) []dns.RR {
	gap := mdnsRepeat
	if probe {
		gap = mdnsProbeRepeat
	}
	now := m.now()
	var out []dns.RR
	for _, rr := range rrs {
		k := sentKey(group, rr)
		if at, ok := l.sent.Get(k); ok && now.Sub(at) < gap {
			continue
		}
		l.sent.Add(k, now)
		out = append(out, rr)
	}
	return out
}

// packResponses packs answers into as many multicast DNS responses (ID 0,
// QR, AA, no question: §18) of at most max bytes as they need, then adds
// what additional records fit in the last. Sizes are summed uncompressed,
// an upper bound, and the message is measured only when that bound
// passes max.
func packResponses(answers, additional []dns.RR, max int) [][]byte {
	var out [][]byte
	newMsg := func() *dns.Msg {
		r := new(dns.Msg)
		r.Response, r.Authoritative, r.Compress = true, true, true
		return r
	}
	cur, size := newMsg(), 12 // the header
	fits := func(rr dns.RR) bool {
		if size+dns.Len(rr) <= max {
			size += dns.Len(rr)
			return true
		}
		size = cur.Len()
		return size <= max
	}
	for _, rr := range answers {
		cur.Answer = append(cur.Answer, rr)
		if !fits(rr) && len(cur.Answer) > 1 {
			cur.Answer = cur.Answer[:len(cur.Answer)-1]
			if wire, err := cur.Pack(); err == nil {
				out = append(out, wire)
			}
			cur = newMsg()
			cur.Answer = append(cur.Answer, rr)
			size = cur.Len()
		}
	}
	for _, rr := range additional {
		cur.Extra = append(cur.Extra, rr)
		if !fits(rr) {
			cur.Extra = cur.Extra[:len(cur.Extra)-1]
			size = cur.Len()
		}
	}
	if wire, err := cur.Pack(); err == nil {
		out = append(out, wire)
	}
	return out
}

// checkResponse looks for conflicts in another responder's answer (§9): an
// address record for a host name probed for here that is not one of
// ours, or a unique record at a zone name with data the zone does not
// have (logged only: the zone's names are its own, not probed).
func (m *MDNS) checkResponse(l *mdnsLink, msg *dns.Msg) {
	zs := m.localZones()
	for _, rr := range slices.Concat(msg.Answer, msg.Extra) {
		h := rr.Header()
		if h.Ttl == 0 || h.Rrtype == dns.TypeOPT || h.Rrtype == dns.TypeNSEC {
			continue // goodbyes and negative answers claim nothing
		}
		name := strings.ToLower(h.Name)
		l.mu.Lock()
		host := l.hosts[name]
		var ours bool
		if host != nil {
			ours = slices.ContainsFunc(host.records, func(r dns.RR) bool { return sameRecord(r, rr) })
		}
		l.mu.Unlock()
		if host != nil {
			if !ours && (h.Rrtype == dns.TypeA || h.Rrtype == dns.TypeAAAA) {
				m.conflict(l, host, rr)
			}
			continue
		}
		if h.Rrtype == dns.TypePTR {
			continue // shared
		}
		snap := zs.pick(name)
		if snap == nil {
			continue
		}
		a := snap.Lookup(name, h.Rrtype)
		if a.Outcome != zone.Success || slices.ContainsFunc(a.Answer, func(r dns.RR) bool { return sameRecord(mdnsRecord(r, false), rr) }) {
			continue
		}
		l.mu.Lock()
		last, warned := l.warned[name]
		now := m.now()
		if !warned || now.Sub(last) > 10*time.Minute {
			l.warned[name] = now
			if len(l.warned) > 1024 {
				clear(l.warned)
			}
		}
		l.mu.Unlock()
		if !warned || now.Sub(last) > 10*time.Minute {
			m.log.Warn("another multicast DNS responder answers a name of the zone with other data", "interface", l.name, "record", rr.String())
		}
	}
}

// withheld reports whether a host name is not answered on l: it is still
// being probed for (§8.1), or another host uses it (§9).
func (m *MDNS) withheld(l *mdnsLink, name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hosts[name]
	return h != nil && h.state != hostVerified
}

// conflict marks a host name in use by another host: it is logged, no
// longer answered on that interface, and probed for again later (§9: a
// host renames; the names here are configured, so the operator must).
func (m *MDNS) conflict(l *mdnsLink, h *mdnsHost, theirs dns.RR) {
	l.mu.Lock()
	if h.state == hostConflict {
		l.mu.Unlock()
		return
	}
	h.state = hostConflict
	h.round++
	round := h.round
	l.mu.Unlock()
	m.log.Error("multicast DNS conflict: another host uses this host name; not answering for it on this interface until it is free",
		"interface", l.name, "host", h.name, "theirs", theirs.String())
	m.after(mdnsConflictRetry, func() { m.startProbe(l, h, round) })
}

// probeSeen applies the §8.2 tie-break when another host probes for a
// name being probed here: the lexicographically later records win; the
// loser waits a second and probes again.
func (m *MDNS) probeSeen(l *mdnsLink, msg *dns.Msg) {
	for _, q := range msg.Question {
		name := strings.ToLower(q.Name)
		l.mu.Lock()
		h := l.hosts[name]
		if h == nil || h.state != hostProbing {
			l.mu.Unlock()
			continue
		}
		var theirs []dns.RR
		for _, rr := range msg.Ns {
			if strings.EqualFold(rr.Header().Name, name) {
				theirs = append(theirs, rr)
			}
		}
		if len(theirs) == 0 || compareRecords(h.records, theirs) >= 0 {
			l.mu.Unlock()
			continue
		}
		h.round++
		round := h.round
		l.mu.Unlock()
		m.log.Info("lost a simultaneous probe tie-break; probing again in a second", "interface", l.name, "host", h.name)
		m.after(mdnsProbeRetry, func() { m.startProbe(l, h, round) })
	}
}

// compareRecords orders two sets of records as §8.2 does: sorted by class,
// type and rdata, compared pairwise; a set that runs out first is earlier.
func compareRecords(a, b []dns.RR) int {
	key := func(rr dns.RR) []byte {
		h := rr.Header()
		return append([]byte{byte((h.Class &^ mdnsClassBit) >> 8), byte(h.Class &^ mdnsClassBit), byte(h.Rrtype >> 8), byte(h.Rrtype)}, rdata(rr)...)
	}
	sorted := func(rrs []dns.RR) [][]byte {
		out := make([][]byte, len(rrs))
		for i, rr := range rrs {
			out[i] = key(rr)
		}
		slices.SortFunc(out, bytes.Compare)
		return out
	}
	x, y := sorted(a), sorted(b)
	for i := range min(len(x), len(y)) {
		if c := bytes.Compare(x[i], y[i]); c != 0 {
			return c
		}
	}
	return len(x) - len(y)
}

// watchHosts probes for new host names when a reload brings them.
func (m *MDNS) watchHosts(ctx context.Context) {
	defer m.wg.Done()
	m.probeHosts()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.probeHosts()
		}
	}
}

// probeHosts starts probing, on every interface, for each host name of
// the .local zones not yet known there, and forgets the ones gone.
func (m *MDNS) probeHosts() {
	zs := m.localZones()
	want := map[string][]dns.RR{}
	for _, s := range zs {
		for _, h := range s.Hosts() {
			var rrs []dns.RR
			for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
				for _, rr := range s.Lookup(h, t).Answer {
					rrs = append(rrs, mdnsRecord(rr, false))
				}
			}
			if len(rrs) > 0 {
				want[h] = rrs
			}
		}
	}
	for _, l := range m.links {
		var start []*mdnsHost
		l.mu.Lock()
		for name, h := range l.hosts {
			if rrs, ok := want[name]; !ok || compareRecords(rrs, h.records) != 0 {
				delete(l.hosts, name)
			}
		}
		for name, rrs := range want {
			if l.hosts[name] == nil {
				h := &mdnsHost{name: name, records: rrs}
				l.hosts[name] = h
				start = append(start, h)
			}
		}
		l.mu.Unlock()
		for _, h := range start {
			m.after(m.delay(0, mdnsProbeInterval), func() { m.startProbe(l, h, 0) })
		}
	}
}

// startProbe begins a probing round for h (§8.1): three queries for the
// name, QU, with the proposed records in the authority section, 250 ms
// apart; then, unless a conflict or a lost tie-break started another
// round, the name is verified and announced twice, a second apart (§8.3).
func (m *MDNS) startProbe(l *mdnsLink, h *mdnsHost, round int) {
	l.mu.Lock()
	if h.round != round || l.hosts[h.name] != h {
		l.mu.Unlock()
		return
	}
	h.round++
	round = h.round
	h.state = hostProbing
	l.mu.Unlock()
	var step func(n int)
	step = func(n int) {
		if m.isClosed() {
			return
		}
		l.mu.Lock()
		current := h.round == round && l.hosts[h.name] == h && h.state == hostProbing
		if current && n == mdnsProbes {
			h.state = hostVerified
		}
		l.mu.Unlock()
		if !current {
			return
		}
		if n == mdnsProbes {
			m.log.Info("host name verified unique on the link", "interface", l.name, "host", h.name)
			m.announce(l, h, round, 0)
			return
		}
		probe := new(dns.Msg)
		probe.Question = []dns.Question{{Name: h.name, Qtype: dns.TypeANY, Qclass: dns.ClassINET | mdnsClassBit}}
		for _, rr := range h.records {
			c := dns.Copy(rr)
			c.Header().Class = dns.ClassINET
			probe.Ns = append(probe.Ns, c)
		}
		if wire, err := probe.Pack(); err == nil {
			m.multicast(l, wire)
		}
		m.after(mdnsProbeInterval, func() { step(n + 1) })
	}
	step(0)
}

// announce multicasts a verified host's records, twice a second apart
// (§8.3), with an NSEC naming the types it has.
func (m *MDNS) announce(l *mdnsLink, h *mdnsHost, round, n int) {
	if n >= 2 || m.isClosed() {
		return
	}
	l.mu.Lock()
	current := h.round == round && h.state == hostVerified
	l.mu.Unlock()
	if !current {
		return
	}
	for _, wire := range packResponses(h.records, nil, l.maxPacket()) {
		m.multicast(l, wire)
	}
	m.after(time.Second, func() { m.announce(l, h, round, n+1) })
}

// goodbye multicasts the verified host names' records with TTL 0 (§10.1).
func (m *MDNS) goodbye(l *mdnsLink) {
	var rrs []dns.RR
	l.mu.Lock()
	for _, h := range l.hosts {
		if h.state == hostVerified {
			for _, rr := range h.records {
				c := dns.Copy(rr)
				c.Header().Ttl = 0
				rrs = append(rrs, c)
			}
		}
	}
	l.mu.Unlock()
	if len(rrs) == 0 {
		return
	}
	for _, wire := range packResponses(rrs, nil, l.maxPacket()) {
		m.multicast(l, wire)
	}
}

// multicast sends a message to the group of each family bound.
func (m *MDNS) multicast(l *mdnsLink, wire []byte) {
	if m.conn4 != nil || m.conn6 == nil {
		m.send(mdnsSend{ifIndex: l.index, to: netip.AddrPortFrom(mdnsGroup4, mdnsPort), msg: wire})
	}
	if m.conn6 != nil {
		m.send(mdnsSend{ifIndex: l.index, to: netip.AddrPortFrom(mdnsGroup6, mdnsPort), msg: wire})
	}
}
