package zone_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/testenv"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/registry"
	"github.com/svcdns/svcdns/zone"
)

// TestCompareNames checks the canonical order of RFC 4034 §6.1 with the
// RFC's own example, which covers case, escapes and names below names.
func TestCompareNames(t *testing.T) {
	ordered := []string{
		"example.",
		"a.example.",
		"yljkjljk.a.example.",
		"Z.a.example.",
		"zABC.a.EXAMPLE.",
		"z.example.",
		`\001.z.example.`,
		"*.z.example.",
		`\200.z.example.`,
	}
	for i, a := range ordered {
		for j, b := range ordered {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := zone.CompareNames(a, b); got != want {
				t.Errorf("CompareNames(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"_1._tcp.ports.local.", "_10._tcp.ports.local.", -1},
		{"_9._tcp.ports.local.", "_10._tcp.ports.local.", 1},
		{"_80._tcp.ports.local.", "_http._tcp.ports.local.", -1},
		{"_80._udp.ports.local.", "_http._tcp.ports.local.", 1},
		{"x._80._tcp.ports.local.", "_80._tcp.ports.local.", 1},
		{`a\.b.ports.local.`, "a.b.ports.local.", -1}, // one label "a.b" before "b"
		{"RETS._rets._tcp.ports.local.", "rets._rets._tcp.ports.local.", 0},
		// Escaped and plain spellings of the same labels compare alike.
		{`\097.b.`, "a.b.", 0},
		{`\097.b.`, "a.c.", -1},
		{"b.a.", `\098.a.`, 0},
		{`x.\095tcp.`, "_tcp.", 1},
		{"a.", `a\.`, -1},
		{".", "a.", -1},
		{"a", "a.", 0},
	} {
		if got := zone.CompareNames(c.a, c.b); got != c.want {
			t.Errorf("CompareNames(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// registeredPorts derives from the registry rows alone the ports that a
// registry row assigns or reserves, per protocol; a row without a
// protocol holds its ports on every one.
func registeredPorts(reg *registry.Registry) map[registry.Protocol]map[uint16]bool {
	out := map[registry.Protocol]map[uint16]bool{}
	for _, p := range registry.Protocols {
		out[p] = map[uint16]bool{}
	}
	for i := range reg.Records {
		r := &reg.Records[i]
		if !r.HasPort || (r.Name == "" && r.Status != registry.Reserved) {
			continue
		}
		for _, p := range registry.Protocols {
			if r.Proto != p && r.Proto != registry.ProtoNone {
				continue
			}
			for port := int(r.Ports.Lo); port <= int(r.Ports.Hi); port++ {
				out[p][uint16(port)] = true
			}
		}
	}
	return out
}

// isPortName reports whether name is _DIGITS._PROTO.ports.local.
func isPortName(name string) (port int, proto string, ok bool) {
	first, rest, _ := strings.Cut(name, ".")
	protoL, tail, _ := strings.Cut(rest, ".")
	if tail != zonetest.Origin || len(first) < 2 || first[0] != '_' {
		return 0, "", false
	}
	if _, err := fmt.Sscanf(first[1:], "%d", &port); err != nil || fmt.Sprint(port) != first[1:] {
		return 0, "", false
	}
	return port, strings.TrimPrefix(protoL, "_"), true
}

// TestAllAnswersAsLookup checks that what a secondary receives (All) is
// what the zone answers, name by name and type by type, in both port name
// modes: every name All yields answers each of its types with exactly
// those records, the port names are exactly the expected set, and a port
// name All leaves out does not exist.
func TestAllAnswersAsLookup(t *testing.T) {
	reg := zonetest.ExcerptRegistry(t)
	registered := registeredPorts(reg)
	for _, mode := range []zone.PortNames{zone.PortNamesAll, zone.PortNamesRegistered} {
		t.Run(mode.String(), func(t *testing.T) {
			opts := zone.DefaultOptions(zonetest.Origin)
			opts.PortNames = mode
			snap, err := zone.Build(reg, opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			var prev string
			ports := map[string]int{}
			yielded := map[string]bool{}
			for name, rrs := range snap.All() {
				if prev != "" && zone.CompareNames(prev, name) >= 0 {
					t.Fatalf("All: %q after %q, not in canonical order", name, prev)
				}
				prev = name
				yielded[name] = true
				if port, proto, ok := isPortName(name); ok {
					ports[proto]++
					if p, _ := registry.ParseProtocol(proto); mode == zone.PortNamesRegistered && !registered[p][uint16(port)] {
						t.Errorf("%s: yielded, but no row registers port %d/%s", name, port, proto)
					}
				}
				// Every stored name is asked; of the 262,144 port names
				// (made alike, from the port table) every 13th.
				if port, _, ok := isPortName(name); ok && mode == zone.PortNamesAll && port%13 != 0 {
					continue
				}
				byType := map[uint16][]string{}
				for _, rr := range rrs {
					if !strings.EqualFold(rr.Header().Name, name) {
						t.Errorf("%s: record %v owned by another name", name, rr)
					}
					byType[rr.Header().Rrtype] = append(byType[rr.Header().Rrtype], rr.String())
				}
				for typ, want := range byType {
					a := snap.Lookup(name, typ)
					var got []string
					for _, rr := range a.Answer {
						got = append(got, rr.String())
					}
					if typ == dns.TypeCNAME {
						got = got[:min(1, len(got))]
					}
					slices.Sort(got)
					slices.Sort(want)
					if a.Outcome != zone.Success || !slices.Equal(got, want) {
						t.Errorf("%s %s: Lookup %v %q, All %q", name, dns.TypeToString[typ], a.Outcome, got, want)
					}
				}
			}
			for _, p := range registry.Protocols {
				want := 65536
				if mode == zone.PortNamesRegistered {
					want = len(registered[p])
				}
				if ports[p.String()] != want {
					t.Errorf("%d port names of %s, want %d", ports[p.String()], p, want)
				}
				// Ports All left out are not in the zone.
				for port := 0; port <= 65535; port += 7 {
					name := fmt.Sprintf("_%d._%s.%s", port, p, zonetest.Origin)
					a := snap.Lookup(name, dns.TypeTXT)
					if yielded[name] != (a.Outcome == zone.Success) {
						t.Errorf("%s: yielded by All %v, Lookup TXT %v", name, yielded[name], a.Outcome)
					}
				}
			}
		})
	}
}

// TestRegisteredPortNames checks the answers of PortNamesRegistered on the
// full registry: registered ports answer as in PortNamesAll, the others
// (unassigned, dynamic) do not exist, and the protocol labels stay empty
// non-terminals.
func TestRegisteredPortNames(t *testing.T) {
	reg := zonetest.FullRegistry(t)
	all := zonetest.Full(t)
	opts := zone.DefaultOptions(zonetest.Origin)
	opts.PortNames = zone.PortNamesRegistered
	snap, err := zone.Build(reg, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version().Digest == all.Version().Digest {
		t.Error("the two port name modes have the same content digest")
	}
	for _, c := range []struct {
		name string
		want zone.Outcome
	}{
		{"_6081._udp", zone.Success},    // geneve
		{"_0._tcp", zone.Success},       // reserved
		{"_1023._udp", zone.Success},    // reserved
		{"_49152._tcp", zone.NameError}, // dynamic
		{"_65535._sctp", zone.NameError},
		{"_tcp", zone.NoData},
		{"_dccp", zone.NoData},
	} {
		name := c.name + "." + zonetest.Origin
		if a := snap.Lookup(name, dns.TypeTXT); a.Outcome != c.want {
			t.Errorf("%s TXT: %v, want %v", name, a.Outcome, c.want)
		} else if a.Invalid != nil {
			// No Extended DNS Error calling the port an invalid
			// service name.
			t.Errorf("%s: NXDOMAIN says %v", name, a.Invalid)
		}
		if c.want == zone.Success {
			if x, y := fmt.Sprint(snap.Lookup(name, dns.TypeTXT).Answer), fmt.Sprint(all.Lookup(name, dns.TypeTXT).Answer); x != y {
				t.Errorf("%s TXT: %s, but with every port name %s", name, x, y)
			}
		}
	}
	// An unassigned port in the middle of the registered range.
	registered := registeredPorts(reg)
	for port := 1024; port < 49152; port++ {
		if !registered[registry.TCP][uint16(port)] {
			name := fmt.Sprintf("_%d._tcp.%s", port, zonetest.Origin)
			if a := snap.Lookup(name, dns.TypePTR); a.Outcome != zone.NameError {
				t.Errorf("%s (unassigned): %v, want NXDOMAIN", name, a.Outcome)
			}
			if a := all.Lookup(name, dns.TypeTXT); a.Outcome != zone.Success {
				t.Errorf("%s (unassigned) with every port name: %v", name, a.Outcome)
			}
			break
		}
	}
	n := 0
	for name := range snap.All() {
		if _, _, ok := isPortName(name); ok {
			n++
		}
	}
	want := 0
	for _, set := range registered {
		want += len(set)
	}
	if n != want {
		t.Errorf("All yields %d port names, the registry registers %d port+protocol pairs", n, want)
	}
	t.Logf("registered port names: %d", n)
}

// TestMasterFileHasAll parses the master file back and requires exactly
// the records All yields, SOA first. The zone has the registered port
// names: the file with all 262,144 is e2e's TestExportedZoneLoads' to
// count and to load with three servers' zone parsers.
func TestMasterFileHasAll(t *testing.T) {
	reg := zonetest.ExcerptRegistry(t)
	opts := zone.DefaultOptions(zonetest.Origin)
	opts.PortNames = zone.PortNamesRegistered
	snap, err := zone.Build(reg, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := snap.WriteMasterFile(&b); err != nil {
		t.Fatal(err)
	}
	// Compared as lower-cased wire form: the master file writes names
	// with \DDD where the zone's records print them otherwise.
	key := func(rr dns.RR) string {
		buf := make([]byte, dns.Len(rr)+64)
		n, err := dns.PackRR(rr, buf, 0, nil, false)
		if err != nil {
			t.Fatalf("%v: %v", rr, err)
		}
		return string(bytes.ToLower(buf[:n]))
	}
	zp := dns.NewZoneParser(&b, "", "export")
	var got []string
	first := ""
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if first == "" {
			first = rr.String()
		}
		got = append(got, key(rr))
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, rrs := range snap.All() {
		for _, rr := range rrs {
			want = append(want, key(rr))
		}
	}
	if !strings.Contains(first, "\tSOA\t") {
		t.Fatalf("master file starts with %q, want the SOA", first)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("first difference: master file %q, All %q", got[i], want[i])
				break
			}
		}
		t.Errorf("master file has %d records, All %d", len(got), len(want))
	}
	ports := 0
	prefix := key(&dns.TXT{Hdr: dns.RR_Header{Name: "_6081._udp." + zonetest.Origin}})[:len("_6081._udp."+zonetest.Origin)+1]
	for _, s := range got {
		if strings.HasPrefix(s, prefix) {
			ports++
		}
	}
	if ports != 2 {
		t.Errorf("master file has %d records at _6081._udp, want PTR and TXT", ports)
	}
}

// TestBuildAfter checks the serial across a restart, where the previous
// version is known by the journal only: the same content keeps the
// remembered serial even when the registry date gives a lower one; other
// content moves past it; a version known by its serial alone (a damaged
// journal) is moved past.
func TestBuildAfter(t *testing.T) {
	reg, err := registry.ParseFile(testenv.Excerpt())
	if err != nil {
		t.Fatal(err)
	}
	opts := zone.DefaultOptions(zonetest.Origin)
	first, err := zone.BuildAfter(reg, opts, zone.Version{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Serial() != 2025103000 {
		t.Fatalf("serial %d, want 2025103000 from the date", first.Serial())
	}
	remembered := zone.Version{Serial: 2025103007, Digest: first.Version().Digest}
	for _, c := range []struct {
		name string
		prev zone.Version
		ttl  uint32
		want uint32
	}{
		{"same content", remembered, 0, 2025103007},
		{"other content", remembered, 60, 2025103008},
		{"serial only", zone.Version{Serial: 2025103007}, 0, 2025103008},
		{"older than the date", zone.Version{Serial: 2025010100}, 60, 2025103000},
	} {
		o := opts
		if c.ttl != 0 {
			o.TTL.SRV = c.ttl
		}
		s, err := zone.BuildAfter(reg, o, c.prev)
		if err != nil {
			t.Fatal(err)
		}
		if s.Serial() != c.want || s.SOA().Serial != c.want {
			t.Errorf("%s: serial %d (SOA %d), want %d", c.name, s.Serial(), s.SOA().Serial, c.want)
		}
	}
}
