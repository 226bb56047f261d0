package zone

import (
	"crypto/sha256"
	"iter"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/registry"
)

// Version identifies one version of a zone without the zone itself: its
// SOA serial and the digest of everything it answers, the serial aside.
// Two snapshots with the same digest answer every query alike; the
// transfer journal keeps the last Version across restarts.
type Version struct {
	Serial uint32
	Digest [sha256.Size]byte
}

// Version returns the snapshot's serial and content digest.
func (s *Snapshot) Version() Version { return Version{Serial: s.serial, Digest: s.digest} }

// All yields every owner name of the zone with its records, as a secondary
// must hold them to answer every query as this zone does (zone transfers,
// WriteMasterFile): the stored names and the port names the zone has (its
// Options.PortNames), in canonical order (RFC 4034 §6.1, as CompareNames
// orders names). Port name records are made as they are yielded; the
// others are shared with the snapshot and must not be modified.
func (s *Snapshot) All() iter.Seq2[string, []dns.RR] {
	return func(yield func(string, []dns.RR) bool) {
		names := s.Names()
		// Names is in canonical order already; sorting again (linear on
		// sorted input) keeps All's order exact whatever Names becomes,
		// which the journal's merge of two versions relies on.
		slices.SortFunc(names, CompareNames)
		i := 0
		for _, p := range protocolsInOrder() {
			suffix := "." + protoLabel(p) + "." + s.origin
			for port := range portsInOrder {
				name := "_" + strconv.Itoa(int(port)) + suffix
				for ; i < len(names); i++ {
					c := CompareNames(names[i], name)
					if c > 0 {
						break
					}
					if c == 0 {
						// A stored name shadows the port name, in All as
						// in Lookup.
						name = ""
					}
					if !yield(names[i], s.RRs(names[i])) {
						return
					}
				}
				if name == "" {
					continue
				}
				if n := s.portNode(name, port, p); n != nil {
					if !yield(name, n.records()) {
						return
					}
				}
			}
		}
		for ; i < len(names); i++ {
			if !yield(names[i], s.RRs(names[i])) {
				return
			}
		}
	}
}

// records returns the node's records, CNAME first.
func (n *node) records() []dns.RR {
	var out []dns.RR
	if n.cname != nil {
		out = append(out, n.cname)
	}
	for _, set := range n.sets {
		out = append(out, set.rrs...)
	}
	return out
}

// protocolsInOrder is registry.Protocols in the canonical order of their
// labels (_dccp, _sctp, _tcp, _udp).
func protocolsInOrder() []registry.Protocol {
	ps := slices.Clone(registry.Protocols[:])
	slices.SortFunc(ps, func(a, b registry.Protocol) int { return CompareNames(protoLabel(a)+".", protoLabel(b)+".") })
	return ps
}

// portsInOrder yields 0-65535 in the order of their decimal labels
// ("_0" < "_1" < "_10" < "_100" ...), which is the canonical order of the
// port names of one protocol: a preorder walk of the decimal digit tree.
func portsInOrder(yield func(uint16) bool) {
	var walk func(n int) bool
	walk = func(n int) bool {
		if !yield(uint16(n)) {
			return false
		}
		for d := range 10 {
			c := n*10 + d
			if c > 65535 {
				break
			}
			if !walk(c) {
				return false
			}
		}
		return true
	}
	if !yield(0) { // "0" has no children: no leading zeros
		return
	}
	for first := 1; first <= 9; first++ {
		if !walk(first) {
			return
		}
	}
}

// CompareNames orders two domain names in presentation form canonically
// (RFC 4034 §6.1): label by label from the right, each compared as
// lower-cased octets with \DDD and \X escapes read, a name before the
// names below it. It returns -1, 0 or +1. A name that does not pack (too
// long) sorts after every name that does, by its text.
func CompareNames(a, b string) int {
	var wa, wb [256]byte
	na, erra := dns.PackDomainName(dns.Fqdn(a), wa[:], 0, nil, false)
	nb, errb := dns.PackDomainName(dns.Fqdn(b), wb[:], 0, nil, false)
	switch {
	case erra != nil && errb != nil:
		return strings.Compare(a, b)
	case erra != nil:
		return 1
	case errb != nil:
		return -1
	}
	var la, lb [128]uint8 // label offsets
	ca, cb := labelOffsets(wa[:na], &la), labelOffsets(wb[:nb], &lb)
	for ia, ib := ca-1, cb-1; ia >= 0 && ib >= 0; ia, ib = ia-1, ib-1 {
		x := wa[la[ia]+1 : la[ia]+1+wa[la[ia]]]
		y := wb[lb[ib]+1 : lb[ib]+1+wb[lb[ib]]]
		for k := 0; k < len(x) && k < len(y); k++ {
			if cx, cy := lower(x[k]), lower(y[k]); cx != cy {
				if cx < cy {
					return -1
				}
				return 1
			}
		}
		if len(x) != len(y) {
			if len(x) < len(y) {
				return -1
			}
			return 1
		}
	}
	switch {
	case ca < cb:
		return -1
	case ca > cb:
		return 1
	}
	return 0
}

// labelOffsets records where each label of an uncompressed wire name
// starts, the root aside, and returns how many there are.
func labelOffsets(w []byte, offs *[128]uint8) int {
	n := 0
	for off := 0; off < len(w) && w[off] != 0 && n < len(offs); off += 1 + int(w[off]) {
		offs[n] = uint8(off)
		n++
	}
	return n
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
