package registry_test

import (
	"errors"
	"testing"

	"github.com/svcdns/svcdns/registry"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		rule registry.Rule
	}{
		// RFC 6335 §5.1: 1 to 15 characters.
		{"a", registry.RuleOK},
		{"abcdefghijklmno", registry.RuleOK}, // 15
		{"abcdefghijklmnop", registry.RuleLength},
		{"", registry.RuleLength},
		// Only A-Z, a-z, 0-9 and hyphen.
		{"bmc_ctd_ldap", registry.RuleCharset},
		{"sql*net", registry.RuleCharset},
		{"z39.50", registry.RuleCharset},
		{"914c/g", registry.RuleCharset},
		{"whois++", registry.RuleCharset},
		{"caf\u00e9", registry.RuleCharset},
		{"a b", registry.RuleCharset},
		// At least one letter.
		{"6081", registry.RuleLetter},
		{"1-2", registry.RuleLetter},
		{"x11", registry.RuleOK},
		{"3com-tsmux", registry.RuleOK},
		// No hyphen at either end.
		{"-geneve", registry.RuleHyphenEdge},
		{"geneve-", registry.RuleHyphenEdge},
		{"-", registry.RuleLetter},
		// No two hyphens in a row.
		{"bmc--ldap", registry.RuleDoubleHyphen},
		{"bmc-ctd-ldap", registry.RuleOK},
		// Case does not matter.
		{"GeNeVe", registry.RuleOK},
		{"EtherNet-IP-1", registry.RuleOK},
		{"EtherNet/IP-1", registry.RuleCharset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := registry.CheckName(tt.name)
			if got != tt.rule {
				t.Errorf("CheckName(%q) = %v, want %v", tt.name, got, tt.rule)
			}
			err := registry.ValidateName(tt.name)
			if (err == nil) != (tt.rule == registry.RuleOK) {
				t.Fatalf("ValidateName(%q) = %v", tt.name, err)
			}
			if err != nil {
				var ne *registry.NameError
				if !errors.As(err, &ne) || ne.Rule != tt.rule || !errors.Is(err, registry.ErrInvalidName) {
					t.Errorf("ValidateName(%q) = %#v, want NameError with rule %v", tt.name, err, tt.rule)
				}
			}
		})
	}
}

func TestCheckNameDoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() { registry.CheckName("bmc_ctd_ldap") })
	if allocs != 0 {
		t.Errorf("CheckName allocates %v times", allocs)
	}
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"geneve", "bmc_ctd_ldap", "-a", "a--b", "6081", "abcdefghijklmnop", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rule, pos := registry.CheckName(s)
		if rule == registry.RuleOK {
			if len(s) < 1 || len(s) > 15 || pos != -1 {
				t.Fatalf("%q accepted with length %d, pos %d", s, len(s), pos)
			}
			letter := false
			for i := 0; i < len(s); i++ {
				c := s[i] | 0x20
				if c >= 'a' && c <= 'z' {
					letter = true
				} else if !(s[i] >= '0' && s[i] <= '9') && s[i] != '-' {
					t.Fatalf("%q accepted with %q", s, s[i])
				}
			}
			if !letter || s[0] == '-' || s[len(s)-1] == '-' {
				t.Fatalf("%q accepted", s)
			}
			return
		}
		if pos >= len(s) {
			t.Fatalf("%q: pos %d out of range", s, pos)
		}
	})
}
