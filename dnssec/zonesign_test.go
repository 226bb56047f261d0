package dnssec_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/dnssec"
)

// smallZone has what svcdns's zone has: an apex, in-zone hosts, SRV/TXT/
// PTR owners below empty non-terminals (_tcp), an escaped label, a
// DNS-SD instance name in mixed case with a space, and a CNAME.
var smallZone = []string{
	"ports.local. 3600 IN SOA ns1.ports.local. hostmaster.ports.local. 2026113000 3600 600 604800 300",
	"ports.local. 3600 IN NS ns1.ports.local.",
	"ns1.ports.local. 3600 IN A 127.0.0.1",
	"svc.ports.local. 3600 IN A 127.0.0.1",
	"svc.ports.local. 3600 IN AAAA ::1",
	"_rets._tcp.ports.local. 3600 IN SRV 0 0 6103 svc.ports.local.",
	`_rets._tcp.ports.local. 3600 IN TXT "txtvers=1" "port=6103"`,
	`_rets._tcp.ports.local. 3600 IN PTR RETS\032Server._rets._tcp.ports.local.`,
	`RETS\032Server._rets._tcp.ports.local. 3600 IN SRV 0 0 6103 svc.ports.local.`,
	`_z39\.50._tcp.ports.local. 3600 IN SRV 0 0 210 svc.ports.local.`,
	"_bmc_ctd_ldap._tcp.ports.local. 3600 IN CNAME _bmc-ctd-ldap._tcp.ports.local.",
	"_bmc-ctd-ldap._tcp.ports.local. 3600 IN SRV 0 0 6301 svc.ports.local.",
	"_geneve._udp.ports.local. 3600 IN SRV 0 0 6081 svc.ports.local.",
}

func signedSmallZone(t *testing.T, p dnssec.Policy, keys ...*dnssec.Key) (*dnssec.Signer, []dns.RR) {
	t.Helper()
	s, err := dnssec.NewSigner(origin, keys, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := append(rrs(t, smallZone...), s.Apex()...)
	out, err := s.SignZone(in)
	if err != nil {
		t.Fatal(err)
	}
	return s, out
}

type setKey struct {
	owner string
	typ   uint16
}

// groupSigned splits a signed zone into RRsets and the RRSIGs over each.
func groupSigned(out []dns.RR) (sets map[setKey][]dns.RR, sigs map[setKey][]dns.RR, owners []string) {
	sets, sigs = map[setKey][]dns.RR{}, map[setKey][]dns.RR{}
	for _, rr := range out {
		h := rr.Header()
		name := strings.ToLower(h.Name)
		if !slices.Contains(owners, name) {
			owners = append(owners, name)
		}
		if sig, ok := rr.(*dns.RRSIG); ok {
			k := setKey{name, sig.TypeCovered}
			sigs[k] = append(sigs[k], rr)
			continue
		}
		k := setKey{name, h.Rrtype}
		sets[k] = append(sets[k], rr)
	}
	return sets, sigs, owners
}

// TestSignZoneNSEC: every RRset is signed and verifies, and the NSEC chain
// links every owner name to the next in canonical order and back to the
// apex, each listing exactly the types at its name.
func TestSignZoneNSEC(t *testing.T) {
	ksk, zsk := newKey(t, dns.ECDSAP256SHA256, true), newKey(t, dns.ECDSAP256SHA256, false)
	s, out := signedSmallZone(t, fixedPolicy(epoch0), ksk, zsk)
	if out[0].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("first record %v, want the SOA", out[0])
	}
	sets, sigs, owners := groupSigned(out)
	for k, set := range sets {
		verify(t, s, set, sigs[k])
	}
	for k := range sigs {
		if sets[k] == nil {
			t.Errorf("RRSIG over %s %s, which has no records", k.owner, dns.TypeToString[k.typ])
		}
	}
	// Owners appear in canonical order, the apex first, and each NSEC
	// points at the next.
	want := []string{"ports.local.", "_bmc-ctd-ldap._tcp.ports.local.", "_bmc_ctd_ldap._tcp.ports.local.",
		"_rets._tcp.ports.local.", `rets\032server._rets._tcp.ports.local.`, `_z39\.50._tcp.ports.local.`,
		"_geneve._udp.ports.local.", "ns1.ports.local.", "svc.ports.local."}
	if !slices.Equal(owners, want) {
		t.Fatalf("owners in order\n %q\nwant %q", owners, want)
	}
	for i, o := range owners {
		nsec := sets[setKey{o, dns.TypeNSEC}]
		if len(nsec) != 1 {
			t.Fatalf("%s: %d NSEC records", o, len(nsec))
		}
		n := nsec[0].(*dns.NSEC)
		if next := owners[(i+1)%len(owners)]; n.NextDomain != next {
			t.Errorf("%s: NSEC next %s, want %s", o, n.NextDomain, next)
		}
		var types []uint16
		for k := range sets {
			if k.owner == o {
				types = append(types, k.typ)
			}
		}
		types = append(types, dns.TypeRRSIG)
		slices.Sort(types)
		if !slices.Equal(n.TypeBitMap, types) {
			t.Errorf("%s: NSEC types %v, want %v", o, n.TypeBitMap, types)
		}
		if n.Hdr.Ttl != 300 {
			t.Errorf("%s: NSEC TTL %d, want min(SOA TTL, MINIMUM) = 300", o, n.Hdr.Ttl)
		}
	}
	// The keys sign what their roles say.
	for k, ss := range sigs {
		for _, rr := range ss {
			want := zsk.Tag()
			if k.typ == dns.TypeDNSKEY || k.typ == dns.TypeCDS || k.typ == dns.TypeCDNSKEY {
				want = ksk.Tag()
			}
			if rr.(*dns.RRSIG).KeyTag != want {
				t.Errorf("%s %s signed by %d, want %d", k.owner, dns.TypeToString[k.typ], rr.(*dns.RRSIG).KeyTag, want)
			}
		}
	}
}

// TestSignZoneNSEC3: the NSEC3 chain holds a hash for every owner name and
// every empty non-terminal, in hash order, and the apex has the
// NSEC3PARAM.
func TestSignZoneNSEC3(t *testing.T) {
	p := fixedPolicy(epoch0)
	p.Denial = dnssec.DenialNSEC3
	p.NSEC3 = dnssec.NSEC3Params{Iterations: 1, Salt: "c0ffee"}
	s, out := signedSmallZone(t, p, newKey(t, dns.ED25519, true))
	sets, sigs, _ := groupSigned(out)
	for k, set := range sets {
		verify(t, s, set, sigs[k])
	}
	param := sets[setKey{origin, dns.TypeNSEC3PARAM}]
	if len(param) != 1 || param[0].(*dns.NSEC3PARAM).Iterations != 1 || param[0].(*dns.NSEC3PARAM).Salt != "C0FFEE" {
		t.Fatalf("NSEC3PARAM %v", param)
	}
	// The names hashed: every owner, and _tcp and _udp (empty
	// non-terminals). NSEC3 records themselves are not hashed.
	var names []string
	for k := range sets {
		if k.typ != dns.TypeNSEC3 && !slices.Contains(names, k.owner) {
			names = append(names, k.owner)
		}
	}
	names = append(names, "_tcp.ports.local.", "_udp.ports.local.")
	hashes := map[string]string{}
	for _, n := range names {
		hashes[strings.ToLower(dns.HashName(n, dns.SHA1, 1, "C0FFEE"))+"."+origin] = n
	}
	var chain []*dns.NSEC3
	for k, set := range sets {
		if k.typ == dns.TypeNSEC3 {
			chain = append(chain, set[0].(*dns.NSEC3))
			if hashes[k.owner] == "" {
				t.Errorf("NSEC3 at %s hashes no name of the zone", k.owner)
			}
		}
	}
	if len(chain) != len(names) {
		t.Fatalf("%d NSEC3 records, want %d (owners and empty non-terminals)", len(chain), len(names))
	}
	slices.SortFunc(chain, func(a, b *dns.NSEC3) int { return strings.Compare(a.Hdr.Name, b.Hdr.Name) })
	for i, n := range chain {
		next := chain[(i+1)%len(chain)]
		if !strings.EqualFold(n.NextDomain+"."+origin, next.Hdr.Name) {
			t.Errorf("%s: next %s, want %s", n.Hdr.Name, n.NextDomain, next.Hdr.Name)
		}
		if ent := strings.HasPrefix(hashes[n.Hdr.Name], "_tcp.") || strings.HasPrefix(hashes[n.Hdr.Name], "_udp."); ent != (len(n.TypeBitMap) == 0) {
			t.Errorf("%s (%s): types %v", n.Hdr.Name, hashes[n.Hdr.Name], n.TypeBitMap)
		}
	}
}

// TestSignedZoneVerifiers writes the small zone signed both ways as a
// master file and has the verifiers of three implementations check it:
// ldns-verify-zone, BIND's dnssec-verify and Knot's kzonecheck.
func TestSignedZoneVerifiers(t *testing.T) {
	for _, denial := range []dnssec.Denial{dnssec.DenialNSEC, dnssec.DenialNSEC3} {
		t.Run(denial.String(), func(t *testing.T) {
			p := dnssec.DefaultPolicy // the real clock: the tools check validity against it
			p.Denial = denial
			now := time.Now()
			ksk, _ := dnssec.GenerateKey(origin, dns.ECDSAP256SHA256, true, now.Add(-time.Minute))
			zsk, _ := dnssec.GenerateKey(origin, dns.ECDSAP256SHA256, false, now.Add(-time.Minute))
			_, out := signedSmallZone(t, p, ksk, zsk)
			dir := t.TempDir()
			path := filepath.Join(dir, "ports.local.zone")
			var b strings.Builder
			for _, rr := range out {
				b.WriteString(rr.String() + "\n")
			}
			if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, dir, "ldns-verify-zone", path)
			run(t, dir, "dnssec-verify", "-o", origin, path)
			run(t, dir, "kzonecheck", "--dnssec", "on", "-o", origin, path)
		})
	}
}
