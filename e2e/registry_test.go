package e2e_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/svcdns/svcdns/internal/testenv"
	"github.com/svcdns/svcdns/registry"
)

var fullReg struct {
	once sync.Once
	reg  *registry.Registry
	err  error
}

// fullRegistry parses the full XML registry once per test binary: the
// expectations of the full-registry tests come from the registry itself,
// not from the zone code under test.
func fullRegistry(t testing.TB) (*registry.Registry, string) {
	t.Helper()
	path := testenv.FullXML(t)
	fullReg.once.Do(func() { fullReg.reg, fullReg.err = registry.ParseFile(path) })
	if fullReg.err != nil {
		t.Fatalf("parse %s: %v", path, fullReg.err)
	}
	return fullReg.reg, path
}

// validPairs is the registry's set of valid name+protocol pairs that the
// zone serves, as zone/zone_test.go defines it: assigned rows with a
// protocol and an RFC 6335 name. The value is the set of ports registered
// for the pair (empty when none is).
func validPairs(reg *registry.Registry) map[registry.Key]map[uint16]bool {
	out := map[registry.Key]map[uint16]bool{}
	for i := range reg.Records {
		r := &reg.Records[i]
		if r.Status != registry.Assigned || r.Proto == registry.ProtoNone || registry.ValidateName(r.Name) != nil {
			continue
		}
		ports := out[r.Key()]
		if ports == nil {
			ports = map[uint16]bool{}
			out[r.Key()] = ports
		}
		if r.HasPort {
			for p := int(r.Ports.Lo); p <= int(r.Ports.Hi); p++ {
				ports[uint16(p)] = true
			}
		}
	}
	return out
}

// serviceOwner is _NAME._PROTO.ports.local. in presentation format, the
// name written here rather than taken from the zone package.
func serviceOwner(name string, p registry.Protocol) string {
	return "_" + escapeLabel(strings.ToLower(name)) + "._" + p.String() + "." + origin
}

// escapeLabel writes one label in RFC 1035 §5.1 presentation format.
func escapeLabel(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case strings.IndexByte(`.\"();@$ `, c) >= 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < '!' || c > '~':
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func sortedPorts(set map[uint16]bool) []uint16 { return slices.Sorted(maps.Keys(set)) }
