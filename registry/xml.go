package registry

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// parseXML reads IANA's XML form: <registry> with <record>s (child order
// varies; descriptions and notes hold mixed content) and a <people> list
// that resolves person xrefs. A well-formed file is read in parallel
// (parseXMLParallel); anything unusual is read again in one pass, which
// gives the diagnostics.
func parseXML(r *Registry, data []byte) ([]Diagnostic, error) {
	if parseXMLParallel(r, data) {
		return nil, nil
	}
	*r = Registry{Format: r.Format}
	return parseXMLSequential(r, data)
}

// parseXMLSequential reads the XML in one pass with full diagnostics.
func parseXMLSequential(r *Registry, data []byte) ([]Diagnostic, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var diags []Diagnostic
	sawRegistry := false
	var assignees, contacts [][]string // person ids, resolved after <people>
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			line, col := d.InputPos()
			diags = append(diags, Diagnostic{Line: line, Column: col, Severity: Error, Msg: xmlErrMsg(err)})
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "registry":
			if sawRegistry {
				// Nested registries hold other tables; stay in the top one.
				if err := d.Skip(); err != nil {
					return diags, xmlFatal(d, err)
				}
				continue
			}
			sawRegistry = true
		case "title":
			if r.Title == "" {
				t, err := mixedText(d)
				if err != nil {
					return diags, xmlFatal(d, err)
				}
				r.Title = t
			} else if err := d.Skip(); err != nil {
				return diags, xmlFatal(d, err)
			}
		case "updated":
			t, err := mixedText(d)
			if err != nil {
				return diags, xmlFatal(d, err)
			}
			line, _ := d.InputPos()
			if r.Updated, err = ParseDate(t); err != nil {
				diags = append(diags, Diagnostic{Line: line, Severity: Error, Msg: "registry <updated>: " + err.Error()})
			}
		case "record":
			line, _ := d.InputPos()
			rec, a, c, diag, err := xmlRecord(d, se, line)
			if err != nil {
				diags = append(diags, Diagnostic{Line: line, Severity: Error, Msg: xmlErrMsg(err)})
				return diags, nil
			}
			if diag != nil {
				diags = append(diags, *diag)
				continue
			}
			r.Records = append(r.Records, rec)
			assignees = append(assignees, a)
			contacts = append(contacts, c)
		case "people":
			people, err := xmlPeople(d)
			if err != nil {
				line, col := d.InputPos()
				diags = append(diags, Diagnostic{Line: line, Column: col, Severity: Error, Msg: xmlErrMsg(err)})
				return diags, nil
			}
			r.People = people
		case "note", "expert", "xref", "category":
			if err := d.Skip(); err != nil {
				return diags, xmlFatal(d, err)
			}
		}
	}
	if !sawRegistry {
		return diags, fmt.Errorf("%w: no <registry> element", ErrNotRegistry)
	}
	r.resolveAll(assignees, contacts)
	return diags, nil
}

func (r *Registry) resolveAll(assignees, contacts [][]string) {
	// The parties of every record share one array.
	n := 0
	for i := range r.Records {
		n += len(assignees[i]) + len(contacts[i])
	}
	parties := make([]Party, 0, n)
	for i := range r.Records {
		parties, r.Records[i].Assignee = r.resolveParties(parties, assignees[i])
		parties, r.Records[i].Contact = r.resolveParties(parties, contacts[i])
	}
}

func xmlErrMsg(err error) string {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		if se.Msg == "unexpected EOF" {
			return "XML ends in the middle of an element (truncated file?)"
		}
		return "XML syntax: " + se.Msg
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "XML ends in the middle of an element (truncated file?)"
	}
	return err.Error()
}

func xmlFatal(d *xml.Decoder, err error) error {
	line, col := d.InputPos()
	return fmt.Errorf("%w: line %d, column %d: %s", ErrMalformed, line, col, xmlErrMsg(err))
}

// resolveParties appends the parties ids name to buf and returns buf and
// them (nil for none), capped so that appending to them copies.
func (r *Registry) resolveParties(buf []Party, ids []string) ([]Party, []Party) {
	if len(ids) == 0 {
		return buf, nil
	}
	start := len(buf)
	for _, id := range ids {
		if p, ok := r.People[id]; ok {
			buf = append(buf, p)
		} else {
			buf = append(buf, Party{ID: id})
		}
	}
	return buf, buf[start:len(buf):len(buf)]
}

// xmlRecord reads one <record>. Person xrefs inside <assignee> are the
// assignee; person xrefs directly in the record are the contact, and also
// the assignee when the record has no <assignee> (as IANA's CSV export
// renders them).
func xmlRecord(d *xml.Decoder, start xml.StartElement, line int) (rec Record, assignee, contact []string, diag *Diagnostic, err error) {
	rec.Line = line
	var f xmlFields
	for _, a := range start.Attr {
		switch a.Name.Local {
		case "date":
			f.reg = a.Value
		case "updated":
			f.mod = a.Value
		}
	}
	for {
		tok, err := d.Token()
		if err != nil {
			return rec, nil, nil, nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if !f.hasAssignee {
				assignee = contact
			}
			if dg, ok := setCommon(&rec, f.port, f.proto, f.reg, f.mod, nil); !ok {
				return rec, nil, nil, &dg, nil
			}
			return rec, assignee, contact, nil, nil
		case xml.StartElement:
			var s string
			switch t.Name.Local {
			case "xref":
				typ, data := xrefAttrs(t)
				text, err := mixedText(d)
				if err != nil {
					return rec, nil, nil, nil, err
				}
				if typ == "person" {
					contact = append(contact, data)
				} else {
					rec.References = append(rec.References, xrefLabel(typ, data, text))
				}
				continue
			case "assignee":
				f.hasAssignee = true
				ids, err := xmlPersonRefs(d)
				if err != nil {
					return rec, nil, nil, nil, err
				}
				assignee = append(assignee, ids...)
				continue
			case "contact":
				ids, err := xmlPersonRefs(d)
				if err != nil {
					return rec, nil, nil, nil, err
				}
				contact = append(contact, ids...)
				continue
			}
			if s, err = mixedText(d); err != nil {
				return rec, nil, nil, nil, err
			}
			f.set(&rec, t.Name.Local, s)
		}
	}
}

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n" + b
}

func xrefAttrs(t xml.StartElement) (typ, data string) {
	for _, a := range t.Attr {
		switch a.Name.Local {
		case "type":
			typ = a.Value
		case "data":
			data = a.Value
		}
	}
	return typ, data
}

// xrefLabel renders a non-person xref the way IANA's text forms do: its
// text where it has one ("RFC8765, Section 6.1", "TR-352"), else its data,
// with rfc6335 written RFC6335.
func xrefLabel(typ, data, text string) string {
	if text = strings.TrimSpace(text); text != "" {
		return text
	}
	if typ == "rfc" && len(data) > 3 {
		return strings.ToUpper(data[:3]) + data[3:]
	}
	return data
}

// xmlPersonRefs reads the person xrefs inside <assignee> or <contact>.
func xmlPersonRefs(d *xml.Decoder) ([]string, error) {
	var ids []string
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return ids, nil
		case xml.StartElement:
			_, data := xrefAttrs(t)
			if data != "" {
				ids = append(ids, data)
			}
			if err := d.Skip(); err != nil {
				return nil, err
			}
		}
	}
}

// mixedText returns the text of the element just opened: character data
// as is, <br/> as a line break, each <paragraph> on its own line, and
// inline xrefs as "[label]". It consumes the end element.
func mixedText(d *xml.Decoder) (string, error) {
	var b strings.Builder
	depth := 1
	for depth > 0 {
		tok, err := d.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.StartElement:
			switch t.Name.Local {
			case "br":
				b.WriteByte('\n')
			case "paragraph":
				if b.Len() > 0 {
					b.WriteByte('\n')
				}
			case "xref":
				typ, data := xrefAttrs(t)
				text, err := mixedText(d)
				if err != nil {
					return "", err
				}
				b.WriteString("[" + xrefLabel(typ, data, text) + "]")
				continue
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return b.String(), nil
}

// xmlPeople reads <people>: <person id="..."><name/><org/><uri/></person>.
func xmlPeople(d *xml.Decoder) (map[string]Party, error) {
	people := make(map[string]Party, 4096)
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return people, nil
		case xml.StartElement:
			if t.Name.Local != "person" {
				if err := d.Skip(); err != nil {
					return nil, err
				}
				continue
			}
			var p Party
			for _, a := range t.Attr {
				if a.Name.Local == "id" {
					p.ID = a.Value
				}
			}
			if err := xmlPerson(d, &p); err != nil {
				return nil, err
			}
			people[p.ID] = p
		}
	}
}

func xmlPerson(d *xml.Decoder, p *Party) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			s, err := mixedText(d)
			if err != nil {
				return err
			}
			s = strings.TrimSpace(s)
			switch t.Name.Local {
			case "name":
				p.Name = s
			case "org":
				p.Org = s
			case "uri":
				p.URI = s
			}
		}
	}
}
