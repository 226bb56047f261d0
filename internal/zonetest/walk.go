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
	Type     string // "_rets._tcp.ports.local."
	Instance string // "RETS._rets._tcp.ports.local."
	SRV      []*dns.SRV
	TXT      []string
}

// Walk browses origin as a DNS-SD client would (RFC 6763): browse domains
// from b._dns-sd._udp (§11), service types from _services._dns-sd._udp in
// each (§9), instances from each type's PTR (§4), then each instance's SRV
// and TXT (§5, §6). It fails on any error rcode or truncated reply.
func Walk(ex Exchange, origin string) (map[string]Instance, error) {
	domains := []string{origin}
	seenDomain := map[string]bool{strings.ToLower(origin): true}
	types := map[string]bool{}
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
			if types[strings.ToLower(t)] {
				return nil, fmt.Errorf("type %s listed twice", t)
			}
			types[strings.ToLower(t)] = true
		}
	}
	out := make(map[string]Instance, len(types))
	for t := range types {
		insts, err := ptrs(ex, t)
		if err != nil {
			return nil, err
		}
		if len(insts) != 1 {
			return nil, fmt.Errorf("%s: %d instances, want 1", t, len(insts))
		}
		in := Instance{Type: t, Instance: insts[0]}
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
		out[t] = in
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
