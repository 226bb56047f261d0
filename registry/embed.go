package registry

import (
	_ "embed"
	"fmt"
)

// defaultSource is the registry excerpt the product was specified from
// (a copy of testdata/iana-ports-excerpt.txt; a test keeps them equal), so
// the binary serves something with no file on a fresh machine.
//
//go:embed default-registry.txt
var defaultSource []byte

// DefaultName names the embedded registry in messages.
const DefaultName = "embedded:iana-ports-excerpt.txt"

// DefaultSource returns a copy of the embedded registry's bytes.
func DefaultSource() []byte { return append([]byte(nil), defaultSource...) }

// Default parses the embedded registry.
func Default() (*Registry, error) {
	r, err := Parse(DefaultName, defaultSource)
	if err != nil {
		return nil, fmt.Errorf("embedded default: %w", err)
	}
	return r, nil
}
