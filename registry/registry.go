package registry

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Format is the form a registry source was written in.
type Format uint8

// Source formats, detected by content.
const (
	FormatUnknown Format = iota
	FormatCSV
	FormatXML
	FormatText
)

// String names the format.
func (f Format) String() string {
	switch f {
	case FormatCSV:
		return "csv"
	case FormatXML:
		return "xml"
	case FormatText:
		return "text"
	}
	return "unknown"
}

// Severity grades a diagnostic.
type Severity uint8

// Diagnostic severities. An Error row is not in the registry; a Warning row
// is kept but flagged (e.g. a historic name without a replacement).
const (
	Warning Severity = iota
	Error
)

func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// Diagnostic is one finding about the source, with where it was found.
type Diagnostic struct {
	Line     int // 1-based; 0 when not tied to a line
	Column   int // 1-based; 0 when not useful
	Severity Severity
	Msg      string
}

func (d Diagnostic) String() string {
	switch {
	case d.Line > 0 && d.Column > 0:
		return fmt.Sprintf("line %d, column %d: %s: %s", d.Line, d.Column, d.Severity, d.Msg)
	case d.Line > 0:
		return fmt.Sprintf("line %d: %s: %s", d.Line, d.Severity, d.Msg)
	}
	return fmt.Sprintf("%s: %s", d.Severity, d.Msg)
}

// Sentinel errors, matched with errors.Is.
var (
	// ErrNotRegistry means the input is not any registry format (empty,
	// binary, an HTML page...).
	ErrNotRegistry = errors.New("not an IANA service name and port number registry")
	// ErrMalformed means rows of the source could not be read.
	ErrMalformed = errors.New("malformed registry")
	// ErrNoRecords means the source parsed but held no usable record.
	ErrNoRecords = errors.New("registry has no valid record")
)

// ParseError carries every error-level diagnostic of a source.
type ParseError struct {
	Source string
	Diags  []Diagnostic
}

func (e *ParseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "registry: %s: %d error(s)", e.Source, len(e.Diags))
	for i, d := range e.Diags {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(e.Diags)-i)
			break
		}
		b.WriteString("; ")
		b.WriteString(d.String())
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrMalformed) true.
func (e *ParseError) Unwrap() error { return ErrMalformed }

// Registry is a parsed registry with its indexes. It is not modified after
// Parse returns and is safe for concurrent reads.
type Registry struct {
	Format  Format
	Title   string
	Updated Date // registry "Last Updated"; zero when the source has none
	Records []Record
	// People maps person ids to details (XML sources only).
	People map[string]Party
	// Diagnostics holds warnings (and, with a *ParseError, errors).
	Diagnostics []Diagnostic

	byKey  map[Key][]int32
	byPort [5]PortIndex // by Protocol
}

// Parse reads a registry in any supported format, chosen by content.
// source names the input in messages (a file path, "embedded").
//
// A source that is no registry yields ErrNotRegistry. Rows that cannot be
// read yield a *ParseError listing each with its line; the returned
// Registry then holds the rows that could be read, for reporting. A source
// with no valid record yields ErrNoRecords.
func Parse(source string, data []byte) (*Registry, error) {
	f, err := Detect(data)
	if err != nil {
		return nil, fmt.Errorf("registry: %s: %w", source, err)
	}
	r := &Registry{Format: f}
	var diags []Diagnostic
	switch f {
	case FormatCSV:
		diags, err = parseCSV(r, data)
	case FormatXML:
		diags, err = parseXML(r, data)
	case FormatText:
		diags = parseText(r, data)
	}
	if err != nil {
		return nil, fmt.Errorf("registry: %s: %w", source, err)
	}
	diags = append(diags, r.finish()...)
	sort.SliceStable(diags, func(i, j int) bool { return diags[i].Line < diags[j].Line })
	r.Diagnostics = diags
	var errs []Diagnostic
	for _, d := range diags {
		if d.Severity == Error {
			errs = append(errs, d)
		}
	}
	if len(errs) > 0 {
		return r, &ParseError{Source: source, Diags: errs}
	}
	if r.validCount() == 0 {
		return r, fmt.Errorf("registry: %s: %w", source, ErrNoRecords)
	}
	return r, nil
}

// ParseFile reads and parses the registry at path.
func ParseFile(path string) (*Registry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return Parse(path, data)
}

var csvHeader = []byte("Service Name,Port Number,Transport Protocol")

// Detect tells the format of data from its content, or explains why it is
// not a registry.
func Detect(data []byte) (Format, error) {
	b := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return FormatUnknown, fmt.Errorf("%w: the input is empty", ErrNotRegistry)
	}
	head := b[:min(len(b), 4096)]
	if bytes.IndexByte(head, 0) >= 0 || !utf8.Valid(trimPartialRune(head)) {
		return FormatUnknown, fmt.Errorf("%w: the input is binary, not text", ErrNotRegistry)
	}
	lower := bytes.ToLower(head)
	switch {
	case bytes.HasPrefix(lower, []byte("<!doctype html")) || bytes.Contains(lower, []byte("<html")):
		return FormatUnknown, fmt.Errorf("%w: the input is an HTML page (an error page or the registry's HTML view?)", ErrNotRegistry)
	case bytes.HasPrefix(b, csvHeader):
		return FormatCSV, nil
	case bytes.HasPrefix(b, []byte("<")):
		if bytes.Contains(head, []byte("http://www.iana.org/assignments")) || bytes.Contains(head, []byte("<registry")) {
			return FormatXML, nil
		}
		return FormatUnknown, fmt.Errorf("%w: XML without an IANA <registry> element", ErrNotRegistry)
	case textHeaderRE.Match(b[:min(len(b), 1<<16)]):
		return FormatText, nil
	}
	return FormatUnknown, fmt.Errorf("%w: no CSV header, XML <registry> or text table header found", ErrNotRegistry)
}

var textHeaderRE = regexp.MustCompile(`(?m)^\|\s*Service Name\s*\|\s*Port Number\s*\|`)

// trimPartialRune drops a rune cut by a fixed-size window.
func trimPartialRune(b []byte) []byte {
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if utf8.Valid(b) {
			return b
		}
		b = b[:len(b)-1]
	}
	return b
}

var (
	aliasToRE       = regexp.MustCompile(`This entry is an alias to "([^"]+)"`)
	replacementRE   = regexp.MustCompile(`replacement for "([^"]+)"`)
	unassignedDescr = regexp.MustCompile(`(?i)^\(?unassigned`)
)

// classify sets Status, AliasOf and Replaces from the row's text.
func classify(rec *Record) {
	// Each pattern starts with a literal: rows without it (nearly all)
	// skip the join and the match.
	if mentions(rec, `replacement for "`) {
		if m := replacementRE.FindStringSubmatch(rec.Description + "\n" + rec.Notes); m != nil {
			rec.Replaces = m[1]
		}
	}
	switch {
	case rec.Name == "" && unassignedDescr.MatchString(rec.Description):
		rec.Status = Unassigned
	case rec.Name == "":
		rec.Status = Reserved
	default:
		rec.Status = Assigned
		if !mentions(rec, `This entry is an alias to "`) {
			break
		}
		if m := aliasToRE.FindStringSubmatch(rec.Notes + "\n" + rec.Description); m != nil {
			rec.Status = Alias
			rec.AliasOf = m[1]
		}
	}
}

// mentions reports whether a row's description or notes hold lit, which
// holds no line break (so it cannot span the two).
func mentions(rec *Record, lit string) bool {
	return strings.Contains(rec.Description, lit) || strings.Contains(rec.Notes, lit)
}

// finish classifies rows, checks names and aliases, and builds indexes.
func (r *Registry) finish() []Diagnostic {
	var diags []Diagnostic
	r.byKey = make(map[Key][]int32, len(r.Records))
	for i := range r.Records {
		rec := &r.Records[i]
		classify(rec)
		if rec.Name != "" {
			k := rec.Key()
			r.byKey[k] = append(r.byKey[k], int32(i))
		}
	}
	for i := range r.Records {
		rec := &r.Records[i]
		switch {
		case rec.Status == Alias:
			if err := ValidateName(rec.AliasOf); err != nil {
				diags = append(diags, Diagnostic{Line: rec.Line, Severity: Warning,
					Msg: fmt.Sprintf("alias %q names a replacement that is itself invalid: %v", rec.Name, err)})
			} else if len(r.byKey[KeyOf(rec.AliasOf, rec.Proto)]) == 0 {
				diags = append(diags, Diagnostic{Line: rec.Line, Severity: Warning,
					Msg: fmt.Sprintf("alias %q points at %q, which is not registered for %s", rec.Name, rec.AliasOf, protoOrNone(rec.Proto))})
			}
		case rec.Status == Assigned:
			if err := ValidateName(rec.Name); err != nil {
				diags = append(diags, Diagnostic{Line: rec.Line, Severity: Warning,
					Msg: fmt.Sprintf("%v, and the registry names no replacement: not served", err)})
			}
		}
	}
	r.buildPortIndex()
	return diags
}

func protoOrNone(p Protocol) string {
	if p == ProtoNone {
		return "no protocol"
	}
	return p.String()
}

func (r *Registry) validCount() int {
	n := 0
	for i := range r.Records {
		rec := &r.Records[i]
		if rec.Status != Assigned || ValidateName(rec.Name) == nil {
			n++
		}
	}
	return n
}

// Lookup returns the records registered under name (any case) for proto.
// Alias rows are included; callers follow AliasOf.
func (r *Registry) Lookup(name string, proto Protocol) []*Record {
	idx := r.byKey[KeyOf(name, proto)]
	out := make([]*Record, len(idx))
	for i, j := range idx {
		out[i] = &r.Records[j]
	}
	return out
}

// Resolve follows an alias to its replacement: it returns the records of
// the well-formed name that serves name/proto, and that name. For a name
// that is not an alias it returns the name's own records.
func (r *Registry) Resolve(name string, proto Protocol) (string, []*Record) {
	recs := r.Lookup(name, proto)
	for _, rec := range recs {
		if rec.Status == Alias {
			return rec.AliasOf, r.Lookup(rec.AliasOf, proto)
		}
	}
	return name, recs
}

// Invalid lists the names that break RFC 6335 and have no replacement,
// each once, in registry order.
func (r *Registry) Invalid() []string {
	seen := map[string]bool{}
	var out []string
	for i := range r.Records {
		rec := &r.Records[i]
		if rec.Status == Assigned && ValidateName(rec.Name) != nil && !seen[rec.Name] {
			seen[rec.Name] = true
			out = append(out, rec.Name)
		}
	}
	return out
}

// AliasPair is a historic name and its replacement.
type AliasPair struct {
	Alias, Replacement string
}

// AliasPairs lists each distinct (alias, replacement) pair once, in
// registry order.
func (r *Registry) AliasPairs() []AliasPair {
	seen := map[AliasPair]bool{}
	var out []AliasPair
	for i := range r.Records {
		rec := &r.Records[i]
		if rec.Status != Alias {
			continue
		}
		p := AliasPair{rec.Name, rec.AliasOf}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
