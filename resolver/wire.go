package resolver

import "encoding/binary"

// Header flag bits (RFC 1035 §4.1.1).
const (
	flagQR = 1 << 15
	flagAA = 1 << 10
	flagTC = 1 << 9
	flagRD = 1 << 8
	flagCD = 1 << 4
)

// wireQuery is what the wire path reads off a query packet without
// unpacking it into a dns.Msg.
type wireQuery struct {
	id      uint16
	flags   uint16
	qname   []byte // the question name's wire bytes, as sent (a slice of the packet)
	end     int    // the question's end: the header and question are in[:end]
	qtype   uint16
	qclass  uint16
	edns    bool
	do      bool
	co      bool // Compact Answers OK (RFC 9824 §4)
	udpSize uint16
	// lower holds the question name in wire form, lower-cased (ASCII),
	// for finding it in the zone; the reply repeats the client's bytes.
	lowerLen int
	lower    [255]byte
}

func (q *wireQuery) name() []byte { return q.lower[:q.lowerLen] }

// parseWire reads a plain query: QR=0, opcode QUERY, one question with an
// uncompressed name, no answer or authority records, and at most an OPT
// record of version 0 (with any options, which are skipped) with nothing
// after it. Anything else (ok == false) takes the full path, which
// answers it or says why not.
func parseWire(b []byte) (q wireQuery, ok bool) {
	ok = parseWireInto(b, &q)
	return q, ok
}

// parseWireInto is parseWire filling in q, which the answer path keeps on
// its stack.
func parseWireInto(b []byte, q *wireQuery) bool {
	q.edns, q.do, q.co, q.udpSize = false, false, false, 0
	if len(b) < 12+5 {
		return false
	}
	q.id = binary.BigEndian.Uint16(b[0:])
	q.flags = binary.BigEndian.Uint16(b[2:])
	if q.flags&flagQR != 0 || (q.flags>>11)&0xF != 0 {
		return false
	}
	qd, an, ns, ar := binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:]), binary.BigEndian.Uint16(b[8:]), binary.BigEndian.Uint16(b[10:])
	if qd != 1 || an != 0 || ns != 0 || ar > 1 {
		return false
	}
	off := 12
	for {
		if off >= len(b) {
			return false
		}
		l := int(b[off])
		if l > 63 { // a compression pointer or a reserved label type
			return false
		}
		if off-12+1+l > 255 { // RFC 1035 §2.3.4: 255 octets with the root
			return false
		}
		q.lower[off-12] = byte(l)
		if l == 0 {
			off++
			break
		}
		if off+1+l > len(b) {
			return false
		}
		for i, c := range b[off+1 : off+1+l] {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			q.lower[off-12+1+i] = c
		}
		off += 1 + l
	}
	q.lowerLen = off - 12
	q.qname = b[12:off]
	if off+4 > len(b) {
		return false
	}
	q.qtype = binary.BigEndian.Uint16(b[off:])
	q.qclass = binary.BigEndian.Uint16(b[off+2:])
	off += 4
	q.end = off
	if ar == 1 {
		// OPT: root name, TYPE 41, CLASS = payload size, TTL = extended
		// rcode, version, DO bit (RFC 6891 §6.1.2).
		if off+11 > len(b) || b[off] != 0 || binary.BigEndian.Uint16(b[off+1:]) != 41 {
			return false
		}
		q.edns = true
		q.udpSize = binary.BigEndian.Uint16(b[off+3:])
		if b[off+6] != 0 { // version > 0: BADVERS, on the full path
			return false
		}
		q.do = b[off+7]&0x80 != 0
		q.co = b[off+7]&0x40 != 0
		rdlen := int(binary.BigEndian.Uint16(b[off+9:]))
		off += 11 + rdlen
	}
	return off == len(b)
}

// lowerASCII lower-cases the ASCII letters of a wire name in place.
func lowerASCII(b []byte) []byte {
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}
