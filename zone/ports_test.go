package zone_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/registry"
	"github.com/svcdns/svcdns/zone"
)

type portAnswer struct {
	ptrs   []string
	status string
	txt    []string
}

func lookupPort(t *testing.T, snap *zone.Snapshot, port int, p registry.Protocol) portAnswer {
	t.Helper()
	name := fmt.Sprintf("_%d._%s.%s", port, p, zonetest.Origin)
	var pa portAnswer
	a := snap.Lookup(name, dns.TypePTR)
	if a.Outcome != zone.Success && a.Outcome != zone.NoData {
		t.Fatalf("%s PTR: %v", name, a.Outcome)
	}
	for _, rr := range a.Answer {
		pa.ptrs = append(pa.ptrs, rr.(*dns.PTR).Ptr)
	}
	slices.Sort(pa.ptrs)
	txt := snap.Lookup(name, dns.TypeTXT)
	if txt.Outcome != zone.Success {
		t.Fatalf("%s TXT: %v", name, txt.Outcome)
	}
	pa.txt = txt.Answer[0].(*dns.TXT).Txt
	for _, s := range pa.txt {
		if v, ok := strings.CutPrefix(s, "status="); ok {
			pa.status = v
		}
	}
	return pa
}

// TestPortNamesMatchExcerpt derives, from the excerpt's rows alone, what
// every port 6071-6401 of every protocol must answer, and asks the zone.
func TestPortNamesMatchExcerpt(t *testing.T) {
	snap := zonetest.Excerpt(t)
	reg := zonetest.ExcerptRegistry(t)
	for port := 6071; port <= 6401; port++ {
		for _, p := range registry.Protocols {
			var ptrs []string
			status := "unassigned"
			var unauth string
			for i := range reg.Records {
				r := &reg.Records[i]
				if !r.HasPort || !r.Ports.Contains(uint16(port)) || (r.Proto != p && r.Proto != registry.ProtoNone) {
					continue
				}
				switch {
				case r.Name != "":
					status = "assigned"
					if r.Proto == p {
						owner, _ := zone.ServiceOwner(r.Name, p, zonetest.Origin)
						ptrs = append(ptrs, owner)
					}
					if r.Unauthorized != "" {
						unauth = r.Unauthorized
					}
				case r.Description == "Reserved" && status != "assigned":
					status = "reserved"
				}
			}
			slices.Sort(ptrs)
			got := lookupPort(t, snap, port, p)
			if !slices.Equal(got.ptrs, ptrs) || got.status != status {
				t.Errorf("_%d._%s: PTR %q status %q, want PTR %q status %q", port, p, got.ptrs, got.status, ptrs, status)
			}
			_ = unauth
		}
	}
	// Spot checks a person would make.
	for _, tc := range []struct {
		port   int
		proto  registry.Protocol
		status string
		txt    string
	}{
		{6081, registry.UDP, "assigned", "names=geneve"},
		{6081, registry.TCP, "reserved", "desc=Reserved"},
		{6078, registry.TCP, "unassigned", "desc=Unassigned"},
		{6301, registry.TCP, "assigned", "names=bmc-ctd-ldap, bmc_ctd_ldap"},
		{6400, registry.TCP, "assigned", "names=boe-cms"},
		{6111, registry.TCP, "unassigned", "port=6111"},
	} {
		got := lookupPort(t, snap, tc.port, tc.proto)
		if got.status != tc.status || !slices.Contains(got.txt, tc.txt) {
			t.Errorf("_%d._%s TXT %q, want status %s and %q", tc.port, tc.proto, got.txt, tc.status, tc.txt)
		}
	}
}

func TestPortNamesFullRegistry(t *testing.T) {
	snap := zonetest.Full(t)
	for port := 6000; port <= 6063; port++ {
		if got := lookupPort(t, snap, port, registry.TCP); !slices.Contains(got.ptrs, "_x11._tcp.ports.local.") {
			t.Errorf("_%d._tcp PTR %q, want _x11._tcp", port, got.ptrs)
		}
	}
	// _80._tcp lists every name registered on 80/tcp.
	reg := zonetest.FullRegistry(t)
	var want []string
	for i := range reg.Records {
		r := &reg.Records[i]
		if r.HasPort && r.Ports.Contains(80) && r.Proto == registry.TCP && r.Name != "" {
			owner, _ := zone.ServiceOwner(r.Name, registry.TCP, zonetest.Origin)
			want = append(want, owner)
		}
	}
	slices.Sort(want)
	if got := lookupPort(t, snap, 80, registry.TCP); !slices.Equal(got.ptrs, want) || len(want) < 2 {
		t.Errorf("_80._tcp PTR %q, want %q", got.ptrs, want)
	}
	// Unauthorized use is reported for ports that have it.
	if got := lookupPort(t, snap, 6003, registry.TCP); !slices.Contains(got.txt, "unauth=Known Unauthorized Use on port 6003") {
		t.Errorf("_6003._tcp TXT %q lacks the unauthorized-use report", got.txt)
	}
	// Every port of every protocol answers; the dynamic range says so.
	for _, p := range registry.Protocols {
		for port := 0; port <= 65535; port += 97 {
			got := lookupPort(t, snap, port, p)
			if got.status == "" {
				t.Fatalf("_%d._%s: no status", port, p)
			}
		}
		if got := lookupPort(t, snap, 65535, p); got.status != "dynamic" {
			t.Errorf("_65535._%s status %q, want dynamic", p, got.status)
		}
		if got := lookupPort(t, snap, 49152, p); got.status != "dynamic" {
			t.Errorf("_49152._%s status %q, want dynamic", p, got.status)
		}
	}
	for _, bad := range []string{"_65536._tcp", "_080._tcp", "_80._xtp", "_-1._tcp", "_80._tcp.x"} {
		if a := snap.Lookup(bad+"."+zonetest.Origin, dns.TypePTR); a.Outcome != zone.NameError {
			t.Errorf("%s: %v, want NXDOMAIN", bad, a.Outcome)
		}
	}
}
