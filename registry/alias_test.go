package registry_test

import (
	"slices"
	"testing"

	"github.com/svcdns/svcdns/internal/testenv"
	"github.com/svcdns/svcdns/registry"
)

func TestAliasesResolveOnFullRegistry(t *testing.T) {
	for _, path := range []func(testing.TB) string{testenv.FullXML, testenv.FullCSV} {
		r := parseFile(t, path(t))
		t.Run(r.Format.String(), func(t *testing.T) {
			pairs := r.AliasPairs()
			if len(pairs) != 96 {
				t.Errorf("%d alias pairs, want 96", len(pairs))
			}
			rows := 0
			for i := range r.Records {
				rec := &r.Records[i]
				if rec.Status != registry.Alias {
					continue
				}
				rows++
				if err := registry.ValidateName(rec.AliasOf); err != nil {
					t.Errorf("line %d: replacement of %q is invalid: %v", rec.Line, rec.Name, err)
				}
				repl := r.Lookup(rec.AliasOf, rec.Proto)
				if !slices.ContainsFunc(repl, func(x *registry.Record) bool {
					return x.Status == registry.Assigned && x.HasPort == rec.HasPort && x.Ports == rec.Ports
				}) {
					t.Errorf("line %d: alias %s %s/%s: replacement %q has no row with the same port and protocol",
						rec.Line, rec.Name, rec.Ports, rec.Proto, rec.AliasOf)
				}
				name, recs := r.Resolve(rec.Name, rec.Proto)
				if name != rec.AliasOf || len(recs) == 0 {
					t.Errorf("Resolve(%q) = %q, %d records", rec.Name, name, len(recs))
				}
			}
			if rows != 184 {
				t.Errorf("%d alias rows, want 184", rows)
			}
			if got := r.Invalid(); !slices.Equal(got, []string{"edi_service"}) {
				t.Errorf("invalid names without replacement = %q, want [edi_service]", got)
			}
			for _, verbatim := range []string{"sql*net", "z39.50", "914c/g", "EtherNet/IP-1", "cl/1", "novell-lu6.2", "whois++", "bmc_ctd_ldap"} {
				recs := r.Lookup(verbatim, registry.TCP)
				if len(recs) == 0 || recs[0].Name != verbatim || recs[0].Status != registry.Alias {
					t.Errorf("%q not kept verbatim as an alias: %+v", verbatim, recs)
				}
			}
			if name, _ := r.Resolve("WHOIS++", registry.TCP); name != "whoispp" {
				t.Errorf("Resolve(WHOIS++) = %q, want whoispp (case-insensitive)", name)
			}
		})
	}
}

func TestAliasInExcerpt(t *testing.T) {
	r := parseFile(t, testenv.Excerpt())
	for _, p := range []registry.Protocol{registry.TCP, registry.UDP} {
		name, recs := r.Resolve("BMC_CTD_LDAP", p)
		if name != "bmc-ctd-ldap" || len(recs) != 1 || recs[0].Ports != (registry.PortRange{Lo: 6301, Hi: 6301}) {
			t.Errorf("%v: Resolve(BMC_CTD_LDAP) = %q %+v", p, name, recs)
		}
		if recs[0].Replaces != "bmc_ctd_ldap" {
			t.Errorf("%v: replacement row does not record what it replaces: %q", p, recs[0].Replaces)
		}
	}
	if got := r.AliasPairs(); !slices.Equal(got, []registry.AliasPair{{Alias: "bmc_ctd_ldap", Replacement: "bmc-ctd-ldap"}}) {
		t.Errorf("alias pairs = %v", got)
	}
}
