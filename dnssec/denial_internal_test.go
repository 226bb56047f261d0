package dnssec

import (
	"bytes"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// label63 is a label of maximum length.
var label63 = strings.Repeat("a", 63)

// longName returns a name below origin whose wire form is exactly n
// octets, with first as its first label.
func longName(t testing.TB, first string, n int) string {
	t.Helper()
	name := first + ".ports.local."
	w, err := nameWire(name)
	if err != nil {
		t.Fatal(err)
	}
	for rest := n - len(w); rest > 0; {
		l := min(rest-1, 63)
		if l < 1 {
			t.Fatalf("cannot pad %s to %d octets", name, n)
		}
		if rest-(l+1) == 1 { // a 1-octet remainder cannot be a label
			l--
		}
		lbl := strings.Repeat("b", l)
		name = first + "." + lbl + strings.TrimPrefix(name, first)
		rest -= l + 1
	}
	if w, _ := nameWire(name); len(w) != n {
		t.Fatalf("built %s of %d octets, want %d", name, len(w), n)
	}
	return name
}

// TestSuccessor follows RFC 4471 §3.1.2 step by step, and checks that
// each successor sorts after its name and is a valid name.
func TestSuccessor(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"step 1: prepend \\000", "nx.ports.local.", `\000.nx.ports.local.`},
		{"step 1 at the apex", "ports.local.", `\000.ports.local.`},
		{"step 1 escaped label", `_z39\.50._tcp.ports.local.`, `\000._z39\.50._tcp.ports.local.`},
	}
	// 254 octets: no room for a label, room for an octet in the first.
	n254 := longName(t, "abc", 254)
	cases = append(cases, struct{ name, in, want string }{"step 2: lengthen the first label", n254, "abc\\000" + strings.TrimPrefix(n254, "abc")})
	// 255 octets: increment the last octet of the first label.
	n255 := longName(t, "abc", 255)
	cases = append(cases, struct{ name, in, want string }{"step 3: increment", n255, "abd" + strings.TrimPrefix(n255, "abc")})
	// '@' + 1 is 'A', an upper-case letter that sorts as 'a': skip to '['.
	at255 := longName(t, `ab\@`, 255)
	cases = append(cases, struct{ name, in, want string }{"step 3: skip upper case", at255, `ab[` + strings.TrimPrefix(at255, `ab\@`)})
	// A first label of 0xff octets: drop it and lengthen the next.
	ff := strings.Repeat(`\255`, 3)
	ff255 := longName(t, ff, 255)
	_, parent, _ := strings.Cut(strings.TrimPrefix(ff255, ff+"."), ".")
	first, _, _ := strings.Cut(strings.TrimPrefix(ff255, ff+"."), ".")
	cases = append(cases, struct{ name, in, want string }{"step 4: drop a label of 0xff", ff255, first + `\000.` + parent})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Successor(tc.in)
			if got != tc.want {
				t.Fatalf("Successor(%s)\n = %s\nwant %s", tc.in, got, tc.want)
			}
			checkAfter(t, tc.in, got)
		})
	}
}

func checkAfter(t testing.TB, name, next string) {
	t.Helper()
	a, err := nameWire(name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := nameWire(next)
	if err != nil {
		t.Fatalf("successor %q is not a name: %v", next, err)
	}
	if compareNames(a, b) >= 0 {
		t.Errorf("successor %s does not sort after %s", next, name)
	}
}

// FuzzSuccessor: for any name, the successor is a valid name that sorts
// after it and is lower case where the name was.
func FuzzSuccessor(f *testing.F) {
	f.Add([]byte("nx.ports.local."))
	f.Add([]byte(longName(f, "abc", 255)))
	f.Add([]byte(longName(f, strings.Repeat(`\255`, 63), 255)))
	f.Fuzz(func(t *testing.T, in []byte) {
		name := strings.ToLower(string(in))
		if _, ok := dns.IsDomainName(name); !ok {
			return
		}
		w, err := nameWire(name)
		if err != nil || len(w) > maxName {
			return
		}
		if len(labelOffsets(w)) < 3 { // keep above the origin's depth
			return
		}
		next := Successor(name)
		checkAfter(t, name, next)
		if bytes.Contains([]byte(next), []byte("A")) && !bytes.Contains(in, []byte("A")) {
			t.Errorf("upper case in %s", next)
		}
	})
}

// TestCompareNames: canonical order of RFC 4034 §6.1, with its example.
func TestCompareNames(t *testing.T) {
	ordered := []string{"example.", "a.example.", "yljkjljk.a.example.", `Z.a.example.`, `zABC.a.EXAMPLE.`, "z.example.", `\001.z.example.`, `*.z.example.`, `\200.z.example.`}
	for i := 1; i < len(ordered); i++ {
		a, _ := nameWire(ordered[i-1])
		b, _ := nameWire(ordered[i])
		if compareNames(a, b) >= 0 || compareNames(b, a) <= 0 {
			t.Errorf("%s should sort before %s", ordered[i-1], ordered[i])
		}
	}
}

// TestCompactNSEC: the record RFC 9824 describes, for each case.
func TestCompactNSEC(t *testing.T) {
	cases := []struct {
		name   string
		owner  string
		types  []uint16
		nx     bool
		bitmap []uint16
	}{
		{"nxdomain", "NX.Ports.Local.", nil, true, []uint16{dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNXNAME}},
		{"nodata", "_rets._tcp.ports.local.", []uint16{dns.TypeTXT, dns.TypeSRV, dns.TypePTR}, false, []uint16{dns.TypePTR, dns.TypeTXT, dns.TypeSRV, dns.TypeRRSIG, dns.TypeNSEC}},
		{"empty non-terminal", "_tcp.ports.local.", nil, false, []uint16{dns.TypeRRSIG, dns.TypeNSEC}},
	}
	for _, tc := range cases {
		n := CompactNSEC(tc.owner, tc.types, tc.nx, 300)
		if n.Hdr.Name != strings.ToLower(tc.owner) || n.NextDomain != `\000.`+strings.ToLower(tc.owner) || n.Hdr.Ttl != 300 {
			t.Errorf("%s: %v", tc.name, n)
		}
		if !equalTypes(n.TypeBitMap, tc.bitmap) {
			t.Errorf("%s: bitmap %v, want %v", tc.name, n.TypeBitMap, tc.bitmap)
		}
	}
}

func equalTypes(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
