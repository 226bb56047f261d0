package resolver

import "testing"

// TestKindOf reads the kind of reply that metrics and the query log show
// from a packed header.
func TestKindOf(t *testing.T) {
	hdr := func(flags2, flags3 byte, ancount uint16) []byte {
		return []byte{0, 1, 0x80 | flags2, flags3, 0, 1, byte(ancount >> 8), byte(ancount), 0, 0, 0, 0}
	}
	for _, tc := range []struct {
		name string
		resp []byte
		want string
	}{
		{"answer", hdr(0x04, 0, 2), "answer"},
		{"nodata", hdr(0x04, 0, 0), "nodata"},
		{"empty with TC", hdr(0x04|0x02, 0, 0), "truncated"},
		{"nxdomain", hdr(0x04, 3, 0), "nxdomain"},
		{"refused", hdr(0, 5, 0), "refused"},
		{"nothing sent", nil, "dropped"},
	} {
		if got := statKinds[kindOf(tc.resp)]; got != tc.want {
			t.Errorf("%s: kind %q, want %q", tc.name, got, tc.want)
		}
	}
}
