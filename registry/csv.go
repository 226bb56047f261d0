package registry

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The official CSV export's columns, in order.
const (
	colName = iota
	colPort
	colProto
	colDescription
	colAssignee
	colContact
	colRegistered
	colModified
	colReference
	colServiceCode
	colUnauthorized
	colNotes
	csvColumns
)

var csvColumnNames = [csvColumns]string{
	"Service Name", "Port Number", "Transport Protocol", "Description", "Assignee", "Contact",
	"Registration Date", "Modification Date", "Reference", "Service Code",
	"Unauthorized Use Reported", "Assignment Notes",
}

// parseCSV reads IANA's CSV export: a header row, then 12 fields a row,
// quoted fields with bare LF inside and doubled quotes.
func parseCSV(r *Registry, data []byte) ([]Diagnostic, error) {
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
	cr.FieldsPerRecord = -1 // counted here, to report the line
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: CSV header: %v", ErrNotRegistry, err)
	}
	for i, want := range csvColumnNames {
		if i >= len(header) || strings.TrimSpace(header[i]) != want {
			return nil, fmt.Errorf("%w: CSV header column %d is not %q", ErrNotRegistry, i+1, want)
		}
	}
	r.Title = "Service Name and Transport Protocol Port Number Registry"
	r.Records = make([]Record, 0, bytes.Count(data, []byte("\r\n")))
	var diags []Diagnostic
	for {
		fields, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				diags = append(diags, Diagnostic{Line: pe.StartLine, Column: pe.Column, Severity: Error, Msg: pe.Err.Error()})
				// A broken quote swallows the rest of the file; nothing
				// after it can be trusted.
				if errors.Is(pe.Err, csv.ErrQuote) || errors.Is(pe.Err, csv.ErrBareQuote) {
					break
				}
				continue
			}
			return diags, err
		}
		line, _ := cr.FieldPos(0)
		if len(fields) != csvColumns {
			diags = append(diags, Diagnostic{Line: line, Severity: Error,
				Msg: fmt.Sprintf("row has %d fields, want %d", len(fields), csvColumns)})
			continue
		}
		rec := Record{
			Line:         line,
			Name:         strings.TrimSpace(fields[colName]),
			Description:  strings.TrimSpace(fields[colDescription]),
			Assignee:     parties(fields[colAssignee]),
			Contact:      parties(fields[colContact]),
			References:   bracketList(fields[colReference]),
			ServiceCode:  strings.TrimSpace(fields[colServiceCode]),
			Unauthorized: strings.TrimSpace(fields[colUnauthorized]),
			Notes:        strings.TrimSpace(fields[colNotes]),
		}
		if d, ok := setCommon(&rec, fields[colPort], fields[colProto], fields[colRegistered], fields[colModified], func(col int) int {
			_, c := cr.FieldPos(col)
			return c
		}); !ok {
			diags = append(diags, d)
			continue
		}
		r.Records = append(r.Records, rec)
	}
	return diags, nil
}

// setCommon parses the fields every format shares. col maps a CSV column
// to a source column for messages (nil where unknown).
func setCommon(rec *Record, port, proto, reg, mod string, col func(int) int) (Diagnostic, bool) {
	bad := func(c int, err error) (Diagnostic, bool) {
		d := Diagnostic{Line: rec.Line, Severity: Error, Msg: err.Error()}
		if col != nil {
			d.Column = col(c)
		}
		return d, false
	}
	var err error
	if strings.TrimSpace(port) != "" {
		if rec.Ports, err = ParsePortRange(port); err != nil {
			return bad(colPort, err)
		}
		rec.HasPort = true
	}
	if rec.Proto, err = ParseProtocol(proto); err != nil {
		return bad(colProto, err)
	}
	if rec.Registered, err = ParseDate(reg); err != nil {
		return bad(colRegistered, fmt.Errorf("registration %w", err))
	}
	if rec.Modified, err = ParseDate(mod); err != nil {
		return bad(colModified, fmt.Errorf("modification %w", err))
	}
	if rec.Name == "" && !rec.HasPort {
		return bad(colName, errors.New("row has neither a service name nor a port"))
	}
	return Diagnostic{}, true
}

// bracketList splits "[RFC4727][RFC6335]" into its items; text outside
// brackets is kept as an item of its own. Brackets may nest.
func bracketList(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			if depth == 0 {
				if t := strings.TrimSpace(s[start:i]); t != "" {
					out = append(out, t)
				}
				start = i + 1
			}
			depth++
		case ']':
			if depth == 0 {
				continue
			}
			depth--
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if t := strings.TrimSpace(s[start:]); t != "" {
		if depth > 0 { // unclosed bracket: keep it whole
			t = "[" + t
		}
		out = append(out, t)
	}
	return out
}

func parties(s string) []Party {
	ids := bracketList(s)
	if ids == nil {
		return nil
	}
	out := make([]Party, len(ids))
	for i, id := range ids {
		out[i] = Party{ID: id}
	}
	return out
}
