package registry

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// xmlRecordsFast decodes a run of <record> elements as xmlRecords does,
// with a scanner for the XML IANA's records are written in: elements with
// plain names and quoted attributes, text with the five predefined
// entities, <br/>, <paragraph> and <xref> inside text. Start-up spends
// most of its time reading the registry, and encoding/xml reads it at a
// few tens of MB/s. A record with anything else (a comment, CDATA, a
// character reference, a carriage return, a name with a prefix, a
// character XML does not allow...) is read by encoding/xml (xmlRecords)
// instead, so the result is always that of xmlRecords; FuzzXMLRecordsFast
// checks it.
func xmlRecordsFast(b []byte, base int) (recs []Record, assignees, contacts [][]string, ok bool) {
	recs = make([]Record, 0, bytes.Count(b, []byte("<record"))+1)
	assignees, contacts = make([][]string, 0, cap(recs)), make([][]string, 0, cap(recs))
	line, pos := 1, 0 // the line pos is on, 1-based within b
	for {
		for pos < len(b) && (b[pos] == ' ' || b[pos] == '\t' || b[pos] == '\n') {
			if b[pos] == '\n' {
				line++
			}
			pos++
		}
		if pos == len(b) {
			return recs, assignees, contacts, true
		}
		end := bytes.Index(b[pos:], []byte("</record>"))
		if !bytes.HasPrefix(b[pos:], []byte("<record")) || end < 0 {
			return xmlRecords(b, base) // something between records: let encoding/xml judge
		}
		end += pos + len("</record>")
		s := xmlScanner{b: b[:end], i: pos}
		rec, a, c, fast := s.record(base + line - 1)
		if !fast {
			rs, as, cs, ok := xmlRecords(b[pos:end], base+line-1)
			if !ok || len(rs) != 1 {
				return nil, nil, nil, false
			}
			rec, a, c = rs[0], as[0], cs[0]
		}
		recs = append(recs, rec)
		assignees = append(assignees, a)
		contacts = append(contacts, c)
		line += bytes.Count(b[pos:end], []byte("\n"))
		pos = end
	}
}

// xmlScanner reads one record; ok false from any method means "not the
// simple form": the caller hands the record to encoding/xml.
type xmlScanner struct {
	b []byte
	i int
	// attrs holds the attributes of the last start tag; every caller
	// reads them before the next one.
	attrs []xmlAttr
}

type xmlAttr struct {
	name  []byte
	value string
}

// record reads <record ...> ... </record> at s.i, as xmlRecord does.
func (s *xmlScanner) record(base int) (rec Record, assignee, contact []string, ok bool) {
	start := s.i
	name, attrs, empty, ok := s.startTag()
	if !ok || string(name) != "record" || empty {
		return rec, nil, nil, false
	}
	// encoding/xml's position once the start tag is read (xmlRecords).
	rec.Line = base + 1 + bytes.Count(s.b[start:s.i], []byte("\n"))
	var f xmlFields
	for _, a := range attrs {
		switch string(a.name) {
		case "date":
			f.reg = a.value
		case "updated":
			f.mod = a.value
		}
	}
	for {
		if _, ok := s.text(nil, false); !ok { // text directly in <record> is not kept
			return rec, nil, nil, false
		}
		if s.i+1 < len(s.b) && s.b[s.i+1] == '/' {
			if end, ok := s.endTag(); !ok || string(end) != "record" || s.i != len(s.b) {
				return rec, nil, nil, false
			}
			if !f.hasAssignee {
				assignee = contact
			}
			if _, ok := setCommon(&rec, f.port, f.proto, f.reg, f.mod, nil); !ok {
				return rec, nil, nil, false // encoding/xml says why
			}
			return rec, assignee, contact, true
		}
		name, attrs, empty, ok := s.startTag()
		if !ok {
			return rec, nil, nil, false
		}
		switch string(name) {
		case "xref":
			typ, data := xmlAttrsTypeData(attrs)
			text, ok := s.mixed(name, empty)
			if !ok {
				return rec, nil, nil, false
			}
			if typ == "person" {
				contact = append(contact, data)
			} else {
				rec.References = append(rec.References, xrefLabel(typ, data, text))
			}
		case "assignee", "contact":
			ids, ok := s.personRefs(name, empty)
			if !ok {
				return rec, nil, nil, false
			}
			if string(name) == "assignee" {
				f.hasAssignee = true
				assignee = append(assignee, ids...)
			} else {
				contact = append(contact, ids...)
			}
		default:
			text, ok := s.mixed(name, empty)
			if !ok {
				return rec, nil, nil, false
			}
			f.set(&rec, string(name), text)
		}
	}
}

// personRefs reads the children of <assignee> or <contact>: the data of
// each element's xref attributes, its content skipped.
func (s *xmlScanner) personRefs(parent []byte, empty bool) ([]string, bool) {
	var ids []string
	for !empty {
		if _, ok := s.text(nil, false); !ok {
			return nil, false
		}
		if s.i+1 < len(s.b) && s.b[s.i+1] == '/' {
			end, ok := s.endTag()
			return ids, ok && bytes.Equal(end, parent)
		}
		name, attrs, childEmpty, ok := s.startTag()
		if !ok {
			return nil, false
		}
		if _, data := xmlAttrsTypeData(attrs); data != "" {
			ids = append(ids, data)
		}
		if _, ok := s.mixed(name, childEmpty); !ok { // skipped, but checked
			return nil, false
		}
	}
	return ids, true
}

// mixed returns the text of the element name just opened, as mixedText
// does: character data as is, <br/> as a line break, each <paragraph> on
// its own line, inline xrefs as "[label]"; it consumes the end tag.
func (s *xmlScanner) mixed(name []byte, empty bool) (string, bool) {
	if empty {
		return "", true
	}
	// Most elements hold plain text: it is taken as it is written, with
	// one allocation.
	if text, ok := s.plainText(name); ok {
		return text, true
	}
	var out []byte
	open := [][]byte{name}
	for len(open) > 0 {
		var ok bool
		if out, ok = s.text(out, true); !ok {
			return "", false
		}
		if s.i+1 < len(s.b) && s.b[s.i+1] == '/' {
			end, ok := s.endTag()
			if !ok || !bytes.Equal(end, open[len(open)-1]) {
				return "", false
			}
			open = open[:len(open)-1]
			continue
		}
		child, attrs, childEmpty, ok := s.startTag()
		if !ok {
			return "", false
		}
		switch string(child) {
		case "br":
			out = append(out, '\n')
		case "paragraph":
			if len(out) > 0 {
				out = append(out, '\n')
			}
		case "xref":
			typ, data := xmlAttrsTypeData(attrs)
			text, ok := s.mixed(child, childEmpty)
			if !ok {
				return "", false
			}
			out = append(append(append(out, '['), xrefLabel(typ, data, text)...), ']')
			continue
		}
		if !childEmpty {
			open = append(open, child)
		}
	}
	return string(out), true
}

// plainText reads character data without entities up to the end tag of
// name, and that end tag; ok is false, having moved nothing, where the
// element holds anything else.
func (s *xmlScanner) plainText(name []byte) (string, bool) {
	start := s.i
	end := bytes.IndexByte(s.b[start:], '<')
	if end < 0 || bytes.IndexByte(s.b[start:start+end], '&') >= 0 {
		return "", false
	}
	end += start
	if _, ok := s.text(nil, false); !ok || s.i != end {
		s.i = start
		return "", false
	}
	if tag, ok := s.endTag(); !ok || !bytes.Equal(tag, name) {
		s.i = start
		return "", false
	}
	return string(s.b[start:end]), true
}

// text reads the character data at s.i, up to the next '<', and appends
// it to out, entities decoded, when keep is set; ok is false for anything
// encoding/xml might read otherwise or reject, or at the end of the input.
func (s *xmlScanner) text(out []byte, keep bool) ([]byte, bool) {
	for s.i < len(s.b) {
		c := s.b[s.i]
		n := 1
		switch {
		case c == '<':
			return out, true
		case c == '&':
			if c, n = xmlEntity(s.b[s.i:]); n == 0 {
				return nil, false
			}
			if keep {
				out = append(out, c)
			}
			s.i += n
			continue
		case c == '>' && s.i >= 2 && s.b[s.i-1] == ']' && s.b[s.i-2] == ']':
			return nil, false // "]]>" outside CDATA
		case c < utf8.RuneSelf:
			if c < 0x20 && c != '\t' && c != '\n' { // '\r' is normalized by encoding/xml: not here
				return nil, false
			}
		default:
			var r rune
			if r, n = utf8.DecodeRune(s.b[s.i:]); r == utf8.RuneError && n == 1 || !xmlChar(r) {
				return nil, false
			}
		}
		if keep {
			out = append(out, s.b[s.i:s.i+n]...)
		}
		s.i += n
	}
	return nil, false
}

// xmlEntity reads one of the five predefined entities (XML 1.0 §4.6).
func xmlEntity(b []byte) (byte, int) {
	for _, e := range [...]struct {
		ref string
		c   byte
	}{{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}} {
		if bytes.HasPrefix(b, []byte(e.ref)) {
			return e.c, len(e.ref)
		}
	}
	return 0, 0
}

// xmlChar is XML 1.0's Char production, beyond ASCII.
func xmlChar(r rune) bool {
	return r >= 0x80 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// startTag reads <name attr="value" ...> or its empty-element form.
func (s *xmlScanner) startTag() (name []byte, attrs []xmlAttr, empty, ok bool) {
	if s.i >= len(s.b) || s.b[s.i] != '<' {
		return nil, nil, false, false
	}
	s.i++
	if name, ok = s.name(); !ok {
		return nil, nil, false, false
	}
	attrs = s.attrs[:0]
	defer func() { s.attrs = attrs[:0] }()
	for {
		sp := s.space()
		if s.i >= len(s.b) {
			return nil, nil, false, false
		}
		switch s.b[s.i] {
		case '>':
			s.i++
			return name, attrs, false, true
		case '/':
			if s.i+1 >= len(s.b) || s.b[s.i+1] != '>' {
				return nil, nil, false, false
			}
			s.i += 2
			return name, attrs, true, true
		}
		if !sp {
			return nil, nil, false, false
		}
		an, ok := s.name()
		if !ok {
			return nil, nil, false, false
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '=' {
			return nil, nil, false, false
		}
		s.i++
		s.space()
		v, ok := s.attrValue()
		if !ok {
			return nil, nil, false, false
		}
		attrs = append(attrs, xmlAttr{an, v})
	}
}

// attrValue reads a quoted attribute value without line breaks or tabs
// (which XML normalizes) or a character reference.
func (s *xmlScanner) attrValue() (string, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' && s.b[s.i] != '\'' {
		return "", false
	}
	q := s.b[s.i]
	s.i++
	// A value without entities is taken as it is written.
	if n := bytes.IndexByte(s.b[s.i:], q); n >= 0 {
		v := s.b[s.i : s.i+n]
		if bytes.IndexByte(v, '&') < 0 && bytes.IndexByte(v, '<') < 0 && plainASCII(v) {
			s.i += n + 1
			return string(v), true
		}
	}
	var out []byte
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == q:
			s.i++
			return string(out), true
		case c == '<' || c < 0x20:
			return "", false
		case c == '&':
			r, n := xmlEntity(s.b[s.i:])
			if n == 0 {
				return "", false
			}
			out = append(out, r)
			s.i += n
		case c < utf8.RuneSelf:
			out = append(out, c)
			s.i++
		default:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n == 1 || !xmlChar(r) {
				return "", false
			}
			out = append(out, s.b[s.i:s.i+n]...)
			s.i += n
		}
	}
	return "", false
}

// plainASCII reports whether b holds only printable ASCII, which an
// attribute value keeps as it is written.
func plainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// endTag reads </name>.
func (s *xmlScanner) endTag() ([]byte, bool) {
	if s.i+1 >= len(s.b) || s.b[s.i] != '<' || s.b[s.i+1] != '/' {
		return nil, false
	}
	s.i += 2
	name, ok := s.name()
	if !ok {
		return nil, false
	}
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '>' {
		return nil, false
	}
	s.i++
	return name, true
}

// name reads an element or attribute name of ASCII letters, digits, '_',
// '-' and '.', starting with a letter or '_' (no namespace prefix).
func (s *xmlScanner) name() ([]byte, bool) {
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || s.i > start && (c >= '0' && c <= '9' || c == '-' || c == '.') {
			s.i++
			continue
		}
		break
	}
	if s.i == start {
		return nil, false
	}
	return s.b[start:s.i], true
}

// space skips white space and says whether there was some.
func (s *xmlScanner) space() bool {
	start := s.i
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n') {
		s.i++
	}
	return s.i > start
}

func xmlAttrsTypeData(attrs []xmlAttr) (typ, data string) {
	for _, a := range attrs {
		switch string(a.name) {
		case "type":
			typ = a.value
		case "data":
			data = a.value
		}
	}
	return typ, data
}

// xmlFields collects what a record's elements say before setCommon reads
// it.
type xmlFields struct {
	port, proto, reg, mod string
	hasAssignee           bool
}

// set stores the text of a record's child element.
func (f *xmlFields) set(rec *Record, element, s string) {
	switch element {
	case "name":
		rec.Name = strings.TrimSpace(s)
	case "protocol":
		f.proto = s
	case "number":
		f.port = s
	case "description":
		rec.Description = strings.TrimSpace(s)
	case "note":
		rec.Notes = joinNonEmpty(rec.Notes, strings.TrimSpace(s))
	case "sc":
		rec.ServiceCode = strings.TrimSpace(s)
	case "unauthorized":
		rec.Unauthorized = strings.TrimSpace(s)
	case "date":
		f.reg = s
	case "updated":
		f.mod = s
	}
}

// xmlPeopleFast reads the people of a <people> element, as xmlPeople does,
// from at (just after its start tag) in b, and returns where its end tag
// ends; ok is false where xmlPeople must read it.
func xmlPeopleFast(b []byte, at int) (people map[string]Party, end int, ok bool) {
	if at < 2 || at > len(b) || b[at-1] != '>' || b[at-2] == '/' { // <people/> has no people
		return nil, 0, false
	}
	s := xmlScanner{b: b, i: at}
	people = make(map[string]Party, 4096)
	for {
		if _, ok := s.text(nil, false); !ok {
			return nil, 0, false
		}
		if s.i+1 < len(s.b) && s.b[s.i+1] == '/' {
			name, ok := s.endTag()
			return people, s.i, ok && string(name) == "people"
		}
		name, attrs, empty, ok := s.startTag()
		if !ok {
			return nil, 0, false
		}
		if string(name) != "person" {
			if _, ok := s.mixed(name, empty); !ok { // skipped, but checked
				return nil, 0, false
			}
			continue
		}
		var p Party
		for _, a := range attrs {
			if string(a.name) == "id" {
				p.ID = a.value
			}
		}
		for !empty {
			if _, ok := s.text(nil, false); !ok {
				return nil, 0, false
			}
			if s.i+1 < len(s.b) && s.b[s.i+1] == '/' {
				end, ok := s.endTag()
				if !ok || string(end) != "person" {
					return nil, 0, false
				}
				break
			}
			child, _, childEmpty, ok := s.startTag()
			if !ok {
				return nil, 0, false
			}
			text, ok := s.mixed(child, childEmpty)
			if !ok {
				return nil, 0, false
			}
			switch string(child) {
			case "name":
				p.Name = strings.TrimSpace(text)
			case "org":
				p.Org = strings.TrimSpace(text)
			case "uri":
				p.URI = strings.TrimSpace(text)
			}
		}
		people[p.ID] = p
	}
}
