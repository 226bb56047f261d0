package zonetest

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// Exchange sends one query and returns the reply; a walker speaks only DNS
// through it.
type Exchange func(name string, qtype uint16) (*dns.Msg, error)

// Instance is what a DNS-SD client learns about one service instance.
type Instance struct {
	Service  string // "_rets._tcp"
	Domain   string // the browse domain that lists it, "r.r.tcp.ports.local."
	Type     string // Service.Domain
	Instance string // "RETS._rets._tcp.r.r.tcp.ports.local."
	SRV      []*dns.SRV
	TXT      []string
}

// Walk browses origin as a DNS-SD client would (RFC 6763): browse domains
// from b._dns-sd._udp (§11), service types from _services._dns-sd._udp in
// each (§9), instances from each type's PTR (§4), then each instance's SRV
// and TXT (§5, §6). The result is keyed by Service. It fails on any error
// rcode or truncated reply, on a type listed twice, and on a type listed
// as anything but "<_svc._proto>.<the same domain>" (§9), so that a
// browser building that name and one following the PTR ask the same.
func Walk(ex Exchange, origin string) (map[string]Instance, error) {
	domains := []string{origin}
	seenDomain := map[string]bool{strings.ToLower(origin): true}
	types := map[string]Instance{}
	for len(domains) > 0 {
		d := domains[0]
		domains = domains[1:]
		// A domain may have no sub-domains or no types of its own: both
		// names are then NXDOMAIN, which a browser reads as "none".
		b, err := optionalPTRs(ex, "b._dns-sd._udp."+d)
		if err != nil {
			return nil, err
		}
		for _, sub := range b {
			if !seenDomain[strings.ToLower(sub)] {
				seenDomain[strings.ToLower(sub)] = true
				domains = append(domains, sub)
			}
		}
		ts, err := optionalPTRs(ex, "_services._dns-sd._udp."+d)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			labels := dns.SplitDomainName(t)
			if len(labels) < 3 || !strings.EqualFold(strings.Join(labels[2:], ".")+".", d) {
				return nil, fmt.Errorf("%s lists %s, not <_svc._proto>.%s (RFC 6763 §9)", d, t, d)
			}
			svc := strings.ToLower(labels[0] + "." + labels[1])
			if prev, ok := types[svc]; ok {
				return nil, fmt.Errorf("type %s listed twice: %s and %s", svc, prev.Type, t)
			}
			types[svc] = Instance{Service: svc, Domain: d, Type: t}
		}
	}
	out := make(map[string]Instance, len(types))
	for svc, in := range types {
		insts, err := ptrs(ex, in.Type)
		if err != nil {
			return nil, err
		}
		if len(insts) != 1 {
			return nil, fmt.Errorf("%s: %d instances, want 1", in.Type, len(insts))
		}
		if !dns.IsSubDomain(in.Type, insts[0]) {
			return nil, fmt.Errorf("%s: instance %s is not in the type's domain", in.Type, insts[0])
		}
		in.Instance = insts[0]
		m, err := ask(ex, in.Instance, dns.TypeSRV)
		if err != nil {
			return nil, err
		}
		for _, rr := range m.Answer {
			if srv, ok := rr.(*dns.SRV); ok {
				in.SRV = append(in.SRV, srv)
			}
		}
		m, err = ask(ex, in.Instance, dns.TypeTXT)
		if err != nil {
			return nil, err
		}
		for _, rr := range m.Answer {
			if txt, ok := rr.(*dns.TXT); ok {
				in.TXT = append(in.TXT, txt.Txt...)
			}
		}
		if len(in.TXT) == 0 {
			return nil, fmt.Errorf("%s: no TXT", in.Instance)
		}
		out[svc] = in
	}
	return out, nil
}

func ask(ex Exchange, name string, qtype uint16) (*dns.Msg, error) {
	m, err := ex(name, qtype)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", name, dns.TypeToString[qtype], err)
	}
	if m.Truncated {
		return nil, fmt.Errorf("%s %s: truncated reply", name, dns.TypeToString[qtype])
	}
	if m.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("%s %s: %s", name, dns.TypeToString[qtype], dns.RcodeToString[m.Rcode])
	}
	return m, nil
}

func ptrs(ex Exchange, name string) ([]string, error) {
	m, err := ask(ex, name, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	return ptrTargets(m), nil
}

func ptrTargets(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if p, ok := rr.(*dns.PTR); ok {
			out = append(out, p.Ptr)
		}
	}
	return out
}

func optionalPTRs(ex Exchange, name string) ([]string, error) {
	m, err := ex(name, dns.TypePTR)
	if err != nil {
		return nil, fmt.Errorf("%s PTR: %w", name, err)
	}
	if m.Rcode == dns.RcodeNameError {
		return nil, nil
	}
	if m.Truncated || m.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("%s PTR: truncated or %s", name, dns.RcodeToString[m.Rcode])
	}
	return ptrTargets(m), nil
}
