package resolver

// Online DNSSEC signing. The zone writes signed answers itself when the
// query has DO=1 (zone/signed.go): the wire path passes the DO bit on,
// maps compact denial's outcomes to rcodes (compactDenial) and refuses
// the NXNAME meta-type (dnssecRefusal). This file holds the rest: the
// same answers on dns.Msg values for Respond (`svcdns lookup --dnssec`,
// TSIG-signed and unusual queries), which a test keeps byte-equal to the
// wire path's, and what a transfer of a signed zone sends
// (signedTransfer). A DO=0 reply is never touched.

import (
	"errors"
	"strings"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/dnssec"
	"github.com/svcdns/svcdns/zone"
)

// dnssecRefusal is the rcode of a query for the NXNAME meta-type to a
// signed zone, with or without DO (RFC 9824 §3.5).
const dnssecRefusal = dns.RcodeFormatError

// compactDenial reports whether a name that does not exist is denied
// with NOERROR and an NSEC whose bitmap has NXNAME (RFC 9824 §3): when
// the zone signs the reply (DO=1) and the query did not set the CO flag,
// which asks for NXDOMAIN back (§4).
func compactDenial(signed bool, q *wireQuery) bool { return signed && q.do && !q.co }

// dnssecRefuses returns the rcode for a query a signed zone does not
// answer: RFC 9824 §3.5, a query for the NXNAME meta-type is a FORMERR.
func dnssecRefuses(snap *zone.Snapshot, q dns.Question) (rcode int, refused bool) {
	if snap.Signer() != nil && q.Qtype == dns.TypeNXNAME {
		return dns.RcodeFormatError, true
	}
	return 0, false
}

// signReply adds DNSSEC to the reply to a query with DO=1 from a signed
// zone (RFC 4035 §3.1): RRSIGs over every RRset of each section and, for
// a negative answer, compact denial of existence (RFC 9824): the name
// that does not exist, or lacks the type, gets an NSEC covering only
// itself. NXDOMAIN becomes NOERROR, with the NSEC's NXNAME bit saying the
// name does not exist, unless the query set the CO flag (§4), which gets
// NXDOMAIN and CO back. A signing failure leaves a SERVFAIL with no
// records: never an answer that fails validation further on.
func (h *Handler) signReply(snap *zone.Snapshot, resp *dns.Msg, q dns.Question, ans zone.Answer, opt *dns.OPT) {
	sg := snap.Signer()
	ver := snap.Serial()
	if err := h.addSignatures(snap, sg, ver, resp, q, ans, opt.Co()); err != nil {
		h.log.Error("dnssec: cannot sign the reply", "question", q.String(), "err", err)
		resp.Rcode = dns.RcodeServerFailure
		resp.Answer, resp.Ns = nil, nil
		resp.Extra = []dns.RR{resp.IsEdns0()}
	}
}

func (h *Handler) addSignatures(snap *zone.Snapshot, sg *dnssec.Signer, ver uint32, resp *dns.Msg, q dns.Question, ans zone.Answer, co bool) error {
	if co {
		// §4: a server that knows the CO flag says so in its reply.
		resp.IsEdns0().SetCo()
	}
	negTTL := snap.NegativeTTL()
	switch {
	case q.Qtype == dns.TypeNSEC && ans.Outcome != zone.Success:
		// The NSEC of a name is the compact denial record of that name
		// itself (not of a CNAME's target): answer it, rather than deny
		// a type that its own bitmap lists.
		types, exists := snap.Types(q.Name)
		nsec := dnssec.CompactNSEC(q.Name, types, !exists, negTTL)
		resp.Rcode = dns.RcodeSuccess
		resp.Answer = ownedBy([]dns.RR{nsec}, q.Name)
		resp.Ns = nil
		resp.Extra = onlyOPT(resp.Extra)
	case q.Qtype == dns.TypeRRSIG && ans.Outcome == zone.NoData:
		// RRSIGs are not an RRset of their own: answer those over every
		// RRset at the name.
		sets, _ := snap.RRsets(q.Name)
		var sigs []dns.RR
		for _, set := range sets {
			s, err := sg.Sign(set, ver)
			if err != nil {
				return err
			}
			sigs = append(sigs, s...)
		}
		if len(sigs) > 0 {
			resp.Answer = ownedBy(sigs, q.Name)
			resp.Ns = nil
			return nil
		}
	}
	var err error
	if resp.Answer, err = signSection(sg, ver, resp.Answer, q.Name); err != nil {
		return err
	}
	switch ans.Outcome {
	case zone.NoData, zone.NameError:
		if len(resp.Answer) > 0 && q.Qtype == dns.TypeNSEC {
			break // answered above
		}
		owner := deniedName(q.Name, ans.Answer)
		types, exists := snap.Types(owner)
		nx := ans.Outcome == zone.NameError || !exists
		nsec := dnssec.CompactNSEC(owner, types, nx, negTTL)
		// The SOA is signed as the zone holds it; the reply carries it, and
		// its RRSIG, with the negative TTL (RFC 2308 §5, RFC 4035 §3.1.3).
		soaSigs, err := sg.Sign([]dns.RR{snap.SOA()}, ver)
		if err != nil {
			return err
		}
		nsecSigs, err := sg.Sign([]dns.RR{nsec}, ver)
		if err != nil {
			return err
		}
		resp.Ns = append(append(append(resp.Ns[:len(resp.Ns):len(resp.Ns)], withTTL(soaSigs, negTTL)...), nsec), nsecSigs...)
		if nx && !co {
			resp.Rcode = dns.RcodeSuccess
		}
	default:
		if resp.Ns, err = signSection(sg, ver, resp.Ns, ""); err != nil {
			return err
		}
	}
	extra, opt := withoutOPT(resp.Extra)
	if extra, err = signSection(sg, ver, extra, ""); err != nil {
		return err
	}
	if opt != nil {
		extra = append(extra, opt)
	}
	resp.Extra = extra
	return nil
}

// signSection returns rrs with the RRSIGs of each RRset after it; the
// records of one RRset are consecutive, as the zone returns them. RRSIGs
// owned by the query name follow its spelling, as the records do.
func signSection(sg *dnssec.Signer, ver uint32, rrs []dns.RR, qname string) ([]dns.RR, error) {
	if len(rrs) == 0 {
		return rrs, nil
	}
	out := make([]dns.RR, 0, 2*len(rrs))
	for start := 0; start < len(rrs); {
		h := rrs[start].Header()
		end := start + 1
		for end < len(rrs) && rrs[end].Header().Rrtype == h.Rrtype && strings.EqualFold(rrs[end].Header().Name, h.Name) {
			end++
		}
		sigs, err := sg.Sign(rrs[start:end], ver)
		if err != nil {
			return nil, err
		}
		out = append(out, rrs[start:end]...)
		if qname != "" {
			sigs = ownedBy(sigs, qname)
		}
		out = append(out, sigs...)
		start = end
	}
	return out, nil
}

// deniedName is the name a negative answer is about: the query name, or
// the target of the last CNAME the answer followed.
func deniedName(qname string, answer []dns.RR) string {
	if n := len(answer); n > 0 {
		if c, ok := answer[n-1].(*dns.CNAME); ok {
			return c.Target
		}
	}
	return qname
}

// withTTL returns copies of rrs with TTL ttl.
func withTTL(rrs []dns.RR, ttl uint32) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Ttl = ttl
		out[i] = c
	}
	return out
}

// withoutOPT splits the OPT record off the additional section.
func withoutOPT(extra []dns.RR) (rrs []dns.RR, opt dns.RR) {
	for _, rr := range extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opt = rr
			continue
		}
		rrs = append(rrs, rr)
	}
	return rrs, opt
}

// onlyOPT keeps the OPT record of an additional section.
func onlyOPT(extra []dns.RR) []dns.RR {
	_, opt := withoutOPT(extra)
	if opt == nil {
		return nil
	}
	return []dns.RR{opt}
}

// signedTransfer returns what AXFR sends between its two SOA records when
// the zone is signed (the signed zone less its leading SOA, with the
// SOA's RRSIGs), or nil for an unsigned zone. Secondaries cannot sign, so
// they get every signature and the NSEC or NSEC3 chain.
func signedTransfer(snap *zone.Snapshot) ([]dns.RR, error) {
	if snap.Signer() == nil {
		return nil, nil
	}
	rrs, err := snap.SignedZone()
	if err != nil {
		return nil, err
	}
	if len(rrs) == 0 || rrs[0].Header().Rrtype != dns.TypeSOA {
		return nil, errors.New("dnssec: the signed zone does not start with its SOA")
	}
	return rrs[1:], nil
}
