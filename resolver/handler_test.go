package resolver_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/resolver"
	"github.com/svcdns/svcdns/zone"
)

// query describes one request; zero values mean "a plain IN query with
// EDNS(0)".
type query struct {
	name    string
	qtype   uint16
	class   uint16
	opcode  int
	noEDNS  bool
	ednsVer uint8
	udpSize uint16
	tcp     bool
	rd      bool
	edit    func(*dns.Msg)
}

func (q query) msg() *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(q.name, q.qtype)
	m.RecursionDesired = q.rd
	if q.class != 0 {
		m.Question[0].Qclass = q.class
	}
	m.Opcode = q.opcode
	if !q.noEDNS {
		size := q.udpSize
		if size == 0 {
			size = 1232
		}
		m.SetEdns0(size, false)
		m.IsEdns0().SetVersion(q.ednsVer)
	}
	if q.edit != nil {
		q.edit(m)
	}
	return m
}

// udpLimit is the largest UDP reply the query allows: 512 without EDNS,
// else the smaller of its payload size and the server's 1232.
func (q query) udpLimit() int {
	if q.noEDNS {
		return 512
	}
	size := q.udpSize
	if size == 0 {
		size = 1232
	}
	return max(512, int(min(size, resolver.DefaultUDPSize)))
}

// want is the expected reply; nil slices are not checked, empty ones must
// be empty.
type want struct {
	rcode      int
	aa, tc     bool
	answer     []string
	authority  []string
	additional []string // OPT excluded
	ede        string   // substring of the Extended DNS Error text; "" = none
	opt        *bool    // OPT present?
}

func rrStrings(rrs []dns.RR) []string {
	out := []string{}
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	slices.Sort(out)
	return out
}

func edeText(m *dns.Msg) string {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				return e.ExtraText
			}
		}
	}
	return ""
}

func check(t *testing.T, h *resolver.Handler, q query, w want) *dns.Msg {
	t.Helper()
	req := q.msg()
	resp := h.Respond(req, q.tcp)
	if resp == nil {
		t.Fatalf("no reply")
	}
	// Round-trip through the wire, as a client sees it.
	wire, err := resp.Pack()
	if err != nil {
		t.Fatalf("pack: %v", err)
	}
	if limit := q.udpLimit(); !q.tcp && len(wire) > limit {
		t.Errorf("UDP reply of %d bytes, over the %d the client can take", len(wire), limit)
	}
	got := new(dns.Msg)
	if err := got.Unpack(wire); err != nil {
		t.Fatalf("unpack: %v", err)
	}
	if got.Id != req.Id || !got.Response || got.RecursionAvailable || got.RecursionDesired != req.RecursionDesired {
		t.Errorf("header: id %d/%d qr=%v ra=%v rd=%v", got.Id, req.Id, got.Response, got.RecursionAvailable, got.RecursionDesired)
	}
	if len(req.Question) == 1 && (len(got.Question) != 1 || got.Question[0] != req.Question[0]) {
		t.Errorf("question %v, want %v echoed byte for byte", got.Question, req.Question)
	}
	if got.Rcode != w.rcode {
		t.Errorf("rcode %s, want %s", dns.RcodeToString[got.Rcode], dns.RcodeToString[w.rcode])
	}
	if got.Authoritative != w.aa {
		t.Errorf("AA=%v, want %v", got.Authoritative, w.aa)
	}
	if got.Truncated != w.tc {
		t.Errorf("TC=%v, want %v", got.Truncated, w.tc)
	}
	for _, sec := range []struct {
		name      string
		got, want []string
	}{{"answer", rrStrings(got.Answer), w.answer}, {"authority", rrStrings(got.Ns), w.authority}, {"additional", rrStrings(got.Extra), w.additional}} {
		if sec.want == nil {
			continue
		}
		want := append([]string(nil), sec.want...)
		slices.Sort(want)
		if !slices.Equal(sec.got, want) {
			t.Errorf("%s:\n got  %q\n want %q", sec.name, sec.got, want)
		}
	}
	if ede := edeText(got); (w.ede == "") != (ede == "") || !strings.Contains(ede, w.ede) {
		t.Errorf("EDE %q, want %q", ede, w.ede)
	}
	if w.opt != nil && (got.IsEdns0() != nil) != *w.opt {
		t.Errorf("OPT present = %v, want %v", got.IsEdns0() != nil, *w.opt)
	}
	return got
}

var (
	yes = true
	no  = false
)

const (
	soaNeg = "ports.local. 300 IN SOA ns1.ports.local. hostmaster.ports.local. 2025103000 3600 600 604800 300"
	svcA   = "svc.ports.local. 3600 IN A 127.0.0.1"
)

func TestHandlerExcerpt(t *testing.T) {
	h := resolver.NewHandler(zonetest.Excerpt(t), 0, nil)
	tests := []struct {
		name string
		q    query
		w    want
	}{
		{"srv", query{name: "_rets._tcp.ports.local.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"_rets._tcp.ports.local. 3600 IN SRV 0 0 6103 svc.ports.local."},
				authority: []string{}, additional: []string{svcA}, opt: &yes}},
		{"srv mixed case 0x20", query{name: "_ReTs._TcP.PoRtS.LoCaL.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"_ReTs._TcP.PoRtS.LoCaL. 3600 IN SRV 0 0 6103 svc.ports.local."}, additional: []string{svcA}}},
		{"srv udp service", query{name: "_geneve._udp.ports.local.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"_geneve._udp.ports.local. 3600 IN SRV 0 0 6081 svc.ports.local."}}},
		{"txt", query{name: "_geneve._udp.ports.local.", qtype: dns.TypeTXT},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{`_geneve._udp.ports.local. 3600 IN TXT "txtvers=1" "port=6081" "proto=udp" "status=assigned" "desc=Generic Network Virtualization Encapsulation (Geneve)" "assignee=IESG" "contact=IETF Chair" "reg=2014-03-27" "mod=2020-05-04" "ref=RFC8926"`},
				additional: []string{}}},
		{"reserved port is no service", query{name: "_geneve._tcp.ports.local.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeNameError, aa: true, answer: []string{}, authority: []string{soaNeg}}},
		{"alias srv follows cname", query{name: "_bmc_ctd_ldap._tcp.ports.local.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
				"_bmc_ctd_ldap._tcp.ports.local. 3600 IN CNAME _bmc-ctd-ldap._tcp.ports.local.",
				"_bmc-ctd-ldap._tcp.ports.local. 3600 IN SRV 0 0 6301 svc.ports.local."}, additional: []string{svcA}}},
		{"alias upper case", query{name: "_BMC_CTD_LDAP._UDP.ports.local.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
				"_BMC_CTD_LDAP._UDP.ports.local. 3600 IN CNAME _bmc-ctd-ldap._udp.ports.local.",
				"_bmc-ctd-ldap._udp.ports.local. 3600 IN SRV 0 0 6301 svc.ports.local."}}},
		{"alias cname only", query{name: "_bmc_ctd_ldap._tcp.ports.local.", qtype: dns.TypeCNAME},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"_bmc_ctd_ldap._tcp.ports.local. 3600 IN CNAME _bmc-ctd-ldap._tcp.ports.local."}}},
		{"alias nodata after cname", query{name: "_bmc_ctd_ldap._tcp.ports.local.", qtype: dns.TypeAAAA},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"_bmc_ctd_ldap._tcp.ports.local. 3600 IN CNAME _bmc-ctd-ldap._tcp.ports.local."},
				authority: []string{soaNeg}}},
		{"invalid name charset", query{name: "_bad_name._tcp.ports.local.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeNameError, aa: true, answer: []string{}, authority: []string{soaNeg}, ede: `"bad_name" may contain only A-Z, a-z, 0-9 and hyphen`}},
		{"invalid name length", query{name: "_abcdefghijklmnop._tcp.ports.local.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeNameError, aa: true, authority: []string{soaNeg}, ede: "must be 1 to 15 characters"}},
		{"invalid name hyphen", query{name: "_-geneve._udp.ports.local.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeNameError, aa: true, authority: []string{soaNeg}, ede: "must not begin or end with a hyphen"}},
		{"invalid name double hyphen", query{name: "_a--b._udp.ports.local.", qtype: dns.TypeTXT},
			want{rcode: dns.RcodeNameError, aa: true, authority: []string{soaNeg}, ede: "two adjacent hyphens"}},
		{"invalid name without EDNS has no OPT", query{name: "_bad_name._tcp.ports.local.", qtype: dns.TypeSRV, noEDNS: true},
			want{rcode: dns.RcodeNameError, aa: true, authority: []string{soaNeg}, opt: &no}},
		{"valid but unregistered", query{name: "_nosuchsvc._tcp.ports.local.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeNameError, aa: true, answer: []string{}, authority: []string{soaNeg}}},
		{"ENT _tcp", query{name: "_tcp.ports.local.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{}, authority: []string{soaNeg}}},
		{"ENT _udp A", query{name: "_UDP.ports.local.", qtype: dns.TypeA},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{}, authority: []string{soaNeg}}},
		{"ENT _sctp without services", query{name: "_sctp.ports.local.", qtype: dns.TypeTXT},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{}, authority: []string{soaNeg}}},
		{"ENT _dns-sd._udp", query{name: "_dns-sd._udp.ports.local.", qtype: dns.TypePTR},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{}, authority: []string{soaNeg}}},
		{"nxdomain under ENT", query{name: "foo._tcp.ports.local.", qtype: dns.TypeA},
			want{rcode: dns.RcodeNameError, aa: true, answer: []string{}, authority: []string{soaNeg}}},
		{"nxdomain below a service", query{name: "x._rets._tcp.ports.local.", qtype: dns.TypeA},
			want{rcode: dns.RcodeNameError, aa: true, authority: []string{soaNeg}}},
		{"nodata on a service", query{name: "_rets._tcp.ports.local.", qtype: dns.TypeAAAA},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{}, authority: []string{soaNeg}}},
		{"apex soa", query{name: "ports.local.", qtype: dns.TypeSOA},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"ports.local. 3600 IN SOA ns1.ports.local. hostmaster.ports.local. 2025103000 3600 600 604800 300"}}},
		{"apex ns with glue", query{name: "ports.local.", qtype: dns.TypeNS},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"ports.local. 3600 IN NS ns1.ports.local."},
				additional: []string{"ns1.ports.local. 3600 IN A 127.0.0.1"}}},
		{"apex nodata", query{name: "ports.local.", qtype: dns.TypeA},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{}, authority: []string{soaNeg}}},
		{"target address", query{name: "svc.ports.local.", qtype: dns.TypeA},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{svcA}}},
		{"any is minimal (RFC 8482)", query{name: "_rets._tcp.ports.local.", qtype: dns.TypeANY},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"_rets._tcp.ports.local. 3600 IN SRV 0 0 6103 svc.ports.local."}}},
		{"out of zone", query{name: "example.com.", qtype: dns.TypeA},
			want{rcode: dns.RcodeRefused, aa: false, answer: []string{}, authority: []string{}}},
		{"parent of origin", query{name: "local.", qtype: dns.TypeSOA},
			want{rcode: dns.RcodeRefused}},
		{"sibling suffix is out of zone", query{name: "xports.local.", qtype: dns.TypeA},
			want{rcode: dns.RcodeRefused}},
		{"root", query{name: ".", qtype: dns.TypeNS},
			want{rcode: dns.RcodeRefused}},
		{"class CH", query{name: "ports.local.", qtype: dns.TypeSOA, class: dns.ClassCHAOS},
			want{rcode: dns.RcodeRefused}},
		{"class ANY", query{name: "ports.local.", qtype: dns.TypeSOA, class: dns.ClassANY},
			want{rcode: dns.RcodeSuccess, aa: true}},
		{"opcode status", query{name: "ports.local.", qtype: dns.TypeSOA, opcode: dns.OpcodeStatus},
			want{rcode: dns.RcodeNotImplemented}},
		{"opcode update", query{name: "ports.local.", qtype: dns.TypeSOA, opcode: dns.OpcodeUpdate},
			want{rcode: dns.RcodeNotImplemented}},
		{"opcode notify", query{name: "ports.local.", qtype: dns.TypeSOA, opcode: dns.OpcodeNotify},
			want{rcode: dns.RcodeNotImplemented}},
		{"qdcount 0", query{name: "ports.local.", qtype: dns.TypeSOA, edit: func(m *dns.Msg) { m.Question = nil }},
			want{rcode: dns.RcodeFormatError}},
		{"qdcount 2", query{name: "ports.local.", qtype: dns.TypeSOA, edit: func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }},
			want{rcode: dns.RcodeFormatError}},
		{"two OPT records", query{name: "ports.local.", qtype: dns.TypeSOA, edit: func(m *dns.Msg) { m.Extra = append(m.Extra, m.Extra[0]) }},
			want{rcode: dns.RcodeFormatError}},
		{"edns version 1", query{name: "_rets._tcp.ports.local.", qtype: dns.TypeSRV, ednsVer: 1},
			want{rcode: dns.RcodeBadVers, answer: []string{}, opt: &yes}},
		{"no edns, no opt", query{name: "_rets._tcp.ports.local.", qtype: dns.TypeSRV, noEDNS: true},
			want{rcode: dns.RcodeSuccess, aa: true, opt: &no}},
		{"rd copied, ra never", query{name: "_rets._tcp.ports.local.", qtype: dns.TypeSRV, rd: true},
			want{rcode: dns.RcodeSuccess, aa: true}},
		{"axfr over udp", query{name: "ports.local.", qtype: dns.TypeAXFR},
			want{rcode: dns.RcodeRefused}},
		{"escaped label", query{name: `_z39\.50._tcp.ports.local.`, qtype: dns.TypeSRV},
			want{rcode: dns.RcodeNameError, aa: true, ede: "may contain only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, h, tt.q, tt.w) })
	}
}

func TestHandlerDropsResponses(t *testing.T) {
	h := resolver.NewHandler(zonetest.Excerpt(t), 0, nil)
	m := new(dns.Msg)
	m.SetQuestion("_rets._tcp.ports.local.", dns.TypeSRV)
	m.Response = true
	if r := h.Respond(m, false); r != nil {
		t.Errorf("answered a response: %v", r)
	}
}

func TestHandlerAdvertisesPayloadSize(t *testing.T) {
	h := resolver.NewHandler(zonetest.Excerpt(t), 0, nil)
	got := check(t, h, query{name: "_rets._tcp.ports.local.", qtype: dns.TypeSRV, udpSize: 4096}, want{rcode: dns.RcodeSuccess, aa: true})
	if opt := got.IsEdns0(); opt == nil || opt.UDPSize() != resolver.DefaultUDPSize || opt.Version() != 0 {
		t.Errorf("OPT = %v, want version 0 with UDP size %d", opt, resolver.DefaultUDPSize)
	}
}

func TestHandlerFullRegistry(t *testing.T) {
	h := resolver.NewHandler(zonetest.Full(t), 0, nil)
	full := zonetest.Full(t)
	soa := "ports.local. 300 IN SOA ns1.ports.local. hostmaster.ports.local. " + itoa(full.Serial()) + " 3600 600 604800 300"
	x11 := make([]string, 0, 64)
	for p := 6000; p <= 6063; p++ {
		x11 = append(x11, "_x11._tcp.ports.local. 3600 IN SRV 0 0 "+itoa(uint32(p))+" svc.ports.local.")
	}
	tests := []struct {
		name string
		q    query
		w    want
	}{
		{"range over tcp is complete", query{name: "_x11._tcp.ports.local.", qtype: dns.TypeSRV, tcp: true},
			want{rcode: dns.RcodeSuccess, aa: true, answer: x11, additional: []string{svcA}}},
		{"range over udp truncates", query{name: "_x11._tcp.ports.local.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeSuccess, aa: true, tc: true, answer: []string{}, additional: []string{}}},
		{"without EDNS 512 bytes", query{name: "_x11._udp.ports.local.", qtype: dns.TypeSRV, noEDNS: true},
			want{rcode: dns.RcodeSuccess, aa: true, tc: true, answer: []string{}}},
		{"name without port: TXT only", query{name: "_wot._tcp.ports.local.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{}, authority: []string{soa}}},
		{"whois++ alias", query{name: "_whois++._tcp.ports.local.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
				"_whois++._tcp.ports.local. 3600 IN CNAME _whoispp._tcp.ports.local.",
				"_whoispp._tcp.ports.local. 3600 IN SRV 0 0 63 svc.ports.local."}}},
		{"escaped alias z39.50", query{name: `_Z39\.50._tcp.ports.local.`, qtype: dns.TypeSRV},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
				`_Z39\.50._tcp.ports.local. 3600 IN CNAME _z39-50._tcp.ports.local.`,
				"_z39-50._tcp.ports.local. 3600 IN SRV 0 0 210 svc.ports.local."}}},
		{"slash alias 914c/g", query{name: "_914c/g._tcp.ports.local.", qtype: dns.TypeCNAME},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"_914c/g._tcp.ports.local. 3600 IN CNAME _914c-g._tcp.ports.local."}}},
		{"star alias sql*net", query{name: "_sql*net._tcp.ports.local.", qtype: dns.TypeCNAME},
			want{rcode: dns.RcodeSuccess, aa: true, answer: []string{"_sql*net._tcp.ports.local. 3600 IN CNAME _sql-net._tcp.ports.local."}}},
		{"invalid name without replacement", query{name: "_edi_service._tcp.ports.local.", qtype: dns.TypeSRV},
			want{rcode: dns.RcodeNameError, aa: true, authority: []string{soa}, ede: `"edi_service" may contain only`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, h, tt.q, tt.w) })
	}
}

// An answer that fits 512 bytes with additional records that do not: the
// additional records go first and the answer stays whole, without TC.
func TestHandlerDropsAdditionalBeforeTruncating(t *testing.T) {
	snap := zonetest.Full(t)
	h := resolver.NewHandler(snap, 0, nil)
	found := 0
	for _, name := range snap.Names() {
		if len(snap.RRs(name)) == 0 || !strings.HasPrefix(name, "_") || snap.Lookup(name, dns.TypePTR).Outcome != zone.Success {
			continue
		}
		q := query{name: name, qtype: dns.TypePTR, noEDNS: true, tcp: true}
		full := h.Respond(q.msg(), true)
		if len(full.Extra) == 0 || full.Len() <= 512 {
			continue
		}
		q.tcp = false
		answer := rrStrings(full.Answer)
		check(t, h, q, want{rcode: dns.RcodeSuccess, aa: true, tc: false, answer: answer, additional: []string{}})
		if found++; found == 20 {
			break
		}
	}
	if found == 0 {
		t.Fatal("no PTR answer with large additional records in the full registry")
	}
}

func itoa(v uint32) string { return strings.TrimSpace(strings.Repeat(" ", 0) + uitoa(v)) }

func uitoa(v uint32) string {
	if v == 0 {
		return "0"
	}
	var b [10]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}

var _ = zone.Success
