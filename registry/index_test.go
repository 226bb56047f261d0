package registry_test

import (
	"slices"
	"testing"

	"github.com/svcdns/svcdns/internal/testenv"
	"github.com/svcdns/svcdns/registry"
)

func namesAt(r *registry.Registry, port uint16, p registry.Protocol) []string {
	var out []string
	for _, i := range r.ByPort(port, p) {
		rec := r.Record(i)
		out = append(out, rec.Status.String()+":"+rec.Name)
	}
	return out
}

func TestByPortExcerpt(t *testing.T) {
	r := parseFile(t, testenv.Excerpt())
	tests := []struct {
		port  uint16
		proto registry.Protocol
		want  []string
	}{
		{6081, registry.UDP, []string{"assigned:geneve"}},
		{6081, registry.TCP, []string{"reserved:"}},
		{6078, registry.TCP, []string{"unassigned:"}}, // range without protocol
		{6079, registry.UDP, []string{"unassigned:"}},
		{6088, registry.TCP, []string{"assigned:doglms"}},
		{6088, registry.UDP, []string{"assigned:doglms-notify"}},
		{6301, registry.TCP, []string{"assigned:bmc-ctd-ldap", "alias:bmc_ctd_ldap"}},
		{6400, registry.SCTP, []string{"assigned:boe-cms"}}, // row without protocol
		{6111, registry.TCP, nil},                           // not in the excerpt
		{0, registry.TCP, nil},
		{65535, registry.DCCP, nil},
	}
	for _, tt := range tests {
		if got := namesAt(r, tt.port, tt.proto); !slices.Equal(got, tt.want) {
			t.Errorf("ByPort(%d, %v) = %q, want %q", tt.port, tt.proto, got, tt.want)
		}
	}
}

func TestByPortFullRegistry(t *testing.T) {
	r := parseFile(t, testenv.FullXML(t))
	for p := uint16(6000); p <= 6063; p++ {
		if got := namesAt(r, p, registry.TCP); !slices.Contains(got, "assigned:x11") {
			t.Errorf("%d/tcp = %q, want x11 among them", p, got)
		}
	}
	// Cross-check the segment index against a plain scan for every port.
	for _, proto := range registry.Protocols {
		want := make([][]int32, 65536)
		for i := range r.Records {
			rec := &r.Records[i]
			if rec.HasPort && (rec.Proto == proto || rec.Proto == registry.ProtoNone) {
				for p := int(rec.Ports.Lo); p <= int(rec.Ports.Hi); p++ {
					want[p] = append(want[p], int32(i))
				}
			}
		}
		for p := 0; p < 65536; p++ {
			if got := r.ByPort(uint16(p), proto); !slices.Equal(got, want[p]) {
				t.Fatalf("ByPort(%d, %v) = %v, want %v", p, proto, got, want[p])
			}
		}
	}
	max := 0
	for p := 0; p < 65536; p++ {
		max = maxInt(max, len(r.ByPort(uint16(p), registry.TCP)))
	}
	if max < 3 {
		t.Errorf("most names on one tcp port = %d, want the registry's 3", max)
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func TestByPortDoesNotAllocate(t *testing.T) {
	r := parseFile(t, testenv.Excerpt())
	if n := testing.AllocsPerRun(100, func() { r.ByPort(6301, registry.TCP) }); n != 0 {
		t.Errorf("ByPort allocates %v times", n)
	}
}
