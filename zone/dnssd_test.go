package zone_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/registry"
	"github.com/svcdns/svcdns/resolver"
	"github.com/svcdns/svcdns/zone"
)

// handlerExchange answers through the query handler over "TCP" (no size
// limit), as a client speaking DNS would be answered.
func handlerExchange(snap *zone.Snapshot) zonetest.Exchange {
	h := resolver.NewHandler(snap, 0, nil)
	return func(name string, qtype uint16) (*dns.Msg, error) {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.SetEdns0(1232, false)
		return h.Respond(m, true), nil
	}
}

func TestDNSSDWalkReachesEveryType(t *testing.T) {
	for _, tc := range []struct {
		name string
		snap func(testing.TB) *zone.Snapshot
		reg  func(testing.TB) *registry.Registry
	}{
		{"excerpt", zonetest.Excerpt, zonetest.ExcerptRegistry},
		{"full", zonetest.Full, zonetest.FullRegistry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := tc.snap(t)
			got, err := zonetest.Walk(handlerExchange(snap), zonetest.Origin)
			if err != nil {
				t.Fatal(err)
			}
			want := validPairs(tc.reg(t))
			if len(got) != len(want) {
				t.Errorf("walk reached %d types, registry has %d valid name+protocol pairs", len(got), len(want))
			}
			for k := range want {
				owner, _ := zone.ServiceOwner(k.Name, k.Proto, zonetest.Origin)
				in, ok := got[owner]
				if !ok {
					t.Errorf("%s not reached", owner)
					continue
				}
				// The instance answers the service's own SRV and TXT.
				srv := snap.Lookup(owner, dns.TypeSRV)
				if len(in.SRV) != len(srv.Answer) {
					t.Errorf("%s: instance has %d SRV, service %d", in.Instance, len(in.SRV), len(srv.Answer))
				}
				txt := snap.Lookup(owner, dns.TypeTXT).Answer[0].(*dns.TXT).Txt
				if !slices.Equal(in.TXT, txt) {
					t.Errorf("%s: instance TXT %q, service TXT %q", in.Instance, in.TXT, txt)
				}
			}
			for owner := range got {
				if !strings.HasPrefix(owner, "_") {
					t.Errorf("walk reached %q, not a service type", owner)
				}
			}
			t.Logf("%d service types reached", len(got))
		})
	}
}

func TestPTRAdditionalRecords(t *testing.T) {
	snap := zonetest.Excerpt(t)
	a := snap.Lookup("_rets._tcp.ports.local.", dns.TypePTR)
	if a.Outcome != zone.Success || len(a.Answer) != 1 {
		t.Fatalf("PTR: %v %v", a.Outcome, a.Answer)
	}
	inst := a.Answer[0].(*dns.PTR).Ptr
	var types []string
	for _, rr := range a.Additional {
		types = append(types, dns.TypeToString[rr.Header().Rrtype]+" "+rr.Header().Name)
	}
	slices.Sort(types)
	want := []string{"A svc.ports.local.", "SRV " + inst, "TXT " + inst}
	if !slices.Equal(types, want) {
		t.Errorf("PTR additional = %q, want %q (RFC 6763 §12.1)", types, want)
	}
	// §12.2: SRV answers carry addresses; §12.3: TXT answers nothing.
	if a := snap.Lookup(inst, dns.TypeSRV); len(a.Additional) != 1 || a.Additional[0].Header().Rrtype != dns.TypeA {
		t.Errorf("instance SRV additional = %v", a.Additional)
	}
	if a := snap.Lookup(inst, dns.TypeTXT); len(a.Additional) != 0 {
		t.Errorf("instance TXT additional = %v", a.Additional)
	}
}

func TestInstanceNames(t *testing.T) {
	snap := zonetest.Full(t)
	for _, tc := range []struct{ owner, want string }{
		{"_geneve._udp.ports.local.", `Generic\ Network\ Virtualization\ Encapsulation\ \(Geneve\)._geneve._udp.ports.local.`},
		{"_rets._tcp.ports.local.", "RETS._rets._tcp.ports.local."},
		// Dots in the description are escaped, not label breaks.
		{"_z39-50._tcp.ports.local.", `ANSI\ Z39\.50._z39-50._tcp.ports.local.`},
	} {
		a := snap.Lookup(tc.owner, dns.TypePTR)
		if len(a.Answer) != 1 || a.Answer[0].(*dns.PTR).Ptr != tc.want {
			t.Errorf("%s PTR = %v, want %s", tc.owner, a.Answer, tc.want)
		}
	}
	// Every instance label is at most 63 bytes and valid UTF-8.
	for _, name := range snap.Names() {
		for _, rr := range snap.RRs(name) {
			p, ok := rr.(*dns.PTR)
			if !ok || !strings.HasPrefix(name, "_") || strings.HasPrefix(name, "_services.") {
				continue
			}
			labels := dns.SplitDomainName(p.Ptr)
			buf := make([]byte, 300)
			n, err := dns.PackDomainName(p.Ptr, buf, 0, nil, false)
			if err != nil || buf[0] > 63 || n > 255 {
				t.Errorf("%s: bad instance name %q: %v", name, p.Ptr, err)
			}
			if !isUTF8(string(buf[1 : 1+buf[0]])) {
				t.Errorf("%s: instance label %q is not UTF-8", name, labels[0])
			}
		}
	}
}

func TestAliasesStayOutOfEnumeration(t *testing.T) {
	snap := zonetest.Full(t)
	for _, name := range snap.Names() {
		if !strings.HasPrefix(name, "_services._dns-sd._udp.") {
			continue
		}
		for _, rr := range snap.RRs(name) {
			if p, ok := rr.(*dns.PTR); ok {
				if a := snap.Lookup(p.Ptr, dns.TypeCNAME); a.Outcome == zone.Success {
					t.Errorf("%s lists alias %s", name, p.Ptr)
				}
			}
		}
	}
}

func TestServicesApexPointsAtBrowseDomains(t *testing.T) {
	snap := zonetest.Full(t)
	a := snap.Lookup("_services._dns-sd._udp.ports.local.", dns.TypeTXT)
	if a.Outcome != zone.Success || !slices.Contains(a.Answer[0].(*dns.TXT).Txt, "browse=b._dns-sd._udp.ports.local.") {
		t.Errorf("apex _services TXT = %v", a.Answer)
	}
	b := snap.Lookup("b._dns-sd._udp.ports.local.", dns.TypePTR)
	var got []string
	for _, rr := range b.Answer {
		got = append(got, rr.(*dns.PTR).Ptr)
	}
	slices.Sort(got)
	want := []string{"dccp.ports.local.", "sctp.ports.local.", "tcp.ports.local.", "udp.ports.local."}
	if !slices.Equal(got, want) {
		t.Errorf("browse domains %q, want %q", got, want)
	}
	// A browse domain that splits lists the type named by its prefix.
	x := snap.Lookup("_services._dns-sd._udp.x.tcp.ports.local.", dns.TypePTR)
	found := false
	for _, rr := range x.Answer {
		found = found || rr.(*dns.PTR).Ptr == "_x11._tcp.ports.local."
	}
	_ = fmt.Sprint
	if !found && snap.Lookup("_services._dns-sd._udp.x1.tcp.ports.local.", dns.TypePTR).Outcome != zone.Success {
		t.Errorf("x11/tcp is not listed under x.tcp or x1.tcp")
	}
}
