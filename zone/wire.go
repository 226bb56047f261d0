package zone

import (
	"fmt"

	"github.com/miekg/dns"
)

// Names in the compiled zone are kept in uncompressed wire form (RFC 1035
// §3.1): a length byte and the bytes of each label, then a zero byte. A
// label's bytes need no escaping there, so "_z39.50._tcp" is the labels
// "_z39.50" and "_tcp".

// wireName returns name, in presentation format, in wire form with its case
// kept; a name that is not fully qualified is taken as one.
func wireName(name string) (string, error) {
	var buf [256]byte
	if w, ok := plainWire(buf[:0], name); ok {
		return string(w), nil
	}
	n, err := dns.PackDomainName(dns.Fqdn(name), buf[:], 0, nil, false)
	if err != nil {
		return "", fmt.Errorf("name %q: %w", name, err)
	}
	return string(buf[:n]), nil
}

// plainWire converts the common name, fully qualified and without
// escapes, with no label empty or over 63 bytes and 255 bytes in all, as
// PackDomainName would; ok is false for any other, which PackDomainName
// then converts (or refuses).
func plainWire(b []byte, name string) (w []byte, ok bool) {
	if name == "." {
		return append(b, 0), true
	}
	if len(name) < 2 || len(name) > 254 || name[len(name)-1] != '.' {
		return nil, false
	}
	start := 0
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '\\':
			return nil, false
		case '.':
			l := i - start
			if l == 0 || l > 63 {
				return nil, false
			}
			b = append(append(b, byte(l)), name[start:i]...)
			start = i + 1
		}
	}
	return append(b, 0), true
}

// presentationName renders a wire name exactly as miekg/dns renders a name
// read off the wire.
func presentationName(w string) string {
	s, _, err := dns.UnpackDomainName([]byte(w), 0)
	if err != nil {
		return "."
	}
	return s
}

// lowerByte folds ASCII upper case; label length bytes (at most 63) are
// below 'A', so a whole wire name can be folded byte by byte.
func lowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// lowerWire returns w with ASCII letters lower-cased, as DNS compares names
// (RFC 4343).
func lowerWire(w string) string {
	for i := 0; i < len(w); i++ {
		if c := w[i]; c >= 'A' && c <= 'Z' {
			b := []byte(w)
			for j := i; j < len(b); j++ {
				b[j] = lowerByte(b[j])
			}
			return string(b)
		}
	}
	return w
}

// nameLen is the length of the uncompressed wire name at the start of w.
func nameLen(w string) int {
	i := 0
	for i < len(w) && w[i] != 0 {
		i += 1 + int(w[i])
	}
	return i + 1
}

// hasSuffixName reports whether the wire name name ends with the wire name
// suffix at a label boundary, that is, is suffix or a name below it. Both
// are lower case.
func hasSuffixName[S ~string | ~[]byte](name S, suffix string) bool {
	if len(name) < len(suffix) {
		return false
	}
	cut := len(name) - len(suffix)
	i := 0
	for i < cut {
		i += 1 + int(name[i])
	}
	return i == cut && string(name[cut:]) == suffix
}

// parentName strips the first label of a wire name; the root has none.
func parentName(w string) string {
	if len(w) <= 1 {
		return w
	}
	return w[1+int(w[0]):]
}

// labelOf returns the bytes of the first label of a wire name.
func labelOf[S ~string | ~[]byte](w S) S { return w[1 : 1+int(w[0])] }
