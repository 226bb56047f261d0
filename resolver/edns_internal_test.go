package resolver

import (
	"bytes"
	"testing"

	"github.com/miekg/dns"
)

func TestAppendReplyOption(t *testing.T) {
	m := new(dns.Msg)
	m.SetQuestion("_rets._tcp.ports.local.", dns.TypeSRV)
	m.Response = true
	m.Answer = []dns.RR{&dns.SRV{Hdr: dns.RR_Header{Name: "_rets._tcp.ports.local.", Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 60},
		Port: 6103, Target: "svc.ports.local."}}
	m.Extra = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "svc.ports.local.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: []byte{127, 0, 0, 1}}}
	m.Compress = true
	m.SetEdns0(1232, true)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_EDE{InfoCode: 0, ExtraText: "x"})
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	cookie := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	out, ok := appendReplyOption(append([]byte(nil), wire...), optCookie, cookie)
	if !ok {
		t.Fatal("appendReplyOption found no OPT")
	}
	got := new(dns.Msg)
	if err := got.Unpack(out); err != nil {
		t.Fatalf("grown reply does not unpack: %v", err)
	}
	opt := got.IsEdns0()
	if opt == nil || len(opt.Option) != 2 || !opt.Do() || opt.UDPSize() != 1232 {
		t.Fatalf("OPT after append = %v", opt)
	}
	if c, ok := opt.Option[1].(*dns.EDNS0_COOKIE); !ok || c.Cookie != "0102030405060708090a0b0c0d0e0f10" {
		t.Errorf("appended option = %#v", opt.Option[1])
	}
	if data, ok := queryOption(out, optCookie); !ok || !bytes.Equal(data, cookie) {
		t.Errorf("queryOption(cookie) = %x, %v", data, ok)
	}
	if _, ok := queryOption(out, optPadding); ok {
		t.Error("queryOption found a padding option that is not there")
	}

	// No OPT, an OPT that is not last, and a cut message are left alone.
	m.Extra = m.Extra[:1]
	plain, _ := m.Pack()
	if _, ok := appendReplyOption(plain, optCookie, cookie); ok {
		t.Error("appended to a reply without OPT")
	}
	m.SetEdns0(1232, false)
	m.Extra = append(m.Extra, dns.Copy(m.Extra[0]))
	notLast, _ := m.Pack()
	if _, ok := appendReplyOption(notLast, optCookie, cookie); ok {
		t.Error("appended to an OPT that is not the last record")
	}
	for i := range len(wire) {
		if _, ok := appendReplyOption(wire[:i], optCookie, cookie); ok {
			t.Fatalf("appended to a reply cut at %d bytes", i)
		}
	}
}
