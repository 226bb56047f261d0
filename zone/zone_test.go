package zone_test

import (
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

// wireText returns a TXT string as its bytes on the wire: records read off
// the wire hold miekg/dns's escaped form (\" and \DDD).
func wireText(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+3 < len(s) && isDigits(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')*100 + (s[i+2]-'0')*10 + (s[i+3] - '0'))
			i += 3
			continue
		}
		if c == '\\' && i+1 < len(s) {
			i++
			c = s[i]
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isDigits(s string) bool { return strings.Trim(s, "0123456789") == "" }

// checkTXT applies RFC 6763 §6 to one TXT record.
func checkTXT(t *testing.T, owner string, strs []string) {
	t.Helper()
	if len(strs) == 0 || strs[0] != "txtvers=1" {
		t.Errorf("%s: first string %q, want txtvers=1 (RFC 6763 §6.7)", owner, strs)
	}
	seen := map[string]bool{}
	total := 0
	for _, s := range strs {
		s = wireText(s)
		total += len(s) + 1
		if len(s) > 255 {
			t.Errorf("%s: string of %d bytes", owner, len(s))
		}
		key, _, ok := strings.Cut(s, "=")
		if !ok || key == "" {
			t.Errorf("%s: %q is not key=value", owner, s)
		}
		if len(key) > 9 {
			t.Errorf("%s: key %q longer than 9 characters (RFC 6763 §6.4)", owner, key)
		}
		if seen[strings.ToLower(key)] {
			t.Errorf("%s: duplicate key %q", owner, key)
		}
		seen[strings.ToLower(key)] = true
		if !isUTF8(s) {
			t.Errorf("%s: %q cut inside a UTF-8 character", owner, s)
		}
	}
	if total > 1300 {
		t.Errorf("%s: TXT of %d bytes (RFC 6763 §6.2)", owner, total)
	}
}

func isUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestTXTRulesFullRegistry(t *testing.T) {
	snap := zonetest.Full(t)
	n := 0
	for _, name := range snap.Names() {
		for _, rr := range snap.RRs(name) {
			if txt, ok := rr.(*dns.TXT); ok {
				checkTXT(t, name, txt.Txt)
				n++
			}
		}
	}
	// Port names are synthesized: check every registered port too.
	reg := zonetest.FullRegistry(t)
	for i := range reg.Records {
		r := &reg.Records[i]
		if !r.HasPort {
			continue
		}
		for _, p := range registry.Protocols {
			name := fmt.Sprintf("_%d._%s.%s", r.Ports.Lo, p, zonetest.Origin)
			a := snap.Lookup(name, dns.TypeTXT)
			if a.Outcome != zone.Success || len(a.Answer) != 1 {
				t.Fatalf("%s TXT: %v", name, a.Outcome)
			}
			checkTXT(t, name, a.Answer[0].(*dns.TXT).Txt)
			n++
		}
	}
	if n < 12000 {
		t.Errorf("checked only %d TXT records", n)
	}
	t.Logf("%d TXT records checked", n)
}

func TestEveryRRsetAtMost100(t *testing.T) {
	snap := zonetest.Full(t)
	for _, name := range snap.Names() {
		count := map[uint16]int{}
		for _, rr := range snap.RRs(name) {
			count[rr.Header().Rrtype]++
		}
		for typ, c := range count {
			if c > 100 {
				t.Errorf("%s %s: %d records", name, dns.TypeToString[typ], c)
			}
		}
	}
}

// validPairs is the registry's set of valid name+protocol pairs that the
// zone serves: assigned rows with a protocol and an RFC 6335 name.
func validPairs(reg *registry.Registry) map[registry.Key]bool {
	out := map[registry.Key]bool{}
	for i := range reg.Records {
		r := &reg.Records[i]
		if r.Status == registry.Assigned && r.Proto != registry.ProtoNone && registry.ValidateName(r.Name) == nil {
			out[r.Key()] = true
		}
	}
	return out
}

func TestEveryServiceAnswersItsPorts(t *testing.T) {
	snap := zonetest.Full(t)
	reg := zonetest.FullRegistry(t)
	want := map[registry.Key][]uint16{}
	for i := range reg.Records {
		r := &reg.Records[i]
		if r.Status == registry.Assigned && r.Proto != registry.ProtoNone && registry.ValidateName(r.Name) == nil && r.HasPort {
			for p := int(r.Ports.Lo); p <= int(r.Ports.Hi); p++ {
				want[r.Key()] = append(want[r.Key()], uint16(p))
			}
		}
	}
	for k := range validPairs(reg) {
		owner, err := zone.ServiceOwner(k.Name, k.Proto, zonetest.Origin)
		if err != nil {
			t.Fatal(err)
		}
		a := snap.Lookup(owner, dns.TypeSRV)
		var got []uint16
		for _, rr := range a.Answer {
			got = append(got, rr.(*dns.SRV).Port)
		}
		slices.Sort(got)
		w := slices.Compact(slices.Sorted(slices.Values(want[k])))
		if len(w) == 0 {
			if a.Outcome != zone.NoData {
				t.Errorf("%s SRV: %v, want NODATA (no port registered)", owner, a.Outcome)
			}
			continue
		}
		if a.Outcome != zone.Success || !slices.Equal(got, w) {
			t.Errorf("%s SRV ports %v, want %v", owner, got, w)
		}
	}
}

func TestAliasesAnswerCNAMEAndReplacement(t *testing.T) {
	snap := zonetest.Full(t)
	reg := zonetest.FullRegistry(t)
	n := 0
	for i := range reg.Records {
		r := &reg.Records[i]
		if r.Status != registry.Alias {
			continue
		}
		owner, _ := zone.ServiceOwner(r.Name, r.Proto, zonetest.Origin)
		target, _ := zone.ServiceOwner(r.AliasOf, r.Proto, zonetest.Origin)
		a := snap.Lookup(owner, dns.TypeSRV)
		if a.Outcome != zone.Success || len(a.Answer) < 2 {
			t.Errorf("%s: %v %v", owner, a.Outcome, a.Answer)
			continue
		}
		c, ok := a.Answer[0].(*dns.CNAME)
		if !ok || c.Target != target {
			t.Errorf("%s: first answer %v, want CNAME to %s", owner, a.Answer[0], target)
		}
		// The replacement may hold more ports than the alias row (sql-net
		// is on 66 and 150); the alias's own port must be among them.
		ports := map[uint16]bool{}
		for _, rr := range a.Answer[1:] {
			srv, ok := rr.(*dns.SRV)
			if !ok || rr.Header().Name != target {
				t.Errorf("%s: %v is not an SRV of %s", owner, rr, target)
				continue
			}
			ports[srv.Port] = true
		}
		for p := int(r.Ports.Lo); p <= int(r.Ports.Hi); p++ {
			if !ports[uint16(p)] {
				t.Errorf("%s: replacement %s has no SRV on the alias's port %d", owner, target, p)
			}
		}
		n++
	}
	if n != 184 {
		t.Errorf("%d alias rows answered, want 184", n)
	}
}

func TestSerial(t *testing.T) {
	reg, err := registry.ParseFile(testenv.Excerpt())
	if err != nil {
		t.Fatal(err)
	}
	opts := zone.DefaultOptions(zonetest.Origin)
	a, err := zone.Build(reg, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Serial() != 2025103000 {
		t.Errorf("serial %d, want 2025103000 from Last Updated 2025-10-30", a.Serial())
	}
	same, _ := zone.Build(reg, opts, a)
	if same.Serial() != a.Serial() {
		t.Errorf("same content: serial %d -> %d, want unchanged", a.Serial(), same.Serial())
	}
	opts.TTL.SRV = 60
	changed, _ := zone.Build(reg, opts, same)
	if changed.Serial() <= same.Serial() {
		t.Errorf("changed content: serial %d -> %d, want an increase", same.Serial(), changed.Serial())
	}
	back, _ := zone.Build(reg, zone.DefaultOptions(zonetest.Origin), changed)
	if back.Serial() <= changed.Serial() {
		t.Errorf("changed back: serial %d -> %d, want an increase (never backwards)", changed.Serial(), back.Serial())
	}
	// A change seen only in synthesized port names (a reserved row's
	// description) is a change of content too.
	i := slices.IndexFunc(reg.Records, func(r registry.Record) bool { return r.Name == "" && r.HasPort && r.Description != "" })
	if i < 0 {
		t.Fatal("the excerpt has no unnamed row with a description")
	}
	port := reg.Records[i].Ports.Lo
	reg.Records[i].Description += " (amended)"
	amended, _ := zone.Build(reg, zone.DefaultOptions(zonetest.Origin), back)
	if amended.Serial() <= back.Serial() {
		t.Errorf("port facts changed: serial %d -> %d, want an increase", back.Serial(), amended.Serial())
	}
	name := fmt.Sprintf("_%d._udp.%s", port, zonetest.Origin)
	if txt := fmt.Sprint(amended.Lookup(name, dns.TypeTXT).Answer); !strings.Contains(txt, "(amended)") {
		t.Errorf("%s TXT after the change: %s", name, txt)
	}
}

func TestOriginMoves(t *testing.T) {
	reg, err := registry.ParseFile(testenv.Excerpt())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := zone.Build(reg, zone.DefaultOptions("Ports.Home.Arpa"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Origin() != "ports.home.arpa." {
		t.Errorf("origin %q", snap.Origin())
	}
	if a := snap.Lookup("_rets._tcp.ports.home.arpa.", dns.TypeSRV); a.Outcome != zone.Success {
		t.Errorf("_rets._tcp.ports.home.arpa.: %v", a.Outcome)
	}
	if a := snap.Lookup("_rets._tcp.ports.local.", dns.TypeSRV); a.Outcome != zone.NotAuth {
		t.Errorf("old origin still answered: %v", a.Outcome)
	}
}
