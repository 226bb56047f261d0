package resolver

import (
	"strings"

	"github.com/miekg/dns"
)

// AnswerViaMsg answers the plain query in on dns.Msg values (Respond), as
// the wire path answers it: looked up in lower case, the question echoed
// as asked. Tests use it to keep the two paths byte-equal; nil when in
// does not unpack.
func (h *Handler) AnswerViaMsg(in []byte, tcp bool) []byte {
	req := new(dns.Msg)
	if err := req.Unpack(in); err != nil || len(req.Question) != 1 {
		return nil
	}
	req.Question[0].Name = strings.ToLower(req.Question[0].Name)
	resp := h.Respond(req, tcp)
	if resp == nil {
		return nil
	}
	wire, err := resp.Pack()
	if err != nil {
		return nil
	}
	q, ok := parseWire(in)
	if !ok {
		return wire
	}
	copy(wire[12:], q.qname)
	return wire
}

// ParsesAsPlain reports whether the wire path takes in.
func ParsesAsPlain(in []byte) bool {
	_, ok := parseWire(in)
	return ok
}

// EndsWithOPT reports whether a packed reply's last record is its OPT, as
// appendReplyOption needs.
func EndsWithOPT(reply []byte) bool {
	_, ok := lastOPT(reply)
	return ok
}
