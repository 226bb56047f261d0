package resolver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/journal"
	"github.com/svcdns/svcdns/zone"
)

// TSIGKey is a shared secret for transaction signatures (RFC 8945).
type TSIGKey struct {
	Name      string // FQDN, lower case
	Algorithm string // FQDN, e.g. dns.HmacSHA256
	Secret    string // base64
}

// TransferPolicy says who may transfer the zone (RFC 5936 §6): a client
// whose source address is in Allow, or one that signs its request with one
// of the handler's TSIG keys (SetTSIGKeys). A signed request is always
// verified: a bad signature or an unknown key gets NOTAUTH (RFC 8945
// §5.2), whatever the source.
type TransferPolicy struct {
	Allow []netip.Prefix
	// Journals holds, by origin (lower-case FQDN), each zone's recent
	// deltas, from which IXFR is answered (RFC 1995); a zone without one
	// answers every IXFR with the whole zone. It is not modified once
	// the policy is in use.
	Journals map[string]*journal.Journal
}

// transferWriteTimeout bounds each message's write to the secondary.
const transferWriteTimeout = 10 * time.Second

// maxTransferMsg keeps each transfer message well under the 64 KiB a TCP
// DNS message can hold, leaving room for a TSIG record.
const maxTransferMsg = 60000

// Transfer returns the TransferFunc that serves AXFR and IXFR of each
// zone served from its current snapshot and the policy's journal of it.
// It only reads and writes c, so any stream transport (TCP, TLS: XoT, RFC
// 9103) carries it.
func (h *Handler) Transfer(p TransferPolicy) TransferFunc {
	return func(c net.Conn, query []byte) error {
		return h.transfer(c, query, p)
	}
}

// UDPTransferFunc answers an IXFR request that came over UDP from src
// (RFC 1995 §2), writing the reply into out; nil means no reply.
type UDPTransferFunc func(src netip.Addr, query, out []byte) []byte

// TransferUDP returns the UDPTransferFunc for p: an IXFR over UDP gets the
// whole incremental transfer when it fits one message of the client's
// payload size, and otherwise the current SOA alone, which tells the
// client to ask again over TCP (RFC 1995 §2).
func (h *Handler) TransferUDP(p TransferPolicy) UDPTransferFunc {
	return func(src netip.Addr, query, out []byte) []byte {
		return h.transferUDP(src, query, out, p)
	}
}

// xfrKind is how a transfer request is answered.
type xfrKind int

const (
	xfrFull        xfrKind = iota // the whole zone (AXFR, or IXFR falling back, RFC 1995 §4)
	xfrIncremental                // the condensed delta from the client's serial
	xfrUpToDate                   // the current SOA alone (RFC 1995 §2)
	xfrUseTCP                     // over UDP, the current SOA alone: ask over TCP (§2)
)

func (k xfrKind) String() string {
	return [...]string{"full", "incremental", "up to date", "soa only, use TCP"}[k]
}

// xfrPlan is the answer chosen for one request against one snapshot.
type xfrPlan struct {
	kind  xfrKind
	from  uint32 // the client's serial (IXFR)
	delta journal.Delta
	why   string // why an IXFR gets the whole zone
}

// plan chooses how to answer req: AXFR gets the whole zone; IXFR gets the
// current SOA when the client's serial is not older, the condensed delta
// when the journal joins the two serials and the delta is smaller than the
// zone, and otherwise the whole zone. ok is false for an IXFR without the
// client's SOA in its authority section (RFC 1995 §3), which is FORMERR.
func plan(req *dns.Msg, snap *zone.Snapshot, j *journal.Journal) (p xfrPlan, ok bool) {
	if req.Question[0].Qtype != dns.TypeIXFR {
		return xfrPlan{kind: xfrFull}, true
	}
	var client *dns.SOA
	for _, rr := range req.Ns {
		if s, isSOA := rr.(*dns.SOA); isSOA && strings.EqualFold(dns.Fqdn(s.Hdr.Name), snap.Origin()) {
			client = s
		}
	}
	if client == nil {
		return xfrPlan{}, false
	}
	p.from = client.Serial
	cur := snap.Serial()
	switch {
	case !serialLess(client.Serial, cur):
		p.kind = xfrUpToDate
	case j == nil:
		p.why = "no journal"
	default:
		d, found := j.Changes(client.Serial, cur)
		switch {
		case !found:
			p.why = "serial not in the journal"
		case d.Len() >= snap.Records():
			p.why = "delta larger than the zone"
		default:
			p.kind, p.delta = xfrIncremental, d
		}
	}
	return p, true
}

// serialLess is RFC 1982 §3.2 serial number comparison: a < b.
func serialLess(a, b uint32) bool {
	return a != b && (a < b && b-a < 1<<31 || a > b && a-b > 1<<31)
}

// authorize checks the zone, the TSIG and the source address of a
// transfer request. It returns the key that signed it (nil: unsigned),
// or the reply to send instead.
func (h *Handler) authorize(req *dns.Msg, query []byte, remote netip.Addr, snap *zone.Snapshot, p TransferPolicy) (key *TSIGKey, mac string, refuse []byte) {
	q := req.Question[0]
	reply := func(rcode int) []byte {
		m := new(dns.Msg)
		m.SetRcode(req, rcode)
		wire, err := m.Pack()
		if err != nil {
			return formErr(query, nil)
		}
		return wire
	}
	if snap == nil || !strings.EqualFold(dns.Fqdn(q.Name), snap.Origin()) || q.Qclass != dns.ClassINET {
		h.log.Info("transfer refused: not this zone", "remote", remote.String(), "zone", q.Name)
		return nil, "", reply(dns.RcodeNotAuth)
	}
	if t := req.IsTsig(); t != nil {
		k, code := h.verifyTSIG(query, t)
		if code != dns.RcodeSuccess {
			h.log.Warn("transfer refused: TSIG", "remote", remote.String(), "key", t.Hdr.Name, "error", dns.RcodeToString[code])
			return nil, "", tsigError(req, t, code)
		}
		return &k, t.MAC, nil
	}
	if !allowedAddr(remote, p.Allow) {
		h.log.Info("transfer refused: source not allowed", "remote", remote.String())
		return nil, "", reply(dns.RcodeRefused)
	}
	return nil, "", nil
}

func (h *Handler) transfer(c net.Conn, query []byte, p TransferPolicy) error {
	req := new(dns.Msg)
	if err := req.Unpack(query); err != nil || len(req.Question) != 1 {
		return writeTCP(c, formErr(query, nil))
	}
	// Each origin served is its own zone to transfer.
	snap := h.ZoneFor(dns.Fqdn(req.Question[0].Name))
	remote := addrOf(c.RemoteAddr())
	key, mac, refuse := h.authorize(req, query, remote, snap, p)
	if refuse != nil {
		return writeTCP(c, refuse)
	}
	pl, ok := plan(req, snap, p.Journals[snap.Origin()])
	if !ok {
		h.log.Info("transfer refused: IXFR without the client's SOA", "remote", remote.String())
		return writeTCP(c, formErr(query, nil))
	}
	w := &xfrWriter{c: c, req: req, key: key, mac: mac}
	soa := snap.SOA()
	var err error
	switch pl.kind {
	case xfrUpToDate:
		err = w.put(soa)
	case xfrIncremental:
		// RFC 1995 §4: the new SOA, then the old SOA, the deletions,
		// the new SOA, the additions, and the new SOA to close.
		err = w.putAll([]dns.RR{soa, pl.delta.From}, pl.delta.Deleted, []dns.RR{pl.delta.To}, pl.delta.Added, []dns.RR{soa})
	default:
		// RFC 5936 §2.2: SOA, every other record, SOA again.
		if err = w.put(soa); err == nil {
			err = w.putZone(snap)
		}
		if err != nil && errors.Is(err, errSigning) {
			h.log.Error("transfer failed: cannot sign the zone", "remote", remote.String(), "zone", snap.Origin(), "err", err)
		}
		if err == nil {
			err = w.put(soa)
		}
	}
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		return err
	}
	args := []any{"remote", remote.String(), "type", dns.TypeToString[req.Question[0].Qtype], "answer", pl.kind.String(),
		"serial", soa.Serial, "messages", w.msgs, "records", w.records, "bytes", w.bytes, "tsig", key != nil}
	if req.Question[0].Qtype == dns.TypeIXFR {
		args = append(args, "from", pl.from)
		if pl.why != "" {
			args = append(args, "why", pl.why)
		}
	}
	h.log.Info("zone transferred", args...)
	return nil
}

// transferUDP answers an IXFR over UDP (RFC 1995 §2).
func (h *Handler) transferUDP(src netip.Addr, query, out []byte, p TransferPolicy) []byte {
	req := new(dns.Msg)
	if err := req.Unpack(query); err != nil || len(req.Question) != 1 || req.Response {
		if len(query) < 12 || binary.BigEndian.Uint16(query[2:])&flagQR != 0 {
			return nil
		}
		return formErr(query, out)
	}
	if req.Question[0].Qtype != dns.TypeIXFR {
		// Only IXFR has a UDP form (AXFR over UDP: RFC 5936 §4.2).
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeRefused)
		wire, err := m.PackBuffer(out[:cap(out)])
		if err != nil {
			return formErr(query, out)
		}
		return wire
	}
	snap := h.ZoneFor(dns.Fqdn(req.Question[0].Name))
	key, mac, refuse := h.authorize(req, query, src, snap, p)
	if refuse != nil {
		return append(out[:0], refuse...)
	}
	pl, ok := plan(req, snap, p.Journals[snap.Origin()])
	if !ok {
		return formErr(query, out)
	}
	size := dns.MinMsgSize
	m := newTransferMsg(req)
	if opt := req.IsEdns0(); opt != nil {
		size = int(max(min(opt.UDPSize(), h.udpSize), dns.MinMsgSize))
		ro := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		ro.SetUDPSize(h.udpSize)
		m.Extra = append(m.Extra, ro)
	}
	soa := snap.SOA()
	m.Answer = []dns.RR{soa}
	switch pl.kind {
	case xfrIncremental:
		m.Answer = append(append(append(append(append(m.Answer, pl.delta.From), pl.delta.Deleted...), pl.delta.To), pl.delta.Added...), soa)
	case xfrFull:
		// The whole zone never fits a datagram: the SOA alone tells the
		// client to ask over TCP.
		pl.kind = xfrUseTCP
	}
	wire, err := h.signOrPack(m, key, mac, out)
	if err == nil && len(wire) > size && pl.kind == xfrIncremental {
		m.Answer = []dns.RR{soa}
		pl.kind, pl.why = xfrUseTCP, "delta too large for UDP"
		wire, err = h.signOrPack(m, key, mac, out)
	}
	if err != nil {
		h.log.Debug("IXFR over UDP: pack failed", "err", err)
		return formErr(query, out)
	}
	args := []any{"remote", src.String(), "type", "IXFR", "transport", "udp", "answer", pl.kind.String(),
		"serial", soa.Serial, "from", pl.from, "records", len(m.Answer), "bytes", len(wire), "tsig", key != nil}
	if pl.why != "" {
		args = append(args, "why", pl.why)
	}
	h.log.Info("zone transferred", args...)
	return wire
}

// signOrPack packs m, signed with key when the request was (RFC 8945
// §5.3, the request's MAC first).
func (h *Handler) signOrPack(m *dns.Msg, key *TSIGKey, mac string, out []byte) ([]byte, error) {
	if key == nil {
		return m.PackBuffer(out[:cap(out)])
	}
	m.SetTsig(key.Name, key.Algorithm, 300, time.Now().Unix())
	wire, _, err := dns.TsigGenerate(m, key.Secret, mac, false)
	// TsigGenerate leaves the TSIG in m; a second pack must not see it.
	m.Extra = m.Extra[:len(m.Extra)-1]
	return wire, err
}

// xfrWriter writes one transfer to a stream: records go into messages of
// at most maxTransferMsg bytes (summed uncompressed, so a message never
// exceeds it), each written as soon as it is full and, for a signed
// request, signed in sequence (RFC 8945 §5.3.1: the first message's MAC
// covers the request's, each later one the previous reply's).
type xfrWriter struct {
	c     net.Conn
	req   *dns.Msg
	key   *TSIGKey
	mac   string
	cur   *dns.Msg
	size  int
	msgs  int
	bytes int
	// records counts what was sent, SOAs included.
	records int
}

func (w *xfrWriter) put(rr dns.RR) error {
	if w.cur == nil {
		w.cur = newTransferMsg(w.req)
	}
	l := dns.Len(rr)
	if w.size+l > maxTransferMsg && len(w.cur.Answer) > 0 {
		if err := w.flush(); err != nil {
			return err
		}
		w.cur = newTransferMsg(w.req)
	}
	w.cur.Answer = append(w.cur.Answer, rr)
	w.size += l
	w.records++
	return nil
}

func (w *xfrWriter) putAll(lists ...[]dns.RR) error {
	for _, rrs := range lists {
		for _, rr := range rrs {
			if err := w.put(rr); err != nil {
				return err
			}
		}
	}
	return nil
}

// errSigning marks a transfer that failed because the zone could not be
// signed.
var errSigning = errors.New("signing")

// putZone puts every record of the zone but the SOA, in the order a
// secondary receives the zone (zone.Snapshot.All: port names included),
// signed when the zone is (signedTransfer).
func (w *xfrWriter) putZone(snap *zone.Snapshot) error {
	signed, err := signedTransfer(snap)
	if err != nil {
		return fmt.Errorf("%w: %w", errSigning, err)
	}
	if signed != nil {
		return w.putAll(signed)
	}
	for _, rrs := range snap.All() {
		for _, rr := range rrs {
			if rr.Header().Rrtype == dns.TypeSOA {
				continue
			}
			if err := w.put(rr); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush writes the message being filled, if it holds anything.
func (w *xfrWriter) flush() error {
	if w.cur == nil || len(w.cur.Answer) == 0 {
		return nil
	}
	var wire []byte
	var err error
	if w.key != nil {
		w.cur.SetTsig(w.key.Name, w.key.Algorithm, 300, time.Now().Unix())
		wire, w.mac, err = dns.TsigGenerate(w.cur, w.key.Secret, w.mac, w.msgs > 0)
	} else {
		wire, err = w.cur.Pack()
	}
	if err != nil {
		return fmt.Errorf("transfer: pack message %d: %w", w.msgs, err)
	}
	w.c.SetWriteDeadline(time.Now().Add(transferWriteTimeout))
	if err := writeTCP(w.c, wire); err != nil {
		return err
	}
	w.msgs++
	w.bytes += 2 + len(wire)
	w.cur, w.size = nil, 0
	return nil
}

func newTransferMsg(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.Compress = true
	return m
}

// tsigError is the NOTAUTH reply to a request whose TSIG failed, carrying
// a TSIG record with the error and no MAC (RFC 8945 §5.3.2).
func tsigError(req *dns.Msg, t *dns.TSIG, code int) []byte {
	m := new(dns.Msg)
	m.SetRcode(req, dns.RcodeNotAuth)
	m.Extra = append(m.Extra, &dns.TSIG{
		Hdr: dns.RR_Header{Name: t.Hdr.Name, Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
		// A TSIG that came with no RDATA has Algorithm "", which
		// miekg/dns packs under a wrong RDLENGTH: the root name instead.
		Algorithm: dns.Fqdn(t.Algorithm), TimeSigned: t.TimeSigned, Fudge: t.Fudge,
		OrigId: req.Id, Error: uint16(code),
	})
	wire, err := m.Pack()
	if err != nil {
		m.Extra = nil
		wire, _ = m.Pack()
	}
	return wire
}

// addrOf is the IP of a connection's remote address; the zero Addr when
// it has none (then no network allows it).
func addrOf(a net.Addr) netip.Addr {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func allowedAddr(ip netip.Addr, allow []netip.Prefix) bool {
	if !ip.IsValid() {
		return false
	}
	for _, p := range allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func writeTCP(c net.Conn, msg []byte) error {
	buf := make([]byte, 2+len(msg))
	binary.BigEndian.PutUint16(buf, uint16(len(msg)))
	copy(buf[2:], msg)
	_, err := c.Write(buf)
	return err
}
