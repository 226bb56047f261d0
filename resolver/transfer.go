package resolver

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
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
}

// transferWriteTimeout bounds each message's write to the secondary.
const transferWriteTimeout = 10 * time.Second

// maxTransferMsg keeps each transfer message well under the 64 KiB a TCP
// DNS message can hold, leaving room for a TSIG record.
const maxTransferMsg = 60000

// Transfer returns the TransferFunc that serves AXFR, and IXFR as a full
// transfer (RFC 1995 §4), from the handler's current snapshot.
func (h *Handler) Transfer(p TransferPolicy) TransferFunc {
	return func(c net.Conn, query []byte) error {
		return h.transfer(c, query, p)
	}
}

func (h *Handler) transfer(c net.Conn, query []byte, p TransferPolicy) error {
	req := new(dns.Msg)
	if err := req.Unpack(query); err != nil || len(req.Question) != 1 {
		return writeTCP(c, formErr(query, nil))
	}
	q := req.Question[0]
	snap := h.ZoneFor(q.Name)
	reply := func(rcode int) error {
		m := new(dns.Msg)
		m.SetRcode(req, rcode)
		wire, err := m.Pack()
		if err != nil {
			return err
		}
		return writeTCP(c, wire)
	}
	if snap == nil || q.Qclass != dns.ClassINET {
		h.log.Info("transfer refused: not this zone", "remote", c.RemoteAddr().String(), "zone", q.Name)
		return reply(dns.RcodeNotAuth)
	}

	var key *TSIGKey
	var requestMAC string
	if t := req.IsTsig(); t != nil {
		k, code := h.verifyTSIG(query, t)
		if code != dns.RcodeSuccess {
			h.log.Warn("transfer refused: TSIG", "remote", c.RemoteAddr().String(), "key", t.Hdr.Name, "error", dns.RcodeToString[code])
			return writeTCP(c, tsigError(req, t, code))
		}
		key, requestMAC = &k, t.MAC
	} else if !allowed(c.RemoteAddr(), p.Allow) {
		h.log.Info("transfer refused: source not allowed", "remote", c.RemoteAddr().String())
		return reply(dns.RcodeRefused)
	}

	// RFC 5936 §2.2: SOA, every other record, SOA again, in as many
	// messages as needed, each written as soon as it is full. Sizes are
	// summed uncompressed, so a message never exceeds the bound.
	soa := snap.SOA()
	n := 0
	cur, size := newTransferMsg(req), 0
	send := func() error {
		var wire []byte
		var err error
		if key != nil {
			cur.SetTsig(key.Name, key.Algorithm, 300, time.Now().Unix())
			// RFC 8945 §5.3.1: the first message's MAC covers the
			// request's; each later one covers the previous reply's.
			wire, requestMAC, err = dns.TsigGenerate(cur, key.Secret, requestMAC, n > 0)
		} else {
			wire, err = cur.Pack()
		}
		if err != nil {
			return fmt.Errorf("transfer: pack message %d: %w", n, err)
		}
		c.SetWriteDeadline(time.Now().Add(transferWriteTimeout))
		if err := writeTCP(c, wire); err != nil {
			return err
		}
		n++
		cur, size = newTransferMsg(req), 0
		return nil
	}
	put := func(rr dns.RR) error {
		l := dns.Len(rr)
		if size+l > maxTransferMsg && len(cur.Answer) > 0 {
			if err := send(); err != nil {
				return err
			}
		}
		cur.Answer = append(cur.Answer, rr)
		size += l
		return nil
	}
	if err := put(soa); err != nil {
		return err
	}
	for _, name := range snap.Names() {
		for _, rr := range snap.RRs(name) {
			if rr.Header().Rrtype == dns.TypeSOA {
				continue
			}
			if err := put(rr); err != nil {
				return err
			}
		}
	}
	if err := put(soa); err != nil {
		return err
	}
	if err := send(); err != nil {
		return err
	}
	h.log.Info("zone transferred", "remote", c.RemoteAddr().String(), "serial", soa.Serial,
		"messages", n, "type", dns.TypeToString[q.Qtype], "tsig", key != nil)
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
		Hdr:       dns.RR_Header{Name: t.Hdr.Name, Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
		Algorithm: t.Algorithm, TimeSigned: t.TimeSigned, Fudge: t.Fudge,
		OrigId: req.Id, Error: uint16(code),
	})
	wire, err := m.Pack()
	if err != nil {
		m.Extra = nil
		wire, _ = m.Pack()
	}
	return wire
}

func allowed(a net.Addr, allow []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
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
