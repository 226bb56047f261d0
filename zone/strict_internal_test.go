package zone

import "testing"

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
