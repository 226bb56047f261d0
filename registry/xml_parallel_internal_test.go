package registry

import (
	"os"
	"reflect"
	"testing"

	"github.com/svcdns/svcdns/internal/testenv"
)

// The parallel reader must take the real files, and read them exactly as
// the sequential one does.
func TestXMLParallelMatchesSequential(t *testing.T) {
	for _, path := range []string{testenv.FullXML(t), testenv.XML20260213(t)} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var par, seq Registry
		if !parseXMLParallel(&par, data) {
			t.Fatalf("%s: the parallel reader gave up on a well-formed file", path)
		}
		diags, err := parseXMLSequential(&seq, data)
		if err != nil || len(diags) > 0 {
			t.Fatalf("%s: sequential: %v %v", path, err, diags)
		}
		if par.Title != seq.Title || par.Updated != seq.Updated || !reflect.DeepEqual(par.People, seq.People) {
			t.Errorf("%s: header or people differ", path)
		}
		if len(par.Records) != len(seq.Records) {
			t.Fatalf("%s: %d records in parallel, %d in sequence", path, len(par.Records), len(seq.Records))
		}
		for i := range par.Records {
			if !reflect.DeepEqual(par.Records[i], seq.Records[i]) {
				t.Fatalf("%s: record %d differs:\n%+v\n%+v", path, i, par.Records[i], seq.Records[i])
			}
		}
	}
}

// FuzzXMLParallel: whenever the parallel reader accepts a file, the
// sequential reader must accept it without a diagnostic and read the same.
func FuzzXMLParallel(f *testing.F) {
	f.Add([]byte(`<?xml version='1.0' encoding='UTF-8'?>
<registry xmlns="http://www.iana.org/assignments" id="service-names-port-numbers">
  <title>T</title>
  <updated>2026-08-17</updated>
  <record date="2006-09"><name>a</name><protocol>tcp</protocol><xref type="person" data="P"/><number>1</number></record>
  <record><description>Unassigned</description><number>2-5</number></record>
  <record updated="2020-01"><name>b_c</name><protocol>udp</protocol><number>6</number><note>This entry is an alias to "b-c".</note></record>
  <footnote anchor="1">x</footnote>
  <people><person id="P"><name>P Q</name></person></people>
</registry>
`))
	f.Add([]byte(`<?xml version='1.0' encoding='UTF-8'?>
<registry xmlns="http://www.iana.org/assignments" id="service-names-port-numbers">
  <record><name>a</name><protocol>tcp</protocol><xref type="person" data="P"/><number>1</number></record>
  <people/><person id="P"><name>P Q</name></person></people>
</registry>
`))
	old := parallelMin
	parallelMin = 0
	f.Cleanup(func() { parallelMin = old })
	f.Fuzz(func(t *testing.T, data []byte) {
		var par, seq Registry
		if !parseXMLParallel(&par, data) {
			return
		}
		diags, err := parseXMLSequential(&seq, data)
		if err != nil || len(diags) > 0 {
			t.Fatalf("parallel accepted what sequential rejects: %v %v", err, diags)
		}
		if !reflect.DeepEqual(par.Records, seq.Records) && !(len(par.Records) == 0 && len(seq.Records) == 0) {
			t.Fatalf("records differ:\n%+v\n%+v", par.Records, seq.Records)
		}
		if len(par.People)+len(seq.People) > 0 && !reflect.DeepEqual(par.People, seq.People) {
			t.Fatalf("people differ:\n%+v\n%+v", par.People, seq.People)
		}
		if par.Updated != seq.Updated || par.Title != seq.Title {
			t.Fatalf("header differs: %q %v / %q %v", par.Title, par.Updated, seq.Title, seq.Updated)
		}
	})
}
