package resolver

import (
	"encoding/binary"
	"hash/maphash"
	"log/slog"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// RRLConfig is response rate limiting of UDP answers, classified as BIND
// (rate-limit), NSD (rrl-*) and Knot (mod-rrl) classify them: a response
// is accounted to its client's prefix, its class and a name that depends
// on the class (docs/rrl.md has the table):
//
//   - a positive answer (and a truncated one) to the query name and type,
//   - NODATA to the query name,
//   - NXDOMAIN to the zone that holds the name (the owner of the SOA in the
//     reply's authority section), so a random-subdomain flood is one account;
//     so is a compact denial (RFC 9824), the NOERROR that says the same to a
//     DNSSEC query,
//   - an error (REFUSED, FORMERR, NOTIMP, BADVERS, BADCOOKIE...) to the
//     prefix alone.
//
// Each account is a token bucket that earns its class's rate a second and
// banks at most Window seconds of it. A response beyond it is dropped, or
// one in Slip is sent as an empty truncated reply (a BADCOOKIE reply to a
// client that sent a DNS cookie), so that a real client behind a spoofed
// flood still gets through over TCP or with a cookie. TCP needs a
// handshake, so it cannot be spoofed, and is never limited; neither is a
// query that carried a valid server cookie (RFC 7873).
type RRLConfig struct {
	// ResponsesPerSecond limits positive answers per (prefix, name, type);
	// NoDataPerSecond NODATA per (prefix, name); NXDomainsPerSecond
	// NXDOMAIN per (prefix, zone); ErrorsPerSecond errors per prefix. 0
	// leaves a class unlimited.
	ResponsesPerSecond, NoDataPerSecond, NXDomainsPerSecond, ErrorsPerSecond uint32
	// AllPerSecond limits every response to a prefix together (BIND's
	// all-per-second); 0: no such limit. Responses over it are dropped,
	// never slipped.
	AllPerSecond uint32
	// Window is how many seconds of its rate an account can bank (0: 1).
	Window uint32
	// Slip sends every Slip-th limited response as a slip (0: none).
	Slip uint32
	// IPv4Prefix and IPv6Prefix group client addresses.
	IPv4Prefix, IPv6Prefix int
	// Exempt are networks never limited.
	Exempt []netip.Prefix
	// LogOnly counts and logs what would be limited but sends it.
	LogOnly bool
	// TableSize is the number of accounts kept (rounded up to a power of
	// two; 0: DefaultRRLTableSize).
	TableSize int
}

// DefaultRRLTableSize is the default number of accounts: 2 MiB of table,
// eight bytes an account.
const DefaultRRLTableSize = 1 << 18

// enabled reports whether any class is limited.
func (c RRLConfig) enabled() bool {
	return c.ResponsesPerSecond|c.NoDataPerSecond|c.NXDomainsPerSecond|c.ErrorsPerSecond|c.AllPerSecond != 0
}

// rrlClass is what a response is accounted as.
type rrlClass uint8

const (
	classAnswer   rrlClass = iota // positive (or truncated) answer: per name and type
	classNoData                   // NOERROR, no answer: per name
	classNXDomain                 // per zone
	classError                    // per prefix
	classAll                      // every response, per prefix (AllPerSecond)
	numRRLClasses
)

var rrlClassNames = [numRRLClasses]string{"answer", "nodata", "nxdomain", "error", "all"}

// rrlAction is what became of a response that went through the limiter.
type rrlAction uint8

const (
	actionSent    rrlAction = iota // within the rate
	actionSlipped                  // over it, sent as a slip
	actionDropped                  // over it, not sent
	actionLogged                   // over it, sent anyway (log_only)
	numRRLActions
)

var rrlActionNames = [numRRLActions]string{"sent", "slipped", "dropped", "logged"}

// rrlVerdict is what the caller does with a response.
type rrlVerdict uint8

const (
	rrlSend rrlVerdict = iota
	rrlSlip
	rrlDrop
)

// Exemption reasons.
const (
	exemptNetwork = iota
	exemptCookie
	numExempt
)

// rrlWays is the number of accounts a key may live in: the table is
// 4-way set-associative, so that a key finds its account in one cache
// line and a newcomer pushes out the least useful of four.
const rrlWays = 4

// Each account is one 64-bit word, updated by compare-and-swap: the top
// 16 bits are a fingerprint of its key (0: free), the low 48 its
// theoretical arrival time (GCRA, the token bucket kept as one time): the
// time, in microseconds since the limiter started, at which the bucket
// would be full again. The 48 bits wrap after 8.9 years; a time further
// ahead than a window (and a minute of clock skew between workers) is read
// as a wrapped, long idle account.
const (
	tatBits = 48
	tatMask = 1<<tatBits - 1
)

// rrl is the limiter: a fixed table of accounts that spoofed sources
// cannot grow, read and written without locks, and counters sharded by
// worker.
type rrl struct {
	cfg      RRLConfig
	seed     maphash.Seed
	epoch    time.Time
	interval [numRRLClasses]uint64 // µs between responses; 0: class not limited
	window   uint64                // µs a full bucket holds
	sets     uint64                // a power of two
	accounts []atomic.Uint64
	v4mask   [4]byte
	v6mask   [16]byte
	shards   []rrlShard
	log      *slog.Logger
}

// rrlShard is one worker's counters, on their own cache lines.
type rrlShard struct {
	counts  [numRRLClasses][numRRLActions]atomic.Uint64
	exempt  [numExempt]atomic.Uint64
	evicted atomic.Uint64
	slip    atomic.Uint32
	lastLog atomic.Int64 // µs since epoch of the last "limiting" log line
	_       [64]byte
}

// newRRL returns the limiter for cfg, or nil when no class is limited;
// shards is the number of workers that will call check.
func newRRL(cfg RRLConfig, shards int, log *slog.Logger) *rrl {
	if !cfg.enabled() {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &rrl{cfg: cfg, seed: maphash.MakeSeed(), epoch: time.Now(), log: log, shards: make([]rrlShard, max(1, shards))}
	r.window = uint64(max(1, cfg.Window)) * 1e6
	for c, rate := range [numRRLClasses]uint32{cfg.ResponsesPerSecond, cfg.NoDataPerSecond, cfg.NXDomainsPerSecond, cfg.ErrorsPerSecond, cfg.AllPerSecond} {
		if rate > 0 {
			r.interval[c] = max(1, 1e6/uint64(rate))
		}
	}
	size := cfg.TableSize
	if size <= 0 {
		size = DefaultRRLTableSize
	}
	r.sets = 1 << bits.Len64(uint64(max(size, rrlWays)-1)/rrlWays)
	r.accounts = make([]atomic.Uint64, r.sets*rrlWays)
	copy(r.v4mask[:], netipMask(32, cfg.IPv4Prefix))
	copy(r.v6mask[:], netipMask(128, cfg.IPv6Prefix))
	return r
}

// netipMask is the mask of a prefix of n bits in an address of size bits.
func netipMask(size, n int) []byte {
	m := make([]byte, size/8)
	for i := range m {
		switch {
		case n >= 8:
			m[i] = 0xFF
		case n > 0:
			m[i] = byte(0xFF << (8 - n))
		}
		n -= 8
	}
	return m
}

// now is the limiter's clock: microseconds since it started (monotonic).
func (r *rrl) now() uint64 { return uint64(time.Since(r.epoch).Microseconds()) }

// exempt counts a response not limited because its client is trusted:
// it presented a valid server cookie, or is in an exempt network.
func (r *rrl) exempt(shard int, why int) {
	r.shards[shard%len(r.shards)].exempt[why].Add(1)
}

// check accounts one UDP response (resp, as packed) to addr at now (from
// r.now) and says what to do with it.
func (r *rrl) check(shard int, addr netip.Addr, resp []byte, now uint64) rrlVerdict {
	sh := &r.shards[shard%len(r.shards)]
	addr = addr.Unmap()
	for _, p := range r.cfg.Exempt {
		if p.Contains(addr) {
			sh.exempt[exemptNetwork].Add(1)
			return rrlSend
		}
	}
	// The key: class, client prefix, and the class's name (and type).
	var key [1 + 16 + 255 + 2]byte
	if addr.Is4() {
		a := addr.As4()
		for i := range a {
			key[1+i] = a[i] & r.v4mask[i]
		}
	} else {
		a := addr.As16()
		for i := range a {
			key[1+i] = a[i] & r.v6mask[i]
		}
		key[0] = 0x80 // keeps ::/96 apart from IPv4
	}
	cls, nameOff, qtype := classifyReply(resp)
	limited := false
	over := cls
	if iv := r.interval[cls]; iv != 0 {
		key[0] |= byte(cls)
		n := 17
		if nameOff >= 0 {
			n = appendLowerName(key[:], n, resp, nameOff)
		}
		if cls == classAnswer {
			binary.BigEndian.PutUint16(key[n:], qtype)
			n += 2
		}
		if !r.take(sh, maphash.Bytes(r.seed, key[:n]), now, iv) {
			limited = true
		}
	}
	if iv := r.interval[classAll]; iv != 0 {
		key[0] = key[0]&0x80 | byte(classAll)
		if !r.take(sh, maphash.Bytes(r.seed, key[:17]), now, iv) && !limited {
			limited, over = true, classAll
		}
	}
	if !limited {
		sh.counts[cls][actionSent].Add(1)
		return rrlSend
	}
	action, verdict := actionDropped, rrlDrop
	switch {
	case r.cfg.LogOnly:
		action, verdict = actionLogged, rrlSend
	case over != classAll && r.cfg.Slip > 0 && sh.slip.Add(1)%r.cfg.Slip == 0:
		action, verdict = actionSlipped, rrlSlip
	}
	sh.counts[over][action].Add(1)
	r.maybeLog(sh, now, addr, over, action, resp, nameOff, qtype)
	return verdict
}

// take spends one response of the account of key hash h, whose class
// allows one every interval µs; false means the account is empty. A key
// not in the table replaces the least useful account of its set: a free
// one, else one whose bucket is full again (nothing is lost), else the one
// least in debt, so that a flood of spoofed sources (each an account with
// one response) cannot push out the account of the flood being limited.
//
// A compare-and-swap fails only when another worker's succeeded on the
// same set, so each retry follows progress elsewhere and the loop ends; a
// bound on the retries, answering when it is reached, granted more than
// the bucket holds under contention (TestRRLConcurrent).
func (r *rrl) take(sh *rrlShard, h uint64, now, interval uint64) bool {
	set := r.accounts[(h&(r.sets-1))*rrlWays:][:rrlWays]
	fp := h >> tatBits
	if fp == 0 {
		fp = 1
	}
	tolerance := r.window - min(interval, r.window)
	for {
		victim, victimDebt := 0, uint64(1<<63)
		var victimWord uint64
		for i := range set {
			w := set[i].Load()
			debt := r.debt(w, now)
			if w>>tatBits == fp {
				// GCRA: the bucket holds window-debt µs of credit;
				// a response costs interval.
				if debt > tolerance {
					return false
				}
				if set[i].CompareAndSwap(w, fp<<tatBits|(now+debt+interval)&tatMask) {
					return true
				}
				victim = -1
				break // raced with another worker: read the set again
			}
			if w == 0 {
				debt = 0 // free: the best victim
			}
			if debt < victimDebt || (debt == victimDebt && w == 0) {
				victim, victimDebt, victimWord = i, debt, w
			}
		}
		if victim < 0 {
			continue
		}
		if set[victim].CompareAndSwap(victimWord, fp<<tatBits|(now+interval)&tatMask) {
			if victimDebt >= r.window/2 {
				sh.evicted.Add(1) // a busy account: the table is too small
			}
			return true
		}
	}
}

// rrlClockSkew bounds how far behind another worker's a worker's clock can
// be: each reads the clock once per batch of datagrams, so an account
// updated by one may look, to the other, up to a batch's time further in
// debt than a window allows.
const rrlClockSkew = 60e6

// debt is how far ahead of now an account's arrival time is, in µs: 0 for
// a full bucket (or a free slot), at most a window for an account in use.
func (r *rrl) debt(w, now uint64) uint64 {
	switch d := (w - now) & tatMask; {
	case d >= 1<<(tatBits-1):
		return 0 // in the past: full
	case d <= r.window:
		return d
	case d <= r.window+rrlClockSkew:
		return r.window // seen with an older clock: empty
	default:
		return 0 // the 48-bit clock wrapped on an account idle for years
	}
}

// maybeLog logs a limited response, at most once a second per worker, as
// BIND and Knot log the start of limiting.
func (r *rrl) maybeLog(sh *rrlShard, now uint64, addr netip.Addr, cls rrlClass, action rrlAction, resp []byte, nameOff int, qtype uint16) {
	last := sh.lastLog.Load()
	if now-uint64(last) < 1e6 && last != 0 || !sh.lastLog.CompareAndSwap(last, int64(now)) {
		return
	}
	plen := r.cfg.IPv4Prefix
	if addr.Is6() {
		plen = r.cfg.IPv6Prefix
	}
	pfx, _ := addr.Prefix(plen)
	attrs := []any{"prefix", pfx.String(), "class", rrlClassNames[cls], "action", rrlActionNames[action]}
	if cls != classAll && cls != classError && nameOff >= 0 {
		attrs = append(attrs, "name", wireNameString(resp, nameOff))
	}
	if cls == classAnswer {
		attrs = append(attrs, "qtype", dns.Type(qtype).String())
	}
	msg := "rrl: limiting responses"
	if r.cfg.LogOnly {
		msg = "rrl: would limit responses (log_only)"
	}
	r.log.Info(msg, attrs...)
}

// classifyReply reads the class of a packed reply and the offset of the
// name its account is keyed on (-1: none) and the query type. It trusts
// nothing in resp beyond what it checks: a reply it cannot read is an
// error, accounted to the prefix.
func classifyReply(resp []byte) (cls rrlClass, nameOff int, qtype uint16) {
	if len(resp) < 12 || binary.BigEndian.Uint16(resp[4:]) != 1 {
		return classError, -1, 0
	}
	qEnd := plainNameEnd(resp, 12) // the question is never compressed
	if qEnd < 0 || qEnd+4 > len(resp) {
		return classError, -1, 0
	}
	qtype = binary.BigEndian.Uint16(resp[qEnd:])
	aa, tc := resp[2]&0x04 != 0, resp[2]&0x02 != 0
	// An rcode from the zone comes with AA; a NOERROR without it is an
	// extended rcode (BADVERS, BADCOOKIE) with its low bits zero.
	switch rcode := resp[3] & 0xF; {
	case !aa:
		return classError, -1, qtype
	case rcode == dns.RcodeNameError:
		return classNXDomain, zoneOfNXDomain(resp, qEnd+4), qtype
	case rcode != dns.RcodeSuccess:
		return classError, -1, qtype
	case tc || binary.BigEndian.Uint16(resp[6:]) > 0:
		// A truncated reply stands for the answer it could not hold.
		return classAnswer, 12, qtype
	default:
		if zone := zoneOfCompactDenial(resp, qEnd+4); zone >= 0 {
			// RFC 9824 §3: a name that does not exist, to a query with
			// DO=1. Accounted as a NODATA to the query name, a
			// random-subdomain flood with DO=1 would be as many accounts
			// as names, and never limited.
			return classNXDomain, zone, qtype
		}
		return classNoData, 12, qtype
	}
}

// zoneOfCompactDenial returns, for a NOERROR reply with no answer whose
// answer section would start at off, the owner of the SOA in its
// authority section when that section also holds an NSEC whose type
// bitmap has NXNAME (RFC 9824 §3: the name does not exist); -1 otherwise.
func zoneOfCompactDenial(resp []byte, off int) int {
	ns := int(binary.BigEndian.Uint16(resp[8:]))
	soa, nxname := -1, false
	for range ns {
		owner := off
		if off = skipName(resp, off); off < 0 || off+10 > len(resp) {
			return -1
		}
		typ, end := binary.BigEndian.Uint16(resp[off:]), off+10+int(binary.BigEndian.Uint16(resp[off+8:]))
		if end > len(resp) {
			return -1
		}
		switch typ {
		case dns.TypeSOA:
			soa = owner
		case dns.TypeNSEC:
			nxname = nxname || nsecHasNXNAME(resp[off+10:end])
		}
		off = end
	}
	if !nxname {
		return -1
	}
	return soa
}

// nsecHasNXNAME reports whether an NSEC's RDATA (next name, uncompressed,
// then the type bitmap, RFC 4034 §4.1.2) lists the NXNAME meta-type (128:
// window 0, octet 16, its high bit).
func nsecHasNXNAME(rd []byte) bool {
	off := skipName(rd, 0)
	for off >= 0 && off+2 <= len(rd) {
		window, n := rd[off], int(rd[off+1])
		if off+2+n > len(rd) {
			return false
		}
		if window == 0 {
			return n > 16 && rd[off+2+16]&0x80 != 0
		}
		off += 2 + n
	}
	return false
}

// zoneOfNXDomain finds the owner of the SOA record in the authority
// section of an NXDOMAIN reply, whose answer section starts at off: the
// apex of the zone that holds the name (RFC 2308 §3). -1 when there is
// none.
func zoneOfNXDomain(resp []byte, off int) int {
	an, ns := int(binary.BigEndian.Uint16(resp[6:])), int(binary.BigEndian.Uint16(resp[8:]))
	for i := range an + ns {
		owner := off
		if off = skipName(resp, off); off < 0 || off+10 > len(resp) {
			return -1
		}
		if i >= an && binary.BigEndian.Uint16(resp[off:]) == dns.TypeSOA {
			return owner
		}
		off += 10 + int(binary.BigEndian.Uint16(resp[off+8:]))
	}
	return -1
}

// appendLowerName writes the name at off in msg, decompressed and in
// lower case, into key from n, and returns the new end; it stops at the
// end of key or at a malformed name (what is written still keys the
// account consistently).
func appendLowerName(key []byte, n int, msg []byte, off int) int {
	for hops := 0; off < len(msg) && hops < 16; {
		l := int(msg[off])
		switch {
		case l == 0:
			if n < len(key) {
				key[n] = 0
				n++
			}
			return n
		case l&0xC0 == 0xC0:
			if off+2 > len(msg) {
				return n
			}
			off = int(binary.BigEndian.Uint16(msg[off:]) & 0x3FFF)
			hops++
			continue
		case l > 63 || off+1+l > len(msg) || n+1+l > len(key)-2:
			return n
		}
		key[n] = byte(l)
		for i, c := range msg[off+1 : off+1+l] {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			key[n+1+i] = c
		}
		n += 1 + l
		off += 1 + l
	}
	return n
}

// wireNameString is the name at off in msg as text, for logs.
func wireNameString(msg []byte, off int) string {
	var buf [255 + 2]byte
	n := appendLowerName(buf[:], 0, msg, off)
	var b strings.Builder
	for i := 0; i < n && buf[i] != 0; {
		l := int(buf[i])
		for _, c := range buf[i+1 : i+1+l] {
			switch {
			case c == '.' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < '!' || c > '~':
				b.WriteByte('\\')
				b.WriteString(strconv.Itoa(int(c) + 1000)[1:])
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('.')
		i += 1 + l
	}
	if b.Len() == 0 {
		return "."
	}
	return b.String()
}

// slipReply turns resp, in place, into the slip sent for a limited
// response: its header and question and, when it has one, its OPT record
// (with the options added to it, a DNS cookie among them), no other
// record. badCookie makes it a BADCOOKIE reply, which tells a client that
// sent a client cookie its server cookie (BIND does the same), so that
// its retry is not limited; otherwise it is truncated (TC=1), which sends
// a client to TCP. nil when resp cannot be read.
func slipReply(resp []byte, badCookie bool) []byte {
	if len(resp) < 12 {
		return nil
	}
	qEnd := 12
	if binary.BigEndian.Uint16(resp[4:]) == 1 {
		if qEnd = plainNameEnd(resp, 12); qEnd < 0 || qEnd+4 > len(resp) {
			return nil
		}
		qEnd += 4
	}
	ar := uint16(0)
	if at, ok := lastOPT(resp); ok {
		opt := at - 9 // the OPT's root name: its TYPE, CLASS, TTL come before RDLENGTH
		n := copy(resp[qEnd:], resp[opt:])
		resp = resp[:qEnd+n]
		ar = 1
		if badCookie {
			resp[qEnd+5] = dns.RcodeBadCookie >> 4 // extended RCODE, upper 8 bits
		}
	} else {
		resp = resp[:qEnd]
		if badCookie {
			return nil // a BADCOOKIE needs an OPT
		}
	}
	binary.BigEndian.PutUint16(resp[6:], 0)
	binary.BigEndian.PutUint16(resp[8:], 0)
	binary.BigEndian.PutUint16(resp[10:], ar)
	if badCookie {
		resp[2] &^= 0x04 | 0x02 // AA, TC
		resp[3] = resp[3]&0xF0 | dns.RcodeBadCookie&0xF
	} else {
		resp[2] |= 0x02 // TC
	}
	return resp
}

// RRLStats are the limiter's counters, summed over workers.
type RRLStats struct {
	// Responses counts UDP responses by class and action (sent, slipped,
	// dropped, logged).
	Responses []RRLCount
	// ExemptNetwork and ExemptCookie count responses not limited because
	// the client is in an exempt network, or presented a valid cookie.
	ExemptNetwork, ExemptCookie uint64
	// Evicted counts accounts that had spent more than half their bank
	// when newer ones pushed them out of the table: a table too small for
	// the load.
	Evicted uint64
}

// RRLCount is one (class, action) counter.
type RRLCount struct {
	Class, Action string
	Count         uint64
}

func (r *rrl) stats() RRLStats {
	var st RRLStats
	for c := range numRRLClasses {
		for a := range numRRLActions {
			var n uint64
			for i := range r.shards {
				n += r.shards[i].counts[c][a].Load()
			}
			if n > 0 || a != actionLogged {
				st.Responses = append(st.Responses, RRLCount{rrlClassNames[c], rrlActionNames[a], n})
			}
		}
	}
	for i := range r.shards {
		st.ExemptNetwork += r.shards[i].exempt[exemptNetwork].Load()
		st.ExemptCookie += r.shards[i].exempt[exemptCookie].Load()
		st.Evicted += r.shards[i].evicted.Load()
	}
	return st
}
