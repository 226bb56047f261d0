package journal

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/zone"
)

// Delta is the difference between two versions of a zone, as RFC 1995 §4
// sends it: the records to delete from version From and the records to
// add, giving version To. The SOA records are From and To, never in the
// lists.
type Delta struct {
	From, To       *dns.SOA
	Deleted, Added []dns.RR
}

// Len is the number of records the delta carries, SOAs aside.
func (d *Delta) Len() int { return len(d.Deleted) + len(d.Added) }

// ErrOrder is returned by Diff when a snapshot does not yield its names
// in canonical order: the merge would then miss differences, so no delta
// is made and the journal starts over (secondaries get a full transfer).
var ErrOrder = errors.New("journal: zone names out of canonical order")

// Diff computes the delta from old to new by walking both zones' names in
// canonical order side by side (zone.Changes: what a secondary holds, less
// the port names a change cannot have touched); a name's records are
// compared exactly (owner and rdata case, TTL, wire form), so that a
// secondary applying the delta holds byte for byte what new holds.
func Diff(old, new *zone.Snapshot) (Delta, error) {
	d := Delta{From: old.SOA(), To: new.SOA()}
	olds, news, err := zone.Changes(old, new)
	if err != nil {
		return Delta{}, fmt.Errorf("journal: %w", err)
	}
	nextOld, stopOld := iter.Pull2(olds)
	defer stopOld()
	nextNew, stopNew := iter.Pull2(news)
	defer stopNew()
	var scratch setScratch
	on, ors, okOld := nextOld()
	nn, nrs, okNew := nextNew()
	var lastOld, lastNew string
	for okOld || okNew {
		if okOld && lastOld != "" && zone.CompareNames(lastOld, on) >= 0 ||
			okNew && lastNew != "" && zone.CompareNames(lastNew, nn) >= 0 {
			return Delta{}, ErrOrder
		}
		c := 0
		switch {
		case !okOld:
			c = 1
		case !okNew:
			c = -1
		default:
			c = zone.CompareNames(on, nn)
		}
		switch {
		case c < 0: // a name gone
			d.Deleted = appendNonSOA(d.Deleted, ors)
		case c > 0: // a new name
			d.Added = appendNonSOA(d.Added, nrs)
		default:
			del, add, err := scratch.compare(ors, nrs)
			if err != nil {
				return Delta{}, fmt.Errorf("journal: %s: %w", nn, err)
			}
			d.Deleted = append(d.Deleted, del...)
			d.Added = append(d.Added, add...)
		}
		if c <= 0 {
			lastOld = on
			on, ors, okOld = nextOld()
		}
		if c >= 0 {
			lastNew = nn
			nn, nrs, okNew = nextNew()
		}
	}
	return d, nil
}

func appendNonSOA(dst, rrs []dns.RR) []dns.RR {
	for _, rr := range rrs {
		if rr.Header().Rrtype != dns.TypeSOA {
			dst = append(dst, rr)
		}
	}
	return dst
}

// setScratch packs the records of one name of both versions, reused from
// name to name so that comparing a whole zone allocates little.
type setScratch struct {
	buf  []byte
	offs []int
}

// compare returns the records of old missing from new and of new missing
// from old, by exact wire form (RFC 1995 deletes by name, type, class and
// rdata; the TTL and case are compared too, so that a change of either is
// sent). SOAs are left out.
func (s *setScratch) compare(old, new []dns.RR) (del, add []dns.RR, err error) {
	s.buf, s.offs = s.buf[:0], s.offs[:0]
	for _, rr := range old {
		if err := s.pack(rr); err != nil {
			return nil, nil, err
		}
	}
	for _, rr := range new {
		if err := s.pack(rr); err != nil {
			return nil, nil, err
		}
	}
	rec := func(i int) []byte { return s.buf[s.offs[i]:s.offs[i+1]] }
	in := func(i, lo, hi int) bool {
		for j := lo; j < hi; j++ {
			if bytes.Equal(rec(i), rec(j)) {
				return true
			}
		}
		return false
	}
	n := len(old)
	for i, rr := range old {
		if rr.Header().Rrtype != dns.TypeSOA && !in(i, n, n+len(new)) {
			del = append(del, rr)
		}
	}
	for i, rr := range new {
		if rr.Header().Rrtype != dns.TypeSOA && !in(n+i, 0, n) {
			add = append(add, rr)
		}
	}
	return del, add, nil
}

func (s *setScratch) pack(rr dns.RR) error {
	if len(s.offs) == 0 {
		s.offs = append(s.offs, 0)
	}
	start := len(s.buf)
	need := dns.Len(rr) + 16
	s.buf = slices.Grow(s.buf, need)[:start+need]
	n, err := dns.PackRR(rr, s.buf, start, nil, false)
	if err != nil {
		return fmt.Errorf("pack %v: %w", rr, err)
	}
	s.buf = s.buf[:n]
	s.offs = append(s.offs, n)
	return nil
}

// Condense merges consecutive deltas into one from the first's From to
// the last's To (RFC 1995 §4): a record added and later deleted, or
// deleted and later added back, is not sent at all. Records keep the
// order in which they first appear. The deltas must chain (each From
// serial the previous To serial).
func Condense(ds []Delta) (Delta, error) {
	if len(ds) == 0 {
		return Delta{}, errors.New("journal: nothing to condense")
	}
	if len(ds) == 1 {
		return ds[0], nil
	}
	type entry struct {
		rr    dns.RR
		added bool // else deleted
		live  bool
	}
	var order []*entry
	byKey := map[string]*entry{}
	buf := make([]byte, 0, 512)
	for i, d := range ds {
		if i > 0 && d.From.Serial != ds[i-1].To.Serial {
			return Delta{}, fmt.Errorf("journal: delta %d starts at serial %d, the one before ends at %d", i, d.From.Serial, ds[i-1].To.Serial)
		}
		apply := func(rr dns.RR, added bool) error {
			buf = slices.Grow(buf[:0], dns.Len(rr)+16)[:dns.Len(rr)+16]
			n, err := dns.PackRR(rr, buf, 0, nil, false)
			if err != nil {
				return fmt.Errorf("journal: pack %v: %w", rr, err)
			}
			k := string(buf[:n])
			if e := byKey[k]; e != nil && e.live {
				if e.added != added {
					e.live = false // the two cancel out
					return nil
				}
				// Deleted twice or added twice cannot happen in a chain of
				// real deltas; keep the later one.
				e.rr = rr
				return nil
			}
			e := &entry{rr: rr, added: added, live: true}
			byKey[k] = e
			order = append(order, e)
			return nil
		}
		for _, rr := range d.Deleted {
			if err := apply(rr, false); err != nil {
				return Delta{}, err
			}
		}
		for _, rr := range d.Added {
			if err := apply(rr, true); err != nil {
				return Delta{}, err
			}
		}
	}
	out := Delta{From: ds[0].From, To: ds[len(ds)-1].To}
	for _, e := range order {
		switch {
		case !e.live:
		case e.added:
			out.Added = append(out.Added, e.rr)
		default:
			out.Deleted = append(out.Deleted, e.rr)
		}
	}
	return out, nil
}
