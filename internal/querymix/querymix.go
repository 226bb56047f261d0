// Package querymix makes realistic query sets from a registry, for the
// answer path's equivalence tests, Go benchmarks and the dnsperf harness:
// SRV and TXT of services, historic aliases, DNS-SD browsing (lists and
// instances of the browse tree the zone lays out), port lookups, NXDOMAIN
// for invalid and unknown names, and mixed case (the mix); and the loads a
// server meets besides: a random-subdomain flood, random port names and
// random DNS-SD names.
package querymix

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/registry"
	"github.com/svcdns/svcdns/zone"
)

// Query is one question.
type Query struct {
	Name string
	Type uint16
}

// String is the dnsperf query-file form: "name TYPE".
func (q Query) String() string { return q.Name + " " + dns.TypeToString[q.Type] }

// Generate returns n queries drawn from reg under origin with a fixed
// seed, so that every run (and every server) gets the same mix.
func Generate(reg *registry.Registry, origin string, n int, seed uint64) []Query {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var services, aliases []string
	for i := range reg.Records {
		r := &reg.Records[i]
		if r.Proto == registry.ProtoNone || r.Name == "" {
			continue
		}
		owner, err := zone.ServiceOwner(r.Name, r.Proto, origin)
		if err != nil {
			continue
		}
		switch {
		case r.Status == registry.Alias:
			aliases = append(aliases, owner)
		case r.Status == registry.Assigned && registry.ValidateName(r.Name) == nil:
			services = append(services, owner)
		}
	}
	// The DNS-SD questions ask for lists and instances that exist in the
	// browse tree the zone lays out (RFC 6763 §9, §11).
	dnssd, err := zone.BrowseNames(reg, origin)
	if err != nil {
		dnssd.Lists = []string{"b._dns-sd._udp." + origin}
	}
	protos := []string{"tcp", "udp", "sctp", "dccp"}
	out := make([]Query, 0, n)
	for len(out) < n {
		var q Query
		switch k := rng.IntN(100); {
		case k < 35:
			q = Query{pick(rng, services), dns.TypeSRV}
		case k < 50:
			q = Query{pick(rng, services), dns.TypeTXT}
		case k < 55:
			q = Query{pick(rng, services), dns.TypePTR} // DNS-SD instance enumeration
		case k < 60 && len(aliases) > 0:
			q = Query{pick(rng, aliases), dns.TypeSRV}
		case k < 70:
			q = Query{fmt.Sprintf("_%d._%s.%s", rng.IntN(65536), protos[rng.IntN(2)], origin), dns.TypePTR}
		case k < 73:
			q = Query{fmt.Sprintf("_%d._%s.%s", rng.IntN(65536), protos[rng.IntN(4)], origin), dns.TypeTXT}
		case k < 76:
			q = Query{pick(rng, dnssd.Lists), dns.TypePTR} // browse and services lists
		case k < 78:
			q = Query{pick(rng, dnssd.Instances), dns.TypeSRV} // DNS-SD instance resolution
		case k < 80:
			q = Query{pick(rng, dnssd.Instances), dns.TypeTXT}
		case k < 85:
			// Invalid RFC 6335 names: NXDOMAIN with an Extended DNS Error.
			bad := []string{"_no_such_svc", "_-lead", "_trail-", "_a--b", "_waytoolongservicename", "_123"}
			q = Query{bad[rng.IntN(len(bad))] + "._" + protos[rng.IntN(2)] + "." + origin, dns.TypeSRV}
		case k < 90:
			q = Query{fmt.Sprintf("_unknown%d._tcp.%s", rng.IntN(1000), origin), dns.TypeSRV}
		case k < 92:
			q = Query{origin, dns.TypeSOA}
		case k < 94:
			q = Query{"_tcp." + origin, dns.TypeSRV} // empty non-terminal: NODATA
		default:
			q = Query{pick(rng, services), dns.TypeAAAA} // NODATA
		}
		if q.Name == "" {
			continue
		}
		if rng.IntN(5) == 0 {
			q.Name = mixCase(rng, q.Name)
		}
		out = append(out, q)
	}
	return out
}

func pick(rng *rand.Rand, s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[rng.IntN(len(s))]
}

// mixCase flips the case of random letters, as a 0x20-randomizing
// resolver does.
func mixCase(rng *rand.Rand, s string) string {
	b := []byte(s)
	for i, c := range b {
		if (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') && rng.IntN(2) == 0 {
			b[i] ^= 0x20
		}
	}
	return string(b)
}

// Format renders queries one per line for dnsperf -d, leaving out those
// whose name dnsperf cannot be given: its query file is split on white
// space, so a name holding a space (a DNS-SD instance named after its
// description, "ZigBee\ IP\ Gateway._zigbee-gateway._tcp") is cut, and
// dnsperf 2.10 misreads decimal escapes (\032 is sent as byte 23).
func Format(qs []Query) string {
	var b strings.Builder
	for _, q := range qs {
		if !dnsperfName(q.Name) {
			continue
		}
		b.WriteString(q.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// dnsperfName reports whether dnsperf reads the presentation-form name as
// it is meant: no space, escaped or not, and no decimal escape.
func dnsperfName(name string) bool {
	for i := 0; i < len(name); i++ {
		switch {
		case name[i] == ' ' || name[i] == '\t':
			return false
		case name[i] == '\\' && i+1 < len(name):
			if c := name[i+1]; isDigit(c) || c == ' ' || c == '\t' {
				return false
			}
			i++
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Flood returns n questions for names that do not exist, each unique
// with overwhelming likelihood: a random-subdomain attack's traffic
// (NXDOMAIN), A and AAAA, some one label below origin and some deeper.
func Flood(origin string, n int, seed uint64) []Query {
	rng := rand.New(rand.NewPCG(seed, seed^0x51a3d))
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]Query, 0, n)
	label := func() string {
		b := make([]byte, 8+rng.IntN(8))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for len(out) < n {
		name := label() + "." + origin
		if rng.IntN(4) == 0 {
			name = label() + "." + name
		}
		t := dns.TypeA
		if rng.IntN(3) == 0 {
			t = dns.TypeAAAA
		}
		out = append(out, Query{name, t})
	}
	return out
}

// PortNames returns n questions for random port names _PORT._PROTO
// (TXT, and PTR one time in four), tcp and udp mostly.
func PortNames(origin string, n int, seed uint64) []Query {
	rng := rand.New(rand.NewPCG(seed, seed^0x9047))
	protos := []string{"tcp", "tcp", "tcp", "udp", "udp", "udp", "sctp", "dccp"}
	out := make([]Query, 0, n)
	for len(out) < n {
		q := Query{fmt.Sprintf("_%d._%s.%s", rng.IntN(65536), protos[rng.IntN(len(protos))], origin), dns.TypeTXT}
		if rng.IntN(4) == 0 {
			q.Type = dns.TypePTR
		}
		out = append(out, q)
	}
	return out
}

// DNSSD returns n questions a DNS-SD client asks, drawn from the zone's
// records rrs: browse lists (PTR at the b._dns-sd._udp and
// _services._dns-sd._udp names, RFC 6763 §9 and §11), instance
// enumeration (PTR at a service type, answered with the instance's SRV,
// TXT and addresses), and instances' SRV and TXT (§5, §6).
func DNSSD(rrs []dns.RR, n int, seed uint64) []Query {
	rng := rand.New(rand.NewPCG(seed, seed^0xd5d))
	var lists, types, instances []string
	seen := map[string]bool{}
	for _, rr := range rrs {
		h := rr.Header()
		if seen[h.Name] {
			continue
		}
		switch p, _ := rr.(*dns.PTR); {
		case p != nil && strings.Contains(h.Name, "._dns-sd._udp."):
			lists = append(lists, h.Name)
		case p != nil && strings.HasPrefix(h.Name, "_"):
			types = append(types, h.Name)
		case h.Rrtype == dns.TypeSRV && !strings.HasPrefix(h.Name, "_"):
			instances = append(instances, h.Name)
		default:
			continue
		}
		seen[h.Name] = true
	}
	out := make([]Query, 0, n)
	for len(out) < n {
		var q Query
		switch k := rng.IntN(10); {
		case k < 4:
			q = Query{pick(rng, lists), dns.TypePTR}
		case k < 7:
			q = Query{pick(rng, types), dns.TypePTR}
		case k < 9:
			q = Query{pick(rng, instances), dns.TypeSRV}
		default:
			q = Query{pick(rng, instances), dns.TypeTXT}
		}
		if q.Name == "" {
			break // the zone has no DNS-SD names
		}
		out = append(out, q)
	}
	return out
}
