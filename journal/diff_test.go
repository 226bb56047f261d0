package journal_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/journal"
	"github.com/svcdns/svcdns/registry"
	"github.com/svcdns/svcdns/zone"
)

// key is a record's identity as this test's secondary holds it: its
// exact wire form (owner and rdata case, TTL).
func key(t testing.TB, rr dns.RR) string {
	t.Helper()
	buf := make([]byte, dns.Len(rr)+64)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		t.Fatalf("%v: %v", rr, err)
	}
	return string(buf[:n])
}

// contents is a zone as a secondary holds it, SOA aside.
func contents(t testing.TB, s *zone.Snapshot) map[string]dns.RR {
	t.Helper()
	out := map[string]dns.RR{}
	for _, rrs := range s.All() {
		for _, rr := range rrs {
			if rr.Header().Rrtype != dns.TypeSOA {
				out[key(t, rr)] = rr
			}
		}
	}
	return out
}

// apply does what a secondary does with an IXFR delta (RFC 1995 §4):
// delete, then add. Deleting a record it does not hold, or adding one it
// holds, is an error, as BIND treats it ("not exact").
func apply(t testing.TB, held map[string]dns.RR, d journal.Delta) map[string]dns.RR {
	t.Helper()
	out := make(map[string]dns.RR, len(held))
	for k, rr := range held {
		out[k] = rr
	}
	for _, rr := range d.Deleted {
		k := key(t, rr)
		if _, ok := out[k]; !ok {
			t.Fatalf("delta %d->%d deletes %v, which version %d does not hold", d.From.Serial, d.To.Serial, rr, d.From.Serial)
		}
		delete(out, k)
	}
	for _, rr := range d.Added {
		k := key(t, rr)
		if _, ok := out[k]; ok {
			t.Fatalf("delta %d->%d adds %v, which is already held", d.From.Serial, d.To.Serial, rr)
		}
		out[k] = rr
	}
	return out
}

func sameContents(t testing.TB, what string, got, want map[string]dns.RR) {
	t.Helper()
	var missing, extra []string
	for k, rr := range want {
		if _, ok := got[k]; !ok {
			missing = append(missing, rr.String())
		}
	}
	for k, rr := range got {
		if _, ok := want[k]; !ok {
			extra = append(extra, rr.String())
		}
	}
	if len(missing)+len(extra) > 0 {
		slices.Sort(missing)
		slices.Sort(extra)
		t.Errorf("%s: %d records missing %.3q, %d extra %.3q", what, len(missing), missing, len(extra), extra)
	}
}

// versions are the test versions of the excerpt's zone; the journal
// tests use the first three.
func versions(t testing.TB, mode zone.PortNames) []*zone.Snapshot {
	t.Helper()
	return zonetest.Versions(t, mode)[:3]
}

var edit = zonetest.Edit

func mustDiff(t testing.TB, a, b *zone.Snapshot) journal.Delta {
	t.Helper()
	d, err := journal.Diff(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDiffApplies checks that a secondary holding one version and
// applying the delta holds the next one exactly, and that the condensed
// delta across both steps (RFC 1995 §4) does the same in one go with
// fewer records. The zone has the registered port names only: with every
// port name, the 262,144 names a delta mostly leaves alone cost more than
// the rest of the test (zone's TestChangesSkipsOnlyEqualPortNames covers
// that mode, TestDiffFullRegistry and the e2e secondaries too).
func TestDiffApplies(t *testing.T) {
	for _, mode := range []zone.PortNames{zone.PortNamesRegistered} {
		t.Run(mode.String(), func(t *testing.T) {
			vs := versions(t, mode)
			held := make([]map[string]dns.RR, len(vs))
			for i, v := range vs {
				held[i] = contents(t, v)
			}
			d12, d23 := mustDiff(t, vs[0], vs[1]), mustDiff(t, vs[1], vs[2])
			for _, c := range []struct {
				name     string
				d        journal.Delta
				from, to int
			}{{"v1->v2", d12, 0, 1}, {"v2->v3", d23, 1, 2}} {
				if c.d.From.Serial != vs[c.from].Serial() || c.d.To.Serial != vs[c.to].Serial() {
					t.Errorf("%s: serials %d->%d", c.name, c.d.From.Serial, c.d.To.Serial)
				}
				sameContents(t, c.name, apply(t, held[c.from], c.d), held[c.to])
			}
			c13, err := journal.Condense([]journal.Delta{d12, d23})
			if err != nil {
				t.Fatal(err)
			}
			sameContents(t, "v1->v3 condensed", apply(t, held[0], c13), held[2])
			if c13.Len() >= d12.Len()+d23.Len() {
				t.Errorf("condensed delta has %d records, the two steps %d+%d: nothing cancelled", c13.Len(), d12.Len(), d23.Len())
			}
			if d := mustDiff(t, vs[2], vs[2]); d.Len() != 0 {
				t.Errorf("a zone against itself: %d changes", d.Len())
			}
			t.Logf("%s: v1->v2 %d records, v2->v3 %d, condensed v1->v3 %d", mode, d12.Len(), d23.Len(), c13.Len())
		})
	}
}

// TestDiffSeesCaseAndTTL checks the two changes a loose comparison would
// miss: an instance name whose case changed, and a TTL.
func TestDiffSeesCaseAndTTL(t *testing.T) {
	vs := versions(t, zone.PortNamesRegistered)
	d := mustDiff(t, vs[1], vs[2])
	var caseChange, ttl bool
	for _, rr := range d.Added {
		if strings.HasPrefix(rr.Header().Name, "rets\\ \\(v3\\)._rets._tcp.") {
			caseChange = true
		}
		if s, ok := rr.(*dns.SRV); ok && s.Hdr.Ttl == 60 {
			ttl = true
		}
	}
	if !caseChange || !ttl {
		t.Errorf("v2->v3 adds an instance in new case: %v, SRVs at TTL 60: %v\n%v", caseChange, ttl, d.Added)
	}
}

func TestCondense(t *testing.T) {
	soa := func(serial uint32) *dns.SOA {
		return &dns.SOA{Hdr: dns.RR_Header{Name: "ports.local.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 3600},
			Ns: "ns1.ports.local.", Mbox: "h.ports.local.", Serial: serial}
	}
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := "_a._tcp.ports.local. 3600 IN TXT \"x\""
	a60 := "_a._tcp.ports.local. 60 IN TXT \"x\""
	b := "_b._tcp.ports.local. 3600 IN TXT \"y\""
	c := "_c._tcp.ports.local. 3600 IN TXT \"z\""
	step := func(from, to uint32, del, add []string) journal.Delta {
		d := journal.Delta{From: soa(from), To: soa(to)}
		for _, s := range del {
			d.Deleted = append(d.Deleted, rr(s))
		}
		for _, s := range add {
			d.Added = append(d.Added, rr(s))
		}
		return d
	}
	for _, tc := range []struct {
		name     string
		steps    []journal.Delta
		del, add []string
	}{
		{"added then deleted", []journal.Delta{step(1, 2, nil, []string{b}), step(2, 3, []string{b}, nil)}, nil, nil},
		{"deleted then added back", []journal.Delta{step(1, 2, []string{a}, nil), step(2, 3, nil, []string{a})}, nil, nil},
		{"TTL changed", []journal.Delta{step(1, 2, []string{a}, []string{a60}), step(2, 3, []string{c}, nil)}, []string{a, c}, []string{a60}},
		{"TTL changed and back", []journal.Delta{step(1, 2, []string{a}, []string{a60}), step(2, 3, []string{a60}, []string{a})}, nil, nil},
		{"deleted, added, deleted", []journal.Delta{step(1, 2, []string{a}, nil), step(2, 3, nil, []string{a}), step(3, 4, []string{a}, []string{b})}, []string{a}, []string{b}},
		{"one step", []journal.Delta{step(1, 2, []string{a}, []string{b})}, []string{a}, []string{b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := journal.Condense(tc.steps)
			if err != nil {
				t.Fatal(err)
			}
			texts := func(rrs []dns.RR) []string {
				var out []string
				for _, r := range rrs {
					out = append(out, r.String())
				}
				return out
			}
			want := func(ss []string) []string { return texts(step(0, 0, ss, nil).Deleted) }
			if x, y := texts(got.Deleted), want(tc.del); !slices.Equal(x, y) {
				t.Errorf("deleted %q, want %q", x, y)
			}
			if x, y := texts(got.Added), want(tc.add); !slices.Equal(x, y) {
				t.Errorf("added %q, want %q", x, y)
			}
			if got.From.Serial != tc.steps[0].From.Serial || got.To.Serial != tc.steps[len(tc.steps)-1].To.Serial {
				t.Errorf("serials %d->%d", got.From.Serial, got.To.Serial)
			}
		})
	}
	if _, err := journal.Condense([]journal.Delta{step(1, 2, nil, nil), step(3, 4, nil, nil)}); err == nil {
		t.Error("deltas that do not chain were condensed")
	}
}

// TestDiffFullRegistry diffs the full registry's zone against a change of
// 20 rows' descriptions: applied to the old zone it gives the new one. The
// zone has the registered port names: the mode with every port name is
// diffed in BenchmarkDiffFullRegistry and, applied by Knot, NSD and BIND,
// in e2e's TestSecondaries.
func TestDiffFullRegistry(t *testing.T) {
	reg := zonetest.FullRegistry(t)
	n := 0
	changed := edit(reg, func(rs []registry.Record) []registry.Record {
		for i := range rs {
			if rs[i].Status == registry.Assigned && rs[i].Proto == registry.UDP && rs[i].HasPort && i%50 == 0 && n < 20 {
				rs[i].Description += fmt.Sprintf(" (change %d)", n)
				n++
			}
		}
		return rs
	})
	opts := zone.DefaultOptions(zonetest.Origin)
	opts.PortNames = zone.PortNamesRegistered
	old, err := zone.Build(reg, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	nw, err := zone.Build(changed, opts, old)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d := mustDiff(t, old, nw)
	took := time.Since(start)
	sameContents(t, "full registry", apply(t, contents(t, old), d), contents(t, nw))
	if d.Len() == 0 || d.Len() > 20*20 {
		t.Errorf("20 changed rows: %d records in the delta", d.Len())
	}
	t.Logf("20 rows changed: delta of %d deleted + %d added records, computed in %v (busy machine)",
		len(d.Deleted), len(d.Added), took.Round(time.Millisecond))
}
