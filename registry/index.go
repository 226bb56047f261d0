package registry

import (
	"slices"
	"sort"
)

// portIndex maps a port to the records covering it, for one protocol. The
// port space is cut into segments at every range boundary; each segment
// lists the records that cover all of it, so a lookup is one binary search
// and never expands a range port by port.
type portIndex struct {
	starts []int32   // ascending; starts[0] == 0
	recs   [][]int32 // recs[i] covers [starts[i], starts[i+1])
}

func (r *Registry) buildPortIndex() {
	for _, p := range Protocols {
		var idx []int32
		for i := range r.Records {
			rec := &r.Records[i]
			// Rows without a protocol (old unassigned ranges, a few named
			// rows) hold their ports on every transport.
			if rec.HasPort && (rec.Proto == p || rec.Proto == ProtoNone) {
				idx = append(idx, int32(i))
			}
		}
		r.byPort[p] = r.segment(idx)
	}
}

func (r *Registry) segment(idx []int32) portIndex {
	cuts := []int32{0}
	for _, i := range idx {
		pr := r.Records[i].Ports
		cuts = append(cuts, int32(pr.Lo), int32(pr.Hi)+1)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	if cuts[len(cuts)-1] > 65535 {
		cuts = cuts[:len(cuts)-1]
	}
	sort.SliceStable(idx, func(a, b int) bool { return r.Records[idx[a]].Ports.Lo < r.Records[idx[b]].Ports.Lo })
	pi := portIndex{starts: cuts, recs: make([][]int32, len(cuts))}
	var active []int32
	next := 0
	for s, start := range cuts {
		active = slices.DeleteFunc(active, func(i int32) bool { return int32(r.Records[i].Ports.Hi) < start })
		for next < len(idx) && int32(r.Records[idx[next]].Ports.Lo) <= start {
			active = append(active, idx[next])
			next++
		}
		if len(active) > 0 {
			pi.recs[s] = slices.Clone(active)
			slices.Sort(pi.recs[s]) // registry order
		}
	}
	return pi
}

// ByPort returns the records whose port or range covers port on proto,
// in registry order, including rows registered without a protocol. It does
// not allocate.
func (r *Registry) ByPort(port uint16, proto Protocol) []int32 {
	if proto == ProtoNone || int(proto) >= len(r.byPort) {
		return nil
	}
	pi := &r.byPort[proto]
	i := sort.Search(len(pi.starts), func(i int) bool { return pi.starts[i] > int32(port) }) - 1
	if i < 0 {
		return nil
	}
	return pi.recs[i]
}

// Record returns the record at index i, as returned by ByPort.
func (r *Registry) Record(i int32) *Record { return &r.Records[i] }
