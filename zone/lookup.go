package zone

import (
	"encoding/binary"
	"strings"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/registry"
)

// Outcome is what a lookup found; one function in the resolver maps it to
// an rcode and sections.
type Outcome uint8

// Lookup outcomes.
const (
	// Success: the answer section holds the records (and any CNAMEs).
	Success Outcome = iota
	// NoData: the name exists but has no record of the type (RFC 2308 §2.2).
	NoData
	// NameError: the name does not exist (NXDOMAIN).
	NameError
	// NotAuth: the name is not in this zone (the server answers REFUSED).
	NotAuth
)

func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case NoData:
		return "nodata"
	case NameError:
		return "nxdomain"
	case NotAuth:
		return "refused"
	}
	return "outcome?"
}

// Answer is the result of a lookup, with its records already in sections.
// The records are made for the caller from the compiled zone.
type Answer struct {
	Outcome    Outcome
	Answer     []dns.RR
	Authority  []dns.RR
	Additional []dns.RR
	// Invalid is set on a NameError for _NAME._PROTO where NAME breaks
	// RFC 6335 §5.1; the resolver reports it as an Extended DNS Error.
	Invalid *registry.NameError
}

// maxChain bounds CNAME chasing; zone aliases are one step.
const maxChain = 8

// Lookup answers qname/qtype from the zone. qname may be in any case.
//
// It reads the answer AppendAnswer writes back into dns.RR values: the
// query path never calls it; `svcdns lookup`, the dns.Msg path (Respond)
// and tests do.
func (s *Snapshot) Lookup(qname string, qtype uint16) Answer {
	w, err := wireName(qname)
	if err != nil {
		return Answer{Outcome: NotAuth}
	}
	w = lowerWire(w)
	if !s.Contains([]byte(w)) {
		return Answer{Outcome: NotAuth}
	}
	msg := s.question(w, qtype)
	msg, r := s.AppendAnswer(msg, Question{Name: []byte(w), Type: qtype})
	m := unpackSections(msg, r.Answer, r.Authority, r.Additional)
	a := Answer{Outcome: r.Outcome, Answer: m.Answer, Authority: m.Ns, Additional: m.Extra}
	// Records owned by the question name carry its published spelling, as
	// the zone stores it (instance names keep their case).
	if n := s.find([]byte(w[:len(w)-len(s.originWire)])); n != nil {
		display := s.display(n)
		for _, rr := range a.Answer {
			if h := rr.Header(); strings.EqualFold(h.Name, display) {
				h.Name = display
			}
		}
	}
	if r.Outcome == NameError && r.Invalid != registry.RuleOK {
		svc := unescapeLabel(dns.SplitDomainName(presentationName(w))[0][1:])
		_, pos := registry.CheckName(svc)
		a.Invalid = &registry.NameError{Name: svc, Rule: r.Invalid, Pos: pos}
	}
	return a
}

// question makes a message holding a header and the question name/qtype.
func (s *Snapshot) question(name string, qtype uint16) []byte {
	msg := make([]byte, 12, 12+len(name)+4+512)
	msg = append(msg, name...)
	msg = binary.BigEndian.AppendUint16(msg, qtype)
	return binary.BigEndian.AppendUint16(msg, dns.ClassINET)
}

// unpackSections reads the sections of a message AppendAnswer wrote, with
// its header's counts filled in.
func unpackSections(msg []byte, an, ns, ar uint16) *dns.Msg {
	binary.BigEndian.PutUint16(msg[4:], 1)
	binary.BigEndian.PutUint16(msg[6:], an)
	binary.BigEndian.PutUint16(msg[8:], ns)
	binary.BigEndian.PutUint16(msg[10:], ar)
	m := new(dns.Msg)
	if err := m.Unpack(msg); err != nil {
		// The compiled zone is written by this package; a message it
		// cannot read back is a bug, not an input error.
		panic("zone: compiled answer does not unpack: " + err.Error())
	}
	return m
}

// display is a stored name in presentation form, case as published.
func (s *Snapshot) display(n nameRec) string {
	return presentationName(string(n.key()) + s.originWire)
}

// Names returns every owner name holding records, lower case, sorted
// canonically (RFC 4034 §6.1), port names aside (All has them).
func (s *Snapshot) Names() []string {
	offs := s.sortedNames()
	out := make([]string, len(offs))
	for i, off := range offs {
		out[i] = strings.ToLower(s.display(nameRec(s.names[off:])))
	}
	return out
}

// RRs returns every record at an owner name: the CNAME, or each RRset in
// the order answers prefer them. They are made for the caller from the
// compiled zone.
func (s *Snapshot) RRs(name string) []dns.RR {
	w, err := wireName(name)
	if err != nil {
		return nil
	}
	w = lowerWire(w)
	if !s.Contains([]byte(w)) {
		return nil
	}
	n := s.find([]byte(w[:len(w)-len(s.originWire)]))
	if n == nil {
		return nil
	}
	return s.records(n)
}
