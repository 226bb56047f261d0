package zone

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/dnssec"
	"github.com/svcdns/svcdns/registry"
)

// Signed answers: what a signed zone sends a query with DO=1 (RFC 4035
// §3.1), on the compiled answer path (docs/dnssec.md).
//
// The answers of stored names are signed once per snapshot, on the
// first DO=1 question that needs each: its compiled sections read back,
// every RRset followed by its RRSIGs, a negative answer given the SOA's
// RRSIG and the compact denial NSEC (RFC 9824) with its own, all packed
// as the compiler packs (miekg/dns's compression, names compressed
// against the question) and kept with the snapshot. Later questions copy
// them as they copy unsigned answers. Signing every answer at build time
// would cost about 150,000 signatures (tens of seconds of CPU) at every
// start, reload and signing epoch, for names few clients ask.
//
// Port names and names that do not exist are written per query, as
// their unsigned answers are, with signatures from the signer's cache
// (dnssec.Signer.SignWire), which keys them by the RRset's full content,
// the zone version and the signing epoch.
//
// Owner names and the names of RDATA that validators canonicalize (RFC
// 4034 §6.2) may point into the question, which echoes the client's
// spelling (0x20): the signatures cover their canonical form. The names
// validators do not canonicalize (RFC 6840 §5.1: the NSEC's next name,
// the RRSIG's signer) are written whole and in lower case, as signed.

// signedMemo holds a signed zone's DO=1 answers as they are made.
type signedMemo struct {
	// names is by the name's slot in the index.
	names []atomic.Pointer[signedName]
	soa   atomic.Pointer[dnssec.Sigs] // the SOA's RRSIGs
}

// signedName holds the signed answers of one stored name: one per
// compiled answer, then the NODATA, the NSEC and the RRSIG answers
// (signedNoData, signedNSEC, signedRRSIG after the compiled ones).
type signedName struct {
	v []atomic.Pointer[signedBlob]
}

const (
	signedNoData = iota
	signedNSEC
	signedRRSIG
	signedExtra // variants beyond the compiled answers
)

// signedBlob is one signed answer: a blob as compiled answers are
// (blobHeader, then the sections) and its outcome.
type signedBlob struct {
	outcome Outcome
	b       []byte
}

func (s *Snapshot) initSigned() {
	if s.opts.Signer != nil {
		s.sig = &signedMemo{names: make([]atomic.Pointer[signedName], len(s.index.slots))}
	}
}

// appendSigned is AppendAnswer for a query with DO=1 to a signed zone.
func (s *Snapshot) appendSigned(msg []byte, q Question, rel []byte) ([]byte, Reply) {
	n, slot := s.findSlot(rel)
	if n != nil && n.flags()&nodeENT == 0 {
		return s.appendSignedStored(msg, q, n, slot)
	}
	if port, proto, ok := portName(rel); ok {
		out, r := s.appendSignedPort(msg, q, port, proto)
		return fit(out, r, len(msg), q.Room)
	}
	if n != nil {
		return s.appendSignedStored(msg, q, n, slot)
	}
	if q.Type == dns.TypeNSEC {
		out, r := s.appendNSECAnswer(msg, q.Name, nil, true)
		r.Invalid = invalidService(rel)
		return fit(out, r, len(msg), q.Room)
	}
	out, r := s.appendSignedNegative(msg, q.Name, nil, NameError)
	r.Invalid = invalidService(rel)
	return fit(out, r, len(msg), q.Room)
}

// appendSignedStored copies the signed answer of a stored name, making
// it first if no query has needed it yet in this snapshot.
func (s *Snapshot) appendSignedStored(msg []byte, q Question, n nameRec, slot int) ([]byte, Reply) {
	v := signedVariant(n, q.Type)
	sn := s.sig.names[slot].Load()
	if sn == nil {
		s.sig.names[slot].CompareAndSwap(nil, &signedName{v: make([]atomic.Pointer[signedBlob], n.count()+signedExtra)})
		sn = s.sig.names[slot].Load()
	}
	b := sn.v[v].Load()
	if b == nil {
		made, err := s.makeSigned(n, v, q.Name)
		if err != nil {
			return msg, failed(len(msg), err)
		}
		// Two first questions at once both make it (their signatures
		// come from one signing, dnssec.Cache); one is kept.
		sn.v[v].CompareAndSwap(nil, made)
		b = sn.v[v].Load()
	}
	return appendBlobBytes(msg, b.b, b.outcome, q.Room)
}

// signedVariant picks a stored name's signed answer to a question: the
// compiled answer's, or, where that would be a NODATA, the compact NSEC
// of the name itself to a question for NSEC (its bitmap lists NSEC) and
// the RRSIGs of every RRset at the name to a question for RRSIG (they are
// no RRset of their own), as the dns.Msg path answers (resolver/dnssec.go).
func signedVariant(n nameRec, qtype uint16) int {
	count := n.count()
	outcome, at := NoData, -1
	for i := range count {
		if a := n.answer(i); a.qtype == qtype || a.flags&answerOther != 0 {
			outcome, at = Outcome(a.flags&answerOutcome), i
			break
		}
	}
	switch {
	case qtype == dns.TypeNSEC && outcome != Success:
		return count + signedNSEC
	case qtype == dns.TypeRRSIG && outcome == NoData && hasOwn(n):
		return count + signedRRSIG
	case at < 0:
		return count + signedNoData
	}
	// ANY shares its compiled answer with the first RRset's: so does its
	// signed answer.
	off := n.answer(at).off
	for i := range at {
		if n.answer(i).off == off {
			return i
		}
	}
	return at
}

func hasOwn(n nameRec) bool {
	for i := range n.count() {
		if n.answer(i).flags&answerOwn != 0 {
			return true
		}
	}
	return false
}

// appendBlobBytes copies the blob h (a compiled answer, or a signed one
// held outside the chunks), or as much of it as room allows.
func appendBlobBytes(msg, h []byte, o Outcome, room int) ([]byte, Reply) {
	body := h[blobHeader:]
	r := Reply{
		Outcome:      o,
		AdditionalAt: len(msg) + int(binary.BigEndian.Uint16(h[2:])),
		Answer:       binary.BigEndian.Uint16(h[4:]),
		Authority:    binary.BigEndian.Uint16(h[6:]),
		Additional:   binary.BigEndian.Uint16(h[8:]),
	}
	if room > 0 && len(body) > room {
		// Cut before copying: a truncated DNS-SD list copies nothing.
		if cut := r.AdditionalAt - len(msg); r.Additional > 0 && cut <= room {
			r.Additional = 0
			return append(msg, body[:cut]...), r
		}
		r.Answer, r.Authority, r.Additional, r.AdditionalAt, r.Truncated = 0, 0, 0, len(msg), true
		return msg, r
	}
	return append(msg, body...), r
}

// makeSigned makes signed answer v of the stored name n, whose full name
// (wire form, lower case) is qname.
func (s *Snapshot) makeSigned(n nameRec, v int, qname []byte) (*signedBlob, error) {
	count := n.count()
	var ans, auth, ad []wrr
	outcome := NoData
	switch v - count {
	case signedNoData:
		auth = []wrr{s.soaRecord()}
	case signedNSEC:
		return s.packSigned(qname, nil, nil, nil, Success, nsecAnswer)
	case signedRRSIG:
		for i := range count {
			if a := n.answer(i); a.flags&answerOwn != 0 {
				own, _, _, err := s.readAnswer(qname, a)
				if err != nil {
					return nil, err
				}
				ans = append(ans, own...)
			}
		}
		return s.packSigned(qname, ans, nil, nil, Success, rrsigAnswer)
	default:
		a := n.answer(v)
		var err error
		if ans, auth, ad, err = s.readAnswer(qname, a); err != nil {
			return nil, err
		}
		outcome = Outcome(a.flags & answerOutcome)
	}
	return s.packSigned(qname, ans, auth, ad, outcome, plainAnswer)
}

// readAnswer reads the records of a compiled answer back, names
// uncompressed, as if asked with the question name qname (lower case).
func (s *Snapshot) readAnswer(qname []byte, a answer) (ans, auth, ad []wrr, err error) {
	msg, r := s.appendBlob(s.question(string(qname), a.qtype), a, 0)
	off := 12 + len(qname) + 4
	if ans, off, err = readRecords(msg, off, int(r.Answer)); err == nil {
		if auth, off, err = readRecords(msg, off, int(r.Authority)); err == nil {
			ad, _, err = readRecords(msg, off, int(r.Additional))
		}
	}
	if err != nil {
		// The compiled zone is written by this package: a blob it cannot
		// read back is a bug, reported as a failure to sign.
		return nil, nil, nil, fmt.Errorf("zone: compiled answer of %s does not read back: %w", presentationName(string(qname)), err)
	}
	return ans, auth, ad, nil
}

// How packSigned lays out a signed answer.
const (
	plainAnswer = iota // the sections given, each RRset with its RRSIGs
	nsecAnswer         // the name's compact NSEC as the answer
	rrsigAnswer        // the RRSIGs of the RRsets given, as the answer
)

// packSigned packs the sections of a signed answer after a question for
// qname (lower case): each RRset followed by its RRSIGs (RFC 4035 §3.1.1);
// for a negative answer, whose authority is the SOA, the SOA's RRSIGs and
// the compact denial NSEC of the name denied, with its RRSIGs (RFC 9824).
func (s *Snapshot) packSigned(qname []byte, ans, auth, ad []wrr, o Outcome, layout int) (*signedBlob, error) {
	var p packer
	p.start(string(qname))
	sections := len(p.buf)
	var counts [3]uint16
	var err error
	switch layout {
	case nsecAnswer:
		counts[0], err = s.packNSEC(&p, qname, o)
	case rrsigAnswer:
		for start := 0; start < len(ans) && err == nil; {
			end := rrsetEnd(ans, start)
			var sigs dnssec.Sigs
			if sigs, err = s.signSet(ans[start:end]); err == nil {
				counts[0] += packSigs(&p, string(qname), ans[start].ttl, sigs)
			}
			start = end
		}
	default:
		if counts[0], err = s.packSignedSection(&p, ans); err != nil {
			break
		}
		if o == NoData || o == NameError {
			counts[1], err = s.packDenial(&p, auth, deniedName(qname, ans), o)
		} else {
			counts[1], err = s.packSignedSection(&p, auth)
		}
	}
	if err != nil {
		return nil, err
	}
	additional := len(p.buf) - sections
	if counts[2], err = s.packSignedSection(&p, ad); err != nil {
		return nil, err
	}
	body := p.buf[sections:]
	if len(p.buf) > dns.MaxMsgSize {
		return nil, fmt.Errorf("zone: the signed answer at %s is %d bytes, more than a DNS message holds", presentationName(string(qname)), len(p.buf))
	}
	b := make([]byte, blobHeader, blobHeader+len(body))
	binary.BigEndian.PutUint16(b[0:], uint16(len(body)))
	binary.BigEndian.PutUint16(b[2:], uint16(additional))
	binary.BigEndian.PutUint16(b[4:], counts[0])
	binary.BigEndian.PutUint16(b[6:], counts[1])
	binary.BigEndian.PutUint16(b[8:], counts[2])
	if layout != plainAnswer {
		o = Success
	}
	return &signedBlob{outcome: o, b: append(b, body...)}, nil
}

// packSignedSection packs records, each RRset followed by its RRSIGs,
// which are owned by the RRset's owner in lower case (the question's name
// as the query would be answered with a lower-case question).
func (s *Snapshot) packSignedSection(p *packer, rrs []wrr) (uint16, error) {
	var n uint16
	for start := 0; start < len(rrs); {
		end := rrsetEnd(rrs, start)
		sigs, err := s.signSet(rrs[start:end])
		if err != nil {
			return 0, err
		}
		for _, r := range rrs[start:end] {
			p.rr(r.owner, r.typ, r.ttl, r.rdata)
			n++
		}
		n += packSigs(p, lowerWire(rrs[start].owner), rrs[start].ttl, sigs)
		start = end
	}
	return n, nil
}

// packDenial packs a negative answer's authority section: the SOA and
// its RRSIGs, sent with the negative TTL though signed with the SOA's own
// (RFC 2308 §5, RFC 4035 §3.1.3), then the compact NSEC of the name
// denied and its RRSIGs.
func (s *Snapshot) packDenial(p *packer, auth []wrr, denied []byte, o Outcome) (uint16, error) {
	if len(auth) != 1 || auth[0].typ != dns.TypeSOA {
		return 0, errors.New("zone: a negative answer without its SOA")
	}
	soaSigs, err := s.soaSigs()
	if err != nil {
		return 0, err
	}
	soa := auth[0]
	p.rr(soa.owner, soa.typ, soa.ttl, soa.rdata)
	n := 1 + packSigs(p, s.originWire, s.negTTL, soaSigs)
	m, err := s.packNSEC(p, denied, o)
	return n + m, err
}

// packNSEC packs the compact NSEC of name (lower case) and its RRSIGs.
func (s *Snapshot) packNSEC(p *packer, name []byte, o Outcome) (uint16, error) {
	var typesArr [16]uint16
	types, exists := s.typesAt(name, typesArr[:0])
	var rdArr [512]byte
	rd := binary.BigEndian.AppendUint16(rdArr[:0], 0)
	rd = dnssec.AppendCompactNSEC(rd, name, types, o == NameError || !exists)
	binary.BigEndian.PutUint16(rd, uint16(len(rd)-2))
	sigs, err := s.opts.Signer.SignWire(name, dns.TypeNSEC, s.negTTL, rd, s.serial, nil)
	if err != nil {
		return 0, err
	}
	p.rr(string(name), dns.TypeNSEC, s.negTTL, string(rd[2:]))
	return 1 + packSigs(p, string(name), s.negTTL, sigs), nil
}

// packSigs packs RRSIG records; the signer's name is never compressed.
func packSigs(p *packer, owner string, ttl uint32, sigs dnssec.Sigs) uint16 {
	var n uint16
	for rd, rest := sigs.Next(); rd != nil; rd, rest = rest.Next() {
		p.rr(owner, dns.TypeRRSIG, ttl, string(rd))
		n++
	}
	return n
}

// rrsetEnd returns where the RRset starting at rrs[start] ends: records
// of one type and owner (in any case) in a row.
func rrsetEnd(rrs []wrr, start int) int {
	end := start + 1
	for end < len(rrs) && rrs[end].typ == rrs[start].typ && len(rrs[end].owner) == len(rrs[start].owner) &&
		equalFold(rrs[end].owner, lowerWire(rrs[start].owner)) {
		end++
	}
	return end
}

// signSet signs one RRset of records read back from the zone, with the
// TTL of its first record.
func (s *Snapshot) signSet(set []wrr) (dnssec.Sigs, error) {
	var rd []byte
	for _, r := range set {
		rd = binary.BigEndian.AppendUint16(rd, uint16(len(r.rdata)))
		rd = append(rd, r.rdata...)
	}
	return s.opts.Signer.SignWire([]byte(set[0].owner), set[0].typ, set[0].ttl, rd, s.serial, nil)
}

// soaSigs returns the RRSIGs of the SOA as the zone holds it, made once
// per snapshot.
func (s *Snapshot) soaSigs() (dnssec.Sigs, error) {
	if p := s.sig.soa.Load(); p != nil {
		return *p, nil
	}
	rd := binary.BigEndian.AppendUint16(nil, uint16(len(s.neg.soa)))
	rd = append(rd, s.neg.soa...)
	sigs, err := s.opts.Signer.SignWire([]byte(s.originWire), dns.TypeSOA, s.opts.TTL.SOA, rd, s.serial, nil)
	if err != nil {
		return nil, err
	}
	s.sig.soa.CompareAndSwap(nil, &sigs)
	return *s.sig.soa.Load(), nil
}

// deniedName is the name a negative answer is about: the question's, or
// the target of the last CNAME the answer followed, in lower case.
func deniedName(qname []byte, ans []wrr) []byte {
	for i := len(ans) - 1; i >= 0; i-- {
		if ans[i].typ == dns.TypeCNAME {
			return []byte(lowerWire(ans[i].rdata))
		}
	}
	return qname
}

// typesAt appends to types the types of the RRsets at name (wire form,
// lower case), port names included, and says whether the name exists:
// the bitmap of its compact NSEC.
func (s *Snapshot) typesAt(name []byte, types []uint16) ([]uint16, bool) {
	if !s.Contains(name) {
		return types, false
	}
	rel := name[:len(name)-len(s.originWire)]
	n := s.find(rel)
	if n != nil && n.flags()&nodeENT == 0 {
		for i := range n.count() {
			if a := n.answer(i); a.flags&answerOwn != 0 {
				types = append(types, a.qtype)
			}
		}
		return types, true
	}
	if port, proto, ok := portName(rel); ok {
		if s.ports.hasPTR(s.ports.lookup(port, proto)) {
			types = append(types, dns.TypePTR)
		}
		return append(types, dns.TypeTXT), true
	}
	return types, n != nil
}

// Per query: port names and names that do not exist. Their records are
// written straight into the message, as unsigned (ports.go,
// appendNegative), and so are their RRSIGs, from the signature cache.
// miekg/dns would compress every owner name here onto the question, the
// SOA's and its RRSIGs' onto the origin in it; the RRSIGs' signer is the
// origin, written whole.

// appendSigs writes an RRSIG record per signature, owned by the name at
// offset owner in msg.
func appendSigs(msg []byte, owner int, ttl uint32, sigs dnssec.Sigs) ([]byte, uint16) {
	var n uint16
	for rd, rest := sigs.Next(); rd != nil; rd, rest = rest.Next() {
		msg = binary.BigEndian.AppendUint16(msg, 0xC000|uint16(owner))
		msg = append(msg, 0, byte(dns.TypeRRSIG), 0, byte(dns.ClassINET))
		msg = binary.BigEndian.AppendUint32(msg, ttl)
		msg = binary.BigEndian.AppendUint16(msg, uint16(len(rd)))
		msg = append(msg, rd...)
		n++
	}
	return msg, n
}

// signLast signs the RRset written last in msg, whose records start at
// from and follow one another, and writes its RRSIGs after it, owned by
// the question. Records owned by the question name (a pointer to it)
// with uncompressed RDATA only.
func (s *Snapshot) signLast(msg []byte, qname []byte, from int, typ uint16, ttl uint32) ([]byte, uint16, error) {
	// The RDATA of each record with its length: the records less their
	// owner pointer, TYPE, CLASS and TTL.
	rd := msg[len(msg):]
	for off := from; off < len(msg); {
		n := int(binary.BigEndian.Uint16(msg[off+10:]))
		rd = append(rd, msg[off+10:off+12+n]...)
		off += 12 + n
	}
	sigs, err := s.opts.Signer.SignWire(qname, typ, ttl, rd, s.serial, rd[len(rd):])
	if err != nil {
		return msg, 0, err
	}
	msg, n := appendSigs(msg, 12, ttl, sigs)
	return msg, n, nil
}

// appendSignedPort is appendPort with DO=1: the PTR or TXT answer with its
// RRSIGs, or a signed NODATA.
func (s *Snapshot) appendSignedPort(msg []byte, q Question, port uint16, proto registry.Protocol) ([]byte, Reply) {
	rows := s.ports.lookup(port, proto)
	at := len(msg)
	switch q.Type {
	case dns.TypePTR, dns.TypeANY:
		if s.ports.hasPTR(rows) {
			var n uint16
			msg, n = s.appendPortPTRs(msg, q.Name, rows)
			var sigs uint16
			var err error
			msg, sigs, err = s.signPTRs(msg, q.Name, at)
			if err != nil {
				return msg[:at], failed(at, err)
			}
			return msg, Reply{Outcome: Success, Answer: n + sigs, AdditionalAt: len(msg)}
		}
		if q.Type == dns.TypePTR {
			return s.appendSignedNegative(msg, q.Name, dnsTypes(rows, s.ports), NoData)
		}
	case dns.TypeTXT:
	case dns.TypeNSEC:
		return s.appendNSECAnswer(msg, q.Name, dnsTypes(rows, s.ports), false)
	case dns.TypeRRSIG:
		return s.appendPortRRSIGs(msg, q, port, proto, rows)
	default:
		return s.appendSignedNegative(msg, q.Name, dnsTypes(rows, s.ports), NoData)
	}
	msg = s.appendPortTXT(msg, port, proto, rows)
	msg, sigs, err := s.signLast(msg, q.Name, at, dns.TypeTXT, s.opts.TTL.TXT)
	if err != nil {
		return msg[:at], failed(at, err)
	}
	return msg, Reply{Outcome: Success, Answer: 1 + sigs, AdditionalAt: len(msg)}
}

// dnsTypes is the types at a port name with these rows: PTR when a
// service is named there, and TXT.
func dnsTypes(rows []int32, t *portTable) []uint16 {
	if t.hasPTR(rows) {
		return []uint16{dns.TypePTR, dns.TypeTXT}
	}
	return []uint16{dns.TypeTXT}
}

// signPTRs signs the PTRs appendPortPTRs wrote from offset from: each
// target is its service's label and a pointer to the question's _PROTO
// label, signed as the whole name.
func (s *Snapshot) signPTRs(msg, qname []byte, from int) ([]byte, uint16, error) {
	proto := qname[1+int(qname[0]):]
	rd := msg[len(msg):]
	for off := from; off < len(msg); {
		n := int(binary.BigEndian.Uint16(msg[off+10:]))
		label := msg[off+12 : off+12+n-2]
		rd = binary.BigEndian.AppendUint16(rd, uint16(len(label)+len(proto)))
		rd = append(append(rd, label...), proto...)
		off += 12 + n
	}
	sigs, err := s.opts.Signer.SignWire(qname, dns.TypePTR, s.opts.TTL.PTR, rd, s.serial, rd[len(rd):])
	if err != nil {
		return msg, 0, err
	}
	msg, n := appendSigs(msg, 12, s.opts.TTL.PTR, sigs)
	return msg, n, nil
}

// appendPortRRSIGs answers a question for RRSIG at a port name: the
// RRSIGs of its PTR RRset, if any, and of its TXT.
func (s *Snapshot) appendPortRRSIGs(msg []byte, q Question, port uint16, proto registry.Protocol, rows []int32) ([]byte, Reply) {
	at := len(msg)
	var count uint16
	for _, typ := range dnsTypes(rows, s.ports) {
		// The RRset is written after the RRSIGs so far, signed, and
		// replaced by its RRSIGs.
		start := len(msg)
		var ttl uint32
		var sigs dnssec.Sigs
		var err error
		if typ == dns.TypePTR {
			ttl = s.opts.TTL.PTR
			msg, _ = s.appendPortPTRs(msg, q.Name, rows)
			proto := q.Name[1+int(q.Name[0]):]
			rd := msg[len(msg):]
			for off := start; off < len(msg); {
				n := int(binary.BigEndian.Uint16(msg[off+10:]))
				rd = binary.BigEndian.AppendUint16(rd, uint16(n-2+len(proto)))
				rd = append(append(rd, msg[off+12:off+10+n]...), proto...)
				off += 12 + n
			}
			sigs, err = s.opts.Signer.SignWire(q.Name, typ, ttl, rd, s.serial, rd[len(rd):])
		} else {
			ttl = s.opts.TTL.TXT
			msg = s.appendPortTXT(msg, port, proto, rows)
			sigs, err = s.opts.Signer.SignWire(q.Name, typ, ttl, msg[start+10:], s.serial, msg[len(msg):])
		}
		if err != nil {
			return msg[:at], failed(at, err)
		}
		var n uint16
		msg, n = appendSigs(msg[:start], 12, ttl, sigs)
		count += n
	}
	return msg, Reply{Outcome: Success, Answer: count, AdditionalAt: len(msg)}
}

// appendSignedNegative writes a signed negative answer at a name not
// stored: the SOA and its RRSIGs, and the compact NSEC of the name (with
// the types given, and NXNAME when it does not exist) and its RRSIGs.
func (s *Snapshot) appendSignedNegative(msg, name []byte, types []uint16, o Outcome) ([]byte, Reply) {
	at := len(msg)
	msg, r := s.appendNegative(msg, name, o)
	sigs, err := s.soaSigs()
	if err != nil {
		return msg[:at], failed(at, err)
	}
	var n uint16
	msg, n = appendSigs(msg, 12+len(name)-len(s.originWire), s.negTTL, sigs)
	r.Authority += n
	msg, n, err = s.appendNSEC(msg, name, types, o == NameError)
	if err != nil {
		return msg[:at], failed(at, err)
	}
	r.Authority += n
	r.AdditionalAt = len(msg)
	return msg, r
}

// appendNSECAnswer answers a question for NSEC at a name not stored: its
// compact NSEC and RRSIGs.
func (s *Snapshot) appendNSECAnswer(msg, name []byte, types []uint16, nx bool) ([]byte, Reply) {
	at := len(msg)
	msg, n, err := s.appendNSEC(msg, name, types, nx)
	if err != nil {
		return msg[:at], failed(at, err)
	}
	return msg, Reply{Outcome: Success, Answer: n, AdditionalAt: len(msg)}
}

// appendNSEC writes the compact NSEC of the question's name (RFC 9824
// §3), owned by the question, and its RRSIGs.
func (s *Snapshot) appendNSEC(msg, name []byte, types []uint16, nx bool) ([]byte, uint16, error) {
	at := len(msg)
	msg, rdlen := appendRRHeader(msg, dns.TypeNSEC, s.negTTL)
	msg = dnssec.AppendCompactNSEC(msg, name, types, nx)
	binary.BigEndian.PutUint16(msg[rdlen:], uint16(len(msg)-rdlen-2))
	sigs, err := s.opts.Signer.SignWire(name, dns.TypeNSEC, s.negTTL, msg[rdlen:], s.serial, msg[len(msg):])
	if err != nil {
		return msg[:at], 0, err
	}
	msg, n := appendSigs(msg, 12, s.negTTL, sigs)
	return msg, 1 + n, nil
}

// failed is the Reply of an answer that could not be signed: no records.
func failed(at int, err error) Reply {
	return Reply{AdditionalAt: at, Err: err}
}

// hasPTR reports whether a port with these rows has a PTR: a service
// served under a protocol is named there (appendPortPTRs).
func (t *portTable) hasPTR(rows []int32) bool {
	for _, i := range rows {
		if r := &t.rows[i]; r.served && r.proto != registry.ProtoNone {
			return true
		}
	}
	return false
}

// soaRecord is the SOA of a negative answer, with the negative TTL.
func (s *Snapshot) soaRecord() wrr {
	return wrr{s.originWire, dns.TypeSOA, s.negTTL, s.neg.soa}
}

// readRecords reads count records from msg at off, names uncompressed
// (the compiled zone compresses only the names RFC 3597 §4 allows).
func readRecords(msg []byte, off, count int) ([]wrr, int, error) {
	out := make([]wrr, 0, count)
	for range count {
		owner, next, err := readName(msg, off)
		if err != nil {
			return nil, 0, err
		}
		off = next
		if off+10 > len(msg) {
			return nil, 0, errors.New("record header runs past the message")
		}
		r := wrr{owner: owner, typ: binary.BigEndian.Uint16(msg[off:]), ttl: binary.BigEndian.Uint32(msg[off+4:])}
		end := off + 10 + int(binary.BigEndian.Uint16(msg[off+8:]))
		off += 10
		if end > len(msg) {
			return nil, 0, errors.New("RDATA runs past the message")
		}
		var rd []byte
		names := 0
		switch r.typ {
		case dns.TypeNS, dns.TypeCNAME, dns.TypePTR:
			names = 1
		case dns.TypeSOA:
			names = 2
		case dns.TypeSRV:
			rd = append(rd, msg[off:off+6]...)
			off += 6
			names = 1
		}
		for range names {
			var name string
			if name, off, err = readName(msg, off); err != nil {
				return nil, 0, err
			}
			rd = append(rd, name...)
		}
		if off > end {
			return nil, 0, errors.New("RDATA names run past its length")
		}
		r.rdata = string(append(rd, msg[off:end]...))
		off = end
		out = append(out, r)
	}
	return out, off, nil
}

// readName reads the possibly compressed name at msg[off:] and returns it
// uncompressed, with the offset after it.
func readName(msg []byte, off int) (string, int, error) {
	var name [255]byte
	n, next := 0, -1
	for hops := 0; ; {
		if off >= len(msg) {
			return "", 0, errors.New("name runs past the message")
		}
		l := int(msg[off])
		switch {
		case l == 0:
			if next < 0 {
				next = off + 1
			}
			if n+1 > len(name) {
				return "", 0, errors.New("name longer than 255 octets")
			}
			name[n] = 0
			return string(name[:n+1]), next, nil
		case l&0xC0 == 0xC0:
			if off+1 >= len(msg) || hops > 126 {
				return "", 0, errors.New("bad compression pointer")
			}
			if next < 0 {
				next = off + 2
			}
			off = int(binary.BigEndian.Uint16(msg[off:]) & 0x3FFF)
			hops++
		case l > 63:
			return "", 0, errors.New("bad label type")
		default:
			if off+1+l > len(msg) || n+1+l >= len(name) {
				return "", 0, errors.New("label runs past the message or the name's 255 octets")
			}
			n += copy(name[n:], msg[off:off+1+l])
			off += 1 + l
		}
	}
}
