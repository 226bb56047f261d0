package zone

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/registry"
)

// escapeLabel writes s as one label in presentation format (RFC 1035
// §5.1): special characters behind a backslash, others as \DDD.
func escapeLabel(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2) // room for an escape or two without growing
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' || c == ' ' || c == '@' || c == '$':
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

// canonical returns name in the exact presentation form miekg/dns gives a
// name read off the wire, lower-cased, so that zone keys and query names
// compare as strings.
func canonical(name string) (string, error) {
	p, err := presentation(name)
	return strings.ToLower(p), err
}

// presentation returns name as miekg/dns renders it off the wire, case kept.
func presentation(name string) (string, error) {
	buf := make([]byte, 256)
	off, err := dns.PackDomainName(dns.Fqdn(name), buf, 0, nil, false)
	if err != nil {
		return "", fmt.Errorf("name %q: %w", name, err)
	}
	out, _, err := dns.UnpackDomainName(buf[:off], 0)
	if err != nil {
		return "", fmt.Errorf("name %q: %w", name, err)
	}
	return out, nil
}

// protoLabel is the RFC 6763 §7 / RFC 2782 protocol label, "_tcp".
func protoLabel(p registry.Protocol) string { return "_" + p.String() }

// ServiceOwner is the owner name of a service's SRV and TXT records:
// _NAME._PROTO.ORIGIN, with NAME lower-cased and escaped ("_z39\.50._tcp").
func ServiceOwner(name string, p registry.Protocol, origin string) (string, error) {
	if plainLabel(name) && len(name) < 63 && len(name)+len(origin)+8 < 250 && plainName(origin) {
		// The common case, an RFC 6335 name under a plain origin: the
		// name is already canonical, without packing it to find out.
		return "_" + name + "." + protoLabel(p) + "." + origin, nil
	}
	return canonical("_" + escapeLabel(strings.ToLower(name)) + "." + protoLabel(p) + "." + origin)
}

// plainName reports whether name is fully qualified and made of labels of
// lower-case letters, digits, hyphens and underscores of at most 63 bytes,
// which is its canonical form.
func plainName(name string) bool {
	if len(name) < 2 || name[len(name)-1] != '.' {
		return false
	}
	l := 0
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '.':
			if l == 0 {
				return false
			}
			l = 0
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_':
			if l++; l > 63 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// plainLabel reports whether s is lower-case letters, digits and hyphens.
func plainLabel(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return s != ""
}

// labelLen is the length in bytes of a presentation-format label.
func labelLen(l string) int {
	n := 0
	for i := 0; i < len(l); i++ {
		if l[i] == '\\' && i+1 < len(l) {
			if i+3 < len(l) && isDigit(l[i+1]) && isDigit(l[i+2]) && isDigit(l[i+3]) {
				i += 3
			} else {
				i++
			}
		}
		n++
	}
	return n
}

// unescapeLabel turns a presentation-format label back into its bytes.
func unescapeLabel(l string) string {
	if strings.IndexByte(l, '\\') < 0 {
		return l
	}
	var b strings.Builder
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c != '\\' || i+1 >= len(l) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(l) && isDigit(l[i+1]) && isDigit(l[i+2]) && isDigit(l[i+3]) {
			b.WriteByte((l[i+1]-'0')*100 + (l[i+2]-'0')*10 + (l[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(l[i+1])
		i++
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// splitFirst splits "a.b.c." into "a" and "b.c.", honouring escaped dots.
func splitFirst(name string) (label, rest string) {
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '\\':
			i++
		case '.':
			return name[:i], name[i+1:]
		}
	}
	return name, ""
}

// isSubdomain reports whether name (lower-case, FQDN) is origin or below it.
func isSubdomain(name, origin string) bool {
	if len(name) < len(origin) || !strings.HasSuffix(name, origin) {
		return false
	}
	if len(name) == len(origin) {
		return true
	}
	// The byte before the origin must end a label, and not be escaped.
	i := len(name) - len(origin) - 1
	if name[i] != '.' {
		return false
	}
	bs := 0
	for j := i - 1; j >= 0 && name[j] == '\\'; j-- {
		bs++
	}
	return bs%2 == 0
}
