package zone

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/svcdns/svcdns/internal/testenv"
	"github.com/svcdns/svcdns/registry"
)

// TestChangesSkipsOnlyEqualPortNames checks what Changes relies on: a port
// name samePortNames calls unchanged has the same records in both
// versions. The versions differ in the rows of some ports (a new
// assignment, a removed one, a reserved row's description, an
// unauthorized-use report), in whether a service exists, and in TTLs;
// every port of the excerpt's range and a random sample of others are
// made and compared.
func TestChangesSkipsOnlyEqualPortNames(t *testing.T) {
	reg, err := registry.ParseFile(testenv.Excerpt())
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions("ports.local.")
	a, err := Build(reg, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	edited := *reg
	edited.Records = slices.Clone(reg.Records)
	rs := edited.Records
	changedRows := 0
	for i := range rs {
		r := &rs[i]
		switch {
		case r.Name == "rets" && r.Proto == registry.TCP:
			r.Unauthorized = "reported in the test"
			changedRows++
		case r.Name == "" && r.Status == registry.Reserved && r.HasPort && changedRows < 3:
			r.Description += " (edited)"
			changedRows++
		case r.Name == "geneve":
			r.Status = registry.Alias // the service goes, its port name's PTR with it
			r.AliasOf = "gue"
		}
	}
	edited.Records = append(rs, registry.Record{Name: "zz-new", Proto: registry.SCTP, HasPort: true,
		Ports: registry.PortRange{Lo: 6390, Hi: 6399}, Status: registry.Assigned, Description: "new"})
	b, err := Build(&edited, opts, a)
	if err != nil {
		t.Fatal(err)
	}
	opts.TTL.TXT = 60
	c, err := Build(reg, opts, a)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(16, 16))
	ports := []uint16{0, 1023, 49152, 65535}
	for p := 6000; p <= 6500; p++ {
		ports = append(ports, uint16(p))
	}
	for range 500 {
		ports = append(ports, uint16(rng.IntN(65536)))
	}
	text := func(s *Snapshot, port uint16, p registry.Protocol) []string {
		if !s.hasPortName(port, p) {
			return nil
		}
		rel := []byte("\x00_" + strconv.Itoa(int(port)) + "\x00_" + p.String())
		rel[0] = byte(1 + len(strconv.Itoa(int(port))))
		rel[rel[0]+1] = byte(1 + len(p.String()))
		_, rrs := s.portRecords(nil, rel, port, p)
		var out []string
		for _, rr := range rrs {
			out = append(out, rr.String())
		}
		return out
	}
	for _, pair := range []struct {
		name string
		x, y *Snapshot
	}{{"rows", a, b}, {"ttl", a, c}, {"same", a, a}} {
		same := samePortNames(pair.x, pair.y)
		differ, skipped := 0, 0
		for _, p := range registry.Protocols {
			for _, port := range ports {
				name := "_" + strconv.Itoa(int(port)) + "._" + p.String() + ".ports.local."
				x, y := text(pair.x, port, p), text(pair.y, port, p)
				if !slices.Equal(x, y) {
					differ++
				}
				if same(port, p) {
					skipped++
					if !slices.Equal(x, y) {
						t.Errorf("%s: %s called unchanged, but %q became %q", pair.name, name, x, y)
					}
				}
			}
		}
		t.Logf("%s: %d port names differ, %d of %d left out as unchanged", pair.name, differ, skipped, 4*len(ports))
		if pair.name != "same" && differ == 0 {
			t.Errorf("%s: the edit changed no port name", pair.name)
		}
		if pair.name == "same" && skipped != 4*len(ports) {
			t.Errorf("a zone against itself: only %d of %d port names left out", skipped, 4*len(ports))
		}
	}
}
