package querymix_test

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/querymix"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/zone"
)

// The mix's DNS-SD questions ask for names the zone's browse tree has:
// every list answers its PTRs, and every instance exists.
func TestMixDNSSDNamesExist(t *testing.T) {
	snap := zonetest.Full(t)
	lists, instances := 0, 0
	for _, q := range querymix.Generate(zonetest.FullRegistry(t), zonetest.Origin, 5000, 3) {
		a := snap.Lookup(q.Name, q.Type)
		switch lower := strings.ToLower(q.Name); {
		case strings.Contains(lower, "._dns-sd._udp."):
			lists++
			if a.Outcome != zone.Success || len(a.Answer) == 0 || q.Type != dns.TypePTR {
				t.Errorf("list %s %s: %s", q.Name, dns.TypeToString[q.Type], a.Outcome)
			}
		case !strings.HasPrefix(lower, "_") && lower != zonetest.Origin:
			instances++
			if a.Outcome == zone.NameError {
				t.Errorf("instance %s %s: NXDOMAIN", q.Name, dns.TypeToString[q.Type])
			}
		}
	}
	if lists == 0 || instances == 0 {
		t.Errorf("%d list and %d instance questions in the mix, want some of each", lists, instances)
	}
	t.Logf("%d list and %d instance questions", lists, instances)
}

// Format leaves out the names dnsperf cannot be given (a space, a decimal
// escape) and keeps the others as they are, one "name TYPE" a line.
func TestFormatForDnsperf(t *testing.T) {
	qs := []querymix.Query{
		{Name: "plain.ports.local.", Type: dns.TypeSRV},
		{Name: `ZigBee\ IP\ Gateway._zigbee-gateway._tcp.ports.local.`, Type: dns.TypeTXT},
		{Name: `x\032y.ports.local.`, Type: dns.TypeTXT},
		{Name: `a\\b\(c\).ports.local.`, Type: dns.TypeSRV},
		{Name: `caf\195\169.ports.local.`, Type: dns.TypeSRV},
	}
	got := strings.Split(strings.TrimSuffix(querymix.Format(qs), "\n"), "\n")
	want := []string{"plain.ports.local. SRV", `a\\b\(c\).ports.local. SRV`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Format wrote %q, want %q", got, want)
	}
}
