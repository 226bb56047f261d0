package resolver

import "encoding/binary"

// Header flag bits (RFC 1035 §4.1.1).
const (
	flagQR = 1 << 15
	flagRD = 1 << 8
	flagCD = 1 << 4
)

// wireQuery is what the fast path reads off a query packet without
// unpacking it into a dns.Msg.
type wireQuery struct {
	id      uint16
	flags   uint16
	qname   []byte // the question name's wire bytes, as sent (a slice of the packet)
	qtype   uint16
	qclass  uint16
	edns    bool
	do      bool
	udpSize uint16
}

// parseWire reads a plain query: QR=0, opcode QUERY, one question with an
// uncompressed name, no answer or authority records, and at most an OPT
// record of version 0 with nothing after it. Anything else (ok == false)
// takes the full path, which answers it or says why not.
func parseWire(b []byte) (q wireQuery, ok bool) {
	if len(b) < 12+5 {
		return q, false
	}
	q.id = binary.BigEndian.Uint16(b[0:])
	q.flags = binary.BigEndian.Uint16(b[2:])
	if q.flags&flagQR != 0 || (q.flags>>11)&0xF != 0 {
		return q, false
	}
	qd, an, ns, ar := binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:]), binary.BigEndian.Uint16(b[8:]), binary.BigEndian.Uint16(b[10:])
	if qd != 1 || an != 0 || ns != 0 || ar > 1 {
		return q, false
	}
	off := 12
	for {
		if off >= len(b) {
			return q, false
		}
		l := int(b[off])
		if l == 0 {
			off++
			break
		}
		if l > 63 { // a compression pointer or a reserved label type
			return q, false
		}
		off += 1 + l
		if off-12 > 254 { // RFC 1035 §2.3.4: 255 octets with the root
			return q, false
		}
	}
	q.qname = b[12:off]
	if off+4 > len(b) {
		return q, false
	}
	q.qtype = binary.BigEndian.Uint16(b[off:])
	q.qclass = binary.BigEndian.Uint16(b[off+2:])
	off += 4
	if ar == 1 {
		// OPT: root name, TYPE 41, CLASS = payload size, TTL = extended
		// rcode, version, DO bit (RFC 6891 §6.1.2).
		if off+11 > len(b) || b[off] != 0 || binary.BigEndian.Uint16(b[off+1:]) != 41 {
			return q, false
		}
		q.edns = true
		q.udpSize = binary.BigEndian.Uint16(b[off+3:])
		if b[off+6] != 0 { // version > 0: BADVERS, on the full path
			return q, false
		}
		q.do = b[off+7]&0x80 != 0
		rdlen := int(binary.BigEndian.Uint16(b[off+9:]))
		off += 11 + rdlen
	}
	return q, off == len(b)
}

// appendKey appends the cache key of q: the lower-cased name, type,
// class, EDNS presence and DO bit, and the reply size limit.
func appendKey(dst []byte, q *wireQuery, limit uint16) []byte {
	for _, c := range q.qname {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	var flags byte
	if q.edns {
		flags |= 1
	}
	if q.do {
		flags |= 2
	}
	return append(dst, byte(q.qtype>>8), byte(q.qtype), byte(q.qclass>>8), byte(q.qclass), flags, byte(limit>>8), byte(limit))
}

// patch turns a cached reply into the reply to q: its ID, its RD and CD
// bits, and its question name spelled exactly as asked (0x20). Answer
// names that compress onto the question follow its spelling.
func patch(resp []byte, q *wireQuery) {
	binary.BigEndian.PutUint16(resp[0:], q.id)
	f := binary.BigEndian.Uint16(resp[2:])
	f = f&^(flagRD|flagCD) | q.flags&(flagRD|flagCD)
	binary.BigEndian.PutUint16(resp[2:], f)
	copy(resp[12:], q.qname)
}
