package resolver

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// The server's protections wrap the one answer path (Handler.AnswerWire)
// for every transport: DNS cookies are read from the query and added to
// the packed reply, then UDP replies go through response rate limiting.
// Neither looks inside the handler; both read the packed messages.

// guardClock is what the protections read from the clock, once per batch
// of datagrams (over TCP, only for a query with a cookie).
type guardClock struct {
	jar    *cookieJar
	unix   int64  // seconds, for cookie timestamps; 0: not read yet
	rrlNow uint64 // the limiter's clock
}

// unixNow is the time for cookies, read when first needed.
func (g *guardClock) unixNow() int64 {
	if g.unix == 0 {
		g.unix = time.Now().Unix()
	}
	return g.unix
}

func (s *Server) clock() guardClock {
	g := guardClock{jar: s.cookies.Load()}
	if g.jar == nil && s.rrl == nil {
		return g
	}
	now := time.Now()
	g.unix = now.Unix()
	if s.rrl != nil {
		g.rrlNow = uint64(now.Sub(s.rrl.epoch).Microseconds())
	}
	return g
}

// answerStream answers a query that came over a connection-oriented
// transport (TCP, TLS, HTTPS, QUIC): cookies apply, rate limiting does not,
// since the handshake has shown the source is real.
func (s *Server) answerStream(shard byte, in []byte, client netip.Addr, out []byte) []byte {
	g := guardClock{jar: s.cookies.Load()} // read the time only for a query with a cookie
	return s.guardedAnswer(shard, in, client, true, out, &g)
}

// guardedAnswer answers query in from client over UDP or TCP into out,
// with cookies and (UDP only) rate limiting applied; nil means nothing is
// sent.
func (s *Server) guardedAnswer(shard byte, in []byte, client netip.Addr, tcp bool, out []byte, g *guardClock) []byte {
	var ck queryCookie
	if g.jar != nil && len(in) >= 12 && in[2]&0x80 == 0 {
		ck = g.jar.examine(in, client, g)
		if ck.status != cookieAbsent {
			s.cookieStats[int(shard)%len(s.cookieStats)].status[ck.status].Add(1)
		}
	}
	var resp []byte
	query := len(in) >= 12 && (in[2]>>3)&0xF == dns.OpcodeQuery
	switch {
	case ck.status == cookieMalformed:
		// RFC 7873 §5.2.2.
		resp = s.early(shard, in, out, dns.RcodeFormatError, nil)
	case ck.aware() && query && binary.BigEndian.Uint16(in[4:]) == 0:
		// RFC 7873 §5.4: a query for a server cookie alone.
		rcode := dns.RcodeSuccess
		if ck.status == cookieBad || ck.status == cookieExpired {
			rcode = dns.RcodeBadCookie
		}
		resp = s.early(shard, in, out, rcode, &ck.opt)
	case ck.aware() && ck.status != cookieValid && query && !tcp && g.jar.require:
		// RFC 7873 §5.2.3, policy 2: no answer without a valid
		// server cookie, but the cookie to retry with.
		resp = s.early(shard, in, out, dns.RcodeBadCookie, &ck.opt)
	case !tcp && s.udpTransfer != nil && isIXFRRequest(in):
		// RFC 1995 §2: IXFR over UDP, under the same cookies and rate
		// limits as any reply (a TSIG-signed one gets no cookie: the
		// option would come after the TSIG).
		resp = s.answerIXFR(client, in, out)
		if ck.aware() && len(resp) > 0 {
			resp = addCookie(resp, &ck.opt, replyLimit(in, s.handler.udpSize))
		}
	default:
		resp = s.answer(shard, in, tcp, out)
		if ck.aware() && len(resp) > 0 {
			limit := 0xFFFF
			if !tcp {
				limit = replyLimit(in, s.handler.udpSize)
			}
			resp = addCookie(resp, &ck.opt, limit)
		}
	}
	if tcp || s.rrl == nil || len(resp) == 0 {
		return resp
	}
	// A valid server cookie proves the source address (it was sent
	// there): a spoofed flood cannot carry one (Unbound's
	// ip-ratelimit-cookie, Knot's and BIND's RRL do the same).
	if ck.status == cookieValid {
		s.rrl.exempt(int(shard), exemptCookie)
		return resp
	}
	switch s.rrl.check(int(shard), client, resp, g.rrlNow) {
	case rrlDrop:
		return nil
	case rrlSlip:
		return slipReply(resp, ck.aware())
	}
	return resp
}

// early writes a reply made without the handler, counts it as the handler
// counts its own, and returns it.
func (s *Server) early(shard byte, in, out []byte, rcode int, opt *[cookieOptLen]byte) []byte {
	resp := cookieReply(in, out, s.handler.udpSize, rcode, opt)
	var qtype uint16
	if _, _, qt := classifyReply(resp); binary.BigEndian.Uint16(resp[4:]) == 1 {
		qtype = qt
	}
	kind := kindOf(resp)
	if rcode == dns.RcodeBadCookie {
		s.cookieStats[int(shard)%len(s.cookieStats)].badCookie.Add(1)
		kind = kindOther
	}
	s.handler.stats.record(shard, qtype, kind, false, -1)
	return resp
}

// SetCookies turns DNS cookies on with c's secrets, or off when it has
// none; it may be called while serving (a reload that changes secrets).
func (s *Server) SetCookies(c CookieConfig) { s.cookies.Store(newCookieJar(c)) }

// CookieStats returns the cookie counters.
func (s *Server) CookieStats() CookieStats {
	var st CookieStats
	for c := cookieMalformed; c < numCookieStatus; c++ {
		var n uint64
		for i := range s.cookieStats {
			n += s.cookieStats[i].status[c].Load()
		}
		st.Queries = append(st.Queries, CookieCount{cookieStatusNames[c], n})
	}
	for i := range s.cookieStats {
		st.BadCookie += s.cookieStats[i].badCookie.Load()
	}
	return st
}

// RRLStats returns the rate limiter's counters; ok is false when rate
// limiting is off.
func (s *Server) RRLStats() (st RRLStats, ok bool) {
	if s.rrl == nil {
		return st, false
	}
	return s.rrl.stats(), true
}
