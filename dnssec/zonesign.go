package dnssec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// SignZone returns the zone made of records (every record of the zone,
// unsigned, the SOA among them; records the signer publishes at the apex
// included) fully signed, as secondaries need it since they cannot sign:
// each RRset followed by its RRSIGs, and the NSEC chain, or NSEC3 chain
// with its NSEC3PARAM, that the policy asks for, all in canonical order
// (RFC 4034 §6.1) with the SOA first. Signatures are made anew, not taken
// from the cache.
func (s *Signer) SignZone(records []dns.RR) ([]dns.RR, error) {
	return s.SignZoneAfter(records, nil)
}

// SignZoneAfter is SignZone for the next version of a zone whose signed
// form is prev (what SignZone or SignZoneAfter returned for it; nil for
// none): an RRset whose canonical form is the same in both keeps prev's
// RRSIGs when they are exactly what this signer would make now (the same
// keys, inception and expiration), so that the difference between the two
// signed zones, which IXFR sends, holds only the signatures of what
// changed. ECDSA signatures are randomized: signing an unchanged RRset
// again would change every signature of the zone.
func (s *Signer) SignZoneAfter(records, prev []dns.RR) ([]dns.RR, error) {
	z, err := s.groupZone(records)
	if err != nil {
		return nil, err
	}
	switch s.policy.Denial {
	case DenialNSEC3:
		if err := z.addNSEC3(s.origin, s.policy.NSEC3); err != nil {
			return nil, err
		}
	default:
		z.addNSEC()
	}
	if err := s.signSets(z.sets, reusable(prev)); err != nil {
		return nil, err
	}
	return z.records(), nil
}

// zoneSets is a zone grouped into RRsets, by owner in canonical order.
type zoneSets struct {
	names  []*zoneName
	sets   []*zoneSet
	soa    *dns.SOA
	negTTL uint32
}

type zoneName struct {
	name string // lower-case presentation form
	wire []byte
	sets []*zoneSet // by type
}

type zoneSet struct {
	owner string
	typ   uint16
	rrs   []dns.RR
	sigs  []dns.RR
}

func (s *Signer) groupZone(records []dns.RR) (*zoneSets, error) {
	z := &zoneSets{}
	byName := map[string]*zoneName{}
	for _, rr := range records {
		h := rr.Header()
		switch h.Rrtype {
		case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeNSEC3PARAM:
			return nil, fmt.Errorf("dnssec: sign zone: the unsigned zone has a %s record at %s", dns.TypeToString[h.Rrtype], h.Name)
		}
		name := strings.ToLower(h.Name)
		if !dns.IsSubDomain(s.origin, name) {
			return nil, fmt.Errorf("dnssec: sign zone: %s is outside %s", h.Name, s.origin)
		}
		n := byName[name]
		if n == nil {
			w, err := nameWire(name)
			if err != nil {
				return nil, fmt.Errorf("dnssec: sign zone: %w", err)
			}
			n = &zoneName{name: name, wire: w}
			byName[name] = n
			z.names = append(z.names, n)
		}
		if soa, ok := rr.(*dns.SOA); ok && name == s.origin {
			z.soa = soa
		}
		n.add(rr)
	}
	if z.soa == nil {
		return nil, fmt.Errorf("dnssec: sign zone: no SOA at %s", s.origin)
	}
	// RFC 9077 §3: NSEC and NSEC3 TTL is min(SOA TTL, SOA MINIMUM).
	z.negTTL = min(z.soa.Hdr.Ttl, z.soa.Minttl)
	slices.SortFunc(z.names, func(a, b *zoneName) int { return compareNames(a.wire, b.wire) })
	for _, n := range z.names {
		z.sets = append(z.sets, n.sets...)
	}
	return z, nil
}

func (n *zoneName) add(rr dns.RR) *zoneSet {
	t := rr.Header().Rrtype
	for _, s := range n.sets {
		if s.typ == t {
			s.rrs = append(s.rrs, rr)
			return s
		}
	}
	s := &zoneSet{owner: rr.Header().Name, typ: t, rrs: []dns.RR{rr}}
	// Keep the sets in type order, so the output is in a stable order.
	i, _ := slices.BinarySearchFunc(n.sets, t, func(s *zoneSet, t uint16) int { return int(s.typ) - int(t) })
	n.sets = slices.Insert(n.sets, i, s)
	return s
}

func (n *zoneName) types() []uint16 {
	out := make([]uint16, len(n.sets))
	for i, s := range n.sets {
		out[i] = s.typ
	}
	return out
}

// addNSEC links every owner name to the next in canonical order, the
// last back to the apex (RFC 4034 §4.1.1). Next names are lower case.
func (z *zoneSets) addNSEC() {
	for i, n := range z.names {
		next := z.names[(i+1)%len(z.names)]
		bitmap := typeBitmap(append(n.types(), dns.TypeRRSIG, dns.TypeNSEC))
		nsec := &dns.NSEC{Hdr: dns.RR_Header{Name: n.name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: z.negTTL},
			NextDomain: next.name, TypeBitMap: bitmap}
		z.sets = append(z.sets, n.add(nsec))
	}
}

// addNSEC3 hashes every owner name and every empty non-terminal above one
// (RFC 5155 §7.1), and links the hashes in order; the apex gets the
// NSEC3PARAM. No opt-out: the zone has no delegations.
func (z *zoneSets) addNSEC3(origin string, p NSEC3Params) error {
	if _, err := hex.DecodeString(p.Salt); err != nil || len(p.Salt) > 2*255 {
		return fmt.Errorf("dnssec: NSEC3 salt %q: want at most 255 octets in hex", p.Salt)
	}
	param := &dns.NSEC3PARAM{Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeNSEC3PARAM, Class: dns.ClassINET},
		Hash: dns.SHA1, Iterations: p.Iterations, SaltLength: uint8(len(p.Salt) / 2), Salt: saltField(p.Salt)}
	for _, n := range z.names {
		if n.name == origin {
			z.sets = append(z.sets, n.add(param))
		}
	}
	type hashed struct {
		hash  string // base32hex, upper case as miekg/dns makes it
		types []uint16
	}
	var hs []hashed
	seen := map[string]bool{}
	for _, n := range z.names {
		seen[n.name] = true
	}
	for _, n := range z.names {
		hs = append(hs, hashed{dns.HashName(n.name, dns.SHA1, p.Iterations, saltField(p.Salt)), typeBitmap(append(n.types(), dns.TypeRRSIG))})
		// The names between n and the apex that hold nothing themselves.
		for w := n.wire; len(w) > 1; {
			w = w[1+int(w[0]):]
			parent, _, err := dns.UnpackDomainName(w, 0)
			if err != nil || seen[parent] || !dns.IsSubDomain(origin, parent) {
				break
			}
			seen[parent] = true
			hs = append(hs, hashed{dns.HashName(parent, dns.SHA1, p.Iterations, saltField(p.Salt)), nil})
		}
	}
	slices.SortFunc(hs, func(a, b hashed) int { return strings.Compare(a.hash, b.hash) })
	for i, h := range hs {
		if i > 0 && hs[i-1].hash == h.hash {
			return fmt.Errorf("dnssec: NSEC3 hash collision on %s: choose another salt", h.hash)
		}
	}
	for i, h := range hs {
		owner := strings.ToLower(h.hash) + "." + origin
		n3 := &dns.NSEC3{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeNSEC3, Class: dns.ClassINET, Ttl: z.negTTL},
			Hash: dns.SHA1, Iterations: p.Iterations, SaltLength: param.SaltLength, Salt: param.Salt,
			HashLength: 20, NextDomain: hs[(i+1)%len(hs)].hash, TypeBitMap: h.types}
		w, err := nameWire(owner)
		if err != nil {
			return err
		}
		n := &zoneName{name: owner, wire: w}
		z.names = append(z.names, n)
		z.sets = append(z.sets, n.add(n3))
	}
	slices.SortFunc(z.names, func(a, b *zoneName) int { return compareNames(a.wire, b.wire) })
	return nil
}

// saltField is the salt as miekg/dns keeps it: hex, "" for none.
func saltField(salt string) string { return strings.ToUpper(salt) }

// signSets signs every set on all CPUs; signing the zone of the full
// registry takes seconds.
func (s *Signer) signSets(sets []*zoneSet, prev map[setKey]*prevSet) error {
	t := s.times(s.Epoch(s.now()))
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(sets); i += workers {
				set := sets[i]
				c, err := canonicalize(set.rrs)
				if err == nil {
					if set.sigs = s.reuse(prev, set, c, t); set.sigs == nil {
						var sigs Sigs
						if sigs, err = s.signCanonical(c, t); err == nil {
							set.sigs, err = sigRRs(sigs, set.owner, c.class, c.ttl)
						}
					}
				}
				if err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// records lists the signed zone: the SOA and its RRSIGs first, then every
// name in canonical order with each of its sets followed by its RRSIGs.
func (z *zoneSets) records() []dns.RR {
	var out []dns.RR
	var soaSet *zoneSet
	for _, n := range z.names {
		for _, set := range n.sets {
			if set.typ == dns.TypeSOA {
				soaSet = set
			}
		}
	}
	out = append(append(out, soaSet.rrs...), soaSet.sigs...)
	for _, n := range z.names {
		for _, set := range n.sets {
			if set == soaSet {
				continue
			}
			out = append(append(out, set.rrs...), set.sigs...)
		}
	}
	return out
}

// setKey names an RRset of a signed zone: its owner, lower case, and type.
type setKey struct {
	owner string
	typ   uint16
}

// prevSet is an RRset of the previous signed zone: its records and their
// RRSIGs, and later (on first use) the digest of its canonical form.
type prevSet struct {
	rrs, sigs []dns.RR
	once      sync.Once
	digest    [sha256.Size]byte
	ok        bool
}

// reusable indexes a signed zone by RRset, for SignZoneAfter.
func reusable(signed []dns.RR) map[setKey]*prevSet {
	if len(signed) == 0 {
		return nil
	}
	out := make(map[setKey]*prevSet, len(signed)/2)
	get := func(k setKey) *prevSet {
		p := out[k]
		if p == nil {
			p = &prevSet{}
			out[k] = p
		}
		return p
	}
	for _, rr := range signed {
		h := rr.Header()
		if sig, ok := rr.(*dns.RRSIG); ok {
			p := get(setKey{strings.ToLower(h.Name), sig.TypeCovered})
			p.sigs = append(p.sigs, rr)
			continue
		}
		p := get(setKey{strings.ToLower(h.Name), h.Rrtype})
		p.rrs = append(p.rrs, rr)
	}
	return out
}

// reuse returns the previous zone's RRSIGs of the set c is the canonical
// form of, when that set had the same canonical form and its RRSIGs are
// what s would make now: one by each key of the set's role, with times t
// and the set's labels and TTL. Otherwise nil: the set is signed anew.
func (s *Signer) reuse(prev map[setKey]*prevSet, set *zoneSet, c *canonicalRRset, t sigTimes) []dns.RR {
	p := prev[setKey{strings.ToLower(set.owner), set.typ}]
	if p == nil {
		return nil
	}
	p.once.Do(func() {
		if pc, err := canonicalize(p.rrs); err == nil {
			p.digest, p.ok = sha256.Sum256(pc.appendTo(nil)), true
		}
	})
	keys := s.signersOf(c.rtype)
	if !p.ok || len(p.sigs) != len(keys) || p.digest != sha256.Sum256(c.appendTo(nil)) {
		return nil
	}
	for i, rr := range p.sigs {
		sig := rr.(*dns.RRSIG)
		if sig.Inception != t.inception || sig.Expiration != t.expiration || sig.Labels != c.labels() ||
			sig.OrigTtl != c.ttl || sig.KeyTag != keys[i].Tag() || sig.Algorithm != keys[i].DNSKEY.Algorithm {
			return nil
		}
	}
	return p.sigs
}
