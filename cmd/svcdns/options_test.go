package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/config"
)

func TestMirror(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"ns1.ports.local.", "ns1.ports.home.arpa."},
		{"ports.local.", "ports.home.arpa."},
		{"hostmaster.ports.local.", "hostmaster.ports.home.arpa."},
		{"rets1.example.net.", "rets1.example.net."},
		{"xports.local.", "xports.local."},
		{".", "."},
	} {
		if got := mirror(tc.name, "ports.local.", "ports.home.arpa."); got != tc.want {
			t.Errorf("mirror(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// Each origin gets its own zone: names inside the primary origin are
// mirrored into it, names outside stay, the content is the same.
func TestBuildZonesSeveralOrigins(t *testing.T) {
	path := filepath.Join(t.TempDir(), "svcdns.yaml")
	os.WriteFile(path, []byte(`origins: [ports.home.arpa.]
target: {name: svc.ports.local., addresses: [192.0.2.5]}
services:
  rets/tcp:
    - host: rets1.example.net.
    - host: backup.ports.local.
      addresses: [192.0.2.6]
`), 0o600)
	cfg, err := config.Load(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := buildZones(cfg, nil, &zoneSigning{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 || snaps[0].Origin() != "ports.local." || snaps[1].Origin() != "ports.home.arpa." {
		t.Fatalf("zones %v", snaps)
	}
	home := snaps[1]
	rrs := func(name string, qtype uint16) []string {
		var out []string
		for _, rr := range home.Lookup(name, qtype).Answer {
			out = append(out, strings.TrimPrefix(rr.String(), rr.Header().String()))
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  []string
	}{
		{"ports.home.arpa.", dns.TypeNS, []string{"ns1.ports.home.arpa."}},
		{"_rets._tcp.ports.home.arpa.", dns.TypeSRV, []string{"0 0 6103 backup.ports.home.arpa.", "0 0 6103 rets1.example.net."}},
		{"_geneve._udp.ports.home.arpa.", dns.TypeSRV, []string{"0 0 6081 svc.ports.home.arpa."}},
		{"backup.ports.home.arpa.", dns.TypeA, []string{"192.0.2.6"}},
		{"svc.ports.home.arpa.", dns.TypeA, []string{"192.0.2.5"}},
	} {
		if got := rrs(tc.name, tc.qtype); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s = %q, want %q", tc.name, dns.TypeToString[tc.qtype], got, tc.want)
		}
	}
	if soa := home.SOA(); soa.Ns != "ns1.ports.home.arpa." || soa.Mbox != "hostmaster.ports.home.arpa." {
		t.Errorf("SOA %v", soa)
	}
	if snaps[0].Records() != home.Records() {
		t.Errorf("%d records under ports.local., %d under ports.home.arpa.: not the same content", snaps[0].Records(), home.Records())
	}
}
