package e2e_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestParseReply checks the harness's reader of client output on what
// dig 9.18, kdig 3.2 and drill 1.8 printed for svcdns (testdata), so that
// a test cannot pass because the parser saw nothing.
func TestParseReply(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file                    string
		rcode                   string
		flags                   []string
		question                string
		answer, authority, addl int // records, OPT not counted
		ede                     bool
	}{
		{"dig-nxdomain-ede.txt", "NXDOMAIN", []string{"qr", "aa", "rd"}, "_bad_name._tcp.ports.local.", 0, 1, 0, true},
		{"kdig-alias.txt", "NOERROR", []string{"qr", "aa", "rd"}, "_bmc_ctd_ldap._tcp.ports.local.", 2, 0, 1, false},
		{"drill-nxdomain-ede.txt", "NXDOMAIN", []string{"qr", "aa", "rd"}, "_bad_name._tcp.ports.local.", 0, 1, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			out, err := os.ReadFile(filepath.Join("testdata", "TestParseReply", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			r, err := parseReply(string(out))
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != tc.rcode {
				t.Errorf("rcode %q, want %q", r.Rcode, tc.rcode)
			}
			if len(r.Flags) != len(tc.flags) {
				t.Errorf("flags %v, want %v", r.Flags, tc.flags)
			}
			for _, f := range tc.flags {
				if !r.Flags[f] {
					t.Errorf("flags %v, want %v", r.Flags, tc.flags)
				}
			}
			if len(r.Question) != 1 || r.Question[0] != tc.question {
				t.Errorf("question %q, want %q", r.Question, tc.question)
			}
			if len(r.Answer) != tc.answer || len(r.Authority) != tc.authority || len(r.Additional) != tc.addl {
				t.Errorf("sections %d/%d/%d, want %d/%d/%d", len(r.Answer), len(r.Authority), len(r.Additional), tc.answer, tc.authority, tc.addl)
			}
			if tc.authority == 1 {
				if soa, ok := r.Authority[0].(*dns.SOA); !ok || soa.Serial != 2025103000 {
					t.Errorf("authority %v, want the SOA with serial 2025103000", r.Authority[0])
				}
			}
			if got := len(r.EDE) == 1 && strings.Contains(r.EDE[0], "RFC 6335"); got != tc.ede {
				t.Errorf("EDE %q, want one citing RFC 6335: %v", r.EDE, tc.ede)
			}
		})
	}
	t.Run("garbage", func(t *testing.T) {
		if _, err := parseReply(";; connection timed out; no servers could be reached\n"); err == nil {
			t.Error("no error for output without a message")
		}
		bad := ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\n;; ANSWER SECTION:\nnot a record\n"
		if _, err := parseReply(bad); err == nil {
			t.Error("no error for a line that is not a record")
		}
	})
}
