package resolver

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/zone"
)

// DefaultUDPSize is the EDNS(0) UDP payload size advertised and honoured
// by default: the DNS Flag Day 2020 value, which avoids IP fragmentation.
const DefaultUDPSize = 1232

// Handler answers DNS queries from a set of zone snapshots, one per
// origin: a question goes to the zone with the longest origin that
// contains its name, and is REFUSED when none does. The set is swapped
// atomically; the query path reads it without locks.
type Handler struct {
	state    atomic.Pointer[served]
	udpSize  uint16
	log      *slog.Logger
	stats    Stats
	tsigKeys map[string]TSIGKey // by key name; set before serving
}

// SetTSIGKeys sets the keys that signed queries are verified with and
// their replies signed with (RFC 8945). Call it before serving.
func (h *Handler) SetTSIGKeys(keys map[string]TSIGKey) { h.tsigKeys = keys }

// verifyTSIG checks a signed query and returns its key, or the TSIG error.
func (h *Handler) verifyTSIG(in []byte, t *dns.TSIG) (TSIGKey, int) {
	k, ok := h.tsigKeys[strings.ToLower(t.Hdr.Name)]
	if !ok || !strings.EqualFold(k.Algorithm, t.Algorithm) {
		return k, dns.RcodeBadKey
	}
	if err := dns.TsigVerify(in, k.Secret, "", false); err != nil {
		if errors.Is(err, dns.ErrTime) {
			return k, dns.RcodeBadTime
		}
		return k, dns.RcodeBadSig
	}
	return k, dns.RcodeSuccess
}

// served is the snapshots served, one per origin, as given (the first is
// the primary origin's) and sorted for picking by name.
type served struct {
	snaps []*zone.Snapshot
	zones zoneSet
}

func newServed(snaps []*zone.Snapshot) *served {
	return &served{snaps: snaps, zones: newZoneSet(snaps)}
}

// NewHandler returns a handler serving one zone. udpSize is the EDNS
// payload size to advertise (0: DefaultUDPSize); log may be nil.
func NewHandler(snap *zone.Snapshot, udpSize uint16, log *slog.Logger) *Handler {
	h, err := NewHandlerZones([]*zone.Snapshot{snap}, udpSize, log)
	if err != nil {
		panic(err) // one zone is always a valid set
	}
	return h
}

// NewHandlerZones returns a handler serving several zones, each under its
// own origin (ports.local. and ports.home.arpa., say), the first being
// the primary origin's; two zones may not share an origin.
func NewHandlerZones(zones []*zone.Snapshot, udpSize uint16, log *slog.Logger) (*Handler, error) {
	if err := checkZones(zones); err != nil {
		return nil, err
	}
	if udpSize == 0 {
		udpSize = DefaultUDPSize
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{udpSize: udpSize, log: log}
	h.state.Store(newServed(slices.Clone(zones)))
	return h, nil
}

// Swap serves snap in place of the zone with the same origin and returns
// that zone; with one zone served, snap replaces it whatever its origin
// (a reload may move the origin). A new origin is added to the set, and
// nil is returned.
func (h *Handler) Swap(snap *zone.Snapshot) *zone.Snapshot {
	for {
		cur := h.state.Load()
		next := slices.Clone(cur.snaps)
		var old *zone.Snapshot
		switch i := slices.IndexFunc(next, func(z *zone.Snapshot) bool { return z.Origin() == snap.Origin() }); {
		case i >= 0:
			old, next[i] = next[i], snap
		case len(next) == 1:
			old, next[0] = next[0], snap
		default:
			next = append(next, snap)
		}
		if h.state.CompareAndSwap(cur, newServed(next)) {
			return old
		}
	}
}

// SwapZones replaces the whole set of zones served, one per origin (the
// first is the primary origin's). A query is answered from the zone of
// the longest origin its name is under, and REFUSED when there is none.
// A set that cannot be served (none, or an origin twice) is refused and
// the zones served stay.
func (h *Handler) SwapZones(zones []*zone.Snapshot) error {
	if err := checkZones(zones); err != nil {
		return err
	}
	h.state.Store(newServed(slices.Clone(zones)))
	return nil
}

// Zone returns the snapshot of the primary origin.
func (h *Handler) Zone() *zone.Snapshot { return h.state.Load().snaps[0] }

// Zones returns every snapshot served, the primary origin's first
// (shared: do not modify).
func (h *Handler) Zones() []*zone.Snapshot { return h.state.Load().snaps }

// ZoneFor returns the snapshot that answers name (any case, fully
// qualified or not): the one with the longest origin name is at or below,
// or nil.
func (h *Handler) ZoneFor(name string) *zone.Snapshot { return h.state.Load().zones.pick(name) }

// Respond computes the reply to req on dns.Msg values, already sized for
// the transport: over UDP an answer too large for the client's payload
// size has its additional section dropped, then is sent empty with TC=1
// (RFC 2181 §9, RFC 7766). It returns nil for a message that must not be
// answered (a response).
//
// Every plain query is answered on the wire (AnswerWire) from the
// compiled zone; Respond serves `svcdns lookup` and the queries the wire
// path hands over (TSIG-signed, EDNS versions above 0, unusual shapes,
// and DO=1 to a signed zone, which it signs). A test keeps the two
// byte-equal.
func (h *Handler) Respond(req *dns.Msg, tcp bool) *dns.Msg {
	return h.respond(h.state.Load().zones, req, tcp)
}

func (h *Handler) respond(zones zoneSet, req *dns.Msg, tcp bool) *dns.Msg {
	if req.Response {
		return nil // never answer a response: no reflection loops
	}
	resp := new(dns.Msg)
	resp.Compress = true
	resp.Id = req.Id
	resp.Response = true
	resp.Opcode = req.Opcode
	resp.RecursionDesired = req.RecursionDesired
	resp.CheckingDisabled = req.CheckingDisabled
	resp.Question = req.Question // echoed as asked, case and all (0x20)

	opt, ok := queryOPT(req)
	if !ok {
		return setRcode(resp, dns.RcodeFormatError)
	}
	size := uint16(dns.MinMsgSize)
	if opt != nil {
		size = max(min(opt.UDPSize(), h.udpSize), dns.MinMsgSize)
		ro := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		ro.SetUDPSize(h.udpSize)
		ro.SetDo(opt.Do())
		resp.Extra = append(resp.Extra, ro)
		// RFC 6891 §6.1.3: a version we do not implement gets BADVERS.
		if opt.Version() != 0 {
			return setRcode(resp, dns.RcodeBadVers)
		}
	}
	if req.Opcode != dns.OpcodeQuery {
		return setRcode(resp, dns.RcodeNotImplemented)
	}
	if len(req.Question) != 1 {
		return setRcode(resp, dns.RcodeFormatError)
	}
	q := req.Question[0]
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		return setRcode(resp, dns.RcodeRefused)
	}
	switch q.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR, dns.TypeOPT:
		return setRcode(resp, dns.RcodeRefused)
	}
	snap := zones.pick(q.Name)
	if snap == nil {
		return setRcode(resp, dns.RcodeRefused) // no origin of ours
	}
	if rcode, refused := dnssecRefuses(snap, q); refused {
		return setRcode(resp, rcode)
	}
	ans := snap.Lookup(q.Name, q.Qtype)
	h.fill(resp, q, ans)
	if opt != nil && opt.Do() && snap.Signer() != nil && ans.Outcome != zone.NotAuth {
		h.signReply(snap, resp, q, ans, opt)
	}
	if !tcp {
		fitUDP(resp, int(size))
	}
	return resp
}

// fill maps a lookup outcome onto the reply: the one place on the dns.Msg
// path where outcomes become rcodes and sections (writeAnswer is its
// twin on the wire).
func (h *Handler) fill(resp *dns.Msg, q dns.Question, ans zone.Answer) {
	switch ans.Outcome {
	case zone.NotAuth:
		setRcode(resp, dns.RcodeRefused)
		return
	case zone.NameError:
		resp.Rcode = dns.RcodeNameError
	default:
		resp.Rcode = dns.RcodeSuccess
	}
	resp.Authoritative = true
	resp.Answer = ownedBy(ans.Answer, q.Name)
	resp.Ns = ans.Authority
	resp.Extra = append(ans.Additional[:len(ans.Additional):len(ans.Additional)], resp.Extra...)
	if ans.Invalid != nil {
		if opt := resp.IsEdns0(); opt != nil {
			// RFC 8914: say why the name cannot exist.
			opt.Option = append(opt.Option, &dns.EDNS0_EDE{
				InfoCode:  dns.ExtendedErrorCodeOther,
				ExtraText: fmt.Sprintf("RFC 6335 section 5.1: service name %q %s", ans.Invalid.Name, ans.Invalid.Rule),
			})
		}
	}
}

// ownedBy returns the answer with the records owned by the query name
// renamed to the name exactly as asked, so that the reply repeats the
// client's spelling (0x20) and compresses onto the question.
func ownedBy(rrs []dns.RR, qname string) []dns.RR {
	if len(rrs) == 0 {
		return nil
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		if rr.Header().Name != qname && strings.EqualFold(rr.Header().Name, qname) {
			rr = dns.Copy(rr)
			rr.Header().Name = qname
		}
		out[i] = rr
	}
	return out
}

// queryOPT returns the query's OPT record; ok is false when there is more
// than one (RFC 6891 §6.1.1: FORMERR).
func queryOPT(req *dns.Msg) (opt *dns.OPT, ok bool) {
	for _, rr := range req.Extra {
		if o, isOPT := rr.(*dns.OPT); isOPT {
			if opt != nil {
				return nil, false
			}
			opt = o
		}
	}
	return opt, true
}

// setRcode sets an error rcode; miekg/dns puts the upper bits of an
// extended rcode (BADVERS) into the OPT when packing.
func setRcode(resp *dns.Msg, rcode int) *dns.Msg {
	resp.Rcode = rcode
	return resp
}

// fits reports whether resp packed takes at most size bytes. miekg/dns's
// Len counts an RRSIG's signature as base64.DecodedLen of its text, two
// octets more than an ECDSA signature with its padding holds: a signed
// reply so measured would be cut when it fits. Len never counts less
// than Pack writes, so only a reply it puts over size is packed.
func fits(resp *dns.Msg, size int) bool {
	if resp.Len() <= size {
		return true
	}
	b, err := resp.Pack()
	return err == nil && len(b) <= size
}

// fitUDP makes resp fit size bytes: first without the additional records
// (other than OPT), then as an empty, truncated reply that tells the
// client to retry over TCP.
func fitUDP(resp *dns.Msg, size int) {
	if fits(resp, size) {
		return
	}
	opt := resp.IsEdns0()
	resp.Extra = nil
	if opt != nil {
		resp.Extra = []dns.RR{opt}
	}
	if fits(resp, size) {
		return
	}
	resp.Truncated = true
	resp.Answer, resp.Ns = nil, nil
}
