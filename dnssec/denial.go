package dnssec

import (
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// maxName is the longest domain name in wire form, the root included
// (RFC 1035 §2.3.4); maxLabel the longest label.
const (
	maxName  = 255
	maxLabel = 63
)

// CompactNSEC is the NSEC record of compact denial of existence (RFC 9824
// §3) at name: its next name is name's immediate successor, so that it
// covers no other name, and its bitmap holds types (the types present at
// name; none for an empty non-terminal) with RRSIG and NSEC, and NXNAME
// when name does not exist (§3.2). Both names are lower case, so the
// bytes signed are the bytes sent whatever case the query used. ttl
// should be min(SOA TTL, SOA MINIMUM) (RFC 9077).
func CompactNSEC(name string, types []uint16, nxname bool, ttl uint32) *dns.NSEC {
	name = strings.ToLower(dns.Fqdn(name))
	bitmap := append(slices.Clone(types), dns.TypeRRSIG, dns.TypeNSEC)
	if nxname {
		bitmap = append(bitmap, dns.TypeNXNAME)
	}
	return &dns.NSEC{
		Hdr:        dns.RR_Header{Name: name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
		NextDomain: Successor(name),
		TypeBitMap: typeBitmap(bitmap),
	}
}

// typeBitmap sorts types and drops duplicates, as the NSEC bitmap holds
// each type once in order.
func typeBitmap(types []uint16) []uint16 {
	slices.Sort(types)
	return slices.Compact(types)
}

// Successor returns the name that follows name immediately in canonical
// order (RFC 4471 §3.1.2, the absolute method, which RFC 9824 §3.1
// refers to): "\000.name" when that fits in 255 octets. A longer name
// gets a \000 octet added to its first label if there is room for one,
// else its first label's last octet below 0xff is incremented (skipping
// the upper-case letters, which sort as lower case) and the octets after
// it dropped; a first label all of 0xff octets is removed and the next
// label tried. name is lower-case presentation form.
func Successor(name string) string {
	w, err := nameWire(name)
	if err != nil {
		return name
	}
	out, _, err := dns.UnpackDomainName(successorWire(w), 0)
	if err != nil {
		return name
	}
	return out
}

// successorWire is Successor on a lower-case wire name.
func successorWire(w []byte) []byte { return appendSuccessor(nil, w) }

// appendSuccessor appends Successor of the lower-case wire name w to dst.
func appendSuccessor(dst, w []byte) []byte {
	// Step 1: prepend the label \000.
	if len(w)+2 <= maxName {
		return append(append(dst, 1, 0), w...)
	}
	for len(w) > 1 {
		l := int(w[0])
		// Step 2: lengthen the first label by a \000 octet.
		if len(w)+1 <= maxName && l < maxLabel {
			dst = append(dst, byte(l+1))
			dst = append(dst, w[1:1+l]...)
			dst = append(dst, 0)
			return append(dst, w[1+l:]...)
		}
		// Step 3: increment the last octet below 0xff, drop those after.
		for i := l; i >= 1; i-- {
			c := w[i]
			if c == 0xff {
				continue
			}
			c++
			if c >= 'A' && c <= 'Z' {
				c = 'Z' + 1
			}
			dst = append(dst, byte(i))
			dst = append(dst, w[1:i]...)
			dst = append(dst, c)
			return append(dst, w[1+l:]...)
		}
		// Step 4: the label is all 0xff; drop it and go on with the parent.
		w = w[1+l:]
	}
	return append(dst, w...)
}
