package registry

import (
	"errors"
	"fmt"
)

// Rule names one syntax rule of RFC 6335 §5.1 for service names.
type Rule uint8

// The RFC 6335 §5.1 rules, in the order the validator checks them.
const (
	RuleOK           Rule = iota
	RuleLength            // 1 to 15 characters
	RuleCharset           // only A-Z, a-z, 0-9 and '-'
	RuleLetter            // at least one letter
	RuleHyphenEdge        // no '-' at the start or end
	RuleDoubleHyphen      // no two '-' in a row
)

// String is the rule as a short sentence, used in diagnostics and in
// Extended DNS Error text.
func (r Rule) String() string {
	switch r {
	case RuleOK:
		return "valid"
	case RuleLength:
		return "must be 1 to 15 characters"
	case RuleCharset:
		return "may contain only A-Z, a-z, 0-9 and hyphen"
	case RuleLetter:
		return "must contain at least one letter"
	case RuleHyphenEdge:
		return "must not begin or end with a hyphen"
	case RuleDoubleHyphen:
		return "must not contain two adjacent hyphens"
	}
	return fmt.Sprintf("rule(%d)", uint8(r))
}

// ErrInvalidName is matched by every *NameError (errors.Is).
var ErrInvalidName = errors.New("invalid service name")

// NameError says which RFC 6335 §5.1 rule a service name breaks.
type NameError struct {
	Name string
	Rule Rule
	// Pos is the 0-based byte offset of the offending character, or -1
	// where the rule is about the name as a whole.
	Pos int
}

func (e *NameError) Error() string {
	if e.Pos >= 0 {
		return fmt.Sprintf("service name %q: RFC 6335 §5.1: %s (offset %d)", e.Name, e.Rule, e.Pos)
	}
	return fmt.Sprintf("service name %q: RFC 6335 §5.1: %s", e.Name, e.Rule)
}

// Is makes errors.Is(err, ErrInvalidName) true.
func (e *NameError) Is(target error) bool { return target == ErrInvalidName }

// CheckName returns the first RFC 6335 §5.1 rule that name breaks, and the
// offset of the offending byte (-1 for whole-name rules). It does not
// allocate, so the query path can call it.
func CheckName(name string) (Rule, int) {
	if len(name) < 1 || len(name) > 15 {
		return RuleLength, -1
	}
	letter := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			letter = true
		case c >= '0' && c <= '9', c == '-':
		default:
			return RuleCharset, i
		}
	}
	if !letter {
		return RuleLetter, -1
	}
	if name[0] == '-' {
		return RuleHyphenEdge, 0
	}
	if name[len(name)-1] == '-' {
		return RuleHyphenEdge, len(name) - 1
	}
	for i := 1; i < len(name); i++ {
		if name[i] == '-' && name[i-1] == '-' {
			return RuleDoubleHyphen, i
		}
	}
	return RuleOK, -1
}

// ValidateName checks name against RFC 6335 §5.1 and returns a *NameError
// naming the broken rule, or nil. Case does not matter.
func ValidateName(name string) error {
	if r, pos := CheckName(name); r != RuleOK {
		return &NameError{Name: name, Rule: r, Pos: pos}
	}
	return nil
}
