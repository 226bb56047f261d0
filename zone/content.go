package zone

import (
	"cmp"
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
// orders names). The records are made for the caller as they are yielded,
// read back from the compiled zone and, for port names, written from the
// port table as a query for them is answered: nothing of it is kept.
func (s *Snapshot) All() iter.Seq2[string, []dns.RR] { return s.all(nil) }

// Changes returns the names of two versions of a zone that may differ,
// each with its records, in canonical order like All: every stored name,
// and the port names that are made from different inputs (registry rows
// covering the port, whether the services they name exist, TTLs, origin,
// mode). The port names it leaves out have the same records in both, so a
// diff of the two sequences is the diff of the zones, without making and
// comparing the 262,144 port names a registry update mostly leaves alone.
//
// When either version is signed, the sequences are the zones as
// secondaries receive them, signed (SignedZone), whole: signatures,
// NSEC and NSEC3 records are part of the difference. new's signed zone is
// then made, if it is not yet, with old's signatures of the RRsets that
// did not change, so that the difference holds only the signatures of
// what did.
func Changes(old, new *Snapshot) (olds, news iter.Seq2[string, []dns.RR], err error) {
	if old.opts.Signer == nil && new.opts.Signer == nil {
		same := samePortNames(old, new)
		return old.all(same), new.all(same), nil
	}
	if olds, err = old.secondaryZone(nil); err != nil {
		return nil, nil, err
	}
	if news, err = new.secondaryZone(old); err != nil {
		return nil, nil, err
	}
	return olds, news, nil
}

// hasPortName reports whether the zone has the name _PORT._PROTO: every
// port with PortNamesAll, the registered ones with PortNamesRegistered.
func (s *Snapshot) hasPortName(port uint16, proto registry.Protocol) bool {
	return s.opts.PortNames == PortNamesAll || s.ports.registered(port, proto)
}

// all is All without the port names for which skip is true; those cost
// nothing, not even a comparison.
func (s *Snapshot) all(skip func(uint16, registry.Protocol) bool) iter.Seq2[string, []dns.RR] {
	return func(yield func(string, []dns.RR) bool) {
		names := s.sortedNames()
		i := 0
		// stored yields the stored names before the port name rel (nil
		// for all of them) and reports whether rel itself is one (it
		// then shadows the port name, in All as in AppendAnswer).
		stored := func(rel []byte) (shadowed, ok bool) {
			for ; i < len(names); i++ {
				n := nameRec(s.names[names[i]:])
				c := 0
				if rel != nil {
					c = compareWire(n.key(), rel)
				}
				if c > 0 {
					break
				}
				shadowed = shadowed || c == 0
				if !yield(s.display(n), s.records(n)) {
					return shadowed, false
				}
			}
			return shadowed, true
		}
		var rel [16]byte // _65535 and _sctp as labels
		var msg []byte
		for _, p := range protocolsInOrder() {
			pl := protoLabel(p)
			for port := range portsInOrder {
				if skip != nil && skip(port, p) || !s.hasPortName(port, p) {
					continue
				}
				w := strconv.AppendUint(append(rel[:0], 0, '_'), uint64(port), 10)
				w[0] = byte(len(w) - 1)
				w = append(append(w, byte(len(pl))), pl...)
				shadowed, ok := stored(w)
				if !ok {
					return
				}
				if shadowed {
					continue
				}
				var rrs []dns.RR
				msg, rrs = s.portRecords(msg, w, port, p)
				if !yield(presentationName(string(w)+s.originWire), rrs) {
					return
				}
			}
		}
		stored(nil)
	}
}

// sortedNames returns the offsets of the stored names holding records, in
// canonical order. It is made per call (about 0.1 s for the full
// registry's zone) rather than kept with the snapshot.
func (s *Snapshot) sortedNames() []int {
	out := make([]int, 0, s.nameCount)
	s.eachName(func(off int, n nameRec) {
		if n.flags()&nodeENT == 0 {
			out = append(out, off)
		}
	})
	slices.SortFunc(out, func(a, b int) int { return compareWire(nameRec(s.names[a:]).key(), nameRec(s.names[b:]).key()) })
	return out
}

// records returns every record of a stored name, as RRs does.
func (s *Snapshot) records(n nameRec) []dns.RR {
	display := s.display(n)
	w := lowerWire(string(n.key()) + s.originWire)
	var out []dns.RR
	for i := range n.count() {
		a := n.answer(i)
		if a.flags&answerOwn == 0 {
			continue
		}
		msg, r := s.appendBlob(s.question(w, a.qtype), a, 0)
		m := unpackSections(msg, r.Answer, r.Authority, r.Additional)
		for _, rr := range m.Answer {
			rr.Header().Name = display
			out = append(out, rr)
		}
	}
	return out
}

// portRecords returns the records of the port name whose labels above the
// origin are rel (wire form, lower case): its PTRs, then its TXT, written
// as AppendAnswer writes them and read back. msg is scratch space, which
// it returns for reuse.
func (s *Snapshot) portRecords(msg, rel []byte, port uint16, proto registry.Protocol) ([]byte, []dns.RR) {
	msg = append(append(append(msg[:0], make([]byte, 12)...), rel...), s.originWire...)
	qname := msg[12:]
	msg = append(msg, 0, byte(dns.TypeTXT), 0, byte(dns.ClassINET))
	rows := s.ports.lookup(port, proto)
	msg, n := s.appendPortPTRs(msg, qname, rows)
	msg = s.appendPortTXT(msg, port, proto, rows)
	m := unpackSections(msg, n+1, 0, 0)
	return msg, m.Answer
}

// samePortNames returns a test of whether a port name has the same records
// in a and b, judged from what appendPort writes them from.
func samePortNames(a, b *Snapshot) func(uint16, registry.Protocol) bool {
	if a.origin != b.origin || a.opts.PortNames != b.opts.PortNames ||
		a.opts.TTL.PTR != b.opts.TTL.PTR || a.opts.TTL.TXT != b.opts.TTL.TXT {
		return func(uint16, registry.Protocol) bool { return false }
	}
	// A stored name of the port form hides the port name (All skips
	// it); where that differs the port name must be compared.
	type portKey struct {
		port  uint16
		proto registry.Protocol
	}
	shadowed := map[portKey]bool{}
	for _, s := range []*Snapshot{a, b} {
		s.eachName(func(_ int, n nameRec) {
			if port, p, ok := portName([]byte(lowerWire(string(n.key())))); ok {
				shadowed[portKey{port, p}] = true
			}
		})
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
			if !a.ports.rows[ra[k]].equal(&b.ports.rows[rb[k]]) {
				return false
			}
		}
		return true
	}
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

// compareWire orders two names in wire form (or their labels above a
// common origin) canonically, as CompareNames does names in presentation
// form: label by label from the right, as lower-cased octets.
func compareWire(a, b []byte) int {
	var la, lb [128]uint8
	na, nb := wireLabels(a, &la), wireLabels(b, &lb)
	for i, j := na-1, nb-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		x := a[la[i]+1 : int(la[i])+1+int(a[la[i]])]
		y := b[lb[j]+1 : int(lb[j])+1+int(b[lb[j]])]
		for k := 0; k < len(x) && k < len(y); k++ {
			if cx, cy := lowerByte(x[k]), lowerByte(y[k]); cx != cy {
				return cmp.Compare(cx, cy)
			}
		}
		if c := cmp.Compare(len(x), len(y)); c != 0 {
			return c
		}
	}
	return cmp.Compare(na, nb)
}

// wireLabels records where each label of a wire name starts and returns
// how many there are, the root aside.
func wireLabels(w []byte, starts *[128]uint8) int {
	n := 0
	for i := 0; i < len(w) && w[i] != 0 && n < len(starts); i += 1 + int(w[i]) {
		starts[n] = uint8(i)
		n++
	}
	return n
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
