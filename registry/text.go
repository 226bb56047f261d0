package registry

import (
	"fmt"
	"regexp"
	"strings"
)

// The IANA text table (as rendered from the HTML view) drops empty cells
// and pads the row with empty ones at the end, so a cell's column cannot be
// told from its position: each cell is classified by its content, in the
// order the columns come.
var (
	portCellRE  = regexp.MustCompile(`^[0-9]+(-[0-9]+)?$`)
	protoCellRE = regexp.MustCompile(`(?i)^(tcp|udp|sctp|dccp)$`)
	// A short lower-case word where the protocol belongs, followed by more
	// text, is an unknown protocol rather than a description.
	protoLikeRE   = regexp.MustCompile(`^[a-z][a-z0-9]{1,5}$`)
	dateCellRE    = regexp.MustCompile(`^[0-9]{4}(-[0-9]{2}){0,2}$`)
	bracketCellRE = regexp.MustCompile(`^\[.*\]$`)
	docRefRE      = regexp.MustCompile(`^(RFC[0-9]+|RFC-.*|draft-.*|[0-9]+)$`)
	unauthCellRE  = regexp.MustCompile(`(?i)^(known )?unauthorized use`)
	digitsCellRE  = regexp.MustCompile(`^[0-9]+$`)
)

// parseText reads the IANA text table: a header block ("Last Updated",
// then the date on a "- " line), a "| Service Name | ..." header row, and
// "|"-separated rows that may wrap onto following lines.
func parseText(r *Registry, data []byte) []Diagnostic {
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	var diags []Diagnostic
	inTable := false
	var row strings.Builder
	rowLine := 0
	flush := func() {
		if rowLine == 0 {
			return
		}
		rec, d := textRow(row.String(), rowLine)
		if d != nil {
			diags = append(diags, *d)
		} else {
			r.Records = append(r.Records, rec)
		}
		row.Reset()
		rowLine = 0
	}
	for i, line := range lines {
		n := i + 1
		trimmed := strings.TrimSpace(line)
		if !inTable {
			switch {
			case r.Title == "" && trimmed != "" && !strings.HasPrefix(trimmed, "-"):
				r.Title = trimmed
			case trimmed == "- Last Updated":
				for _, next := range lines[i+1:] {
					if t := strings.TrimSpace(next); t != "" {
						date, err := ParseDate(strings.TrimSpace(strings.TrimPrefix(t, "-")))
						if err != nil {
							diags = append(diags, Diagnostic{Line: n + 1, Severity: Error, Msg: "Last Updated: " + err.Error()})
						}
						r.Updated = date
						break
					}
				}
			case textHeaderRE.MatchString(line):
				inTable = true
			}
			continue
		}
		switch {
		case strings.HasPrefix(trimmed, "|---") || strings.HasPrefix(trimmed, "|:--"):
		case strings.HasPrefix(trimmed, "|"):
			flush()
			rowLine = n
			row.WriteString(trimmed)
		case trimmed == "":
			flush()
		case rowLine > 0:
			// A row that wrapped onto the next line.
			row.WriteByte(' ')
			row.WriteString(trimmed)
		default:
			diags = append(diags, Diagnostic{Line: n, Severity: Error, Msg: fmt.Sprintf("text outside any table row: %q", clip(trimmed, 40))})
		}
	}
	flush()
	return diags
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// textRow classifies the non-empty cells of one row.
func textRow(s string, line int) (Record, *Diagnostic) {
	rec := Record{Line: line}
	var cells []string
	for _, c := range strings.Split(s, "|") {
		if c = strings.TrimSpace(c); c != "" {
			cells = append(cells, c)
		}
	}
	fail := func(format string, a ...any) (Record, *Diagnostic) {
		return rec, &Diagnostic{Line: line, Severity: Error, Msg: fmt.Sprintf(format, a...)}
	}
	if len(cells) == 0 {
		return fail("empty table row")
	}
	i := 0
	if !portCellRE.MatchString(cells[0]) {
		rec.Name = cells[0]
		i++
	}
	var port, proto string
	if i < len(cells) && portCellRE.MatchString(cells[i]) {
		port = cells[i]
		i++
	}
	if i < len(cells) && protoCellRE.MatchString(cells[i]) {
		proto = cells[i]
		i++
	} else if i+1 < len(cells) && protoLikeRE.MatchString(cells[i]) && !isStructuredCell(cells[i+1]) {
		return fail("unknown transport protocol %q (want tcp, udp, sctp or dccp)", cells[i])
	}
	if i < len(cells) && !isStructuredCell(cells[i]) {
		rec.Description = cells[i]
		i++
	}
	var dates []string
	persons := 0
	for ; i < len(cells); i++ {
		c := cells[i]
		switch {
		case dateCellRE.MatchString(c):
			if len(dates) == 2 {
				return fail("a third date %q in one row", c)
			}
			dates = append(dates, c)
		case bracketCellRE.MatchString(c):
			items := bracketList(c)
			if len(dates) > 0 || persons == 2 || allDocRefs(items) {
				rec.References = append(rec.References, items...)
				continue
			}
			if persons == 0 {
				rec.Assignee = parties(c)
			} else {
				rec.Contact = parties(c)
			}
			persons++
		case unauthCellRE.MatchString(c):
			rec.Unauthorized = c
		case digitsCellRE.MatchString(c) && rec.ServiceCode == "":
			rec.ServiceCode = c
		default:
			rec.Notes = joinNonEmpty(rec.Notes, c)
		}
	}
	var reg, mod string
	if len(dates) > 0 {
		reg = dates[0]
	}
	if len(dates) > 1 {
		mod = dates[1]
	}
	if d, ok := setCommon(&rec, port, proto, reg, mod, nil); !ok {
		return rec, &d
	}
	return rec, nil
}

// isStructuredCell reports whether a cell is one of the columns with a
// recognisable shape (so it cannot be a description).
func isStructuredCell(c string) bool {
	return dateCellRE.MatchString(c) || bracketCellRE.MatchString(c) || unauthCellRE.MatchString(c)
}

func allDocRefs(items []string) bool {
	for _, it := range items {
		if !docRefRE.MatchString(it) {
			return false
		}
	}
	return len(items) > 0
}
