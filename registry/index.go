package registry

import (
	"slices"
	"sort"
)

// PortIndex maps a port to the items whose port range covers it. The port
// space is cut into segments at every range boundary; each segment lists
// the items that cover all of it, so a lookup is one binary search and
// never expands a range port by port.
type PortIndex struct {
	starts []int32   // ascending; starts[0] == 0
	items  [][]int32 // items[i] covers [starts[i], starts[i+1])
}

// NewPortIndex indexes the items 0..n-1 for which ranges returns ok, each
// covering the port range ranges returns for it.
func NewPortIndex(n int, ranges func(i int) (pr PortRange, ok bool)) PortIndex {
	var idx []int32
	cuts := []int32{0}
	prs := make([]PortRange, n)
	for i := range n {
		pr, ok := ranges(i)
		if !ok {
			continue
		}
		prs[i] = pr
		idx = append(idx, int32(i))
		cuts = append(cuts, int32(pr.Lo), int32(pr.Hi)+1)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	if cuts[len(cuts)-1] > 65535 {
		cuts = cuts[:len(cuts)-1]
	}
	sort.SliceStable(idx, func(a, b int) bool { return prs[idx[a]].Lo < prs[idx[b]].Lo })
	pi := PortIndex{starts: cuts, items: make([][]int32, len(cuts))}
	var active []int32
	next := 0
	for s, start := range cuts {
		active = slices.DeleteFunc(active, func(i int32) bool { return int32(prs[i].Hi) < start })
		for next < len(idx) && int32(prs[idx[next]].Lo) <= start {
			active = append(active, idx[next])
			next++
		}
		if len(active) > 0 {
			pi.items[s] = slices.Clone(active)
			slices.Sort(pi.items[s]) // item order
		}
	}
	return pi
}

// Lookup returns the items covering port, in ascending order. It does not
// allocate; the slice must not be modified.
func (pi *PortIndex) Lookup(port uint16) []int32 {
	i := sort.Search(len(pi.starts), func(i int) bool { return pi.starts[i] > int32(port) }) - 1
	if i < 0 {
		return nil
	}
	return pi.items[i]
}

func (r *Registry) buildPortIndex() {
	for _, p := range Protocols {
		r.byPort[p] = NewPortIndex(len(r.Records), func(i int) (PortRange, bool) {
			rec := &r.Records[i]
			// Rows without a protocol (old unassigned ranges, a few named
			// rows) hold their ports on every transport.
			return rec.Ports, rec.HasPort && (rec.Proto == p || rec.Proto == ProtoNone)
		})
	}
}

// ByPort returns the records whose port or range covers port on proto,
// in registry order, including rows registered without a protocol. It does
// not allocate.
func (r *Registry) ByPort(port uint16, proto Protocol) []int32 {
	if proto == ProtoNone || int(proto) >= len(r.byPort) {
		return nil
	}
	return r.byPort[proto].Lookup(port)
}

// Record returns the record at index i, as returned by ByPort.
func (r *Registry) Record(i int32) *Record { return &r.Records[i] }
