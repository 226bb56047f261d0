package zone

import (
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/registry"
)

// DNS-SD (RFC 6763) names and limits.
const (
	servicesLabel = "_services._dns-sd._udp"
	// RFC 6763 §11: browse domains, the default browse domain and the
	// domains legacy clients browse automatically.
	browseLabel        = "b._dns-sd._udp"
	defaultBrowseLabel = "db._dns-sd._udp"
	legacyBrowseLabel  = "lb._dns-sd._udp"

	// MaxDNSSDReply is the size every DNS-SD reply of the zone fits: 512
	// bytes, all that a client without EDNS takes (RFC 1035 §4.2.1; Avahi
	// and mDNSResponder browse wide-area DNS without EDNS and never retry
	// over TCP), less the 11 bytes of an OPT record, so that a client
	// sending EDNS with the smallest payload size (512, RFC 6891 §6.2.5)
	// is served alike.
	MaxDNSSDReply = 512 - 11

	// Wire sizes of the fixed parts of a reply (RFC 1035 §4.1).
	headerLen   = 12
	questionEnd = 4  // QTYPE, QCLASS
	rrFixed     = 10 // TYPE, CLASS, TTL, RDLENGTH
	namePointer = 2
)

// serviceType is one browsable type: a valid name with tcp or udp.
type serviceType struct {
	key   registry.Key
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

// browsable reports whether a name+protocol is listed for DNS-SD browsing.
// RFC 6763 §7: a service type's second label is _tcp or _udp, so the
// registry's sctp and dccp services are not listed (they keep their
// _NAME._sctp SRV, TXT and PTR, which RFC 2782 clients use): listing them
// as _udp would publish a UDP port that IANA never registered, and listed
// as _sctp DNS-SD clients reject them ("Invalid service type"). Names
// that break RFC 6335 §5.1 are not listed either: clients reject them.
func browsable(k registry.Key) bool {
	return (k.Proto == registry.TCP || k.Proto == registry.UDP) && registry.ValidateName(k.Name) == nil
}

// browseDomain is one domain of the browse tree (RFC 6763 §11): a leaf
// lists service types at _services._dns-sd._udp (§9), an inner domain
// lists its sub-domains at b._dns-sd._udp.
type browseDomain struct {
	label    string // the first label of name: a prefix of its first type
	name     string
	first    int // index of its first type
	types    []serviceType
	children []*browseDomain
}

// planBrowsing lays out the browse tree of one protocol's types (sorted
// by name) under protoDom. Every list must fit MaxDNSSDReply; the tree is
// split by encoded size, as deep as needed:
//
//	b._dns-sd._udp.tcp.ORIGIN                 PTR a.tcp.ORIGIN, c.tcp.ORIGIN, ...
//	b._dns-sd._udp.s.tcp.ORIGIN               PTR s.s.tcp.ORIGIN, saba.s.tcp.ORIGIN, ...
//	_services._dns-sd._udp.saba.s.tcp.ORIGIN  PTR _sabarsd._tcp.saba.s.tcp.ORIGIN, ...
//
// A domain holds the types from its label up to the next sibling's label:
// the label is the shortest prefix of its first type that sorts after the
// type before it, so the labels read as a thumb index. The size of a list
// depends on the length of its domain name, which depends on the labels
// above it: the layout assumes a length for those, and is redone with the
// length found until it holds.
func planBrowsing(ts []serviceType, protoDom string) (*browseDomain, error) {
	root := &browseDomain{name: protoDom}
	base := wireLen(protoDom)
	if servicesListLen(base, ts) <= MaxDNSSDReply {
		root.types = ts
		return root, nil
	}
	above := 0 // assumed wire length of the labels between a domain's own and protoDom
	for range 8 {
		level, err := layout(ts, base, above)
		if err != nil {
			return nil, err
		}
		root.children = level
		found := 0
		var name func(d *browseDomain, parent string, depth int)
		name = func(d *browseDomain, parent string, depth int) {
			d.name = escapeLabel(d.label) + "." + parent
			found = max(found, depth)
			for _, c := range d.children {
				name(c, d.name, depth+1+len(d.label))
			}
		}
		for _, d := range level {
			name(d, protoDom, 0)
		}
		if found <= above {
			return root, nil
		}
		above = found
	}
	return nil, fmt.Errorf("browse tree of %s: no layout fits %d bytes", protoDom, MaxDNSSDReply)
}

// layout groups the types into leaves and the leaves into inner domains,
// level by level, until one list at the protocol domain holds the top.
func layout(ts []serviceType, base, above int) ([]*browseDomain, error) {
	label := func(i int) string {
		prev := ""
		if i > 0 {
			prev = ts[i-1].key.Name
		}
		return separator(prev, ts[i].key.Name)
	}
	domLen := func(l string) int { return 1 + len(l) + above + base }
	var level []*browseDomain
	for _, span := range cut(len(ts), func(i, j int) bool {
		return servicesListLen(domLen(label(i)), ts[i:j]) <= MaxDNSSDReply
	}, func(i int) int { return len(label(i)) }) {
		level = append(level, &browseDomain{label: label(span[0]), first: span[0], types: ts[span[0]:span[1]]})
	}
	for browseListLen(base, level) > MaxDNSSDReply {
		var up []*browseDomain
		for _, span := range cut(len(level), func(i, j int) bool {
			return browseListLen(domLen(level[i].label), level[i:j]) <= MaxDNSSDReply
		}, func(i int) int { return len(level[i].label) }) {
			up = append(up, &browseDomain{label: level[span[0]].label, first: level[span[0]].first, children: level[span[0]:span[1]]})
		}
		if len(up) == len(level) {
			return nil, fmt.Errorf("browse domains %q... do not group into lists of %d bytes", level[0].label, MaxDNSSDReply)
		}
		level = up
	}
	return level, nil
}

// cut splits n items into runs [i, j) for which fits holds, each as long
// as it can be, except that a run may end up to a quarter earlier where
// the next run's label (labelLen of its first item) is shorter: short
// labels keep the lists above small and read better.
func cut(n int, fits func(i, j int) bool, labelLen func(i int) int) [][2]int {
	var out [][2]int
	for i := 0; i < n; {
		j := i + 1
		for j < n && fits(i, j+1) {
			j++
		}
		if j < n {
			best := j
			for c := j - 1; c > i && c >= j-(j-i)/4; c-- {
				if labelLen(c) < labelLen(best) {
					best = c
				}
			}
			j = best
		}
		out = append(out, [2]int{i, j})
		i = j
	}
	return out
}

// separator is the shortest prefix of next that sorts after prev (next
// sorts after prev).
func separator(prev, next string) string {
	for n := 1; n < len(next); n++ {
		if next[:n] > prev {
			return next[:n]
		}
	}
	return next
}

// servicesListLen is the size of the reply listing ts at
// _services._dns-sd._udp.DOMAIN, for a domain of domLen bytes in wire
// form. The first PTR target compresses onto the domain in the question;
// the others onto the first target's "_proto.DOMAIN".
func servicesListLen(domLen int, ts []serviceType) int {
	n := headerLen + wireLen(servicesLabel+".") - 1 + domLen + questionEnd
	for i, t := range ts {
		n += namePointer + rrFixed + 1 + len(t.key.Name) + 1 + namePointer
		if i == 0 {
			n += 1 + len(protoLabel(t.key.Proto))
		}
	}
	return n
}

// browseListLen is the size of the reply listing ds at
// b._dns-sd._udp.DOMAIN; each target compresses onto the question.
func browseListLen(domLen int, ds []*browseDomain) int {
	n := headerLen + wireLen(browseLabel+".") - 1 + domLen + questionEnd
	for _, d := range ds {
		n += namePointer + rrFixed + 1 + len(d.label) + namePointer
	}
	return n
}

// wireLen is the length of a presentation-format name in wire form.
func wireLen(name string) int {
	n := 1
	for rest := name; rest != ""; {
		var l string
		l, rest = splitFirst(rest)
		if l == "" {
			break
		}
		n += 1 + labelLen(l)
	}
	return n
}

// planBrowse lays out the browse tree of every protocol that DNS-SD lists
// (RFC 6763 §7) and returns the trees and, for each type, the browse
// domain that lists it.
func planBrowse(types []serviceType, origin string) ([]*browseDomain, map[registry.Key]string, error) {
	var trees []*browseDomain
	domainOf := make(map[registry.Key]string, len(types))
	for _, p := range []registry.Protocol{registry.TCP, registry.UDP} {
		var ts []serviceType
		for _, t := range types {
			if t.key.Proto == p {
				ts = append(ts, t)
			}
		}
		if len(ts) == 0 {
			continue
		}
		slices.SortFunc(ts, func(a, b serviceType) int { return strings.Compare(a.key.Name, b.key.Name) })
		tree, err := planBrowsing(ts, p.String()+"."+origin)
		if err != nil {
			return nil, nil, err
		}
		var visit func(d *browseDomain)
		visit = func(d *browseDomain) {
			for _, t := range d.types {
				domainOf[t.key] = d.name
			}
			for _, c := range d.children {
				visit(c)
			}
		}
		visit(tree)
		trees = append(trees, tree)
	}
	return trees, domainOf, nil
}

// DNSSDNames are names of a zone's DNS-SD tree (RFC 6763) that exist,
// for query generators to ask.
type DNSSDNames struct {
	// Lists are b._dns-sd._udp.ORIGIN, then per protocol the
	// b._dns-sd._udp list of each inner browse domain (§11) and the
	// _services._dns-sd._udp list of each leaf (§9), in tree order.
	Lists []string
	// Instances are the service instances (§4): every service's at the
	// origin and, for a browsable type, in the browse domain that lists
	// it, in registry order.
	Instances []string
}

// BrowseNames returns the DNS-SD names of the zone that Build makes from
// reg under origin, laid out as Build lays them out, without building the
// zone.
func BrowseNames(reg *registry.Registry, origin string) (DNSSDNames, error) {
	var out DNSSDNames
	origin, err := canonical(origin)
	if err != nil {
		return out, err
	}
	keys, groups := groupServices(reg)
	types, err := browseTypes(keys, groups, origin)
	if err != nil {
		return out, err
	}
	trees, domainOf, err := planBrowse(types, origin)
	if err != nil {
		return out, err
	}
	out.Lists = []string{browseLabel + "." + origin}
	var list func(d *browseDomain)
	list = func(d *browseDomain) {
		if d.types != nil {
			out.Lists = append(out.Lists, servicesLabel+"."+d.name)
		} else {
			out.Lists = append(out.Lists, browseLabel+"."+d.name)
		}
		for _, c := range d.children {
			list(c)
		}
	}
	for _, t := range trees {
		list(t)
	}
	for _, k := range keys {
		recs := groups[k].recs
		if len(recs) == 0 {
			continue // an alias
		}
		label := instanceLabel(recs)
		doms := []string{origin}
		if d, ok := domainOf[k]; ok {
			doms = append(doms, d)
		}
		for _, dom := range doms {
			typ, err := ServiceOwner(k.Name, k.Proto, dom)
			if err != nil {
				return out, err
			}
			inst, err := presentation(label + "." + typ)
			if err != nil {
				return out, err
			}
			out.Instances = append(out.Instances, inst)
		}
	}
	return out, nil
}

// addBrowsing publishes the browse trees (RFC 6763 §11) and their lists
// of service types (§9), each checked to fit MaxDNSSDReply, and at the
// origin the default and legacy browse domains: the origin itself, where
// every type exists at _NAME._PROTO.ORIGIN though the types are too many
// to list there. The apex _services name carries a TXT record that
// points at the tree.
func (s *Snapshot) addBrowsing(trees []*browseDomain) error {
	ttl := s.opts.TTL.PTR
	rootB := browseLabel + "." + s.origin
	rootS := servicesLabel + "." + s.origin
	s.add(rootS, &dns.TXT{Hdr: hdr(rootS, dns.TypeTXT, s.opts.TTL.TXT), Txt: []string{
		"txtvers=1",
		"browse=" + rootB,
		"note=service types are listed in browse domains (RFC 6763 section 11) below b._dns-sd._udp",
	}})
	for _, l := range []string{defaultBrowseLabel, legacyBrowseLabel} {
		n := l + "." + s.origin
		s.add(n, &dns.PTR{Hdr: hdr(n, dns.TypePTR, ttl), Ptr: s.origin})
	}
	var list func(d *browseDomain) error
	list = func(d *browseDomain) error {
		var owner string
		var rrs []dns.RR
		if d.types != nil {
			owner = servicesLabel + "." + d.name
			for _, t := range d.types {
				o, err := ServiceOwner(t.key.Name, t.key.Proto, d.name)
				if err != nil {
					return err
				}
				rrs = append(rrs, &dns.PTR{Hdr: hdr(owner, dns.TypePTR, ttl), Ptr: o})
			}
		} else {
			owner = browseLabel + "." + d.name
			for _, c := range d.children {
				rrs = append(rrs, &dns.PTR{Hdr: hdr(owner, dns.TypePTR, ttl), Ptr: c.name})
			}
		}
		if n := listLen(owner, rrs); n > MaxDNSSDReply {
			return fmt.Errorf("DNS-SD list %s is %d bytes, over %d", owner, n, MaxDNSSDReply)
		}
		for _, rr := range rrs {
			s.add(owner, rr)
		}
		for _, c := range d.children {
			if err := list(c); err != nil {
				return err
			}
		}
		return nil
	}
	for _, t := range trees {
		s.add(rootB, &dns.PTR{Hdr: hdr(rootB, dns.TypePTR, ttl), Ptr: t.name})
		if err := list(t); err != nil {
			return err
		}
	}
	return nil
}

// listLen packs the reply that answers owner with rrs, as a client
// without EDNS gets it, and returns its size.
func listLen(owner string, rrs []dns.RR) int {
	m := new(dns.Msg)
	m.SetQuestion(owner, dns.TypePTR)
	m.Response, m.Authoritative, m.Compress = true, true, true
	m.Answer = rrs
	return m.Len()
}
