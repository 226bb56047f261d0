package resolver

import "encoding/binary"

// EDNS(0) option codes (IANA "DNS EDNS0 Option Codes (OPT)").
const (
	optCookie  = 10 // RFC 7873
	optPadding = 12 // RFC 7830
	optEDE     = 15 // RFC 8914
)

// skipName returns the offset just past the (possibly compressed) name at
// off in msg, or -1 when it runs off the end.
func skipName(msg []byte, off int) int {
	for {
		if off >= len(msg) {
			return -1
		}
		l := int(msg[off])
		switch {
		case l == 0:
			return off + 1
		case l&0xC0 == 0xC0:
			if off+2 > len(msg) {
				return -1
			}
			return off + 2
		case l > 63:
			return -1
		}
		off += 1 + l
	}
}

// lastOPT finds the OPT record of a packed message when it is the last
// record (the answer path always writes it last; TSIG, which must be last
// instead, is only on replies that are not post-processed). It returns the
// offset of the OPT's RDLENGTH field.
func lastOPT(msg []byte) (rdlenOff int, ok bool) {
	if len(msg) < 12 || binary.BigEndian.Uint16(msg[10:]) == 0 {
		return 0, false
	}
	off := 12
	for range binary.BigEndian.Uint16(msg[4:]) {
		if off = skipName(msg, off); off < 0 || off+4 > len(msg) {
			return 0, false
		}
		off += 4
	}
	records := int(binary.BigEndian.Uint16(msg[6:])) + int(binary.BigEndian.Uint16(msg[8:])) + int(binary.BigEndian.Uint16(msg[10:]))
	for i := range records {
		start := off
		if off = skipName(msg, off); off < 0 || off+10 > len(msg) {
			return 0, false
		}
		rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
		if i == records-1 {
			if off != start+1 || msg[start] != 0 || binary.BigEndian.Uint16(msg[off:]) != 41 || off+10+rdlen != len(msg) {
				return 0, false
			}
			return off + 8, true
		}
		off += 10 + rdlen
	}
	return 0, false
}

// appendReplyOption adds an EDNS option to a packed reply whose last record
// is its OPT (RFC 6891 §6.1.2) and returns the grown reply; ok is false,
// and resp is returned unchanged, when there is no such OPT.
func appendReplyOption(resp []byte, code uint16, data []byte) (out []byte, ok bool) {
	at, ok := lastOPT(resp)
	if !ok || int(binary.BigEndian.Uint16(resp[at:]))+4+len(data) > 0xFFFF {
		return resp, false
	}
	binary.BigEndian.PutUint16(resp[at:], binary.BigEndian.Uint16(resp[at:])+uint16(4+len(data)))
	resp = binary.BigEndian.AppendUint16(resp, code)
	resp = binary.BigEndian.AppendUint16(resp, uint16(len(data)))
	return append(resp, data...), true
}

// queryOption returns the data of the first option with code in a query's
// OPT record, found as lastOPT finds it; ok is false when there is none.
func queryOption(msg []byte, code uint16) (data []byte, ok bool) {
	at, found := lastOPT(msg)
	if !found {
		return nil, false
	}
	rd := msg[at+2 : at+2+int(binary.BigEndian.Uint16(msg[at:]))]
	for len(rd) >= 4 {
		c, l := binary.BigEndian.Uint16(rd), int(binary.BigEndian.Uint16(rd[2:]))
		if 4+l > len(rd) {
			return nil, false
		}
		if c == code {
			return rd[4 : 4+l], true
		}
		rd = rd[4+l:]
	}
	return nil, false
}
