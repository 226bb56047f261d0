package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDNSSECCommands: `dnssec ds` generates the lab keys on first use in
// the state directory and prints the same DS every time after (the keys
// are never made again); `dnssec keys` lists them; both refuse a
// configuration without DNSSEC; `zone export` writes the signed zone.
func TestDNSSECCommands(t *testing.T) {
	state := t.TempDir()
	env := []string{"XDG_CACHE_HOME=" + t.TempDir(), "SVCDNS_STATE_DIR=" + state, "SVCDNS_DNSSEC_ENABLED=true", "SVCDNS_DNSSEC_KEYS=ksk+zsk"}
	runEnv := func(env []string, args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, nil, &out, &errb, env)
		return out.String(), errb.String(), code
	}
	first, errs, code := runEnv(env, "dnssec", "ds")
	if code != 0 || strings.Count(first, "\tIN\tDS\t") != 1 || !strings.Contains(first, " 13 2 ") {
		t.Fatalf("dnssec ds: exit %d\n%s%s", code, first, errs)
	}
	if !strings.Contains(errs, "generated a key") {
		t.Errorf("no log of the generated keys:\n%s", errs)
	}
	files, _ := filepath.Glob(filepath.Join(state, "dnssec", "Kports.local.+013+*"))
	if len(files) != 4 {
		t.Fatalf("key files %v, want a KSK and a ZSK (.key and .private each)", files)
	}
	again, errs, _ := runEnv(env, "dnssec", "ds")
	if again != first || strings.Contains(errs, "generated") {
		t.Errorf("second run printed\n%s(log %s), want the same DS from the same keys\n%s", again, errs, first)
	}
	bind, _, code := runEnv(env, "dnssec", "ds", "--format", "bind", "--digest", "sha384")
	if code != 0 || !strings.Contains(bind, `"ports.local." static-ds`) || !strings.Contains(bind, " 13 4 ") {
		t.Errorf("--format bind --digest sha384: exit %d\n%s", code, bind)
	}
	keys, _, code := runEnv(env, "dnssec", "keys")
	if code != 0 || strings.Count(keys, "active") != 2 || !strings.Contains(keys, "257") || !strings.Contains(keys, "256") {
		t.Errorf("dnssec keys: exit %d\n%s", code, keys)
	}
	zone, _, code := runEnv(env, "zone", "export")
	if code != 0 || !strings.Contains(zone, "\tRRSIG\t") || !strings.Contains(zone, "\tNSEC\t") {
		t.Errorf("zone export with dnssec.enabled: exit %d, no RRSIG or NSEC", code)
	}
	plain, _, _ := runEnv(env, "zone", "export", "--unsigned")
	if strings.Contains(plain, "\tRRSIG\t") || !strings.Contains(plain, "\tDNSKEY\t") {
		t.Errorf("zone export --unsigned: want the DNSKEYs and no RRSIG")
	}
	for _, args := range [][]string{{"dnssec", "ds"}, {"dnssec", "keys"}} {
		_, errs, code := runEnv([]string{"SVCDNS_STATE_DIR=" + state}, args...)
		if code == 0 || !strings.Contains(errs, "dnssec.enabled is false") {
			t.Errorf("%v without DNSSEC: exit %d, %s", args, code, errs)
		}
	}
	// A key directory without keys is an error that says how to make them.
	empty := t.TempDir()
	_, errs, code = runEnv(append(env, "SVCDNS_DNSSEC_KEY_DIRECTORY="+empty), "dnssec", "ds")
	if code == 0 || !strings.Contains(errs, "dnssec-keygen -K "+empty) {
		t.Errorf("empty key directory: exit %d, %s", code, errs)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("svcdns generated keys into a configured key directory: %v", entries)
	}
}
