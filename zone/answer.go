package zone

import (
	"encoding/binary"
	"unsafe"

	"github.com/svcdns/svcdns/registry"
)

// Question is what AppendAnswer answers, as the answer path reads it off
// the wire.
type Question struct {
	// Name is the question name in wire form, uncompressed, lower-cased
	// (ASCII, RFC 4343); Contains must report it in the zone.
	Name []byte
	Type uint16
	// Room is the most bytes the sections may take (over UDP, what the
	// client's payload size leaves after the header, question and OPT);
	// 0 means no limit (TCP). An answer larger than Room loses its
	// additional section, and if still too large is not written at all
	// and Reply.Truncated is set (RFC 2181 §9): the client is to ask
	// again over TCP (RFC 7766).
	Room int
	// DNSSEC is the query's DO bit (RFC 3225): a signed zone answers with
	// its signed answers (signed.go).
	DNSSEC bool
}

// Reply says what AppendAnswer wrote after the question.
type Reply struct {
	// Outcome is Success, NoData or NameError (RCODE NXDOMAIN).
	Outcome Outcome
	// Answer, Authority and Additional count the records written in each
	// section.
	Answer, Authority, Additional uint16
	// AdditionalAt is the length of the message without its additional
	// section: cutting it there drops that section whole (RFC 2181 §9).
	AdditionalAt int
	// Truncated says the answer did not fit Question.Room: no section was
	// written, and the reply is to be sent with TC=1.
	Truncated bool
	// Invalid is, for a NameError at _NAME._PROTO.ORIGIN, the RFC 6335
	// §5.1 rule that NAME breaks (RuleOK when none); NAME is the
	// question's first label without its underscore. The resolver says so
	// in an Extended DNS Error (RFC 8914).
	Invalid registry.Rule
	// Err says that a signed answer could not be signed: nothing was
	// written, and the reply is to be a SERVFAIL, never an answer that
	// fails validation further on.
	Err error
}

// Contains reports whether the wire name (lower case) is the origin or a
// name below it: whether this zone answers it.
func (s *Snapshot) Contains(name []byte) bool { return hasSuffixName(name, s.originWire) }

// OriginWire is the origin in wire form, lower case.
func (s *Snapshot) OriginWire() string { return s.originWire }

// AppendAnswer appends to msg the answer, authority and additional
// sections answering q, and says what it wrote. msg must hold exactly the
// reply's header and its question, whose name (in the client's spelling)
// is q.Name's length and starts at offset 12: the sections' names are
// compressed onto it. The header is the caller's to fill in.
//
// It does not allocate when msg has room for the answer; it is the answer
// path for every transport (docs/answer-path.md).
func (s *Snapshot) AppendAnswer(msg []byte, q Question) ([]byte, Reply) {
	// The caller found the zone with Contains; checking the origin's
	// bytes only keeps a wrong call from writing nonsense.
	o := len(q.Name) - len(s.originWire)
	if len(msg) != 12+len(q.Name)+4 || o < 0 || string(q.Name[o:]) != s.originWire {
		panic("zone: AppendAnswer: msg is not a header and the question of q.Name, or q.Name is not in the zone")
	}
	rel := q.Name[:o]
	if q.DNSSEC && s.sig != nil {
		return s.appendSigned(msg, q, rel)
	}
	n := s.find(rel)
	if n != nil && n.flags()&nodeENT == 0 {
		for i := range n.count() {
			if a := n.answer(i); a.qtype == q.Type || a.flags&answerOther != 0 {
				return s.appendBlob(msg, a, q.Room)
			}
		}
		out, r := s.appendNegative(msg, q.Name, NoData)
		return fit(out, r, len(msg), q.Room)
	}
	if port, proto, ok := portName(rel); ok {
		if s.hasPortName(port, proto) {
			out, r := s.appendPort(msg, q, port, proto)
			return fit(out, r, len(msg), q.Room)
		}
		// A port the zone has no name for (PortNamesRegistered): it does
		// not exist, and is no invalid service name either (no EDE).
		o := NameError
		if n != nil {
			o = NoData
		}
		out, r := s.appendNegative(msg, q.Name, o)
		return fit(out, r, len(msg), q.Room)
	}
	if n != nil {
		out, r := s.appendNegative(msg, q.Name, NoData)
		return fit(out, r, len(msg), q.Room)
	}
	out, r := s.appendNegative(msg, q.Name, NameError)
	r.Invalid = invalidService(rel)
	return fit(out, r, len(msg), q.Room)
}

// fit cuts the sections written after start to room bytes (0: no
// limit): the additional section first, then everything (RFC 2181 §9).
func fit(msg []byte, r Reply, start, room int) ([]byte, Reply) {
	if room == 0 || len(msg)-start <= room {
		return msg, r
	}
	if r.Additional > 0 && r.AdditionalAt-start <= room {
		r.Additional = 0
		return msg[:r.AdditionalAt], r
	}
	r.Answer, r.Authority, r.Additional, r.AdditionalAt, r.Truncated = 0, 0, 0, start, true
	return msg[:start], r
}

// appendBlob copies a compiled answer, or as much of it as room allows.
func (s *Snapshot) appendBlob(msg []byte, a answer, room int) ([]byte, Reply) {
	return appendBlobBytes(msg, s.blobAt(a.off), Outcome(a.flags&answerOutcome), room)
}

// appendNegative writes the SOA of a negative answer from the template for
// the name's case (negatives), its pointers moved to the name's length.
func (s *Snapshot) appendNegative(msg []byte, name []byte, o Outcome) ([]byte, Reply) {
	nr := len(s.neg.rname)
	t := &s.neg.tmpl[negCase(name, s.neg.mname)*(nr+1)+negCase(name, s.neg.rname)]
	if t.rr == nil { // cannot happen: every name's case has a template
		t = &s.neg.tmpl[len(s.neg.tmpl)-1]
	}
	delta := uint16(len(name) - t.refLen)
	at := len(msg)
	msg = append(msg, t.rr...)
	for _, p := range t.ptrs {
		ptr := msg[at+int(p):]
		binary.BigEndian.PutUint16(ptr, binary.BigEndian.Uint16(ptr)+delta)
	}
	return msg, Reply{Outcome: o, Authority: 1, AdditionalAt: len(msg)}
}

// invalidService says which RFC 6335 rule NAME breaks when rel, the name
// above the origin, is _NAME._PROTO; RuleOK when it has another shape or
// NAME is valid.
func invalidService(rel []byte) registry.Rule {
	if len(rel) < 2 || rel[1] != '_' {
		return registry.RuleOK
	}
	first := 1 + int(rel[0])
	if first >= len(rel) || first+1+int(rel[first]) != len(rel) {
		return registry.RuleOK
	}
	if _, ok := protoFromWire(labelOf(rel[first:])); !ok {
		return registry.RuleOK
	}
	svc := rel[2:first]
	rule, _ := registry.CheckName(unsafe.String(unsafe.SliceData(svc), len(svc)))
	return rule
}

// protoFromWire maps a protocol label ("_tcp", lower case) to its Protocol.
func protoFromWire(l []byte) (registry.Protocol, bool) {
	switch string(l) {
	case "_tcp":
		return registry.TCP, true
	case "_udp":
		return registry.UDP, true
	case "_sctp":
		return registry.SCTP, true
	case "_dccp":
		return registry.DCCP, true
	}
	return registry.ProtoNone, false
}
