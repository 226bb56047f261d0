package zone

import (
	"encoding/binary"
	"unsafe"

	"github.com/svcdns/svcdns/registry"
)

// Question is what AppendAnswer answers, as the answer path reads it off
// the wire.
//
// DNSSEC (#14) adds the query's DO bit here, to pick signed answers.
type Question struct {
	// Name is the question name in wire form, uncompressed, lower-cased
	// (ASCII, RFC 4343); Contains must report it in the zone.
	Name []byte
	Type uint16
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
	// Invalid is, for a NameError at _NAME._PROTO.ORIGIN, the RFC 6335
	// §5.1 rule that NAME breaks (RuleOK when none); NAME is the
	// question's first label without its underscore. The resolver says so
	// in an Extended DNS Error (RFC 8914).
	Invalid registry.Rule
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
	if len(msg) != 12+len(q.Name)+4 || !s.Contains(q.Name) {
		panic("zone: AppendAnswer: msg is not a header and the question of q.Name, or q.Name is not in the zone")
	}
	rel := q.Name[:len(q.Name)-len(s.originWire)]
	n := s.find(rel)
	if n != nil && n.flags()&nodeENT == 0 {
		for i := range n.count() {
			if a := n.answer(i); a.qtype == q.Type || a.flags&answerOther != 0 {
				return s.appendBlob(msg, a)
			}
		}
		return s.appendNegative(msg, q.Name, NoData)
	}
	if port, proto, ok := portName(rel); ok {
		return s.appendPort(msg, q, port, proto)
	}
	if n != nil {
		return s.appendNegative(msg, q.Name, NoData)
	}
	msg, r := s.appendNegative(msg, q.Name, NameError)
	r.Invalid = invalidService(rel)
	return msg, r
}

// appendBlob copies a compiled answer.
func (s *Snapshot) appendBlob(msg []byte, a answer) ([]byte, Reply) {
	h := s.blobAt(a.off)
	r := Reply{
		Outcome:      Outcome(a.flags & answerOutcome),
		AdditionalAt: len(msg) + int(binary.BigEndian.Uint16(h[2:])),
		Answer:       binary.BigEndian.Uint16(h[4:]),
		Authority:    binary.BigEndian.Uint16(h[6:]),
		Additional:   binary.BigEndian.Uint16(h[8:]),
	}
	return append(msg, h[blobHeader:]...), r
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
