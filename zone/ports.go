package zone

import (
	"strconv"
	"strings"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/registry"
)

// dynamicLo starts the Dynamic and/or Private Ports (RFC 6335 §6).
const dynamicLo = 49152

// parsePortName reads _PORT._PROTO.ORIGIN (the TLSA/SVCB port prefix
// form, RFC 6698 §3); ok is false for any other shape, or a port written
// with leading zeros or above 65535.
func (s *Snapshot) parsePortName(name string) (port uint16, proto registry.Protocol, ok bool) {
	rest, found := strings.CutSuffix(name, "."+s.origin)
	if !found {
		return 0, 0, false
	}
	pl, pr := splitFirst(rest)
	if len(pl) < 2 || len(pl) > 6 || pl[0] != '_' || strings.Contains(pr, ".") {
		return 0, 0, false
	}
	digits := pl[1:]
	if digits[0] == '0' && len(digits) > 1 {
		return 0, 0, false
	}
	n := 0
	for i := 0; i < len(digits); i++ {
		if !isDigit(digits[i]) {
			return 0, 0, false
		}
		n = n*10 + int(digits[i]-'0')
	}
	if n > 65535 {
		return 0, 0, false
	}
	proto, ok = protoFromLabel(pr)
	return uint16(n), proto, ok
}

// portNode synthesizes the records of _PORT._PROTO.ORIGIN: a PTR to every
// service name served for that port, and a TXT with the port's status and
// the registry's facts about it. Every port of every protocol has one, so
// they are made on demand rather than stored 262,144 times. It is nil for
// a port the zone has no name for (PortNamesRegistered).
func (s *Snapshot) portNode(name string, port uint16, proto registry.Protocol) *node {
	if s.opts.PortNames == PortNamesRegistered && !s.ports.registered(port, proto) {
		return nil
	}
	n := &node{}
	ttl := s.opts.TTL.PTR
	var ptrs []dns.RR
	var names []string
	status := registry.Unassigned
	if port >= dynamicLo {
		status = statusDynamic
	}
	var facts []*portFacts
	var unauth []string // reported on any row of the port, assigned or not
	for _, i := range s.ports.lookup(port, proto) {
		r := &s.ports.rows[i]
		unauth = append(unauth, r.unauth)
		switch {
		case r.name != "":
			status = registry.Assigned
			names = append(names, r.name)
			if r.proto == registry.ProtoNone {
				continue // no _PROTO label serves it
			}
			owner, err := ServiceOwner(r.name, proto, s.origin)
			if err != nil || (s.nodes[owner] == nil) {
				continue
			}
			if !containsPTR(ptrs, owner) {
				ptrs = append(ptrs, &dns.PTR{Hdr: hdr(name, dns.TypePTR, ttl), Ptr: owner})
			}
		case r.status == registry.Reserved:
			if status != registry.Assigned {
				status = registry.Reserved
			}
			facts = append(facts, r.facts)
		default:
			facts = append(facts, r.facts)
		}
	}
	if len(ptrs) > 0 {
		n.sets = append(n.sets, rrset{typ: dns.TypePTR, rrs: ptrs})
	}
	b := newTXT()
	b.add(keyPort, strconv.Itoa(int(port)))
	b.add(keyProto, proto.String())
	if status == statusDynamic {
		b.add(keyStatus, "dynamic")
	} else {
		b.add(keyStatus, status.String())
	}
	b.add(keyNames, strings.Join(names, ", "))
	if len(facts) > 0 {
		b.add(keyDescription, joinFacts(facts, func(f *portFacts) string { return f.desc }))
		b.add(keyModified, joinFacts(facts, func(f *portFacts) string { return f.mod }))
		b.add(keyReference, joinFacts(facts, func(f *portFacts) string { return f.refs }))
		b.add(keyNotes, joinFacts(facts, func(f *portFacts) string { return f.notes }))
	}
	b.add(keyUnauthorized, joinUnique(unauth, "; "))
	n.sets = append(n.sets, rrset{typ: dns.TypeTXT, rrs: []dns.RR{
		&dns.TXT{Hdr: hdr(name, dns.TypeTXT, s.opts.TTL.TXT), Txt: b.strs}}})
	return n
}

// statusDynamic is the port status of the Dynamic and/or Private range;
// it is not a registry row status.
const statusDynamic registry.Status = 255

func containsPTR(rrs []dns.RR, target string) bool {
	for _, rr := range rrs {
		if rr.(*dns.PTR).Ptr == target {
			return true
		}
	}
	return false
}

func joinFacts(facts []*portFacts, f func(*portFacts) string) string {
	vals := make([]string, len(facts))
	for i, r := range facts {
		vals[i] = f(r)
	}
	return joinUnique(vals, "; ")
}
