package e2e_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// checkSOA requires exactly the zone's SOA in the authority section with
// the RFC 2308 §3 negative TTL, min(SOA TTL, SOA MINIMUM).
func checkSOA(t *testing.T, r *reply) {
	t.Helper()
	if len(r.Authority) != 1 {
		t.Fatalf("authority %v, want the SOA alone", r.Authority)
	}
	soa, ok := r.Authority[0].(*dns.SOA)
	if !ok || !strings.EqualFold(soa.Hdr.Name, origin) {
		t.Fatalf("authority %v, want the SOA of %s", r.Authority[0], origin)
	}
	if want := min(soa.Hdr.Ttl, soa.Minttl); soa.Hdr.Ttl != want {
		t.Errorf("negative SOA TTL %d, want min(TTL, MINIMUM) = %d", soa.Hdr.Ttl, want)
	}
}

// checkSRVWithGlue requires one SRV answer on port for owner, with the
// target's address in the additional section.
func checkSRVWithGlue(t *testing.T, r *reply, owner string, port uint16) {
	t.Helper()
	if len(r.Answer) != 1 {
		t.Fatalf("answer %v, want one SRV", r.Answer)
	}
	srv, ok := r.Answer[0].(*dns.SRV)
	if !ok || srv.Hdr.Name != owner || srv.Port != port {
		t.Fatalf("answer %v, want %s SRV on port %d", r.Answer[0], owner, port)
	}
	if !hasAddress(r.Additional, srv.Target) {
		t.Errorf("additional %v has no address for the SRV target %s", r.Additional, srv.Target)
	}
}

func hasAddress(rrs []dns.RR, host string) bool {
	for _, rr := range rrs {
		switch rr.(type) {
		case *dns.A, *dns.AAAA:
			if strings.EqualFold(rr.Header().Name, host) {
				return true
			}
		}
	}
	return false
}

// TestClientsExcerpt asks dig, kdig and drill the same questions about the
// embedded registry and checks what each client printed: rcode, AA set,
// RA clear, and the sections.
func TestClientsExcerpt(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	cases := []struct {
		name  string
		qname string
		qtype string
		rcode string
		check func(t *testing.T, r *reply)
	}{
		{"SRV with target address", "_rets._tcp.ports.local", "SRV", "NOERROR", func(t *testing.T, r *reply) {
			checkSRVWithGlue(t, r, "_rets._tcp.ports.local.", 6103)
		}},
		{"TXT carries the port", "_geneve._udp.ports.local", "TXT", "NOERROR", func(t *testing.T, r *reply) {
			if len(r.Answer) != 1 {
				t.Fatalf("answer %v, want one TXT", r.Answer)
			}
			txt, ok := r.Answer[0].(*dns.TXT)
			if !ok || txt.Hdr.Name != "_geneve._udp.ports.local." {
				t.Fatalf("answer %v, want the TXT of _geneve._udp", r.Answer[0])
			}
			if len(txt.Txt) == 0 || txt.Txt[0] != "txtvers=1" || !slices.Contains(txt.Txt, "port=6081") || !slices.Contains(txt.Txt, "proto=udp") {
				t.Errorf("TXT %q, want txtvers=1 first, port=6081 and proto=udp", txt.Txt)
			}
		}},
		{"alias answers CNAME and SRV", "_bmc_ctd_ldap._tcp.ports.local", "SRV", "NOERROR", func(t *testing.T, r *reply) {
			if len(r.Answer) != 2 {
				t.Fatalf("answer %v, want CNAME + SRV", r.Answer)
			}
			c, ok := r.Answer[0].(*dns.CNAME)
			if !ok || c.Hdr.Name != "_bmc_ctd_ldap._tcp.ports.local." || c.Target != "_bmc-ctd-ldap._tcp.ports.local." {
				t.Errorf("answer[0] %v, want CNAME _bmc_ctd_ldap._tcp -> _bmc-ctd-ldap._tcp.ports.local.", r.Answer[0])
			}
			s, ok := r.Answer[1].(*dns.SRV)
			if !ok || s.Hdr.Name != "_bmc-ctd-ldap._tcp.ports.local." || s.Port != 6301 {
				t.Errorf("answer[1] %v, want _bmc-ctd-ldap._tcp.ports.local. SRV on 6301", r.Answer[1])
			}
		}},
		{"invalid name is NXDOMAIN with EDE", "_bad_name._tcp.ports.local", "SRV", "NXDOMAIN", func(t *testing.T, r *reply) {
			if len(r.Answer) != 0 {
				t.Errorf("answer %v, want none", r.Answer)
			}
			checkSOA(t, r)
			if len(r.EDE) != 1 || !strings.Contains(r.EDE[0], "RFC 6335") {
				t.Errorf("EDE lines %q, want one that cites RFC 6335", r.EDE)
			}
		}},
		{"empty non-terminal is NODATA", "_tcp.ports.local", "SRV", "NOERROR", func(t *testing.T, r *reply) {
			if len(r.Answer) != 0 {
				t.Errorf("answer %v, want none", r.Answer)
			}
			checkSOA(t, r)
		}},
		{"out of zone is REFUSED", "example.com", "SRV", "REFUSED", func(t *testing.T, r *reply) {
			if len(r.Answer)+len(r.Authority) != 0 {
				t.Errorf("answer %v authority %v, want none", r.Answer, r.Authority)
			}
		}},
		{"mixed case is echoed", "_ReTs._TcP.ports.local", "SRV", "NOERROR", func(t *testing.T, r *reply) {
			if !slices.Equal(r.Question, []string{"_ReTs._TcP.ports.local."}) {
				t.Errorf("question %q, want _ReTs._TcP.ports.local. as asked", r.Question)
			}
			checkSRVWithGlue(t, r, "_ReTs._TcP.ports.local.", 6103)
		}},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range cases {
				if c.name == "kdig" && tc.qname != strings.ToLower(tc.qname) {
					// kdig 3.2 lower-cases the name it sends (seen on
					// the wire): it cannot ask a mixed-case question.
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					r, out := c.ask(t, srv.Addr, tc.qname, tc.qtype)
					t.Cleanup(func() {
						if t.Failed() {
							t.Logf("%s printed:\n%s", c.name, out)
						}
					})
					if r.Rcode != tc.rcode {
						t.Errorf("rcode %s, want %s", r.Rcode, tc.rcode)
					}
					if !r.Flags["qr"] {
						t.Errorf("flags %v: qr not set", r.Flags)
					}
					// An authoritative-only server (SPEC §4): RA never
					// set; AA set for every in-zone name.
					if r.Flags["ra"] {
						t.Errorf("flags %v: RA set by an authoritative-only server", r.Flags)
					}
					if wantAA := tc.rcode != "REFUSED"; r.Flags["aa"] != wantAA {
						t.Errorf("flags %v: AA %v, want %v", r.Flags, r.Flags["aa"], wantAA)
					}
					tc.check(t, r)
				})
			}
		})
	}
}
