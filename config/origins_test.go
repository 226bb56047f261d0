package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestOriginsAndMDNS(t *testing.T) {
	for _, tc := range []struct {
		name       string
		file       string
		env, args  []string
		origins    []string // AllOrigins
		interfaces []string
	}{
		{name: "default: one origin, no mdns", origins: []string{"ports.local."}},
		{name: "file", file: "origins: [Ports.Home.Arpa]\nmdns:\n  interfaces: [eth0, wlan0]\n",
			origins: []string{"ports.local.", "ports.home.arpa."}, interfaces: []string{"eth0", "wlan0"}},
		{name: "origin listed again changes nothing", file: "origins: [ports.local., ports.home.arpa.]\n",
			origins: []string{"ports.local.", "ports.home.arpa."}},
		{name: "env", env: []string{"SVCDNS_ORIGINS=ports.home.arpa,example.test", "SVCDNS_MDNS_INTERFACES=veth0"},
			origins: []string{"ports.local.", "ports.home.arpa.", "example.test."}, interfaces: []string{"veth0"}},
		{name: "flags", args: []string{"--origins=ports.home.arpa.", "--mdns-interfaces=eth1"},
			origins: []string{"ports.local.", "ports.home.arpa."}, interfaces: []string{"eth1"}},
		{name: "mdns with the .local origin among origins", args: []string{"--origin=ports.home.arpa.", "--origins=ports.local.", "--mdns-interfaces=eth0"},
			origins: []string{"ports.home.arpa.", "ports.local."}, interfaces: []string{"eth0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, "svcdns.yaml", tc.file)
			}
			c := mustLoad(t, path, tc.env, parsedFlags(t, tc.args...))
			if got := c.AllOrigins(); !slices.Equal(got, tc.origins) {
				t.Errorf("AllOrigins %q, want %q", got, tc.origins)
			}
			if !slices.Equal(c.MDNS.Interfaces, tc.interfaces) {
				t.Errorf("mdns.interfaces %q, want %q", c.MDNS.Interfaces, tc.interfaces)
			}
		})
	}
}

func TestOriginsAndMDNSBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		args []string
		want string
	}{
		{"nested in origin", "origins: [a.ports.local.]\n", nil, `origins[0] "a.ports.local.": overlaps ports.local.: origins must not be nested`},
		{"origin nested in it", "origins: [local.]\n", nil, `origins[0] "local.": overlaps ports.local.`},
		{"twice", "origins: [ports.home.arpa., Ports.Home.Arpa]\n", nil, `origins[1] "ports.home.arpa.": listed twice`},
		{"root", "origins: [.]\n", nil, `origins[0] ".": must not be the root`},
		{"bad label", "origins: [-x.example.]\n", nil, `origins[0] "-x.example."`},
		{"interface name", "mdns:\n  interfaces: [eth0, 'eth 1']\n", nil, `mdns.interfaces[1] "eth 1": not a network interface name`},
		{"interface too long", "mdns:\n  interfaces: [averyveryverylongifname]\n", nil, `mdns.interfaces[0] "averyveryverylongifname": not a network interface name`},
		{"interface twice", "mdns:\n  interfaces: [eth0, eth0]\n", nil, `mdns.interfaces[1] "eth0": listed twice`},
		{"mdns without a .local origin", "origin: ports.home.arpa.\nmdns:\n  interfaces: [eth0]\n", nil, `mdns.interfaces "eth0": multicast DNS answers names under .local`},
		{"flag", "", []string{"--origins=x.ports.local"}, `--origins: origins[0] "x.ports.local."`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, "svcdns.yaml", tc.file)
			}
			_, err := Load(path, nil, parsedFlags(t, tc.args...))
			if !errors.Is(err, ErrBadValue) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want ErrBadValue with %q", err, tc.want)
			}
		})
	}
}
