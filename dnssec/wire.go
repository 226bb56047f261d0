package dnssec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/miekg/dns"
)

// Signing in wire form, for the compiled answer path: an RRset is given as
// the owner and the RDATA of its records, its RRSIGs come back as their
// RDATA, and when the cache holds them nothing is allocated. The cache and
// its keys are those of Sign, so both ways of asking get the same
// signatures.

// Sigs is the RRSIGs of one RRset in wire form: each RRSIG's RDATA (RFC
// 4034 §3.1, the signer's name uncompressed), preceded by its length in
// two octets. Sigs from the cache are shared: do not modify them.
type Sigs []byte

// Next returns the first RRSIG's RDATA and the RRSIGs after it; rdata is
// nil when there are none.
func (s Sigs) Next() (rdata []byte, rest Sigs) {
	if len(s) < 2 {
		return nil, nil
	}
	n := 2 + int(binary.BigEndian.Uint16(s))
	if n > len(s) {
		return nil, nil
	}
	return s[2:n], s[n:]
}

// Count is the number of RRSIGs.
func (s Sigs) Count() int {
	n := 0
	for rd, rest := s.Next(); rd != nil; rd, rest = rest.Next() {
		n++
	}
	return n
}

// maxSmallSet is the most records SignWire sorts without allocating.
const maxSmallSet = 32

// SignWire returns the RRSIGs of one RRset of class IN given in wire form:
// owner is its owner name, uncompressed, in any case; rdata holds the RDATA
// of each record (names uncompressed) preceded by its length in two
// octets; ttl is the RRset's TTL, which the RRSIGs cover as the original
// TTL. The signatures are those Sign makes of the same RRset, from the
// same cache (RFC 4034 §6: owner and the names of RDATA that §6.2 lists
// are lower-cased for signing; records sorted, duplicates dropped).
//
// scratch is working space; SignWire overwrites it, and allocates only
// when it is too small for the records in canonical form twice over, or
// when the signatures are not cached.
func (s *Signer) SignWire(owner []byte, typ uint16, ttl uint32, rdata []byte, version uint32, scratch []byte) (Sigs, error) {
	var offArr [maxSmallSet + 1]int
	buf, offs, err := canonicalWire(scratch[:0], offArr[:0], owner, typ, ttl, rdata)
	if err != nil {
		return nil, fmt.Errorf("dnssec: %w", err)
	}
	var recArr [maxSmallSet][]byte
	recs := recArr[:0]
	for i := 0; i+1 < len(offs); i++ {
		recs = append(recs, buf[offs[i]:offs[i+1]])
	}
	recs = sortCanonical(recs, len(owner)+10)
	epoch := s.Epoch(s.now())
	k := s.cacheKey(buf[len(buf):], epoch, version, recs)
	return s.cache.get(k, func() (Sigs, error) {
		c := &canonicalRRset{ttl: ttl, rtype: typ, class: dns.ClassINET}
		for _, r := range recs {
			c.buf = append(c.buf, r...)
		}
		at := 0
		for _, r := range recs {
			c.recs = append(c.recs, c.buf[at:at+len(r)])
			at += len(r)
		}
		c.owner = c.recs[0][:len(owner)]
		return s.signCanonical(c, s.times(epoch))
	})
}

// canonicalWire appends to buf the records of an RRset in canonical form
// (RFC 4034 §6.2), in the order given, and to offs where each starts and,
// last, where the last ends.
func canonicalWire(buf []byte, offs []int, owner []byte, typ uint16, ttl uint32, rdata []byte) ([]byte, []int, error) {
	if len(rdata) == 0 {
		return nil, nil, errRRset
	}
	for len(rdata) > 0 {
		if len(rdata) < 2 || 2+int(binary.BigEndian.Uint16(rdata)) > len(rdata) {
			return nil, nil, errors.New("RDATA runs past its end")
		}
		n := int(binary.BigEndian.Uint16(rdata))
		offs = append(offs, len(buf))
		at := len(buf)
		buf = append(buf, owner...)
		if end, err := lowerName(buf, at); err != nil || end != len(buf) {
			return nil, nil, fmt.Errorf("owner: %w", errors.Join(err, errors.New("not one uncompressed name")))
		}
		buf = binary.BigEndian.AppendUint16(buf, typ)
		buf = binary.BigEndian.AppendUint16(buf, dns.ClassINET)
		buf = binary.BigEndian.AppendUint32(buf, ttl)
		buf = binary.BigEndian.AppendUint16(buf, uint16(n))
		rd := len(buf)
		buf = append(buf, rdata[2:2+n]...)
		if err := lowerRdata(typ, buf[rd:]); err != nil {
			return nil, nil, err
		}
		rdata = rdata[2+n:]
	}
	return buf, append(offs, len(buf)), nil
}

// sortCanonical sorts records by their RDATA, which starts at rdataAt in
// each, and drops duplicates (RFC 4034 §6.3). An RRset is small: an
// insertion sort does, in place.
func sortCanonical(recs [][]byte, rdataAt int) [][]byte {
	for i := 1; i < len(recs); i++ {
		for j := i; j > 0 && bytes.Compare(recs[j-1][rdataAt:], recs[j][rdataAt:]) > 0; j-- {
			recs[j-1], recs[j] = recs[j], recs[j-1]
		}
	}
	out := recs[:0]
	for i, r := range recs {
		if i == 0 || !bytes.Equal(recs[i-1], r) {
			out = append(out, r)
		}
	}
	return out
}

// AppendCompactNSEC appends the RDATA of the compact denial NSEC record
// at name (RFC 9824 §3; lower-case wire form, uncompressed), as
// CompactNSEC makes it: name's immediate successor as the next name, and
// a bitmap of types with RRSIG and NSEC, and NXNAME when nxname is set.
// It allocates nothing when dst has room and types are few.
func AppendCompactNSEC(dst, name []byte, types []uint16, nxname bool) []byte {
	dst = appendSuccessor(dst, name)
	var arr [24]uint16
	all := append(append(arr[:0], types...), dns.TypeRRSIG, dns.TypeNSEC)
	if nxname {
		all = append(all, dns.TypeNXNAME)
	}
	for i := 1; i < len(all); i++ {
		for j := i; j > 0 && all[j-1] > all[j]; j-- {
			all[j-1], all[j] = all[j], all[j-1]
		}
	}
	return appendBitmap(dst, all)
}

// appendBitmap appends the NSEC type bitmap (RFC 4034 §4.1.2) of types,
// sorted; a type given twice is set once.
func appendBitmap(dst []byte, types []uint16) []byte {
	for i := 0; i < len(types); {
		window := types[i] >> 8
		j := i
		for j < len(types) && types[j]>>8 == window {
			j++
		}
		length := int(types[j-1]&0xff)/8 + 1
		at := len(dst)
		dst = append(dst, byte(window), byte(length))
		for range length {
			dst = append(dst, 0)
		}
		for _, t := range types[i:j] {
			dst[at+2+int(t&0xff)/8] |= 0x80 >> (t & 7)
		}
		i = j
	}
	return dst
}
