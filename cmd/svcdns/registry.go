package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/svcdns/svcdns/registry"
)

func newRegistryCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "registry", Short: "Inspect registry files"}
	var asJSON bool
	check := &cobra.Command{
		Use:   "check [FILE|-]",
		Short: "Parse a registry (CSV, XML or text table) and print counts and diagnostics",
		Long: "check parses FILE (- reads standard input; no FILE: the embedded default), detects its\n" +
			"format by content, and prints counts and every diagnostic with its line. It exits 0 when\n" +
			"the source parsed (warnings allowed) and 1 otherwise. --json prints the same fields as\n" +
			"one JSON object, every count included, zeros too.",
		Example: "  svcdns registry check service-names-port-numbers.xml\n" +
			"  curl -s https://www.iana.org/assignments/service-names-port-numbers/service-names-port-numbers.csv | svcdns registry check -",
		Args: positional(nil, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			source, data := registry.DefaultName, registry.DefaultSource()
			if len(args) == 1 {
				source = args[0]
				var err error
				if source == "-" {
					source = "<stdin>"
					data, err = io.ReadAll(cmd.InOrStdin())
				} else {
					data, err = os.ReadFile(source)
				}
				if err != nil {
					return &exitError{1, err}
				}
			}
			reg, err := registry.Parse(source, data)
			if reg == nil {
				return &exitError{1, err}
			}
			rep := newCheckReport(source, reg)
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if e := enc.Encode(rep); e != nil {
					return e
				}
			} else {
				rep.print(cmd.OutOrStdout())
			}
			if err != nil {
				var pe *registry.ParseError
				if errors.As(err, &pe) {
					return &exitError{1, fmt.Errorf("%s: %d row(s) could not be read", source, len(pe.Diags))}
				}
				return &exitError{1, err}
			}
			return nil
		},
	}
	check.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.AddCommand(check)
	cmd.AddCommand(newRegistryUpdateCmd())
	return cmd
}

type diagJSON struct {
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// checkReport is what `registry check` prints, as text or JSON.
type checkReport struct {
	Source      string         `json:"source"`
	Format      string         `json:"format"`
	Updated     string         `json:"updated,omitempty"`
	Records     int            `json:"records"`
	ByStatus    map[string]int `json:"by_status"`
	ByProtocol  map[string]int `json:"by_protocol"`
	Aliases     int            `json:"aliases"`
	AliasRows   int            `json:"alias_rows"`
	Invalid     []string       `json:"invalid"`
	Errors      int            `json:"errors"`
	Warnings    int            `json:"warnings"`
	Diagnostics []diagJSON     `json:"diagnostics"`
}

func newCheckReport(source string, reg *registry.Registry) *checkReport {
	rep := &checkReport{
		Source: source, Format: reg.Format.String(), Updated: reg.Updated.String(),
		Records: len(reg.Records),
		// Every status and protocol, zeros too: the JSON has the fields the
		// text has.
		ByStatus:   map[string]int{"assigned": 0, "reserved": 0, "unassigned": 0, "alias": 0},
		ByProtocol: map[string]int{"tcp": 0, "udp": 0, "sctp": 0, "dccp": 0, "none": 0},
		Aliases:    len(reg.AliasPairs()), Invalid: reg.Invalid(), Diagnostics: []diagJSON{},
	}
	if rep.Invalid == nil {
		rep.Invalid = []string{}
	}
	for i := range reg.Records {
		r := &reg.Records[i]
		rep.ByStatus[r.Status.String()]++
		p := r.Proto.String()
		if p == "" {
			p = "none"
		}
		rep.ByProtocol[p]++
		if r.Status == registry.Alias {
			rep.AliasRows++
		}
	}
	for _, d := range reg.Diagnostics {
		if d.Severity == registry.Error {
			rep.Errors++
		} else {
			rep.Warnings++
		}
		rep.Diagnostics = append(rep.Diagnostics, diagJSON{d.Line, d.Column, d.Severity.String(), d.Msg})
	}
	return rep
}

func (r *checkReport) print(w io.Writer) {
	fmt.Fprintf(w, "source:   %s\nformat:   %s\n", r.Source, r.Format)
	if r.Updated != "" {
		fmt.Fprintf(w, "updated:  %s\n", r.Updated)
	}
	fmt.Fprintf(w, "records:  %d\n", r.Records)
	fmt.Fprintf(w, "  by status:   assigned %d, reserved %d, unassigned %d, alias %d\n",
		r.ByStatus["assigned"], r.ByStatus["reserved"], r.ByStatus["unassigned"], r.ByStatus["alias"])
	fmt.Fprintf(w, "  by protocol: tcp %d, udp %d, sctp %d, dccp %d, none %d\n",
		r.ByProtocol["tcp"], r.ByProtocol["udp"], r.ByProtocol["sctp"], r.ByProtocol["dccp"], r.ByProtocol["none"])
	fmt.Fprintf(w, "alias pairs: %d (%d rows)\n", r.Aliases, r.AliasRows)
	fmt.Fprintf(w, "invalid names without replacement: %d", len(r.Invalid))
	if len(r.Invalid) > 0 {
		fmt.Fprintf(w, " (%s)", joinQuoted(r.Invalid))
	}
	fmt.Fprintf(w, "\ndiagnostics: %d error(s), %d warning(s)\n", r.Errors, r.Warnings)
	for _, d := range r.Diagnostics {
		loc := ""
		if d.Line > 0 {
			loc = fmt.Sprintf("%s:%d: ", r.Source, d.Line)
		}
		fmt.Fprintf(w, "  %s%s: %s\n", loc, d.Severity, d.Message)
	}
}

func joinQuoted(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%q", v)
	}
	return out
}
