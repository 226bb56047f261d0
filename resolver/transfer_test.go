package resolver_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/journal"
	"github.com/svcdns/svcdns/resolver"
	"github.com/svcdns/svcdns/zone"
)

const xfrKeyName = "xfr.ports.local."

var xfrSecret = "c3ZjZG5zIHRyYW5zZmVyIHRlc3Qga2V5LCBub3QgYSBzZWNyZXQ="

// xfrServer serves the last of versions from a server on 127.0.0.1:0
// that allows transfers to 127.0.0.1 only (and to the test TSIG key from
// anywhere), with a journal holding every step when withJournal.
func xfrServer(t *testing.T, vs []*zone.Snapshot, withJournal bool) string {
	t.Helper()
	h := resolver.NewHandler(vs[len(vs)-1], 0, nil)
	h.SetTSIGKeys(map[string]resolver.TSIGKey{xfrKeyName: {Name: xfrKeyName, Algorithm: dns.HmacSHA256, Secret: xfrSecret}})
	p := resolver.TransferPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	if withJournal {
		j, err := journal.Open(journal.Path(t.TempDir(), zonetest.Origin), zonetest.Origin, journal.Options{MaxSize: 64 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { j.Close() })
		if _, err := j.Start(vs[0].Version()); err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(vs); i++ {
			d, err := journal.Diff(vs[i-1], vs[i])
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Append(d, vs[i].Version()); err != nil {
				t.Fatal(err)
			}
		}
		p.Journals = map[string]*journal.Journal{zonetest.Origin: j}
	}
	srv := resolver.NewServer(h, resolver.DefaultLimits, nil)
	srv.SetTransfer(h.Transfer(p))
	srv.SetUDPTransfer(h.TransferUDP(p))
	if err := srv.Listen([]string{"127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return srv.Addrs()[0].String()
}

func ixfrRequest(serial uint32) *dns.Msg {
	m := new(dns.Msg)
	m.SetIxfr(zonetest.Origin, serial, "ns1."+zonetest.Origin, "hostmaster."+zonetest.Origin)
	return m
}

// xfrIn runs a transfer over TCP as a secondary does (miekg/dns's
// client, which checks each message's TSIG when signed) and returns the
// records in order and the number of messages.
func xfrIn(t *testing.T, addr string, m *dns.Msg, signed bool) ([]dns.RR, int) {
	t.Helper()
	tr := &dns.Transfer{DialTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second}
	if signed {
		tr.TsigSecret = map[string]string{xfrKeyName: xfrSecret}
		m.SetTsig(xfrKeyName, dns.HmacSHA256, 300, time.Now().Unix())
	}
	ch, err := tr.In(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var rrs []dns.RR
	n := 0
	for env := range ch {
		if env.Error != nil {
			t.Fatalf("transfer: %v", env.Error)
		}
		n++
		rrs = append(rrs, env.RR...)
	}
	return rrs, n
}

// wireKey is a record's identity to a secondary here: its exact,
// uncompressed wire form.
func wireKey(t *testing.T, rr dns.RR) string {
	t.Helper()
	buf := make([]byte, dns.Len(rr)+64)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

// held is the zone as a secondary holds it, SOA aside.
func held(t *testing.T, rrs func(yield func(dns.RR) bool)) map[string]dns.RR {
	t.Helper()
	out := map[string]dns.RR{}
	for rr := range rrs {
		if rr.Header().Rrtype != dns.TypeSOA {
			out[wireKey(t, rr)] = rr
		}
	}
	return out
}

func zoneRecords(s *zone.Snapshot) func(yield func(dns.RR) bool) {
	return func(yield func(dns.RR) bool) {
		for _, rrs := range s.All() {
			for _, rr := range rrs {
				if !yield(rr) {
					return
				}
			}
		}
	}
}

// applyXFR does what a secondary holding have does with a transfer reply
// (RFC 1995 §4, RFC 5936): a lone SOA changes nothing; a second SOA makes
// it incremental (delete, add, per step); otherwise it is the whole zone.
// It returns the zone held after, and the reply's form.
func applyXFR(t *testing.T, have map[string]dns.RR, rrs []dns.RR) (map[string]dns.RR, string) {
	t.Helper()
	if len(rrs) == 0 {
		t.Fatal("empty transfer")
	}
	first, ok := rrs[0].(*dns.SOA)
	if !ok {
		t.Fatalf("transfer starts with %v", rrs[0])
	}
	if len(rrs) == 1 {
		return have, "soa"
	}
	if _, ok := rrs[1].(*dns.SOA); !ok {
		last, ok := rrs[len(rrs)-1].(*dns.SOA)
		if !ok || last.Serial != first.Serial {
			t.Fatalf("full transfer ends with %v", rrs[len(rrs)-1])
		}
		return held(t, slices.Values(rrs[1:len(rrs)-1])), "full"
	}
	out := map[string]dns.RR{}
	for k, v := range have {
		out[k] = v
	}
	// Each step is the old SOA, deletions, the new SOA, additions.
	adding := true
	for i, rr := range rrs[1:] {
		if soa, ok := rr.(*dns.SOA); ok {
			if i == len(rrs)-2 {
				if soa.Serial != first.Serial {
					t.Fatalf("incremental transfer ends at serial %d, began at %d", soa.Serial, first.Serial)
				}
				return out, "incremental"
			}
			adding = !adding
			continue
		}
		k := wireKey(t, rr)
		if adding {
			if _, dup := out[k]; dup {
				t.Fatalf("transfer adds %v, already held", rr)
			}
			out[k] = rr
		} else {
			if _, held := out[k]; !held {
				t.Fatalf("transfer deletes %v, not held", rr)
			}
			delete(out, k)
		}
	}
	t.Fatal("incremental transfer without its closing SOA")
	return nil, ""
}

func sameHeld(t *testing.T, what string, got, want map[string]dns.RR) {
	t.Helper()
	missing, extra := 0, 0
	var first []string
	for k, rr := range want {
		if _, ok := got[k]; !ok {
			missing++
			if len(first) < 3 {
				first = append(first, "missing "+rr.String())
			}
		}
	}
	for k, rr := range got {
		if _, ok := want[k]; !ok {
			extra++
			if len(first) < 6 {
				first = append(first, "extra "+rr.String())
			}
		}
	}
	if missing+extra > 0 {
		t.Errorf("%s: %d records missing, %d extra: %q", what, missing, extra, first)
	}
}

// TestIXFROverTCP asks a server at v4 for IXFR from each serial a
// secondary may hold, and applies the reply as a secondary would: it must
// end up with v4 exactly, by the cheapest form the server can prove.
func TestIXFROverTCP(t *testing.T) {
	vs := zonetest.Versions(t, zone.PortNamesRegistered)
	withJournal := xfrServer(t, vs, true)
	without := xfrServer(t, vs, false)
	cur := held(t, zoneRecords(vs[3]))
	for _, c := range []struct {
		name   string
		addr   string
		from   uint32
		have   *zone.Snapshot // nil: holds nothing it can use
		form   string
		signed bool
	}{
		{"from v1", withJournal, vs[0].Serial(), vs[0], "incremental", false},
		{"from v2", withJournal, vs[1].Serial(), vs[1], "incremental", false},
		{"from v3 signed", withJournal, vs[2].Serial(), vs[2], "incremental", true},
		{"current", withJournal, vs[3].Serial(), vs[3], "soa", false},
		{"newer than the server", withJournal, vs[3].Serial() + 5, vs[3], "soa", false},
		{"serial never served", withJournal, vs[0].Serial() - 1, nil, "full", false},
		{"no journal", without, vs[0].Serial(), vs[0], "full", false},
		{"AXFR", withJournal, 0, nil, "full", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := ixfrRequest(c.from)
			if c.name == "AXFR" {
				m.SetAxfr(zonetest.Origin)
			}
			rrs, msgs := xfrIn(t, c.addr, m, c.signed)
			have := map[string]dns.RR{}
			if c.have != nil {
				have = held(t, zoneRecords(c.have))
			}
			got, form := applyXFR(t, have, rrs)
			if form != c.form {
				t.Errorf("reply is %s (%d records, %d messages), want %s", form, len(rrs), msgs, c.form)
			}
			sameHeld(t, "after the transfer", got, cur)
			t.Logf("%s: %d records in %d messages", form, len(rrs), msgs)
		})
	}
	t.Run("no SOA in the request", func(t *testing.T) {
		m := ixfrRequest(vs[0].Serial())
		m.Ns = nil
		c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
		r, _, err := c.Exchange(m, withJournal)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode != dns.RcodeFormatError {
			t.Errorf("IXFR without the client's SOA: %s, want FORMERR (RFC 1995 §3)", dns.RcodeToString[r.Rcode])
		}
	})
}

// TestIXFROverUDP checks RFC 1995 §2: over UDP an IXFR gets the whole
// incremental reply when it fits the client's payload size, and the
// current SOA alone (ask over TCP) when it does not or when only a full
// transfer would do; the transfer ACL and TSIG apply as over TCP.
func TestIXFROverUDP(t *testing.T) {
	vs := zonetest.Versions(t, zone.PortNamesRegistered)
	addr := xfrServer(t, vs, true)
	cur := held(t, zoneRecords(vs[3]))
	for _, c := range []struct {
		name   string
		local  string
		from   uint32
		edns   uint16
		signed bool
		rcode  int
		form   string
	}{
		{"small delta fits", "127.0.0.1", vs[2].Serial(), 1232, false, dns.RcodeSuccess, "incremental"},
		{"small delta fits 512", "127.0.0.1", vs[2].Serial(), 0, false, dns.RcodeSuccess, "incremental"},
		{"large delta: use TCP", "127.0.0.1", vs[0].Serial(), 1232, false, dns.RcodeSuccess, "soa"},
		{"up to date", "127.0.0.1", vs[3].Serial(), 1232, false, dns.RcodeSuccess, "soa"},
		{"unknown serial: use TCP", "127.0.0.1", 12345, 1232, false, dns.RcodeSuccess, "soa"},
		{"source not allowed", "127.0.0.2", vs[2].Serial(), 1232, false, dns.RcodeRefused, ""},
		{"signed from elsewhere", "127.0.0.2", vs[2].Serial(), 1232, true, dns.RcodeSuccess, "incremental"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := &dns.Client{Net: "udp", Timeout: 5 * time.Second,
				Dialer: &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.UDPAddr{IP: net.ParseIP(c.local)}}}
			m := ixfrRequest(c.from)
			if c.edns != 0 {
				m.SetEdns0(c.edns, false)
			}
			if c.signed {
				cl.TsigSecret = map[string]string{xfrKeyName: xfrSecret}
				m.SetTsig(xfrKeyName, dns.HmacSHA256, 300, time.Now().Unix())
			}
			r, _, err := cl.Exchange(m, addr)
			if err != nil {
				t.Fatalf("IXFR over UDP: %v", err)
			}
			if r.Rcode != c.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode])
			}
			if c.rcode != dns.RcodeSuccess {
				return
			}
			if r.Truncated {
				t.Error("TC set: RFC 1995 §2 answers with the SOA alone instead")
			}
			if c.signed && r.IsTsig() == nil {
				t.Error("reply to a signed request is not signed")
			}
			limit := 512
			if c.edns != 0 {
				limit = int(c.edns)
			}
			r.Compress = true // as the server packed it
			if wire, _ := r.Pack(); len(wire) > limit {
				t.Errorf("reply of %d bytes, client takes %d", len(wire), limit)
			}
			have := held(t, zoneRecords(vs[0]))
			for _, v := range vs {
				if v.Serial() == c.from {
					have = held(t, zoneRecords(v))
				}
			}
			got, form := applyXFR(t, have, r.Answer)
			if form != c.form {
				t.Fatalf("reply is %s (%d records), want %s", form, len(r.Answer), c.form)
			}
			if form == "incremental" {
				sameHeld(t, "after the transfer", got, cur)
			}
			if soa, ok := r.Answer[0].(*dns.SOA); !ok || soa.Serial != vs[3].Serial() {
				t.Errorf("first record %v, want the current SOA", r.Answer[0])
			}
		})
	}
}

// TestTransferConnAgnostic runs the TransferFunc on a connection that is
// not TCP (net.Pipe, as a TLS connection would be): the reply is framed
// the same, and the source check refuses an address it cannot read.
func TestTransferConnAgnostic(t *testing.T) {
	vs := zonetest.Versions(t, zone.PortNamesRegistered)
	h := resolver.NewHandler(vs[3], 0, nil)
	h.SetTSIGKeys(map[string]resolver.TSIGKey{xfrKeyName: {Name: xfrKeyName, Algorithm: dns.HmacSHA256, Secret: xfrSecret}})
	f := h.Transfer(resolver.TransferPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
	for _, signed := range []bool{false, true} {
		t.Run(fmt.Sprint("signed=", signed), func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			m := ixfrRequest(vs[3].Serial())
			if signed {
				m.SetTsig(xfrKeyName, dns.HmacSHA256, 300, time.Now().Unix())
			}
			var q []byte
			var mac string
			var err error
			if signed {
				q, mac, err = dns.TsigGenerate(m, xfrSecret, "", false)
			} else {
				q, err = m.Pack()
			}
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- f(b, q); b.Close() }()
			var lb [2]byte
			if _, err := io.ReadFull(a, lb[:]); err != nil {
				t.Fatal(err)
			}
			wire := make([]byte, int(lb[0])<<8|int(lb[1]))
			if _, err := io.ReadFull(a, wire); err != nil {
				t.Fatal(err)
			}
			r := new(dns.Msg)
			if err := r.Unpack(wire); err != nil {
				t.Fatal(err)
			}
			if signed {
				if err := dns.TsigVerify(wire, xfrSecret, mac, false); err != nil {
					t.Errorf("reply's TSIG: %v", err)
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			want := dns.RcodeRefused // a pipe has no IP to allow
			if signed {
				want = dns.RcodeSuccess
			}
			if r.Rcode != want {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[want])
			}
			if signed && (len(r.Answer) != 1 || r.Answer[0].(*dns.SOA).Serial != vs[3].Serial()) {
				t.Errorf("up-to-date IXFR answered %v", r.Answer)
			}
		})
	}
}
