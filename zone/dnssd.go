package zone

import (
	"slices"
	"strings"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/registry"
)

// DNS-SD (RFC 6763) names and limits.
const (
	servicesLabel = "_services._dns-sd._udp"
	browseLabel   = "b._dns-sd._udp"
	// maxSet keeps every RRset at or under 100 records: BIND 9.18 refuses
	// larger ones by default (max-records-per-type), and a set of 100 PTRs
	// still fits one TCP message with room to spare.
	maxSet = 100
)

// serviceType is one browsable type: a valid name with a protocol.
type serviceType struct {
	name  string // lower case
	proto registry.Protocol
	owner string // _name._proto.ORIGIN
}

// instanceLabel makes the RFC 6763 §4.1.1 instance name of a service: its
// description (UTF-8, white space folded, at most 63 bytes, cut on a
// character boundary), or the service name when there is none.
func instanceLabel(recs []*registry.Record) string {
	d := strings.Join(strings.Fields(descriptionOnly(recs[0])), " ")
	d = strings.TrimSpace(cutUTF8(d, 63))
	if d == "" {
		d = recs[0].Name
	}
	return escapeLabel(d)
}

// addBrowsing publishes service type enumeration (RFC 6763 §9) in a tree
// of browse domains (§11), so that no RRset exceeds maxSet:
//
//	b._dns-sd._udp.ORIGIN           PTR tcp.ORIGIN, udp.ORIGIN, ...
//	b._dns-sd._udp.tcp.ORIGIN       PTR a.tcp.ORIGIN, b.tcp.ORIGIN, ...
//	b._dns-sd._udp.s.tcp.ORIGIN     PTR sa.tcp.ORIGIN, sb.tcp.ORIGIN, ...
//	_services._dns-sd._udp.sa.tcp.ORIGIN PTR _sabarsd._tcp.ORIGIN, ...
//
// A domain whose types fit one set lists them all at _services; a larger
// one lists at _services only the type named exactly by its prefix and
// splits the rest by the next character. The apex _services name carries
// a TXT record that points browsers at the tree.
func (s *Snapshot) addBrowsing(types []serviceType) error {
	ttl := s.opts.TTL.PTR
	rootB := browseLabel + "." + s.origin
	rootS := servicesLabel + "." + s.origin
	s.add(rootS, &dns.TXT{Hdr: hdr(rootS, dns.TypeTXT, s.opts.TTL.TXT), Txt: []string{
		"txtvers=1",
		"browse=" + rootB,
		"note=service types are listed in browse domains (RFC 6763 section 11) of at most 100 types each",
	}})
	for _, p := range registry.Protocols {
		var ts []serviceType
		for _, t := range types {
			if t.proto == p {
				ts = append(ts, t)
			}
		}
		if len(ts) == 0 {
			continue
		}
		slices.SortFunc(ts, func(a, b serviceType) int { return strings.Compare(a.name, b.name) })
		dom := p.String() + "." + s.origin
		s.add(rootB, &dns.PTR{Hdr: hdr(rootB, dns.TypePTR, ttl), Ptr: dom})
		s.browseTree(ts, "", dom, p.String()+"."+s.origin)
	}
	return nil
}

// browseTree fills the browse domain dom for the types ts, all of which
// start with prefix.
func (s *Snapshot) browseTree(ts []serviceType, prefix, dom, protoDom string) {
	ttl := s.opts.TTL.PTR
	sv := servicesLabel + "." + dom
	if len(ts) <= maxSet {
		for _, t := range ts {
			s.add(sv, &dns.PTR{Hdr: hdr(sv, dns.TypePTR, ttl), Ptr: t.owner})
		}
		return
	}
	bd := browseLabel + "." + dom
	for len(ts) > 0 {
		if len(ts[0].name) == len(prefix) {
			s.add(sv, &dns.PTR{Hdr: hdr(sv, dns.TypePTR, ttl), Ptr: ts[0].owner})
			ts = ts[1:]
			continue
		}
		next := ts[0].name[:len(prefix)+1]
		end := 1
		for end < len(ts) && strings.HasPrefix(ts[end].name, next) {
			end++
		}
		child := next + "." + protoDom
		s.add(bd, &dns.PTR{Hdr: hdr(bd, dns.TypePTR, ttl), Ptr: child})
		s.browseTree(ts[:end], next, child, protoDom)
		ts = ts[end:]
	}
}
