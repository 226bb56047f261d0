package resolver

import (
	"encoding/binary"
	"strconv"
	"time"
	"unsafe"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/registry"
	"github.com/svcdns/svcdns/zone"
)

// AnswerWire writes into out the reply to the query packet in and returns
// it, or nil when nothing must be sent (a response, or a packet too short
// to carry an ID). Over UDP (tcp false) the reply fits the client's
// payload size. out may be reused by the caller once the reply is sent.
//
// It is the answer path of every transport (UDP, TCP, and TLS, HTTPS and
// QUIC to come): a transport frames bytes and calls it. A plain query is
// answered from the zone's compiled bytes: the header, the client's own
// question, the sections the zone compiled for the name, and the OPT
// record, always last, so that EDNS options (a cookie, padding) can be
// added to the reply afterwards (edns.go). Anything else is unpacked and
// answered on dns.Msg values (Respond). Neither allocates when out has
// room for the reply, the rare queries aside (docs/answer-path.md).
func (h *Handler) AnswerWire(in []byte, tcp bool, out []byte) []byte {
	var shard byte
	if len(in) > 1 {
		shard = in[1] // the low byte of the query ID
	}
	return h.answerOn(shard, in, tcp, out)
}

// latencySample is how many queries one in is timed for the latency
// histogram (picked by query ID): reading the clock twice costs about a
// fifth of an answer.
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
	resp, qtype, kind, wire := h.answerWire(in, tcp, out)
	d := time.Duration(-1)
	if timed {
		d = time.Since(start)
	}
	h.stats.record(shard, qtype, kind, wire, d)
	return resp
}

// Stats returns the handler's query counters.
func (h *Handler) Stats() *Stats { return &h.stats }

// answerWire answers in; wire says whether the compiled path did.
func (h *Handler) answerWire(in []byte, tcp bool, out []byte) (resp []byte, qtype uint16, kind int, wire bool) {
	st := h.state.Load()
	var q wireQuery
	if !parseWireInto(in, &q) {
		resp, qtype, kind = h.answerSlow(st, in, tcp, out)
		return resp, qtype, kind, false
	}
	resp = h.writeAnswer(st.zones, &q, in, tcp, out)
	return resp, q.qtype, kindOf(resp), true
}

// Sizes of what writeAnswer adds after the sections.
const (
	optLen    = 11 // root owner, TYPE, CLASS, TTL, RDLENGTH
	edeHeader = 6  // option code, length, INFO-CODE (RFC 8914 §2)
	edePrefix = "RFC 6335 section 5.1: service name "
)

// writeAnswer writes the reply to a plain query: the one place on the
// wire path where a lookup's outcome becomes an rcode and sections (fill
// is its twin on dns.Msg values).
func (h *Handler) writeAnswer(zs zoneSet, q *wireQuery, in []byte, tcp bool, out []byte) []byte {
	out = append(out[:0], in[:q.end]...) // the ID and the question as asked (0x20)
	flags := uint16(flagQR) | q.flags&(flagRD|flagCD)
	// Over UDP the reply must fit the client's payload size (RFC 6891
	// §6.2.5; 512 bytes without EDNS): the zone leaves out the additional
	// section, then everything, and the reply goes out with TC=1, which
	// sends the client to TCP (RFC 2181 §9, RFC 7766).
	limit, opt := dns.MaxMsgSize, 0
	if q.edns {
		opt = optLen
	}
	if !tcp {
		limit = dns.MinMsgSize
		if q.edns {
			limit = int(max(min(q.udpSize, h.udpSize), dns.MinMsgSize))
		}
	}
	var r zone.Reply
	rcode := dns.RcodeRefused
	var snap *zone.Snapshot
	switch q.qtype {
	case dns.TypeAXFR, dns.TypeIXFR, dns.TypeOPT:
	default:
		if q.qclass == dns.ClassINET || q.qclass == dns.ClassANY {
			snap = zs.find(q.name())
		}
	}
	signed := snap != nil && snap.Signer() != nil
	switch {
	case signed && q.qtype == dns.TypeNXNAME:
		rcode = dnssecRefusal
	case snap != nil:
		zq := zone.Question{Name: q.name(), Type: q.qtype, DNSSEC: q.do}
		if !tcp {
			zq.Room = limit - q.end - opt
		}
		out, r = snap.AppendAnswer(out, zq)
		flags |= flagAA
		rcode = h.rcodeOf(r, q, signed)
	}
	var ede []byte // the text of an Extended DNS Error (RFC 8914)
	var edeBuf [edeMax]byte
	if r.Invalid != registry.RuleOK && q.edns {
		ede = appendEDEText(edeBuf[:0], q.name()[2:1+q.name()[0]], r.Invalid)
		// A NameError has no additional section: the error's text fits
		// with the SOA, or the reply is truncated.
		if !tcp && len(out)+opt+edeHeader+len(ede) > limit {
			out, r.Answer, r.Authority, r.Truncated = out[:q.end], 0, 0, true
		}
	}
	if r.Truncated {
		flags |= flagTC
	}
	ar := r.Additional
	if q.edns {
		out = h.appendOPT(out, q.do, signed && q.do && q.co, ede)
		ar++
	}
	binary.BigEndian.PutUint16(out[2:], flags|uint16(rcode))
	binary.BigEndian.PutUint16(out[4:], 1)
	binary.BigEndian.PutUint16(out[6:], r.Answer)
	binary.BigEndian.PutUint16(out[8:], r.Authority)
	binary.BigEndian.PutUint16(out[10:], ar)
	return out
}

// rcodeOf maps what the zone wrote to the reply's rcode.
func (h *Handler) rcodeOf(r zone.Reply, q *wireQuery, signed bool) int {
	switch {
	case r.Err != nil:
		name, _, _ := dns.UnpackDomainName(q.qname, 0)
		h.log.Error("dnssec: cannot sign the reply", "question", name+" "+dns.TypeToString[q.qtype], "err", r.Err)
		return dns.RcodeServerFailure
	case r.Outcome == zone.NameError && !compactDenial(signed, q):
		return dns.RcodeNameError
	}
	return dns.RcodeSuccess
}

// appendOPT writes the reply's OPT record (RFC 6891 §6.1.2): the payload
// size the server honours, the query's DO bit, the CO bit when compact
// answers were given as asked (RFC 9824 §4) and, when ede is not nil, an
// Extended DNS Error with that text (RFC 8914, INFO-CODE 0, Other).
func (h *Handler) appendOPT(out []byte, do, co bool, ede []byte) []byte {
	var ttl uint32
	if do {
		ttl = 1 << 15
	}
	if co {
		ttl |= 1 << 14
	}
	out = append(out, 0, 0, byte(dns.TypeOPT))
	out = binary.BigEndian.AppendUint16(out, h.udpSize)
	out = binary.BigEndian.AppendUint32(out, ttl)
	if ede == nil {
		return append(out, 0, 0)
	}
	out = binary.BigEndian.AppendUint16(out, uint16(edeHeader+len(ede)))
	out = append(out, 0, optEDE)
	out = binary.BigEndian.AppendUint16(out, uint16(2+len(ede)))
	return append(append(out, 0, 0), ede...)
}

// edeMax bounds the text appendEDEText writes: the prefix, a label of at
// most 62 bytes quoted (4 bytes each at worst, and the quotes) and the
// longest rule.
const edeMax = len(edePrefix) + 4*62 + 2 + 1 + 64

// appendEDEText writes why the service name svc cannot exist.
func appendEDEText(b, svc []byte, rule registry.Rule) []byte {
	b = append(b, edePrefix...)
	b = strconv.AppendQuote(b, unsafe.String(unsafe.SliceData(svc), len(svc)))
	return append(append(b, ' '), rule.String()...)
}

// answerSlow unpacks and answers a query the wire path does not take: an
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
