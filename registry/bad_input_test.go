package registry_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/svcdns/svcdns/internal/testenv"
	"github.com/svcdns/svcdns/registry"
)

const csvHead = "Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,Registration Date,Modification Date,Reference,Service Code,Unauthorized Use Reported,Assignment Notes\r\n"

const xmlHead = `<?xml version='1.0' encoding='UTF-8'?>
<registry xmlns="http://www.iana.org/assignments" id="service-names-port-numbers">
  <updated>2026-08-17</updated>
`

const textHead = "Service Name and Transport Protocol Port Number Registry\n" +
	"| Service Name | Port Number | Transport Protocol | Description | Assignee | Contact | Registration Date | Modification Date | Reference | Service Code | Unauthorized Use Reported | Assignment Notes | \n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|\n"

func TestBadInput(t *testing.T) {
	truncCSV := func(t testing.TB) string {
		b, err := os.ReadFile(testenv.FullCSV(t))
		if err != nil {
			t.Fatal(err)
		}
		// Cut inside a quoted multi-line field.
		i := strings.Index(string(b), "\"BMC_PATROLDB\n")
		return string(b[:i+8])
	}
	truncXML := func(t testing.TB) string {
		b, err := os.ReadFile(testenv.FullXML(t))
		if err != nil {
			t.Fatal(err)
		}
		return string(b[:len(b)/2])
	}
	tests := []struct {
		name  string
		input func(testing.TB) string
		is    error  // errors.Is target
		want  string // substring of the message
		line  int    // line the diagnostic names, 0 = none expected
	}{
		{"empty", func(testing.TB) string { return "" }, registry.ErrNotRegistry, "empty", 0},
		{"whitespace", func(testing.TB) string { return " \n\r\n\t" }, registry.ErrNotRegistry, "empty", 0},
		{"binary", func(testing.TB) string { return "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe" }, registry.ErrNotRegistry, "binary", 0},
		{"html", func(testing.TB) string {
			return "<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head><body>Try later</body></html>\n"
		}, registry.ErrNotRegistry, "HTML", 0},
		{"json", func(testing.TB) string { return `{"records": []}` }, registry.ErrNotRegistry, "no CSV header", 0},
		{"other xml", func(testing.TB) string { return "<?xml version='1.0'?>\n<feed></feed>" }, registry.ErrNotRegistry, "<registry>", 0},
		{"csv header only", func(testing.TB) string { return csvHead }, registry.ErrNoRecords, "no valid record", 0},
		{"csv truncated", truncCSV, registry.ErrMalformed, "quote", 2278},
		{"csv port 70000", func(testing.TB) string { return csvHead + "tcpmux,1,tcp,x,,,,,,,,\r\nfoo,70000,tcp,Foo,,,,,,,,\r\n" }, registry.ErrMalformed, "out of range", 3},
		{"csv range 12-5", func(testing.TB) string { return csvHead + "foo,12-5,tcp,Foo,,,,,,,,\r\n" }, registry.ErrMalformed, "backwards", 2},
		{"csv unknown protocol", func(testing.TB) string { return csvHead + "foo,12,xtp,Foo,,,,,,,,\r\n" }, registry.ErrMalformed, `unknown transport protocol "xtp"`, 2},
		{"csv short row", func(testing.TB) string { return csvHead + "foo,12,tcp\r\n" }, registry.ErrMalformed, "3 fields", 2},
		{"csv bad date", func(testing.TB) string { return csvHead + "foo,12,tcp,Foo,,,2006-13,,,,,\r\n" }, registry.ErrMalformed, "month", 2},
		{"xml truncated", truncXML, registry.ErrMalformed, "truncated", 0},
		{"xml no records", func(testing.TB) string { return xmlHead + "</registry>\n" }, registry.ErrNoRecords, "no valid record", 0},
		{"xml port 70000", func(testing.TB) string {
			return xmlHead + "<record><name>foo</name><protocol>tcp</protocol><number>70000</number></record>\n</registry>"
		}, registry.ErrMalformed, "out of range", 4},
		{"xml range 12-5", func(testing.TB) string {
			return xmlHead + "<record><name>foo</name><protocol>tcp</protocol><number>12-5</number></record>\n</registry>"
		}, registry.ErrMalformed, "backwards", 4},
		{"xml unknown protocol", func(testing.TB) string {
			return xmlHead + "\n<record><name>foo</name><protocol>xtp</protocol><number>12</number></record>\n</registry>"
		}, registry.ErrMalformed, "xtp", 5},
		{"xml syntax", func(testing.TB) string { return xmlHead + "<record><name>foo</nam></record></registry>" }, registry.ErrMalformed, "XML syntax", 4},
		{"text header only", func(testing.TB) string { return textHead }, registry.ErrNoRecords, "no valid record", 0},
		{"text port 70000", func(testing.TB) string { return textHead + "| foo | 70000 | tcp | Foo | ||||||||\n" }, registry.ErrMalformed, "out of range", 4},
		{"text range 12-5", func(testing.TB) string { return textHead + "| 12-5 | Unassigned | ||||||||||\n" }, registry.ErrMalformed, "backwards", 4},
		{"text unknown protocol", func(testing.TB) string { return textHead + "| foo | 12 | xtp | Foo | [Someone] | ||||||\n" }, registry.ErrMalformed, `"xtp"`, 4},
		{"text stray line", func(testing.TB) string { return textHead + "\nhello\n| foo | 12 | tcp | Foo |\n" }, registry.ErrMalformed, "outside any table row", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.input(t)
			_, err := registry.Parse("input", []byte(in))
			if err == nil {
				t.Fatalf("Parse accepted %q", clip(in))
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "input") {
				t.Errorf("error %q does not name the source", err)
			}
			if tt.line > 0 {
				var pe *registry.ParseError
				if !errors.As(err, &pe) || pe.Diags[0].Line != tt.line {
					t.Errorf("error %v: want first diagnostic on line %d", err, tt.line)
				}
			}
		})
	}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// A bad row is reported with its line, and the rows around it are still
// read so that `registry check` can show everything at once.
func TestBadRowKeepsTheRest(t *testing.T) {
	in := csvHead + "a,1,tcp,A,,,,,,,,\r\nb,99999,udp,B,,,,,,,,\r\nc,3,tcp,C,,,,,,,,\r\n"
	r, err := registry.Parse("input", []byte(in))
	var pe *registry.ParseError
	if !errors.As(err, &pe) || len(pe.Diags) != 1 || pe.Diags[0].Line != 3 {
		t.Fatalf("err = %v, want one diagnostic on line 3", err)
	}
	if r == nil || len(r.Records) != 2 {
		t.Fatalf("want the 2 good rows kept for the report, got %+v", r)
	}
}

// FuzzParse feeds every parser: the seeds are the three formats, so the
// fuzzer mutates each.
func FuzzParse(f *testing.F) {
	ex, err := os.ReadFile(testenv.Excerpt())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ex)
	f.Add([]byte(csvHead + "geneve,6081,udp,Geneve,[IESG],[IETF_Chair],2014-03-27,2020-05-04,[RFC8926],,,\r\n" +
		"bmc_ctd_ldap,6301,tcp,\"BMC\n\",[P],[P],2006-09,,,,,\"This entry is an alias to \"\"bmc-ctd-ldap\"\".\"\r\n"))
	f.Add([]byte(xmlHead + `<record date="2006-09"><name>bmc-ctd-ldap</name><protocol>tcp</protocol><xref type="person" data="P"/>
<description>BMC<br/><br/>IANA assigned this well-formed service name as a replacement for "bmc_ctd_ldap".</description><number>6301</number></record>
<people><person id="P"><name>P Q</name></person></people></registry>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := registry.Parse("fuzz", data)
		if err != nil {
			if !errors.Is(err, registry.ErrNotRegistry) && !errors.Is(err, registry.ErrMalformed) && !errors.Is(err, registry.ErrNoRecords) {
				t.Fatalf("error of no known kind: %v", err)
			}
			return
		}
		for i := range r.Records {
			rec := &r.Records[i]
			if rec.HasPort && rec.Ports.Lo > rec.Ports.Hi {
				t.Fatalf("record %d: range %v runs backwards", i, rec.Ports)
			}
			if rec.HasPort && rec.Proto != registry.ProtoNone {
				if !containsIdx(r.ByPort(rec.Ports.Lo, rec.Proto), int32(i)) {
					t.Fatalf("record %d not indexed at its port", i)
				}
			}
		}
	})
}

func containsIdx(s []int32, i int32) bool {
	for _, v := range s {
		if v == i {
			return true
		}
	}
	return false
}
