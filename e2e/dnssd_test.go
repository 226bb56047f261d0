package e2e_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestDNSSDBrowse browses the embedded registry as a DNS-SD client would
// (RFC 6763), step by step with dig and with kdig: browse domains, the
// service types of one, the instance of _rets._tcp, then its SRV and TXT.
func TestDNSSDBrowse(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	for _, c := range clients[:2] {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ptrs := func(t *testing.T, name string) []string {
				t.Helper()
				r, out := c.ask(t, srv.Addr, name, "PTR")
				if r.Rcode != "NOERROR" || !r.Flags["aa"] {
					t.Fatalf("%s PTR: rcode %s flags %v\n%s", name, r.Rcode, r.Flags, out)
				}
				var got []string
				for _, rr := range r.Answer {
					p, ok := rr.(*dns.PTR)
					if !ok || !strings.EqualFold(p.Hdr.Name, dns.Fqdn(name)) {
						t.Fatalf("%s PTR: answer %v\n%s", name, rr, out)
					}
					got = append(got, p.Ptr)
				}
				return got
			}

			// §11: browse domains, one per protocol DNS-SD lists (§7).
			domains := ptrs(t, "b._dns-sd._udp.ports.local")
			slices.Sort(domains)
			if want := []string{"tcp.ports.local.", "udp.ports.local."}; !slices.Equal(domains, want) {
				t.Errorf("browse domains %q, want %q", domains, want)
			}
			// Down the tree as a thumb index: each sub-domain holds the
			// types from its label on, so rets is in the last one whose
			// label sorts at or before "rets".
			dom := "tcp.ports.local."
			for {
				r, _ := c.ask(t, srv.Addr, "b._dns-sd._udp."+dom, "PTR")
				if r.Rcode != "NOERROR" || len(r.Answer) == 0 {
					break // a leaf: it lists types, not domains
				}
				subs := ptrs(t, "b._dns-sd._udp."+dom)
				next := ""
				for _, s := range subs {
					if label := strings.SplitN(s, ".", 2)[0]; label <= "rets" {
						next = s
					}
				}
				if next == "" || !strings.HasSuffix(next, "."+dom) {
					t.Fatalf("%s: sub-domains %q, none for rets", dom, subs)
				}
				dom = next
			}
			// §9: the types of the leaf are <_svc._proto>.<the same domain>.
			types := ptrs(t, "_services._dns-sd._udp."+dom)
			if !slices.Contains(types, "_rets._tcp."+dom) {
				t.Errorf("types of %s %q, want _rets._tcp.%s among them", dom, types, dom)
			}
			for _, typ := range types {
				if !strings.HasSuffix(typ, "._tcp."+dom) {
					t.Errorf("type %s listed in the browse domain %s", typ, dom)
				}
			}
			// §4: the instance of the type, in the same domain; the type
			// at the origin has its own, with the same SRV and TXT.
			insts := ptrs(t, "_rets._tcp."+dom)
			if len(insts) != 1 || !strings.HasSuffix(insts[0], "._rets._tcp."+dom) {
				t.Fatalf("instances %q, want one instance of _rets._tcp.%s", insts, dom)
			}
			if at := ptrs(t, "_rets._tcp.ports.local"); len(at) != 1 || !strings.HasSuffix(at[0], "._rets._tcp.ports.local.") {
				t.Errorf("instances at the origin %q, want one", at)
			}
			inst := insts[0]

			// §5: its SRV.
			r, out := c.ask(t, srv.Addr, inst, "SRV")
			if r.Rcode != "NOERROR" || len(r.Answer) != 1 {
				t.Fatalf("%s SRV: rcode %s answer %v\n%s", inst, r.Rcode, r.Answer, out)
			}
			if s, ok := r.Answer[0].(*dns.SRV); !ok || s.Port != 6103 || !strings.EqualFold(s.Hdr.Name, inst) {
				t.Errorf("%s SRV: %v, want port 6103", inst, r.Answer[0])
			}
			// §6: its TXT, txtvers=1 first (§6.7).
			r, out = c.ask(t, srv.Addr, inst, "TXT")
			if r.Rcode != "NOERROR" || len(r.Answer) != 1 {
				t.Fatalf("%s TXT: rcode %s answer %v\n%s", inst, r.Rcode, r.Answer, out)
			}
			txt, ok := r.Answer[0].(*dns.TXT)
			if !ok || len(txt.Txt) == 0 || txt.Txt[0] != "txtvers=1" || !slices.Contains(txt.Txt, "port=6103") {
				t.Errorf("%s TXT: %v, want txtvers=1 first and port=6103", inst, r.Answer[0])
			}
		})
	}
}
