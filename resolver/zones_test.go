package resolver_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/resolver"
	"github.com/svcdns/svcdns/zone"
)

// twoOrigins serves the excerpt under ports.local. and ports.home.arpa.
func twoOrigins(t *testing.T) (*resolver.Handler, []*zone.Snapshot) {
	t.Helper()
	home, err := zone.Build(zonetest.ExcerptRegistry(t), zone.DefaultOptions("ports.home.arpa."), nil)
	if err != nil {
		t.Fatal(err)
	}
	snaps := []*zone.Snapshot{zonetest.Excerpt(t), home}
	h := resolver.NewHandler(snaps[0], 0, nil)
	if err := h.SwapZones(snaps); err != nil {
		t.Fatal(err)
	}
	return h, snaps
}

func TestHandlerSeveralOrigins(t *testing.T) {
	h, snaps := twoOrigins(t)
	homeSOA := "ports.home.arpa. 300 IN SOA ns1.ports.home.arpa. hostmaster.ports.home.arpa. " + itoa(snaps[1].Serial()) + " 3600 600 604800 300"
	for _, tc := range []struct {
		name string
		q    query
		w    want
	}{
		{"first origin", query{name: "_rets._tcp.ports.local.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"_rets._tcp.ports.local. 3600 IN SRV 0 0 6103 svc.ports.local."}, additional: []string{svcA}}},
		{"second origin, its own target", query{name: "_rets._tcp.ports.home.arpa.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"_rets._tcp.ports.home.arpa. 3600 IN SRV 0 0 6103 svc.ports.home.arpa."},
				additional: []string{"svc.ports.home.arpa. 3600 IN A 127.0.0.1"}}},
		{"second origin's apex NS", query{name: "ports.home.arpa.", qtype: dns.TypeNS},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"ports.home.arpa. 3600 IN NS ns1.ports.home.arpa."}}},
		{"NXDOMAIN with its own SOA", query{name: "_nosuch._tcp.ports.home.arpa.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeNameError, aa: true, authority: []string{homeSOA}}},
		{"outside both: REFUSED", query{name: "ports.example.", qtype: dns.TypeSOA},
			want{rcode: dns.RcodeRefused, answer: []string{}}},
		{"mixed case picks its origin", query{name: "_RETS._TCP.Ports.Home.Arpa.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"_RETS._TCP.Ports.Home.Arpa. 3600 IN SRV 0 0 6103 svc.ports.home.arpa."}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, h, tc.q, tc.w)
			// The packed fast path (and its cache) answers alike.
			in, err := tc.q.msg().Pack()
			if err != nil {
				t.Fatal(err)
			}
			r := new(dns.Msg)
			if err := r.Unpack(h.AnswerWire(in, true, nil)); err != nil || r.Rcode != tc.w.rcode {
				t.Errorf("AnswerWire: rcode %s err %v, want %s", dns.RcodeToString[r.Rcode], err, dns.RcodeToString[tc.w.rcode])
			}
		})
	}
	if h.Zone() != snaps[0] || len(h.Zones()) != 2 || h.ZoneFor("x.ports.home.arpa.") != snaps[1] || h.ZoneFor("example.") != nil {
		t.Errorf("Zone/Zones/ZoneFor do not follow the zones served")
	}
}

// Each origin transfers as its own zone, SOA first and last.
func TestTransferSeveralOrigins(t *testing.T) {
	h, snaps := twoOrigins(t)
	xfr := h.Transfer(resolver.TransferPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, s := range snaps {
		q := new(dns.Msg)
		q.SetAxfr(s.Origin())
		in, _ := q.Pack()
		go func() {
			server, err := ln.Accept()
			if err != nil {
				return
			}
			defer server.Close()
			_ = xfr(server, in)
		}()
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c := &dns.Conn{Conn: client}
		var rrs []dns.RR
		for {
			m, err := c.ReadMsg()
			if err != nil {
				t.Fatalf("%s: %v", s.Origin(), err)
			}
			if m.Rcode != dns.RcodeSuccess {
				t.Fatalf("%s: rcode %s", s.Origin(), dns.RcodeToString[m.Rcode])
			}
			rrs = append(rrs, m.Answer...)
			if len(rrs) > 1 && rrs[len(rrs)-1].Header().Rrtype == dns.TypeSOA {
				break
			}
		}
		client.Close()
		// Every record of the zone, port names included, and the closing
		// SOA.
		want := 1
		for _, set := range s.All() {
			want += len(set)
		}
		if rrs[0].Header().Name != s.Origin() || len(rrs) != want {
			t.Errorf("AXFR %s: %d records from %s, want %d from %s", s.Origin(), len(rrs), rrs[0].Header().Name, want, s.Origin())
		}
		for _, rr := range rrs {
			if !dns.IsSubDomain(s.Origin(), rr.Header().Name) {
				t.Errorf("AXFR %s carries %s", s.Origin(), rr.Header().Name)
				break
			}
		}
	}
}
