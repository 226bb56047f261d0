package zone

import (
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
// The records are shared with the snapshot: copy before modifying.
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
func (s *Snapshot) Lookup(qname string, qtype uint16) Answer {
	name := strings.ToLower(dns.Fqdn(qname))
	if !isSubdomain(name, s.origin) {
		return Answer{Outcome: NotAuth}
	}
	var a Answer
	for range maxChain {
		n := s.nodes[name]
		portName := false
		if n == nil {
			if port, proto, ok := s.parsePortName(name); ok {
				n, portName = s.portNode(name, port, proto), true
			}
		}
		if n == nil {
			if s.ents[name] {
				return s.negative(a, NoData)
			}
			if !portName { // an unregistered port is no invalid service name
				a.Invalid = s.invalidService(name)
			}
			return s.negative(a, NameError)
		}
		if n.cname != nil && qtype != dns.TypeCNAME {
			a.Answer = append(a.Answer, n.cname)
			name = n.cname.Target
			if !isSubdomain(name, s.origin) {
				return a // RFC 1034 §4.3.2: the resolver continues out of zone
			}
			continue
		}
		var rrs []dns.RR
		switch {
		case qtype == dns.TypeCNAME && n.cname != nil:
			rrs = []dns.RR{n.cname}
		case qtype == dns.TypeANY:
			// RFC 8482 §4.1: answer ANY with one RRset, the node's first.
			if len(n.sets) > 0 {
				rrs = n.sets[0].rrs
			}
		default:
			rrs = n.get(qtype)
		}
		if len(rrs) == 0 {
			return s.negative(a, NoData)
		}
		a.Answer = append(a.Answer, rrs...)
		a.Additional = s.additional(rrs)
		return a
	}
	// A chain longer than any the zone builds: answer what was found.
	return a
}

// negative adds the SOA for a negative answer; RFC 2308 §3 puts it in the
// authority section with TTL min(SOA TTL, SOA MINIMUM).
func (s *Snapshot) negative(a Answer, o Outcome) Answer {
	a.Outcome = o
	soa := *s.soa
	soa.Hdr.Ttl = s.negTTL
	a.Authority = []dns.RR{&soa}
	return a
}

// additional returns the in-zone addresses of the hosts that SRV and NS
// records name (RFC 2782, RFC 1035 §3.3.11).
func (s *Snapshot) additional(rrs []dns.RR) []dns.RR {
	var out []dns.RR
	var seen []string
	for _, rr := range rrs {
		var target string
		switch r := rr.(type) {
		case *dns.SRV:
			target = r.Target
		case *dns.NS:
			target = r.Ns
		case *dns.PTR:
			// RFC 6763 §12.1: with a PTR to an instance, its SRV, TXT
			// and the SRV targets' addresses.
			if n := s.nodes[strings.ToLower(r.Ptr)]; n != nil && n.instance {
				srv := n.get(dns.TypeSRV)
				out = append(out, srv...)
				out = append(out, n.get(dns.TypeTXT)...)
				out = append(out, s.additional(srv)...)
			}
			continue
		default:
			continue
		}
		dup := false
		for _, t := range seen {
			if t == target {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		seen = append(seen, target)
		if n := s.nodes[target]; n != nil {
			out = append(out, n.get(dns.TypeA)...)
			out = append(out, n.get(dns.TypeAAAA)...)
		}
	}
	return out
}

// invalidService says which RFC 6335 rule the NAME of a _NAME._PROTO.ORIGIN
// query breaks, or nil when the name is not of that shape or is valid.
func (s *Snapshot) invalidService(name string) *registry.NameError {
	rest := strings.TrimSuffix(name, s.origin)
	if len(rest) == len(name) || rest == "" {
		return nil
	}
	first, proto := splitFirst(rest)
	if proto == "" || !strings.HasPrefix(first, "_") {
		return nil
	}
	protoL, tail := splitFirst(proto)
	if tail != "" {
		return nil
	}
	if _, ok := protoFromLabel(protoL); !ok {
		return nil
	}
	svc := unescapeLabel(first[1:])
	if r, pos := registry.CheckName(svc); r != registry.RuleOK {
		return &registry.NameError{Name: svc, Rule: r, Pos: pos}
	}
	return nil
}
