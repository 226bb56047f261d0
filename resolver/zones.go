package resolver

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/zone"
)

// zoneSet is the snapshots served together, one per origin, longest
// origin first, so that the first one a name is under is the one that
// answers it.
type zoneSet []*zone.Snapshot

// ErrZones is matched by the errors of a set of zones that cannot be
// served together.
var ErrZones = errors.New("resolver: zones")

func newZoneSet(snaps []*zone.Snapshot) zoneSet {
	zs := slices.Clone(snaps)
	slices.SortStableFunc(zs, func(a, b *zone.Snapshot) int { return len(b.OriginWire()) - len(a.OriginWire()) })
	return zs
}

// checkZones says why snaps cannot be served together: none at all, or
// two with one origin.
func checkZones(snaps []*zone.Snapshot) error {
	if len(snaps) == 0 {
		return fmt.Errorf("%w: none to serve", ErrZones)
	}
	for i, s := range snaps {
		for _, t := range snaps[:i] {
			if s.Origin() == t.Origin() {
				return fmt.Errorf("%w: origin %s twice", ErrZones, s.Origin())
			}
		}
	}
	return nil
}

// find returns the snapshot of the longest origin that a wire name (lower
// case) is at or below, or nil. It is the answer path's, and does not
// allocate.
func (zs zoneSet) find(name []byte) *zone.Snapshot {
	for _, s := range zs {
		if s.Contains(name) {
			return s
		}
	}
	return nil
}

// pick is find for a name in presentation format (any case, fully
// qualified or not): the dns.Msg path and multicast DNS use it. nil for a
// name that is not a valid domain name, or outside every origin (refused).
func (zs zoneSet) pick(qname string) *zone.Snapshot {
	var buf [256]byte
	n, err := dns.PackDomainName(dns.Fqdn(qname), buf[:], 0, nil, false)
	if err != nil {
		return nil
	}
	return zs.find(lowerASCII(buf[:n]))
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
