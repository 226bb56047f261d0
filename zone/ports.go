package zone

import (
	"encoding/binary"
	"strconv"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/registry"
)

// dynamicLo starts the Dynamic and/or Private Ports (RFC 6335 §6).
const dynamicLo = 49152

// statusDynamic is the port status of the Dynamic and/or Private range;
// it is not a registry row status.
const statusDynamic registry.Status = 255

// portName reads _PORT._PROTO (the TLSA/SVCB port prefix form, RFC 6698
// §3) from rel, a name's labels above the origin in wire form, lower case;
// ok is false for any other shape, or a port written with leading zeros or
// above 65535.
func portName(rel []byte) (port uint16, proto registry.Protocol, ok bool) {
	if len(rel) < 3 {
		return 0, 0, false
	}
	l := int(rel[0])
	if l < 2 || l > 6 || rel[1] != '_' || 1+l >= len(rel) {
		return 0, 0, false
	}
	digits := rel[2 : 1+l]
	if digits[0] == '0' && len(digits) > 1 {
		return 0, 0, false
	}
	n := 0
	for _, c := range digits {
		if !isDigit(c) {
			return 0, 0, false
		}
		n = n*10 + int(c-'0')
	}
	pl := rel[1+l:]
	if n > 65535 || 1+int(pl[0]) != len(pl) {
		return 0, 0, false
	}
	proto, ok = protoFromWire(pl[1:])
	return uint16(n), proto, ok
}

// appendPort answers _PORT._PROTO from the port table, straight into msg:
// a PTR to every service name served for that port, and a TXT with the
// port's status and the registry's facts about it. Every port of every
// protocol has them, so they are written per query rather than stored
// 262,144 times; the rows covering a port come from the table's segment
// index, their values already folded.
func (s *Snapshot) appendPort(msg []byte, q Question, port uint16, proto registry.Protocol) ([]byte, Reply) {
	rows := s.ports.lookup(port, proto)
	at := len(msg)
	switch q.Type {
	case dns.TypePTR, dns.TypeANY:
		var n uint16
		msg, n = s.appendPortPTRs(msg, q.Name, rows)
		if n > 0 {
			return msg, Reply{Outcome: Success, Answer: n, AdditionalAt: len(msg)}
		}
		if q.Type == dns.TypeANY { // RFC 8482 §4.1: the first set there is
			break
		}
		return s.appendNegative(msg[:at], q.Name, NoData)
	case dns.TypeTXT:
	default:
		return s.appendNegative(msg, q.Name, NoData)
	}
	msg = s.appendPortTXT(msg, port, proto, rows)
	return msg, Reply{Outcome: Success, Answer: 1, AdditionalAt: len(msg)}
}

// appendRRHeader writes a record header whose owner is the question
// (a pointer to offset 12) and returns where its RDLENGTH is.
func appendRRHeader(msg []byte, typ uint16, ttl uint32) ([]byte, int) {
	msg = append(msg, 0xC0, 12, byte(typ>>8), byte(typ), 0, byte(dns.ClassINET))
	msg = binary.BigEndian.AppendUint32(msg, ttl)
	return append(msg, 0, 0), len(msg)
}

// appendPortPTRs writes one PTR per service name served at the port, in
// row order, each once. The target _NAME._PROTO.ORIGIN is NAME's label
// and a pointer to the question's _PROTO.ORIGIN, as miekg/dns compresses
// it.
func (s *Snapshot) appendPortPTRs(msg, qname []byte, rows []int32) ([]byte, uint16) {
	var n uint16
	proto := uint16(12 + 1 + int(qname[0]))
	for k, i := range rows {
		r := &s.ports.rows[i]
		if !r.served || r.proto == registry.ProtoNone || seenLabel(s.ports.rows, rows[:k], r.label) {
			continue
		}
		var rdlen int
		msg, rdlen = appendRRHeader(msg, dns.TypePTR, s.opts.TTL.PTR)
		msg = append(msg, r.label...)
		msg = binary.BigEndian.AppendUint16(msg, 0xC000|proto)
		binary.BigEndian.PutUint16(msg[rdlen:], uint16(len(r.label)+2))
		n++
	}
	return msg, n
}

func seenLabel(all []portRow, before []int32, label string) bool {
	for _, j := range before {
		if r := &all[j]; r.served && r.proto != registry.ProtoNone && r.label == label {
			return true
		}
	}
	return false
}

// appendPortTXT writes the port's TXT record, string by string as
// serviceTXT's are made (RFC 6763 §6).
func (s *Snapshot) appendPortTXT(msg []byte, port uint16, proto registry.Protocol, rows []int32) []byte {
	var rdlen int
	msg, rdlen = appendRRHeader(msg, dns.TypeTXT, s.opts.TTL.TXT)
	start := len(msg)
	w := txtWriter{msg: msg}
	all := s.ports.rows

	status := registry.Unassigned
	if port >= dynamicLo {
		status = statusDynamic
	}
	named, facts := false, false
	for _, i := range rows {
		r := &all[i]
		switch {
		case r.name != "":
			status, named = registry.Assigned, true
		case r.status == registry.Reserved:
			if status != registry.Assigned {
				status = registry.Reserved
			}
			facts = true
		default:
			facts = true
		}
	}
	w.open(keyVersion)
	w.msg = append(w.msg, '1')
	w.close()
	w.open(keyPort)
	w.msg = strconv.AppendUint(w.msg, uint64(port), 10)
	w.close()
	w.open(keyProto)
	w.msg = append(w.msg, proto.String()...)
	w.close()
	w.open(keyStatus)
	if status == statusDynamic {
		w.msg = append(w.msg, "dynamic"...)
	} else {
		w.msg = append(w.msg, status.String()...)
	}
	w.close()
	if named {
		// The names, joined as registered, then folded as a whole.
		at := w.open(keyNames)
		sep := false
		for _, i := range rows {
			if r := &all[i]; r.name != "" {
				if sep {
					w.msg = append(w.msg, ", "...)
				}
				w.msg = append(w.msg, r.name...)
				sep = true
			}
		}
		w.msg = w.msg[:at+foldInPlace(w.msg[at:])]
		w.close()
	}
	if facts {
		for f := range 4 {
			w.open(factKeys[f])
			w.msg = joinRows(w.msg, all, rows, func(r *portRow) string {
				if r.facts == nil {
					return ""
				}
				return r.facts.field(f)
			})
			w.close()
		}
	}
	w.open(keyUnauthorized)
	w.msg = joinRows(w.msg, all, rows, func(r *portRow) string { return r.unauth })
	w.close()
	binary.BigEndian.PutUint16(w.msg[rdlen:], uint16(len(w.msg)-start))
	return w.msg
}

var factKeys = [4]string{keyDescription, keyModified, keyReference, keyNotes}

func (f *portFacts) field(i int) string {
	switch i {
	case 0:
		return f.desc
	case 1:
		return f.mod
	case 2:
		return f.refs
	}
	return f.notes
}

// joinRows appends the distinct non-empty values of the rows, in order,
// joined with "; " (txtWriter.joinUnique, on values already folded).
func joinRows(msg []byte, all []portRow, rows []int32, value func(*portRow) string) []byte {
	first := true
	for k, i := range rows {
		v := value(&all[i])
		if v == "" {
			continue
		}
		dup := false
		for _, j := range rows[:k] {
			if value(&all[j]) == v {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		if !first {
			msg = append(msg, "; "...)
		}
		msg = append(msg, v...)
		first = false
	}
	return msg
}
