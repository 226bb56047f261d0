package zone

import (
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/dnssec"
)

// signedZone is the zone as secondaries get it when it is signed: made
// once per snapshot, on the first export or transfer.
type signedZone struct {
	once sync.Once
	rrs  []dns.RR
	err  error
}

// addSigner publishes the signer's DNSKEY, CDS and CDNSKEY at the apex.
func (s *Snapshot) addSigner() error {
	sg := s.opts.Signer
	if sg == nil {
		return nil
	}
	if sg.Origin() != s.origin {
		return fmt.Errorf("the DNSSEC signer is for %s, not %s", sg.Origin(), s.origin)
	}
	for _, rr := range sg.Apex() {
		s.add(s.origin, rr)
	}
	return nil
}

// Signer is the zone's DNSSEC signer, nil when the zone is not signed.
func (s *Snapshot) Signer() *dnssec.Signer { return s.opts.Signer }

// NegativeTTL is the TTL of negative answers and of the records that
// prove them: min(SOA TTL, SOA MINIMUM) (RFC 2308 §5, RFC 9077).
func (s *Snapshot) NegativeTTL() uint32 { return s.negTTL }

// RRsets returns the RRsets at name, port names included: one slice per
// type, in answer-preference order (a CNAME first). exists is false when
// the name does not exist; an empty non-terminal exists with no RRsets.
// The records are made for the caller from the compiled zone.
func (s *Snapshot) RRsets(name string) (sets [][]dns.RR, exists bool) {
	w, err := wireName(name)
	if err != nil {
		return nil, false
	}
	w = lowerWire(w)
	if !s.Contains([]byte(w)) {
		return nil, false
	}
	rel := []byte(w[:len(w)-len(s.originWire)])
	n := s.find(rel)
	if n != nil && n.flags()&nodeENT == 0 {
		return groupSets(s.RRs(name)), true
	}
	if port, proto, ok := portName(rel); ok && s.hasPortName(port, proto) {
		// Port names are written per query (ports.go): their RRsets are
		// what a question for each type gets.
		for _, t := range []uint16{dns.TypePTR, dns.TypeTXT} {
			if a := s.Lookup(name, t); a.Outcome == Success && len(a.Answer) > 0 {
				sets = append(sets, a.Answer)
			}
		}
		return sets, true
	}
	return nil, n != nil
}

// groupSets cuts records, one RRset after another, into their RRsets.
func groupSets(rrs []dns.RR) [][]dns.RR {
	var sets [][]dns.RR
	for start := 0; start < len(rrs); {
		end := start + 1
		for end < len(rrs) && rrs[end].Header().Rrtype == rrs[start].Header().Rrtype {
			end++
		}
		sets = append(sets, rrs[start:end:end])
		start = end
	}
	return sets
}

// Types returns the types present at name (for an NSEC bitmap) and
// whether the name exists.
func (s *Snapshot) Types(name string) (types []uint16, exists bool) {
	sets, exists := s.RRsets(name)
	for _, set := range sets {
		types = append(types, set[0].Header().Rrtype)
	}
	return types, exists
}

// SignedZone returns every record of the zone signed, with the NSEC or
// NSEC3 chain the signer's policy asks for, SOA first: what `zone export`
// writes and AXFR sends when the zone is signed, since secondaries cannot
// sign online. It is made on first use (seconds for the full registry)
// and kept with the snapshot. It is made of what All yields, port names
// included, as the unsigned zone for secondaries is.
func (s *Snapshot) SignedZone() ([]dns.RR, error) { return s.signedAfter(nil) }

// signedAfter is SignedZone made, when it is made now, with the
// signatures of prev's signed zone where they still hold
// (dnssec.Signer.SignZoneAfter): the zone being replaced, so that the
// journal's delta between the two carries only the signatures of what
// changed. prev's signed zone is made too if need be.
func (s *Snapshot) signedAfter(prev *Snapshot) ([]dns.RR, error) {
	sg := s.opts.Signer
	if sg == nil {
		return nil, fmt.Errorf("zone %s is not signed", s.origin)
	}
	s.signed.once.Do(func() {
		var all []dns.RR
		for _, rrs := range s.All() {
			all = append(all, rrs...)
		}
		var before []dns.RR
		if prev != nil && prev != s && prev.opts.Signer != nil && prev.origin == s.origin {
			before, _ = prev.SignedZone()
		}
		s.signed.rrs, s.signed.err = sg.SignZoneAfter(all, before)
	})
	return s.signed.rrs, s.signed.err
}

// secondaryZone is what a secondary receives, name by name in canonical
// order: All, or the signed zone when the zone is signed.
func (s *Snapshot) secondaryZone(prev *Snapshot) (iter.Seq2[string, []dns.RR], error) {
	if s.opts.Signer == nil {
		return s.All(), nil
	}
	rrs, err := s.signedAfter(prev)
	if err != nil {
		return nil, err
	}
	// The signed zone is in canonical order with its SOA first: the
	// apex's records come in two runs, which are joined here.
	type run struct {
		name string
		rrs  []dns.RR
	}
	var runs []run
	for i := 0; i < len(rrs); {
		j := i + 1
		for j < len(rrs) && strings.EqualFold(rrs[j].Header().Name, rrs[i].Header().Name) {
			j++
		}
		runs = append(runs, run{rrs[i].Header().Name, rrs[i:j:j]})
		i = j
	}
	slices.SortStableFunc(runs, func(a, b run) int { return CompareNames(a.name, b.name) })
	return func(yield func(string, []dns.RR) bool) {
		for i := 0; i < len(runs); {
			name, set := runs[i].name, runs[i].rrs
			for i++; i < len(runs) && CompareNames(runs[i].name, name) == 0; i++ {
				set = append(slices.Clip(set), runs[i].rrs...)
			}
			if !yield(name, set) {
				return
			}
		}
	}, nil
}

// WriteSignedMasterFile writes the signed zone (SignedZone) as an RFC 1035
// master file, with names in the strict form WriteMasterFile uses.
func (s *Snapshot) WriteSignedMasterFile(w io.Writer) error {
	rrs, err := s.SignedZone()
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "; svcdns zone %s serial %d, %d records, signed (%s)\n$ORIGIN %s\n",
		s.origin, s.serial, len(rrs), s.opts.Signer.Policy().Denial, s.origin); err != nil {
		return err
	}
	for _, rr := range rrs {
		if _, err := io.WriteString(w, masterLine(rr)+"\n"); err != nil {
			return err
		}
	}
	return nil
}
