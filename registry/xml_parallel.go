package registry

import (
	"bytes"
	"encoding/xml"
	"io"
	"runtime"
	"strings"
	"sync"
)

// parallelMin is the size below which splitting the XML is not worth it
// (a variable so that tests can send small files down this path).
var parallelMin = 256 << 10

// parseXMLParallel reads a well-formed registry XML on every CPU: the
// <record> elements are independent, so the run of them is cut at record
// starts into one piece per CPU, and each piece is decoded on its own; the
// header (title, updated) and the tail (<people>, </registry>) are read
// aside. It returns false, having changed nothing that parseXML keeps,
// at the first sign of anything unusual (a record with a bad field, a
// syntax error, an element out of place, a missing end): the sequential
// reader then reads the file and reports exactly what is wrong.
func parseXMLParallel(r *Registry, data []byte) bool {
	if len(data) < parallelMin {
		return false
	}
	first := recordStart(data, 0)
	lastEnd := bytes.LastIndex(data, []byte("</record>"))
	if first < 0 || lastEnd < first {
		return false
	}
	end := lastEnd + len("</record>")
	title, updated, ok := xmlHeader(data[:first])
	if !ok {
		return false
	}
	// The tail (<people>) is read beside the records.
	type tail struct {
		people map[string]Party
		ok     bool
	}
	tailc := make(chan tail, 1)
	go func() {
		people, ok := xmlTail(data[end:])
		tailc <- tail{people, ok}
	}()

	n := runtime.GOMAXPROCS(0)
	cuts := []int{first}
	for k := 1; k < n; k++ {
		c := recordStart(data[:end], first+k*(end-first)/n)
		if c < 0 || c <= cuts[len(cuts)-1] {
			continue
		}
		cuts = append(cuts, c)
	}
	cuts = append(cuts, end)

	type piece struct {
		recs                []Record
		assignees, contacts [][]string
		ok                  bool
	}
	pieces := make([]piece, len(cuts)-1)
	var wg sync.WaitGroup
	for i := range pieces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &pieces[i]
			base := bytes.Count(data[:cuts[i]], []byte("\n"))
			p.recs, p.assignees, p.contacts, p.ok = xmlRecordsFast(data[cuts[i]:cuts[i+1]], base)
		}()
	}
	wg.Wait()
	t := <-tailc
	if !t.ok {
		return false
	}
	people := t.people
	total := 0
	for _, p := range pieces {
		if !p.ok {
			return false
		}
		total += len(p.recs)
	}
	r.Title, r.Updated, r.People = title, updated, people
	r.Records = make([]Record, 0, total)
	var assignees, contacts [][]string
	for _, p := range pieces {
		r.Records = append(r.Records, p.recs...)
		assignees = append(assignees, p.assignees...)
		contacts = append(contacts, p.contacts...)
	}
	r.resolveAll(assignees, contacts)
	return true
}

// recordStart finds the next "<record" element start at or after from.
func recordStart(data []byte, from int) int {
	for from < len(data) {
		i := bytes.Index(data[from:], []byte("<record"))
		if i < 0 {
			return -1
		}
		at := from + i
		if at+7 < len(data) && (data[at+7] == '>' || data[at+7] == ' ' || data[at+7] == '\n' || data[at+7] == '\t' || data[at+7] == '\r') {
			return at
		}
		from = at + 7
	}
	return -1
}

// xmlHeader reads the registry's <title> and <updated> from the part
// before the first record; it must hold the <registry> start.
func xmlHeader(b []byte) (title string, updated Date, ok bool) {
	// The header ends inside <registry>: close it, so that anything cut
	// or left open shows as an error.
	d := xml.NewDecoder(io.MultiReader(bytes.NewReader(b), strings.NewReader("</registry>")))
	d.Strict = true
	depth, sawRegistry := 0, false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return title, updated, sawRegistry && depth == 0
		}
		if err != nil {
			return "", Date{}, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && t.Name.Local == "registry":
				sawRegistry = true
			case depth == 2 && (t.Name.Local == "title" || t.Name.Local == "updated"):
				s, err := mixedText(d)
				if err != nil {
					return "", Date{}, false
				}
				depth--
				if t.Name.Local == "title" && title == "" {
					title = s
				} else if t.Name.Local == "updated" {
					if updated, err = ParseDate(s); err != nil {
						return "", Date{}, false
					}
				}
			case depth == 1:
				return "", Date{}, false
			}
		case xml.EndElement:
			depth--
		}
	}
}

// xmlTail reads what follows the last record: an optional <people> list,
// elements the registry does not describe records with (<footnote>), and
// the end of </registry>.
func xmlTail(b []byte) (map[string]Party, bool) {
	const open = "<registry>"
	d := xml.NewDecoder(io.MultiReader(strings.NewReader(open), bytes.NewReader(b)))
	d.Strict = true
	var people map[string]Party
	closed, reopened := false, false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return people, closed
		}
		if err != nil {
			return nil, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Local == "registry" && !closed && (people == nil || reopened):
				reopened = false
			case t.Name.Local == "people" && people == nil && !closed:
				// The scanner reads the ~5,600 people; encoding/xml goes
				// on after them, inside <registry> as before.
				at := int(d.InputOffset()) - len(open)
				if p, end, ok := xmlPeopleFast(b, at); ok {
					people, reopened = p, true
					d = xml.NewDecoder(io.MultiReader(strings.NewReader(open), bytes.NewReader(b[end:])))
					d.Strict = true
					continue
				}
				if people, err = xmlPeople(d); err != nil {
					return nil, false
				}
			case t.Name.Local == "record" || t.Name.Local == "registry" || closed:
				return nil, false
			default:
				// <footnote> and the like: the sequential reader skips
				// them too.
				if err := d.Skip(); err != nil {
					return nil, false
				}
			}
		case xml.EndElement:
			if t.Name.Local != "registry" || closed {
				return nil, false
			}
			closed = true
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, false
			}
		}
	}
}

// xmlRecords decodes a run of <record> elements; base is the number of
// lines before it in the file.
func xmlRecords(b []byte, base int) (recs []Record, assignees, contacts [][]string, ok bool) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	recs = make([]Record, 0, bytes.Count(b, []byte("<record"))+1)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return recs, assignees, contacts, true
		}
		if err != nil {
			return nil, nil, nil, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "record" {
				return nil, nil, nil, false
			}
			line, _ := d.InputPos()
			rec, a, c, diag, err := xmlRecord(d, t, base+line)
			if err != nil || diag != nil {
				return nil, nil, nil, false
			}
			recs = append(recs, rec)
			assignees = append(assignees, a)
			contacts = append(contacts, c)
		case xml.EndElement:
			return nil, nil, nil, false
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, nil, nil, false
			}
		}
	}
}
