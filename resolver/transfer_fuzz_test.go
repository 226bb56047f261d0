package resolver_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/journal"
	"github.com/svcdns/svcdns/resolver"
	"github.com/svcdns/svcdns/zone"
)

// FuzzTransferUDP sends arbitrary datagrams to the IXFR-over-UDP handler,
// from an allowed source and with a journal: it must never panic, and
// every reply must unpack, carry the query's ID and fit 512 bytes unless
// the query offered more with EDNS.
func FuzzTransferUDP(f *testing.F) {
	vs := zonetest.Versions(f, zone.PortNamesRegistered)
	j, err := journal.Open(journal.Path(f.TempDir(), zonetest.Origin), zonetest.Origin, journal.Options{MaxSize: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	defer j.Close()
	if _, err := j.Start(vs[2].Version()); err != nil {
		f.Fatal(err)
	}
	d, err := journal.Diff(vs[2], vs[3])
	if err != nil {
		f.Fatal(err)
	}
	if err := j.Append(d, vs[3].Version()); err != nil {
		f.Fatal(err)
	}
	h := resolver.NewHandler(vs[3], 0, nil)
	serve := h.TransferUDP(resolver.TransferPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Journals: map[string]*journal.Journal{zonetest.Origin: j}})
	for _, serial := range []uint32{vs[2].Serial(), vs[3].Serial(), 1} {
		m := ixfrRequest(serial)
		b, _ := m.Pack()
		f.Add(b)
		m.SetEdns0(1232, false)
		b, _ = m.Pack()
		f.Add(b)
	}
	src := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, in []byte) {
		out := serve(src, in, make([]byte, 0, 512))
		if out == nil {
			return
		}
		r := new(dns.Msg)
		if err := r.Unpack(out); err != nil {
			if len(out) == 12 && out[3]&0xF == dns.RcodeFormatError {
				return // a bare FORMERR header
			}
			t.Fatalf("reply does not unpack: %v", err)
		}
		if len(in) >= 2 && r.Id != binary.BigEndian.Uint16(in) {
			t.Fatalf("reply ID %d, query %d", r.Id, binary.BigEndian.Uint16(in))
		}
		limit := 512
		q := new(dns.Msg)
		if q.Unpack(in) == nil {
			if opt := q.IsEdns0(); opt != nil {
				limit = max(int(min(opt.UDPSize(), 1232)), 512)
			}
		}
		if r.Rcode == dns.RcodeSuccess && len(out) > limit {
			t.Fatalf("reply of %d bytes, limit %d", len(out), limit)
		}
	})
}
