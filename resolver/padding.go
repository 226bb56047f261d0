package resolver

// paddingBlock is the block size replies are padded to: RFC 8467 §4.1,
// the Block-Length Padding strategy with the recommended 468 octets.
const paddingBlock = 468

// padReply pads resp, the packed reply to the query in, with an EDNS(0)
// Padding option (RFC 7830) to the next multiple of paddingBlock octets,
// when the query carried a Padding option itself (§4: a responder pads
// only then; RFC 8467 §4.1) and resp ends with its OPT record. Callers
// pad only on encrypted transports (RFC 8467 §4). A reply that would grow
// past 65535 octets is padded up to that size only. resp is extended in
// place where its capacity allows.
func padReply(in, resp []byte) []byte {
	if len(resp) == 0 {
		return resp
	}
	if _, ok := queryOption(in, optPadding); !ok {
		return resp
	}
	n := len(resp) + 4 // the option's code and length
	if n > 0xFFFF {
		return resp
	}
	pad := (paddingBlock - n%paddingBlock) % paddingBlock
	pad = min(pad, 0xFFFF-n)
	var zeros [paddingBlock]byte
	out, _ := appendReplyOption(resp, optPadding, zeros[:pad])
	return out
}
