package zone_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/dnssec"
	"github.com/svcdns/svcdns/internal/zonetest"
	"github.com/svcdns/svcdns/zone"
)

var keyTime = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func signer(t *testing.T, at time.Time, keys ...*dnssec.Key) *dnssec.Signer {
	t.Helper()
	p := dnssec.DefaultPolicy
	p.Now = func() time.Time { return at }
	s, err := dnssec.NewSigner(zonetest.Origin, keys, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func genKey(t *testing.T, sep bool) *dnssec.Key {
	t.Helper()
	k, err := dnssec.GenerateKey(zonetest.Origin, dns.ECDSAP256SHA256, sep, keyTime.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func buildSigned(t *testing.T, s *dnssec.Signer, prev *zone.Snapshot) *zone.Snapshot {
	t.Helper()
	return buildSignedPorts(t, s, prev, zone.PortNamesAll)
}

// buildSignedPorts is buildSigned with the port names of mode.
func buildSignedPorts(t *testing.T, s *dnssec.Signer, prev *zone.Snapshot, mode zone.PortNames) *zone.Snapshot {
	t.Helper()
	opts := zone.DefaultOptions(zonetest.Origin)
	opts.Signer, opts.PortNames = s, mode
	snap, err := zone.Build(zonetest.ExcerptRegistry(t), opts, prev)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// TestSignedApex: the signer's DNSKEY, CDS and CDNSKEY are at the apex,
// answered and exported like any record.
func TestSignedApex(t *testing.T) {
	ksk := genKey(t, true)
	snap := buildSigned(t, signer(t, keyTime, ksk), nil)
	for _, typ := range []uint16{dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY} {
		a := snap.Lookup("Ports.Local.", typ)
		if a.Outcome != zone.Success || len(a.Answer) != 1 {
			t.Errorf("%s: %v %v", dns.TypeToString[typ], a.Outcome, a.Answer)
		}
	}
	var b bytes.Buffer
	if err := snap.WriteMasterFile(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "DNSKEY\t257 3 13 "+ksk.DNSKEY.PublicKey) {
		t.Errorf("export lacks the DNSKEY:\n%s", b.String()[:500])
	}
	opts := zone.DefaultOptions("other.example.")
	opts.Signer = signer(t, keyTime, ksk)
	if _, err := zone.Build(zonetest.ExcerptRegistry(t), opts, nil); err == nil || !strings.Contains(err.Error(), "signer is for ports.local.") {
		t.Errorf("a signer of another zone: %v", err)
	}
}

// TestSignedSerial: keys and the signing epoch are content. The serial
// stays put for the same keys in the same epoch, and moves on when a key
// becomes active or the epoch turns (secondaries then get the zone
// re-signed).
func TestSignedSerial(t *testing.T) {
	old, next := genKey(t, true), genKey(t, true)
	next.Timing = dnssec.Timing{Publish: keyTime.Add(-time.Hour), Activate: keyTime.Add(time.Hour)}
	a := buildSigned(t, signer(t, keyTime, old, next), nil)
	same := buildSigned(t, signer(t, keyTime.Add(time.Minute), old, next), a)
	if same.Serial() != a.Serial() {
		t.Errorf("same keys, same epoch: serial %d -> %d", a.Serial(), same.Serial())
	}
	// The DNSKEY RRset is unchanged when next becomes active; what signs
	// is not.
	active := buildSigned(t, signer(t, keyTime.Add(2*time.Hour), old, next), a)
	if active.Serial() <= a.Serial() {
		t.Errorf("a key activated: serial %d -> %d, want it to move", a.Serial(), active.Serial())
	}
	p := dnssec.DefaultPolicy
	epoch := buildSigned(t, signer(t, keyTime.Add(p.Validity-p.Refresh), old, next), active)
	if epoch.Serial() <= active.Serial() {
		t.Errorf("new epoch: serial %d -> %d, want it to move", active.Serial(), epoch.Serial())
	}
}

// TestTypesAt: the types and existence the NSEC records of compact denial
// are made from, for each kind of name.
func TestTypesAt(t *testing.T) {
	snap := buildSigned(t, signer(t, keyTime, genKey(t, true)), nil)
	cases := []struct {
		name   string
		types  []uint16
		exists bool
	}{
		{"ports.local.", []uint16{dns.TypeSOA, dns.TypeNS, dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY}, true},
		{"_RETS._tcp.ports.local.", []uint16{dns.TypeSRV, dns.TypeTXT, dns.TypePTR}, true},
		{"_bmc_ctd_ldap._tcp.ports.local.", []uint16{dns.TypeCNAME}, true},
		{"_6081._udp.ports.local.", []uint16{dns.TypePTR, dns.TypeTXT}, true},
		{"_1._dccp.ports.local.", []uint16{dns.TypeTXT}, true},
		{"_tcp.ports.local.", nil, true},
		{"_nosuch._tcp.ports.local.", nil, false},
		{"example.com.", nil, false},
	}
	check := func(snap *zone.Snapshot, name string, types []uint16, exists bool) {
		got, ok := snap.Types(name)
		slices.Sort(got)
		want := slices.Clone(types)
		slices.Sort(want)
		if ok != exists || !slices.Equal(got, want) {
			t.Errorf("%s: %v %v, want %v %v", name, got, ok, want, exists)
		}
	}
	for _, tc := range cases {
		check(snap, tc.name, tc.types, tc.exists)
	}
	// With the registered port names only, an unregistered port does not
	// exist: its NSEC must not say it does.
	reg := buildSignedPorts(t, signer(t, keyTime, genKey(t, true)), nil, zone.PortNamesRegistered)
	check(reg, "_6081._udp.ports.local.", []uint16{dns.TypePTR, dns.TypeTXT}, true)
	check(reg, "_65000._sctp.ports.local.", nil, false)
}

// TestSignedMasterFile: the signed export starts with the SOA, holds the
// NSEC chain and RRSIGs, and reads back as the records SignedZone makes.
//
// The zone has the registered port names, as svcdns signs by default:
// signing all 262,144 takes tens of seconds (BenchmarkSignedZone); both
// are made of All alike.
func TestSignedMasterFile(t *testing.T) {
	snap := buildSignedPorts(t, signer(t, keyTime, genKey(t, true), genKey(t, false)), nil, zone.PortNamesRegistered)
	var b bytes.Buffer
	if err := snap.WriteSignedMasterFile(&b); err != nil {
		t.Fatal(err)
	}
	want, err := snap.SignedZone()
	if err != nil {
		t.Fatal(err)
	}
	zp := dns.NewZoneParser(strings.NewReader(b.String()), "", "")
	var got []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		got = append(got, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d records read back, %d signed", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(rrWire(t, got[i]), rrWire(t, want[i])) {
			t.Fatalf("record %d reads back as %v, want %v", i, got[i], want[i])
		}
	}
	if got[0].Header().Rrtype != dns.TypeSOA {
		t.Errorf("first record %v", got[0])
	}
	// Port names are signed for the secondaries like every name.
	signedPorts := map[string]bool{}
	for _, rr := range got {
		if sig, ok := rr.(*dns.RRSIG); ok && strings.EqualFold(sig.Hdr.Name, "_6081._udp.ports.local.") {
			signedPorts[dns.TypeToString[sig.TypeCovered]] = true
		}
	}
	if !signedPorts["PTR"] || !signedPorts["TXT"] || !signedPorts["NSEC"] {
		t.Errorf("_6081._udp: RRSIGs over %v, want PTR, TXT and NSEC", signedPorts)
	}
	unsigned := zonetest.Excerpt(t)
	if _, err := unsigned.SignedZone(); err == nil {
		t.Error("an unsigned zone made a signed zone")
	}
}

func rrWire(t *testing.T, rr dns.RR) []byte {
	t.Helper()
	b := make([]byte, dns.Len(rr)+64)
	n, err := dns.PackRR(rr, b, 0, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return b[:n]
}
