package zone

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/testenv"
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

// An instance's TXT, written to a smaller size than the service's, keeps
// the service's strings in order, each whole or cut on a character
// boundary, txtvers first, within the size; and is the service's own when
// that fits.
func TestServiceTXTCut(t *testing.T) {
	reg, err := registry.ParseFile(testenv.Excerpt())
	if err != nil {
		t.Fatal(err)
	}
	groups := map[registry.Key][]*registry.Record{}
	for i := range reg.Records {
		if r := &reg.Records[i]; r.Name != "" && r.Proto != registry.ProtoNone {
			groups[r.Key()] = append(groups[r.Key()], r)
		}
	}
	// One with long values, cut on a multi-byte character.
	long := &registry.Record{Name: "long", Proto: registry.TCP, Description: strings.Repeat("déjà vu ", 60), Notes: strings.Repeat("ñ", 300)}
	groups[long.Key()] = []*registry.Record{long}
	strs := func(rdata string) []string {
		var out []string
		for len(rdata) > 0 {
			n := int(rdata[0])
			out = append(out, rdata[1:1+n])
			rdata = rdata[1+n:]
		}
		return out
	}
	var w txtWriter
	n := 0
	for k, recs := range groups {
		full := serviceTXT(&w, recs, maxTXTTotal)
		whole := strs(full)
		for limit := 12; limit <= maxTXTTotal+7; limit += 7 {
			cut := serviceTXT(&w, recs, limit)
			if len(cut) > limit {
				t.Fatalf("%s/%s at %d bytes: %d written", k.Name, k.Proto, limit, len(cut))
			}
			if len(full) <= limit && cut != full {
				t.Fatalf("%s/%s at %d bytes: %q, want the whole %q", k.Name, k.Proto, limit, cut, full)
			}
			got := strs(cut)
			if len(got) == 0 || got[0] != "txtvers=1" {
				t.Fatalf("%s/%s at %d bytes: %q does not start with txtvers", k.Name, k.Proto, limit, got)
			}
			j := 0
			for _, g := range got {
				key, _, _ := strings.Cut(g, "=")
				for j < len(whole) && !strings.HasPrefix(whole[j], key+"=") {
					j++
				}
				if j == len(whole) || !strings.HasPrefix(whole[j], g) || !utf8.ValidString(g) {
					t.Fatalf("%s/%s at %d bytes: %q is not a cut of the service's strings %q, in order", k.Name, k.Proto, limit, g, whole)
				}
				j++
			}
			n++
		}
	}
	t.Logf("%d cuts checked", n)
}

// The fast path of ServiceOwner gives what packing the name gives.
func TestServiceOwnerFastPath(t *testing.T) {
	for _, tc := range []struct{ name, origin string }{
		{"rets", "ports.local."}, {"x11", "s.s.tcp.ports.home.arpa."}, {"sql-net", "ports.local."},
		{"Rets", "ports.local."}, {"z39.50", "ports.local."}, {"rets", "Ports.Local."}, {"rets", "ports.local"},
		{"a_b", "ports.local."}, {"rets", "xn--p1ai."},
	} {
		got, err := ServiceOwner(tc.name, registry.TCP, tc.origin)
		want, werr := canonical("_" + escapeLabel(strings.ToLower(tc.name)) + "._tcp." + tc.origin)
		if got != want || (err == nil) != (werr == nil) {
			t.Errorf("ServiceOwner(%q, %q) = %q, %v; want %q, %v", tc.name, tc.origin, got, err, want, werr)
		}
	}
	for _, l := range []string{"abc", `a\.b`, `a\032b`, `\\`, `caf\195\169`} {
		if got, want := labelLen(l), len(unescapeLabel(l)); got != want {
			t.Errorf("labelLen(%q) = %d, want %d", l, got, want)
		}
	}
}
