package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownKey is wrapped by every error about a key or SVCDNS_ environment
// variable that maps to no setting, usually a typo.
var ErrUnknownKey = errors.New("unknown key")

// ErrBadValue is wrapped by every error about a value that has the wrong type,
// is out of range, or does not parse.
var ErrBadValue = errors.New("bad value")

// fieldError is the one shape of every per-key error, so the messages read
// alike: config: SOURCE: KEY "VALUE": WHY.
type fieldError struct {
	kind   error  // ErrUnknownKey or ErrBadValue
	source string // file path, SVCDNS_ variable or --flag; "" for defaults and Validate
	key    string // path as mapstructure spells it: listen[0], services[rets/tcp][0].host
	value  string // offending value as text (unused for unknown keys)
	why    string // reason, or a suggestion for unknown keys
	what   string // noun for unknown keys; "" means "key"
}

func (e *fieldError) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.source != "" {
		b.WriteString(e.source)
		b.WriteString(": ")
	}
	if e.kind == ErrUnknownKey {
		what := e.what
		if what == "" {
			what = "key"
		}
		fmt.Fprintf(&b, "unknown %s %q", what, e.key)
		if e.why != "" {
			b.WriteString(" (" + e.why + ")")
		}
		return b.String()
	}
	fmt.Fprintf(&b, "%s %q: %s", e.key, e.value, e.why)
	return b.String()
}

func (e *fieldError) Unwrap() error { return e.kind }

func badValue(key string, value any, format string, args ...any) *fieldError {
	return &fieldError{kind: ErrBadValue, key: key, value: valueText(value), why: fmt.Sprintf(format, args...)}
}

func valueText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// joinErrors reports every problem at once, so a user fixes a file in one
// round; errors.Is still finds the sentinels through the join.
func joinErrors(list []*fieldError) error {
	if len(list) == 0 {
		return nil
	}
	errs := make([]error, len(list))
	for i, e := range list {
		errs[i] = e
	}
	return errors.Join(errs...)
}
