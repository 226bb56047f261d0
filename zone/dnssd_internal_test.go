package zone

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/registry"
)

func TestSeparator(t *testing.T) {
	for _, tc := range []struct{ prev, next, want string }{
		{"", "http", "h"},
		{"sab", "sabarsd", "saba"},
		{"sql", "sql-net", "sql-"},
		{"abc", "abd", "abd"},
		{"a", "b", "b"},
		{"ibm-mqseries", "ibm-mqseries2", "ibm-mqseries2"},
	} {
		if got := separator(tc.prev, tc.next); got != tc.want {
			t.Errorf("separator(%q, %q) = %q, want %q", tc.prev, tc.next, got, tc.want)
		}
	}
}

// TestPlanBrowsingFits lays out synthetic registries, larger than IANA's
// and with long shared prefixes, under short and long origins: the types
// stay in order, each once; every list fits MaxDNSSDReply; and the sizes
// the layout computes are exactly those of the packed replies.
func TestPlanBrowsingFits(t *testing.T) {
	long := strings.Repeat("origin-label-of-sixty-three-bytes-", 2)[:63]
	for _, tc := range []struct {
		origin string
		n      int
		name   func(i int) string
	}{
		{"ports.local.", 50000, func(i int) string { return fmt.Sprintf("svc%05d", i) }},
		{long + "." + long + ".home.arpa.", 20000, func(i int) string { return fmt.Sprintf("sharedpfx-%02d", i%100) + fmt.Sprint(i/100) }},
		{"p.", 40, func(i int) string { return fmt.Sprintf("x%d", i) }},
	} {
		t.Run(fmt.Sprintf("%d@%.12s", tc.n, tc.origin), func(t *testing.T) {
			seen := map[string]bool{}
			var ts []serviceType
			for i := range tc.n {
				k := registry.KeyOf(tc.name(i), registry.TCP)
				if len(k.Name) > 15 || seen[k.Name] {
					continue
				}
				seen[k.Name] = true
				ts = append(ts, serviceType{key: k})
			}
			sortTypes(ts)
			root, err := planBrowsing(ts, "tcp."+tc.origin)
			if err != nil {
				t.Fatal(err)
			}
			var got []serviceType
			depth := 0
			var visit func(d *browseDomain, level int)
			visit = func(d *browseDomain, level int) {
				depth = max(depth, level)
				if d.types != nil {
					got = append(got, d.types...)
					owner := servicesLabel + "." + d.name
					var rrs []dns.RR
					for _, ty := range d.types {
						o, _ := ServiceOwner(ty.key.Name, ty.key.Proto, d.name)
						rrs = append(rrs, &dns.PTR{Hdr: hdr(owner, dns.TypePTR, 1), Ptr: o})
					}
					if want, n := servicesListLen(wireLen(d.name), d.types), listLen(owner, rrs); n != want || n > MaxDNSSDReply {
						t.Errorf("%s: %d bytes packed, %d computed, limit %d", owner, n, want, MaxDNSSDReply)
					}
					return
				}
				owner := browseLabel + "." + d.name
				var rrs []dns.RR
				for _, c := range d.children {
					if !strings.HasSuffix(c.name, "."+d.name) {
						t.Errorf("%s is not below %s", c.name, d.name)
					}
					rrs = append(rrs, &dns.PTR{Hdr: hdr(owner, dns.TypePTR, 1), Ptr: c.name})
					visit(c, level+1)
				}
				if want, n := browseListLen(wireLen(d.name), d.children), listLen(owner, rrs); n != want || n > MaxDNSSDReply {
					t.Errorf("%s: %d bytes packed, %d computed, limit %d", owner, n, want, MaxDNSSDReply)
				}
			}
			visit(root, 0)
			if len(got) != len(ts) {
				t.Fatalf("tree holds %d types, want %d", len(got), len(ts))
			}
			for i := range got {
				if got[i].key != ts[i].key {
					t.Fatalf("type %d is %s, want %s", i, got[i].key.Name, ts[i].key.Name)
				}
			}
			t.Logf("%d types, depth %d", len(ts), depth)
		})
	}
}

func sortTypes(ts []serviceType) {
	slices.SortFunc(ts, func(a, b serviceType) int { return strings.Compare(a.key.Name, b.key.Name) })
}
