package resolver

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// maxKey bounds a cache key: a 255-byte name and 7 bytes of type, class,
// flags and size limit.
const maxKey = 255 + 7

// AnswerWire writes into out the reply to the query packet in and returns
// it, or nil when nothing must be sent (a response, or a packet too short
// to carry an ID). Over UDP (tcp false) the reply fits the client's
// payload size. out may be reused by the caller once the reply is sent.
//
// A plain query is answered from the reply cache: the reply for its
// lower-cased name is computed once, packed, and on later queries only its
// ID, RD/CD bits and question spelling are patched. Anything else is
// unpacked and answered in full.
func (h *Handler) AnswerWire(in []byte, tcp bool, out []byte) []byte {
	var shard byte
	if len(in) > 1 {
		shard = in[1] // the low byte of the query ID
	}
	return h.answerOn(shard, in, tcp, out)
}

// latencySample is how many queries one in is timed for the latency
// histogram (picked by query ID): reading the clock twice costs about a
// fifth of a cache hit.
const latencySample = 16

// answerOn is AnswerWire counting into the given stats shard: a server
// passes each worker's own, so that workers on different cores do not
// write the same counters' cache lines.
func (h *Handler) answerOn(shard byte, in []byte, tcp bool, out []byte) []byte {
	timed := len(in) > 1 && in[1]%latencySample == 0
	var start time.Time
	if timed {
		start = time.Now()
	}
	resp, qtype, kind, hit := h.answerWire(in, tcp, out)
	d := time.Duration(-1)
	if timed {
		d = time.Since(start)
	}
	h.stats.record(shard, qtype, kind, hit, d)
	return resp
}

// Stats returns the handler's query counters.
func (h *Handler) Stats() *Stats { return &h.stats }

func (h *Handler) answerWire(in []byte, tcp bool, out []byte) (resp []byte, qtype uint16, kind int, hit bool) {
	st := h.state.Load()
	q, ok := parseWire(in)
	if !ok || dnssecBypass(st.zones, &q) {
		resp, qtype, kind = h.answerSlow(st, in, tcp, out)
		return resp, qtype, kind, false
	}
	limit := uint16(dns.MaxMsgSize)
	if !tcp {
		limit = dns.MinMsgSize
		if q.edns {
			limit = max(min(q.udpSize, h.udpSize), dns.MinMsgSize)
		}
	}
	// The reply as sent over TCP serves UDP too whenever it fits, so one
	// entry answers both transports; only a reply too large for the
	// client's payload size has a second, UDP-sized entry.
	wire, hit := h.cached(st, &q, in, 0, out)
	if wire != nil && !tcp && len(wire) > int(limit) {
		wire, hit = h.cached(st, &q, in, limit, out)
	}
	if wire == nil {
		resp, qtype, kind = h.answerSlow(st, in, tcp, out)
		return resp, qtype, kind, false
	}
	if hit {
		wire = append(out[:0], wire...)
	}
	patch(wire, &q)
	return wire, q.qtype, kindOf(wire), hit
}

// cached returns the packed reply to q's lower-cased question, sized for a
// UDP payload of limit (0: unlimited, as over TCP): from the cache (hit;
// the reply must then be copied before it is patched), or computed into
// out and cached. It is nil when the fast path cannot answer.
func (h *Handler) cached(st *served, q *wireQuery, in []byte, limit uint16, out []byte) (wire []byte, hit bool) {
	var kb [maxKey]byte
	key := appendKey(kb[:0], q, limit)
	var hash uint64
	if st.cache != nil {
		if wire, hash = st.cache.get(key); wire != nil {
			return wire, true
		}
	}
	if wire = h.compute(st, in, limit == 0, out); wire != nil && st.cache != nil {
		st.cache.put(hash, key, wire)
	}
	return wire, false
}

// compute answers a plain query as asked in lower case, so that one packed
// reply serves every spelling of the name (patch restores the client's).
func (h *Handler) compute(st *served, in []byte, tcp bool, out []byte) []byte {
	req := new(dns.Msg)
	if err := req.Unpack(in); err != nil || len(req.Question) != 1 {
		return nil
	}
	req.Question[0].Name = strings.ToLower(req.Question[0].Name)
	resp := h.respond(st.zones, req, tcp)
	if resp == nil {
		return nil
	}
	wire, err := resp.PackBuffer(out[:cap(out)])
	if err != nil {
		h.log.Error("pack failed", "question", req.Question[0].String(), "err", err)
		return nil
	}
	return wire
}

// answerSlow unpacks and answers a query the fast path does not take: an
// unusual one, or a malformed one, which gets FORMERR when its header can
// be read (RFC 1035 §4.1.1).
func (h *Handler) answerSlow(st *served, in []byte, tcp bool, out []byte) (wire []byte, qtype uint16, kind int) {
	if len(in) < 12 || binary.BigEndian.Uint16(in[2:])&flagQR != 0 {
		return nil, 0, kindDropped
	}
	req := new(dns.Msg)
	if err := req.Unpack(in); err != nil || !questionsComplete(in) {
		return formErr(in, out), 0, kindFormErr
	}
	if len(req.Question) > 0 {
		qtype = req.Question[0].Qtype
	}
	t := req.IsTsig()
	var key TSIGKey
	if t != nil {
		// RFC 8945 §5.2: verify a signed query; answer a bad one NOTAUTH
		// with the TSIG error, unsigned.
		var code int
		key, code = h.verifyTSIG(in, t)
		if code != dns.RcodeSuccess {
			return tsigError(req, t, code), qtype, kindNotAuth
		}
	}
	resp := h.respond(st.zones, req, tcp)
	if resp == nil {
		return nil, qtype, kindDropped
	}
	if t != nil {
		// §5.3: sign the reply to a signed query.
		resp.SetTsig(key.Name, key.Algorithm, 300, time.Now().Unix())
		wire, _, err := dns.TsigGenerate(resp, key.Secret, t.MAC, false)
		if err != nil {
			h.log.Debug("tsig sign failed", "err", err)
			return formErr(in, out), qtype, kindFormErr
		}
		return wire, qtype, kindOf(wire)
	}
	wire, err := resp.PackBuffer(out[:cap(out)])
	if err != nil {
		h.log.Debug("pack failed", "err", err)
		return formErr(in, out), qtype, kindFormErr
	}
	kind = kindOf(wire)
	if resp.Rcode == dns.RcodeBadVers {
		kind = kindBadVers
	}
	return wire, qtype, kind
}

// formErr is a bare FORMERR reply: the query's ID and opcode, no sections.
func formErr(in, out []byte) []byte {
	out = append(out[:0], make([]byte, 12)...)
	copy(out, in[:2])
	flags := binary.BigEndian.Uint16(in[2:])
	flags = flagQR | flags&(0xF<<11) | flags&flagRD | dns.RcodeFormatError
	binary.BigEndian.PutUint16(out[2:], flags)
	return out
}

// questionsComplete reports whether every question the header counts has
// its name, QTYPE and QCLASS: miekg/dns reads a question cut after its
// name as type 0 class 0, which would be answered as if asked.
func questionsComplete(b []byte) bool {
	off := 12
	for range binary.BigEndian.Uint16(b[4:]) {
		for {
			if off >= len(b) {
				return false
			}
			l := int(b[off])
			if l == 0 {
				off++
				break
			}
			if l&0xC0 == 0xC0 { // a pointer ends the name
				off += 2
				break
			}
			off += 1 + l
		}
		off += 4
		if off > len(b) {
			return false
		}
	}
	return true
}
