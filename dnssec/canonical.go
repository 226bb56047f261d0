package dnssec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/miekg/dns"
)

// canonicalRRset is the canonical form of an RRset (RFC 4034 §6): what an
// RRSIG signs after its own RDATA, and what the signature cache is keyed
// by. Each record is packed uncompressed with its owner and the names in
// its RDATA lower-cased and its TTL set to the original TTL; the records
// are sorted by RDATA and duplicates dropped.
//
// Only the names of §6.2 item 3 are lower-cased, less those RFC 6840 §5.1
// takes off that list (NSEC, RRSIG...): a validator canonicalizes exactly
// these, so any spelling of them may be sent; every other byte of the
// records is signed as sent, which is why the names of NSEC records made
// here are always lower case.
type canonicalRRset struct {
	buf   []byte
	recs  [][]byte // one packed record each, slices of buf
	owner []byte   // the lower-cased owner name, wire form (a slice of buf)
	ttl   uint32
	rtype uint16
	class uint16
}

var errRRset = errors.New("not an RRset")

// canonicalize packs rrset in canonical form with the TTL of its first
// record as the original TTL.
func canonicalize(rrset []dns.RR) (*canonicalRRset, error) {
	if len(rrset) == 0 {
		return nil, errRRset
	}
	h0 := rrset[0].Header()
	c := &canonicalRRset{ttl: h0.Ttl, rtype: h0.Rrtype, class: h0.Class}
	for _, rr := range rrset {
		if h := rr.Header(); h.Rrtype != c.rtype || h.Class != c.class {
			return nil, fmt.Errorf("%w: %s %s beside %s %s", errRRset, dns.TypeToString[h.Rrtype], dns.ClassToString[h.Class],
				dns.TypeToString[c.rtype], dns.ClassToString[c.class])
		}
	}
	// The records are packed as the answer section of a message without
	// compression: dns.PackRR would write each record's Rdlength, and the
	// records are shared with the zone snapshot and other queries.
	m := dns.Msg{Answer: rrset}
	size := 12
	for _, rr := range rrset {
		size += dns.Len(rr) + 16
	}
	buf, err := m.PackBuffer(make([]byte, size))
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", h0.Name, err)
	}
	c.buf = buf
	off := 12 // after the header; there is no question
	for range rrset {
		nameEnd, err := lowerName(buf, off)
		if err != nil {
			return nil, err
		}
		// TYPE(2) CLASS(2) TTL(4) RDLENGTH(2), then the RDATA.
		if nameEnd+10 > len(buf) {
			return nil, errors.New("record runs past the message")
		}
		end := nameEnd + 10 + int(binary.BigEndian.Uint16(buf[nameEnd+8:]))
		if end > len(buf) {
			return nil, errors.New("RDATA runs past the message")
		}
		rec := buf[off:end]
		owner := rec[:nameEnd-off]
		if c.owner == nil {
			c.owner = owner
		} else if !bytes.Equal(c.owner, owner) {
			return nil, fmt.Errorf("%w: owners %s and %s", errRRset, h0.Name, dnsName(owner))
		}
		binary.BigEndian.PutUint32(rec[len(owner)+4:], c.ttl)
		if err := lowerRdata(c.rtype, rec[len(owner)+10:]); err != nil {
			return nil, fmt.Errorf("%s %s: %w", h0.Name, dns.TypeToString[c.rtype], err)
		}
		c.recs = append(c.recs, rec)
		off = end
	}
	rdata := func(rec []byte) []byte { return rec[len(c.owner)+10:] }
	slices.SortFunc(c.recs, func(a, b []byte) int { return bytes.Compare(rdata(a), rdata(b)) })
	c.recs = slices.CompactFunc(c.recs, func(a, b []byte) bool { return bytes.Equal(a, b) })
	return c, nil
}

// dnsName renders a wire name for an error message.
func dnsName(w []byte) string {
	n, _, err := dns.UnpackDomainName(w, 0)
	if err != nil {
		return fmt.Sprintf("%q", w)
	}
	return n
}

// appendTo appends the records, in canonical order.
func (c *canonicalRRset) appendTo(dst []byte) []byte {
	for _, r := range c.recs {
		dst = append(dst, r...)
	}
	return dst
}

// labels is the RRSIG Labels field of the owner: its label count, less a
// leading "*" (RFC 4034 §3.1.3).
func (c *canonicalRRset) labels() uint8 {
	n := 0
	for off := 0; c.owner[off] != 0; off += int(c.owner[off]) + 1 {
		n++
	}
	if c.owner[0] == 1 && c.owner[1] == '*' {
		n--
	}
	return uint8(n)
}

// lowerName lower-cases the uncompressed wire name at b[off:] in place
// and returns the offset after it.
func lowerName(b []byte, off int) (int, error) {
	for {
		if off >= len(b) {
			return 0, errors.New("name runs past its record")
		}
		l := int(b[off])
		if l == 0 {
			return off + 1, nil
		}
		if l > 63 || off+1+l > len(b) {
			return 0, errors.New("bad label in name")
		}
		for i := off + 1; i <= off+l; i++ {
			if c := b[i]; c >= 'A' && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		off += 1 + l
	}
}

// skipString returns the offset after the <character-string> at b[off:].
func skipString(b []byte, off int) (int, error) {
	if off >= len(b) || off+1+int(b[off]) > len(b) {
		return 0, errors.New("character-string runs past its record")
	}
	return off + 1 + int(b[off]), nil
}

// lowerRdata lower-cases the domain names in rdata of type t that RFC 4034
// §6.2 (as corrected by RFC 6840 §5.1) canonicalizes.
func lowerRdata(t uint16, rd []byte) error {
	// The first name is at start, and count names follow one another.
	var start, count int
	switch t {
	case dns.TypeNS, dns.TypeMD, dns.TypeMF, dns.TypeCNAME, dns.TypeMB, dns.TypeMG, dns.TypeMR, dns.TypePTR, dns.TypeDNAME:
		start, count = 0, 1
	case dns.TypeSOA, dns.TypeMINFO, dns.TypeRP:
		start, count = 0, 2
	case dns.TypeMX, dns.TypeAFSDB, dns.TypeRT, dns.TypeKX:
		start, count = 2, 1
	case dns.TypePX:
		start, count = 2, 2
	case dns.TypeSRV:
		start, count = 6, 1
	case dns.TypeSIG:
		start, count = 18, 1
	case dns.TypeNAPTR:
		// ORDER, PREFERENCE, then FLAGS, SERVICES and REGEXP strings
		// before the REPLACEMENT name.
		off := 4
		for range 3 {
			var err error
			if off, err = skipString(rd, off); err != nil {
				return err
			}
		}
		start, count = off, 1
	default:
		return nil
	}
	off := start
	for range count {
		var err error
		if off, err = lowerName(rd, off); err != nil {
			return err
		}
	}
	return nil
}

// nameWire returns name (presentation form) lower-cased in wire form.
func nameWire(name string) ([]byte, error) {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(dns.Fqdn(name), buf, 0, nil, false)
	if err != nil {
		return nil, fmt.Errorf("name %q: %w", name, err)
	}
	buf = buf[:n]
	if _, err := lowerName(buf, 0); err != nil {
		return nil, err
	}
	return buf, nil
}

// compareNames orders wire names canonically (RFC 4034 §6.1): label by
// label from the right, each compared as lower-case octets, a name
// sorting before the names below it.
func compareNames(a, b []byte) int {
	la, lb := labelOffsets(a), labelOffsets(b)
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		x := a[la[i]+1 : la[i]+1+int(a[la[i]])]
		y := b[lb[j]+1 : lb[j]+1+int(b[lb[j]])]
		if c := compareLabel(x, y); c != 0 {
			return c
		}
	}
	return len(la) - len(lb)
}

func compareLabel(x, y []byte) int {
	for i := 0; i < len(x) && i < len(y); i++ {
		cx, cy := lowerByte(x[i]), lowerByte(y[i])
		if cx != cy {
			return int(cx) - int(cy)
		}
	}
	return len(x) - len(y)
}

func lowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// labelOffsets returns the offset of each label of an uncompressed wire
// name, leftmost first, the root excluded.
func labelOffsets(name []byte) []int {
	var out []int
	for off := 0; off < len(name) && name[off] != 0; off += int(name[off]) + 1 {
		out = append(out, off)
	}
	return out
}
