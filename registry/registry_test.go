package registry_test

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/svcdns/svcdns/internal/testenv"
	"github.com/svcdns/svcdns/registry"
)

func parseFile(t testing.TB, path string) *registry.Registry {
	t.Helper()
	r, err := registry.ParseFile(path)
	if err != nil {
		t.Fatalf("ParseFile(%s): %v", path, err)
	}
	return r
}

func TestParseEveryRow(t *testing.T) {
	tests := []struct {
		name    string
		path    func(testing.TB) string
		format  registry.Format
		records int
		updated string
		status  map[registry.Status]int
	}{
		{"excerpt", func(testing.TB) string { return testenv.Excerpt() }, registry.FormatText, 101, "2025-10-30",
			map[registry.Status]int{registry.Assigned: 76, registry.Alias: 2, registry.Reserved: 11, registry.Unassigned: 12}},
		{"csv", testenv.FullCSV, registry.FormatCSV, 14499, "", nil},
		{"xml", testenv.FullXML, registry.FormatXML, 14533, "2026-08-17", nil},
		{"xml-2026-02-13", testenv.XML20260213, registry.FormatXML, 14499, "2026-02-13", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseFile(t, tt.path(t))
			if r.Format != tt.format {
				t.Errorf("format = %v, want %v", r.Format, tt.format)
			}
			if len(r.Records) != tt.records {
				t.Errorf("records = %d, want %d", len(r.Records), tt.records)
			}
			if got := r.Updated.String(); got != tt.updated {
				t.Errorf("updated = %q, want %q", got, tt.updated)
			}
			if tt.status != nil {
				got := map[registry.Status]int{}
				for _, rec := range r.Records {
					got[rec.Status]++
				}
				for s, n := range tt.status {
					if got[s] != n {
						t.Errorf("status %v: %d rows, want %d", s, got[s], n)
					}
				}
			}
			for _, d := range r.Diagnostics {
				if d.Severity == registry.Error {
					t.Errorf("diagnostic: %v", d)
				}
			}
		})
	}
}

// norm folds runs of white space, as the CSV and XML forms wrap text
// differently.
func norm(s string) string { return strings.Join(strings.Fields(s), " ") }

func partyIDs(ps []registry.Party) string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return strings.Join(ids, ",")
}

// fields renders every field of a record for comparison.
func fields(r *registry.Record) []string {
	ports := ""
	if r.HasPort {
		ports = r.Ports.String()
	}
	refs := make([]string, len(r.References))
	for i, ref := range r.References {
		refs[i] = norm(ref)
	}
	return []string{
		"name=" + r.Name, "port=" + ports, "proto=" + r.Proto.String(),
		"description=" + norm(r.Description),
		"assignee=" + partyIDs(r.Assignee), "contact=" + partyIDs(r.Contact),
		"registered=" + r.Registered.String(), "modified=" + r.Modified.String(),
		"references=" + strings.Join(refs, "|"), "servicecode=" + r.ServiceCode,
		"unauthorized=" + norm(r.Unauthorized), "notes=" + norm(r.Notes),
		"status=" + r.Status.String(), "aliasof=" + r.AliasOf, "replaces=" + r.Replaces,
	}
}

func TestCSVMatchesXMLFieldByField(t *testing.T) {
	c := parseFile(t, testenv.FullCSV(t))
	x := parseFile(t, testenv.XML20260213(t))
	if len(c.Records) != len(x.Records) {
		t.Fatalf("CSV has %d records, XML %d", len(c.Records), len(x.Records))
	}
	bad := 0
	for i := range c.Records {
		cf, xf := fields(&c.Records[i]), fields(&x.Records[i])
		if !slices.Equal(cf, xf) {
			bad++
			if bad <= 10 {
				for j := range cf {
					if cf[j] != xf[j] {
						t.Errorf("record %d (CSV line %d, XML line %d): CSV %q, XML %q",
							i, c.Records[i].Line, x.Records[i].Line, cf[j], xf[j])
					}
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d records differ", bad, len(c.Records))
	}
}

func TestXMLResolvesPeople(t *testing.T) {
	x := parseFile(t, testenv.FullXML(t))
	recs := x.Lookup("geneve", registry.UDP)
	if len(recs) != 1 {
		t.Fatalf("geneve/udp: %d records", len(recs))
	}
	if got := recs[0].Contact; len(got) != 1 || got[0].ID != "IETF_Chair" || got[0].Name == "" {
		t.Errorf("geneve contact = %+v, want IETF_Chair resolved to a name", got)
	}
	unresolved := 0
	for _, rec := range x.Records {
		for _, p := range slices.Concat(rec.Assignee, rec.Contact) {
			if p.Name == "" && p.Org == "" && p.URI == "" {
				unresolved++
			}
		}
	}
	if resolvedShare := len(x.People); resolvedShare == 0 {
		t.Fatalf("no <people> read")
	}
	t.Logf("%d people; %d assignee/contact refs without details", len(x.People), unresolved)
}

func TestExcerptMatchesCSV(t *testing.T) {
	ex := parseFile(t, testenv.Excerpt())
	full := parseFile(t, testenv.FullCSV(t))
	type key struct {
		name, ports string
		proto       registry.Protocol
	}
	byKey := map[key]*registry.Record{}
	for i := range full.Records {
		r := &full.Records[i]
		byKey[key{r.Name, r.Ports.String(), r.Proto}] = r
	}
	for i := range ex.Records {
		r := &ex.Records[i]
		f, ok := byKey[key{r.Name, r.Ports.String(), r.Proto}]
		if !ok {
			// Unassigned ranges are re-cut as ports get assigned; the
			// excerpt (2025-10-30) and the CSV (2026-02-13) differ there.
			if r.Status == registry.Unassigned {
				continue
			}
			t.Errorf("excerpt line %d: %s %s/%s not in the CSV", r.Line, r.Name, r.Ports, r.Proto)
			continue
		}
		a, b := fields(r), fields(f)
		if r.Modified.IsZero() && f.Registered.IsZero() {
			// The text table drops empty cells, so a lone date cannot say
			// whether it is the registration or the modification date;
			// the parser takes it as registration (README).
			a[6], a[7] = "registered=", "modified="+r.Registered.String()
		}
		if !slices.Equal(a, b) {
			for j := range a {
				if a[j] != b[j] {
					t.Errorf("excerpt line %d vs CSV line %d: %q != %q", r.Line, f.Line, a[j], b[j])
				}
			}
		}
	}
}

func TestEmbeddedDefaultIsTheExcerpt(t *testing.T) {
	fixture, err := os.ReadFile(testenv.Excerpt())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(registry.DefaultSource(), fixture) {
		t.Errorf("registry/default-registry.txt differs from testdata/iana-ports-excerpt.txt")
	}
	seed, err := os.ReadFile(testenv.Shared(t, "seeds/iana-ports-excerpt.txt"))
	if err == nil && !bytes.Equal(seed, fixture) {
		t.Errorf("testdata/iana-ports-excerpt.txt differs from ../shared/seeds/iana-ports-excerpt.txt")
	}
	r, err := registry.Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Records) != 101 {
		t.Errorf("default registry has %d records, want 101", len(r.Records))
	}
}
