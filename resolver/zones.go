package resolver

import (
	"slices"
	"strings"

	"github.com/svcdns/svcdns/zone"
)

// zoneSet is the snapshots served together, one per origin, longest
// origin first, so that the first one a name is under is the one that
// answers it.
type zoneSet []*zone.Snapshot

func newZoneSet(snaps []*zone.Snapshot) zoneSet {
	zs := slices.Clone(snaps)
	slices.SortStableFunc(zs, func(a, b *zone.Snapshot) int { return len(b.Origin()) - len(a.Origin()) })
	return zs
}

// pick returns the snapshot whose origin is the longest one that qname
// (any case, fully qualified) is at or below, or nil: a name outside every
// origin is refused.
func (zs zoneSet) pick(qname string) *zone.Snapshot {
	for _, s := range zs {
		if underOrigin(qname, s.Origin()) {
			return s
		}
	}
	return nil
}

// underOrigin reports whether name (any case) is origin (lower case) or
// below it, on a label boundary that is not an escaped dot.
func underOrigin(name, origin string) bool {
	if len(name) < len(origin) || !strings.EqualFold(name[len(name)-len(origin):], origin) {
		return false
	}
	i := len(name) - len(origin) - 1
	if i < 0 {
		return true
	}
	if name[i] != '.' {
		return false
	}
	bs := 0
	for j := i - 1; j >= 0 && name[j] == '\\'; j-- {
		bs++
	}
	return bs%2 == 0
}
