package resolver

import (
	"crypto/subtle"
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/dchest/siphash"
	"github.com/miekg/dns"
)

// DNS Cookies (RFC 7873) with interoperable server cookies (RFC 9018): a
// server cookie is version 1, three reserved bytes, a 32-bit timestamp and
// SipHash-2-4 over the client cookie, those 8 bytes and the client's
// address, keyed with a 128-bit secret. BIND, NSD and Knot make the same
// cookie from the same secret, so an anycast set of them shares clients.

// Sizes and times of RFC 7873 §4 and RFC 9018 §4.
const (
	cookieClientLen = 8
	cookieServerLen = 16 // the RFC 9018 server cookie
	cookieOptLen    = cookieClientLen + cookieServerLen
	cookieVersion   = 1
	// RFC 9018 §4.3: a server cookie is valid from 1 hour in the past to 5
	// minutes into the future (clock skew in an anycast set), and is made
	// anew once it is half an hour old.
	cookieMaxAge    = 3600
	cookieMaxFuture = 300
	cookieRenewAge  = 1800
)

// CookieSecret is a 128-bit server secret.
type CookieSecret struct {
	Key [16]byte
	// Until ends the secret's use for checking cookies (zero: no end):
	// a secret that stopped generating cookies stays accepted for a grace
	// period.
	Until time.Time
}

// CookieConfig turns DNS cookies on.
type CookieConfig struct {
	// Secrets: the first makes the server cookies sent; each is accepted
	// in the cookies received (RFC 9018 §5: a new secret is accepted
	// everywhere before it is used, and an old one a while after). Empty
	// turns cookies off: the COOKIE option is then ignored (RFC 7873 §5.2).
	Secrets []CookieSecret
	// RequireUDP answers a UDP query that carries a client cookie but no
	// valid server cookie with BADCOOKIE and a fresh server cookie, and
	// nothing else (RFC 7873 §5.2.3, policy 2; BIND's
	// require-server-cookie). Queries without a COOKIE option, and TCP,
	// are answered as usual.
	RequireUDP bool
}

// cookieJar is the secrets in the form the query path uses.
type cookieJar struct {
	keys    []cookieKey
	require bool
}

type cookieKey struct {
	k0, k1 uint64
	until  int64 // Unix seconds; 0: no end
}

func newCookieJar(c CookieConfig) *cookieJar {
	if len(c.Secrets) == 0 {
		return nil
	}
	j := &cookieJar{require: c.RequireUDP}
	for _, s := range c.Secrets {
		k := cookieKey{k0: binary.LittleEndian.Uint64(s.Key[:8]), k1: binary.LittleEndian.Uint64(s.Key[8:])}
		if !s.Until.IsZero() {
			k.until = s.Until.Unix()
		}
		j.keys = append(j.keys, k)
	}
	return j
}

// cookieStatus is what a query's COOKIE option is (RFC 7873 §5.2).
type cookieStatus uint8

const (
	cookieAbsent     cookieStatus = iota // §5.2.1: no OPT or no COOKIE option
	cookieMalformed                      // §5.2.2: FORMERR
	cookieClientOnly                     // §5.2.3
	cookieBad                            // §5.2.4: not a cookie of ours
	cookieExpired                        // §5.2.4: its timestamp is out of range
	cookieValid                          // §5.2.5
	numCookieStatus
)

var cookieStatusNames = [numCookieStatus]string{"absent", "malformed", "client_only", "bad", "expired", "valid"}

// queryCookie is a query's cookie as examined, with the COOKIE option to
// send back: its client cookie and a server cookie.
type queryCookie struct {
	status cookieStatus
	opt    [cookieOptLen]byte
}

// aware reports whether the client sent a well-formed cookie.
func (c *queryCookie) aware() bool { return c.status >= cookieClientOnly }

// parseCookieOption splits a COOKIE option's data; ok is false when its
// length is illegal (RFC 7873 §5.2.2: valid lengths are 8 and 16 to 40).
func parseCookieOption(data []byte) (client, server []byte, ok bool) {
	switch n := len(data); {
	case n == cookieClientLen:
		return data, nil, true
	case n >= 16 && n <= 40:
		return data[:cookieClientLen], data[cookieClientLen:], true
	}
	return nil, nil, false
}

// examine reads the COOKIE option of query in from ip at the clock's time
// and makes the option to answer with: the valid server cookie echoed
// while it is under half an hour old, else a fresh one.
func (j *cookieJar) examine(in []byte, ip netip.Addr, clock *guardClock) (c queryCookie) {
	data, ok := queryOption(in, optCookie)
	if !ok {
		return c
	}
	now := clock.unixNow()
	client, server, ok := parseCookieOption(data)
	if !ok {
		c.status = cookieMalformed
		return c
	}
	copy(c.opt[:cookieClientLen], client)
	c.status = cookieClientOnly
	if server != nil {
		c.status = j.verify(client, server, ip, now)
		if c.status == cookieValid && int32(uint32(now)-binary.BigEndian.Uint32(server[4:])) < cookieRenewAge {
			copy(c.opt[cookieClientLen:], server)
			return c
		}
	}
	j.make(&c.opt, ip, now)
	return c
}

// verify checks a server cookie against every secret in force.
func (j *cookieJar) verify(client, server []byte, ip netip.Addr, now int64) cookieStatus {
	if len(server) != cookieServerLen || server[0] != cookieVersion {
		return cookieBad
	}
	// RFC 9018 §4.3: serial number arithmetic on the timestamp.
	if age := int32(uint32(now) - binary.BigEndian.Uint32(server[4:])); age > cookieMaxAge || age < -cookieMaxFuture {
		return cookieExpired
	}
	var in [cookieClientLen + 8 + 16]byte
	copy(in[:], client)
	copy(in[cookieClientLen:], server[:8])
	n := appendIP(in[:], cookieClientLen+8, ip)
	var sum [8]byte
	for _, k := range j.keys {
		if k.until != 0 && now > k.until {
			continue
		}
		binary.LittleEndian.PutUint64(sum[:], siphash.Hash(k.k0, k.k1, in[:n]))
		if subtle.ConstantTimeCompare(sum[:], server[8:]) == 1 {
			return cookieValid
		}
	}
	return cookieBad
}

// make writes a fresh server cookie for ip at now after the client cookie
// in opt, with the first secret.
func (j *cookieJar) make(opt *[cookieOptLen]byte, ip netip.Addr, now int64) {
	s := opt[cookieClientLen:]
	s[0] = cookieVersion
	s[1], s[2], s[3] = 0, 0, 0
	binary.BigEndian.PutUint32(s[4:], uint32(now))
	var in [cookieClientLen + 8 + 16]byte
	copy(in[:], opt[:cookieClientLen+8])
	n := appendIP(in[:], cookieClientLen+8, ip)
	k := j.keys[0]
	// SipHash's output is its 64-bit value in little-endian order, as the
	// reference implementation, BIND, NSD and Knot write it.
	binary.LittleEndian.PutUint64(s[8:], siphash.Hash(k.k0, k.k1, in[:n]))
}

// appendIP writes the client address into the hash input at n: 4 bytes
// for IPv4 (also when it arrived as IPv4-mapped IPv6 on a dual-stack
// socket), else 16.
func appendIP(b []byte, n int, ip netip.Addr) int {
	ip = ip.Unmap()
	if ip.Is4() {
		a := ip.As4()
		return n + copy(b[n:], a[:])
	}
	a := ip.As16()
	return n + copy(b[n:], a[:])
}

// addCookie adds the COOKIE option to a packed reply whose last record is
// its OPT. A reply it would push over limit bytes (the client's UDP
// payload size) goes out truncated instead (TC=1, the cookie kept), so
// that the client retries over TCP. Replies without a trailing OPT (a
// TSIG-signed one) are left as they are.
func addCookie(resp []byte, opt *[cookieOptLen]byte, limit int) []byte {
	if _, ok := lastOPT(resp); !ok {
		return resp
	}
	if len(resp)+4+cookieOptLen > limit {
		if resp = slipReply(resp, false); resp == nil || len(resp)+4+cookieOptLen > limit {
			return resp
		}
	}
	resp, _ = appendReplyOption(resp, optCookie, opt[:])
	return resp
}

// replyLimit is the largest UDP reply the query in allows, as the handler
// sizes them: the payload size of its OPT, at least 512, at most udpSize.
func replyLimit(in []byte, udpSize uint16) int {
	at, ok := lastOPT(in)
	if !ok {
		return dns.MinMsgSize
	}
	return int(max(min(binary.BigEndian.Uint16(in[at-6:]), udpSize), dns.MinMsgSize))
}

// cookieReply writes into out a reply to query in made here rather than by
// the handler: its header, its question when it has one, an OPT record
// advertising udpSize and, unless opt is nil, the COOKIE option; rcode
// may be extended (BADCOOKIE). It is how a malformed cookie gets FORMERR,
// a query without a valid server cookie BADCOOKIE under RequireUDP, and
// a query for a server cookie alone (RFC 7873 §5.4) its cookie.
func cookieReply(in, out []byte, udpSize uint16, rcode int, opt *[cookieOptLen]byte) []byte {
	out = append(out[:0], in[:4]...)
	flags := binary.BigEndian.Uint16(in[2:])
	flags = flagQR | flags&(0xF<<11) | flags&(flagRD|flagCD) | uint16(rcode&0xF)
	binary.BigEndian.PutUint16(out[2:], flags)
	out = append(out, 0, 0, 0, 0, 0, 0, 0, 1)
	if binary.BigEndian.Uint16(in[4:]) == 1 {
		if end := plainNameEnd(in, 12); end > 0 && end+4 <= len(in) {
			out = append(out, in[12:end+4]...)
			out[5] = 1
		}
	}
	var do byte
	if at, ok := lastOPT(in); ok {
		do = in[at-2] & 0x80
	}
	out = append(out, 0, 0, 41)
	out = binary.BigEndian.AppendUint16(out, udpSize)
	out = append(out, byte(rcode>>4), 0, do, 0)
	if opt == nil {
		return append(out, 0, 0)
	}
	out = binary.BigEndian.AppendUint16(out, 4+cookieOptLen)
	out = binary.BigEndian.AppendUint16(out, optCookie)
	out = binary.BigEndian.AppendUint16(out, cookieOptLen)
	return append(out, opt[:]...)
}

// plainNameEnd is the offset just past an uncompressed name at off, or -1.
func plainNameEnd(b []byte, off int) int {
	for start := off; off < len(b) && off-start <= 255; {
		l := int(b[off])
		if l == 0 {
			return off + 1
		}
		if l > 63 {
			return -1
		}
		off += 1 + l
	}
	return -1
}

// cookieShard is one worker's cookie counters.
type cookieShard struct {
	status    [numCookieStatus]atomic.Uint64
	badCookie atomic.Uint64
	_         [64]byte
}

// CookieStats are the cookie counters, summed over workers.
type CookieStats struct {
	// Queries counts queries by what their COOKIE option was:
	// client_only, valid, bad, expired, malformed (absent is not counted).
	Queries []CookieCount
	// BadCookie counts BADCOOKIE replies sent.
	BadCookie uint64
}

// CookieCount is one counter of CookieStats.Queries.
type CookieCount struct {
	Result string
	Count  uint64
}
