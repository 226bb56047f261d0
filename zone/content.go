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
func (s *Snapshot) All() iter.Seq2[string, []dns.RR] { return s.all(nil) }

// Changes returns the names of two versions of a zone that may differ,
// each with its records, in canonical order like All: every stored name,
// and the port names that are made from different inputs (registry rows
// covering the port, whether the services they name exist, TTLs, origin,
// mode). The port names it leaves out have the same records in both, so a
// diff of the two sequences is the diff of the zones, without making and
// comparing the 262,144 port names a registry update mostly leaves alone.
func Changes(old, new *Snapshot) (olds, news iter.Seq2[string, []dns.RR]) {
	same := samePortNames(old, new)
	return old.all(same), new.all(same)
}

// all is All without the port names for which skip is true; those cost
// nothing, not even a comparison.
func (s *Snapshot) all(skip func(uint16, registry.Protocol) bool) iter.Seq2[string, []dns.RR] {
	return func(yield func(string, []dns.RR) bool) {
		names := s.sorted()
		i := 0
		// stored yields the stored names before name ("" for all of
		// them) and reports whether name itself is one (it then
		// shadows the port name, in All as in Lookup).
		stored := func(name string) (shadowed, ok bool) {
			for ; i < len(names); i++ {
				c := 0
				if name != "" {
					c = CompareNames(names[i], name)
				}
				if c > 0 {
					break
				}
				shadowed = shadowed || c == 0
				if !yield(names[i], s.RRs(names[i])) {
					return shadowed, false
				}
			}
			return shadowed, true
		}
		for _, p := range protocolsInOrder() {
			suffix := "." + protoLabel(p) + "." + s.origin
			for port := range portsInOrder {
				if skip != nil && skip(port, p) {
					continue
				}
				name := "_" + strconv.Itoa(int(port)) + suffix
				shadowed, ok := stored(name)
				if !ok {
					return
				}
				if shadowed {
					continue
				}
				if n := s.portNode(name, port, p); n != nil {
					if !yield(name, n.records()) {
						return
					}
				}
			}
		}
		stored("")
	}
}

// samePortNames returns a test of whether a port name has the same records
// in a and b, judged from what portNode makes them of.
func samePortNames(a, b *Snapshot) func(uint16, registry.Protocol) bool {
	if a.origin != b.origin || a.opts.PortNames != b.opts.PortNames ||
		a.opts.TTL.PTR != b.opts.TTL.PTR || a.opts.TTL.TXT != b.opts.TTL.TXT {
		return func(uint16, registry.Protocol) bool { return false }
	}
	servedA, servedB := a.servedRows(), b.servedRows()
	// A stored name of the port form hides the port name (All skips
	// it); where that differs the port name must be compared.
	type portKey struct {
		port  uint16
		proto registry.Protocol
	}
	shadowed := map[portKey]bool{}
	for _, s := range []*Snapshot{a, b} {
		for _, name := range s.order {
			if port, p, ok := s.parsePortName(name); ok {
				shadowed[portKey{port, p}] = true
			}
		}
	}
	return func(port uint16, p registry.Protocol) bool {
		if len(shadowed) > 0 && shadowed[portKey{port, p}] {
			return false
		}
		ra, rb := a.ports.lookup(port, p), b.ports.lookup(port, p)
		if len(ra) != len(rb) {
			return false
		}
		for k := range ra {
			if !a.ports.rows[ra[k]].equal(&b.ports.rows[rb[k]]) || servedA[ra[k]] != servedB[rb[k]] {
				return false
			}
		}
		return true
	}
}

// servedRows tells, for each port table row, whether the zone serves the
// service it names under the row's own protocol: the PTR of a port name
// points only at such services.
func (s *Snapshot) servedRows() []bool {
	out := make([]bool, len(s.ports.rows))
	for i := range s.ports.rows {
		r := &s.ports.rows[i]
		if r.name == "" || r.proto == registry.ProtoNone {
			continue
		}
		owner, err := ServiceOwner(r.name, r.proto, s.origin)
		out[i] = err == nil && s.nodes[owner] != nil
	}
	return out
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
// names below it. It returns -1, 0 or +1. It reads the names in place,
// allocating nothing: a diff of two zones compares a few hundred
// thousand names.
func CompareNames(a, b string) int {
	var la, lb [128]int32 // label starts; a label ends before the next start's dot
	a, b = strings.TrimSuffix(a, "."), strings.TrimSuffix(b, ".")
	na, nb := labelStarts(a, &la), labelStarts(b, &lb)
	for ia, ib := na-1, nb-1; ia >= 0 && ib >= 0; ia, ib = ia-1, ib-1 {
		ea, eb := len(a), len(b)
		if ia+1 < na {
			ea = int(la[ia+1]) - 1
		}
		if ib+1 < nb {
			eb = int(lb[ib+1]) - 1
		}
		x, y := int(la[ia]), int(lb[ib])
		for x < ea && y < eb {
			var cx, cy byte
			cx, x = decodeAt(a, x)
			cy, y = decodeAt(b, y)
			if cx, cy = lower(cx), lower(cy); cx != cy {
				if cx < cy {
					return -1
				}
				return 1
			}
		}
		switch {
		case x < ea:
			return 1
		case y < eb:
			return -1
		}
	}
	switch {
	case na < nb:
		return -1
	case na > nb:
		return 1
	}
	return 0
}

// labelStarts records where each label of name (no trailing dot) starts
// and returns how many there are; "" has none. An escaped dot does not
// end a label.
func labelStarts(name string, starts *[128]int32) int {
	if name == "" {
		return 0
	}
	n := 1
	starts[0] = 0
	for i := 0; i < len(name) && n < len(starts); i++ {
		switch name[i] {
		case '\\':
			i++
		case '.':
			starts[n] = int32(i + 1)
			n++
		}
	}
	return n
}

// decodeAt reads the octet at name[i] (\DDD, \X or a plain byte) and
// returns it with the index of the next one.
func decodeAt(name string, i int) (byte, int) {
	if name[i] != '\\' || i+1 >= len(name) {
		return name[i], i + 1
	}
	if i+3 < len(name) && isDigit(name[i+1]) && isDigit(name[i+2]) && isDigit(name[i+3]) {
		return (name[i+1]-'0')*100 + (name[i+2]-'0')*10 + (name[i+3] - '0'), i + 4
	}
	return name[i+1], i + 2
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
