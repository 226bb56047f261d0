package zone

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestStrictName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`Flight\ &\ Flow._ff-ice._sctp.ports.local.`, `Flight\032\038\032Flow._ff-ice._sctp.ports.local.`},
		{`_z39\.50._tcp.ports.local.`, `_z39\04650._tcp.ports.local.`},
		{`_sql*net._tcp.ports.local.`, `_sql\042net._tcp.ports.local.`},
		{`caf\195\169.x.`, `caf\195\169.x.`},
		{".", "."},
	} {
		if got := strictName(tc.in); got != tc.want {
			t.Errorf("strictName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzWireName checks the fast path of wireName against miekg/dns's
// PackDomainName: where plainWire takes a name, both give the same bytes.
func FuzzWireName(f *testing.F) {
	for _, s := range []string{"ports.local.", ".", "a..b.", `_z39\.50._tcp.ports.local.`, "Flight & Flow._ff-ice._sctp.ports.local.",
		"x", strings.Repeat("a", 63) + ".", strings.Repeat("a", 64) + "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		w, ok := plainWire(nil, name)
		if !ok {
			return
		}
		buf := make([]byte, 256)
		n, err := dns.PackDomainName(name, buf, 0, nil, false)
		if err != nil || string(buf[:n]) != string(w) {
			t.Fatalf("%q: plainWire % x, PackDomainName % x (%v)", name, w, buf[:n], err)
		}
	})
}
