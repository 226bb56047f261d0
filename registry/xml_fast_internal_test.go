package registry

import (
	"bytes"
	"os"
	"reflect"
	"testing"

	"github.com/svcdns/svcdns/internal/testenv"
)

// TestXMLFastReadsEveryRealRecord checks that the scanner reads every
// record of the real files itself, as encoding/xml reads it: none falls
// back, so start-up gets the scanner's speed.
func TestXMLFastReadsEveryRealRecord(t *testing.T) {
	for _, path := range []string{testenv.FullXML(t), testenv.XML20260213(t)} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for pos := recordStart(data, 0); pos >= 0; pos = recordStart(data, pos+1) {
			end := pos + bytes.Index(data[pos:], []byte("</record>")) + len("</record>")
			base := bytes.Count(data[:pos], []byte("\n"))
			s := xmlScanner{b: data[pos:end]}
			rec, a, c, ok := s.record(base)
			if !ok {
				t.Fatalf("%s line %d: the scanner gave a real record to encoding/xml:\n%s", path, base+1, data[pos:end])
			}
			recs, as, cs, ok := xmlRecords(data[pos:end], base)
			if !ok || len(recs) != 1 || !reflect.DeepEqual(recs[0], rec) || !reflect.DeepEqual(as[0], a) || !reflect.DeepEqual(cs[0], c) {
				t.Fatalf("%s line %d: the scanner and encoding/xml read the record differently:\n%+v %q %q\n%+v", path, base+1, rec, a, c, recs)
			}
			n++
		}
		if n < 14000 {
			t.Errorf("%s: %d records", path, n)
		}
	}
}

// FuzzXMLRecordsFast: whatever the scanner accepts, encoding/xml accepts
// and reads the same.
func FuzzXMLRecordsFast(f *testing.F) {
	for _, s := range []string{
		`<record date="2006-09"><name>a</name><protocol>tcp</protocol><xref type="person" data="P"/><number>1</number></record>`,
		`<record><description>Unassigned &amp; free<br/>line</description><number>2-5</number></record>`,
		"<record updated='2020-01'>\n <name>b_c</name>\n <protocol>udp</protocol><number>6</number><note><paragraph>This entry is an alias to \"b-c\".</paragraph><paragraph>x <xref type=\"rfc\" data=\"rfc6335\"/></paragraph></note></record>",
		`<record><name>x</name><assignee><xref type="person" data="A"/><xref type="person" data="B"></xref></assignee><protocol>sctp</protocol><number>9</number><xref type="rfc" data="rfc1">RFC1, Section 2</xref></record>`,
		`<record><name>x</name><!-- c --><number>1</number></record>`,
		"<record><name>x\r\n</name></record>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, fa, fc, fok := xmlRecordsFast(data, 10)
		if !fok {
			return
		}
		sr, sa, sc, sok := xmlRecords(data, 10)
		if !sok {
			t.Fatalf("the scanner accepted what encoding/xml rejects")
		}
		if len(fr) != len(sr) || (len(fr) > 0 && (!reflect.DeepEqual(fr, sr) || !reflect.DeepEqual(fa, sa) || !reflect.DeepEqual(fc, sc))) {
			t.Fatalf("read differently:\n%+v %q %q\n%+v %q %q", fr, fa, fc, sr, sa, sc)
		}
	})
}
