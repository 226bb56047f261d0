package dnssec_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/dnssec"
	"github.com/svcdns/svcdns/internal/testenv"
)

func run(t testing.TB, dir, tool string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Tool(t, tool), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// bindTimes reads `dnssec-settime -up all` (times as Unix seconds) into
// the fields of a Timing.
func bindTimes(t testing.TB, dir, base string) dnssec.Timing {
	t.Helper()
	var tm dnssec.Timing
	fields := map[string]*time.Time{"Created": &tm.Created, "Publish": &tm.Publish, "Activate": &tm.Activate,
		"Inactive": &tm.Inactive, "Delete": &tm.Delete, "SYNC Publish": &tm.SyncPublish, "SYNC Delete": &tm.SyncDelete}
	for _, line := range strings.Split(run(t, dir, "dnssec-settime", "-up", "all", base), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if dst, known := fields[k]; ok && known && v != "UNSET" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("dnssec-settime line %q", line)
			}
			*dst = time.Unix(n, 0).UTC()
		}
	}
	return tm
}

// TestReadBINDKeys reads keys made by BIND's dnssec-keygen, with timing
// set by dnssec-settime, and gets the tags, roles and times BIND's own
// tools report.
func TestReadBINDKeys(t *testing.T) {
	dir := t.TempDir()
	ksk := strings.TrimSpace(run(t, dir, "dnssec-keygen", "-q", "-a", "ECDSAP256SHA256", "-f", "KSK", "ports.local"))
	zsk := strings.TrimSpace(run(t, dir, "dnssec-keygen", "-q", "-a", "ED25519", "ports.local"))
	run(t, dir, "dnssec-settime", "-I", "+3600", "-D", "+7200", "-P", "sync", "+60", "-D", "sync", "+600", ksk)
	run(t, dir, "dnssec-settime", "-P", "+1800", "-A", "+2700", zsk)
	// A key of another zone in the same directory is not read.
	run(t, dir, "dnssec-keygen", "-q", "-a", "ED25519", "example.com")

	keys, err := dnssec.ReadKeyDir(dir, "Ports.Local")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("%d keys read, want 2", len(keys))
	}
	for _, k := range keys {
		base := filepath.Base(k.File)
		if base != ksk && base != zsk {
			t.Errorf("key %s from %s", k, k.File)
		}
		if want := base == ksk; k.SEP() != want {
			t.Errorf("%s: SEP %v, want %v", base, k.SEP(), want)
		}
		if want := dnssec.KeyBase(origin, k.DNSKEY.Algorithm, k.Tag()); base != want {
			t.Errorf("%s: tag %d and algorithm %d make %s", base, k.Tag(), k.DNSKEY.Algorithm, want)
		}
		if got, want := k.Timing, bindTimes(t, dir, base); got != want {
			t.Errorf("%s: timing\n got %+v\nwant %+v (dnssec-settime)", base, got, want)
		}
	}
}

// TestWrittenKeysWorkWithBIND: keys svcdns generates are BIND key files:
// dnssec-settime reads their times back, dnssec-dsfromkey computes the DS
// svcdns computes, and the private half is 0600.
func TestWrittenKeysWorkWithBIND(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	now := time.Now().UTC().Truncate(time.Second)
	keys, generated, err := dnssec.EnsureKeys(dir, origin, dns.ECDSAP256SHA256, true, now)
	if err != nil || !generated || len(keys) != 2 {
		t.Fatalf("EnsureKeys: %d keys, generated %v, %v", len(keys), generated, err)
	}
	for _, k := range keys {
		base := filepath.Base(k.File)
		if got := bindTimes(t, dir, base); got != k.Timing {
			t.Errorf("%s: dnssec-settime reads %+v, svcdns wrote %+v", base, got, k.Timing)
		}
		ds, err := dnssec.DS([]*dnssec.Key{k}, dns.SHA256, 3600)
		if err != nil {
			t.Fatal(err)
		}
		bind := strings.Fields(run(t, dir, "dnssec-dsfromkey", "-2", base+".key"))
		ours := []string{ds[0].Hdr.Name, "IN", "DS", strconv.Itoa(int(ds[0].KeyTag)), strconv.Itoa(int(ds[0].Algorithm)), "2", ds[0].Digest}
		if !slices.Equal(bind, ours) {
			t.Errorf("%s: dnssec-dsfromkey %q, svcdns %q", base, bind, ours)
		}
		for ext, perm := range map[string]os.FileMode{".private": 0o600, ".key": 0o644} {
			fi, err := os.Stat(k.File + ext)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != perm {
				t.Errorf("%s%s: mode %v, want %v", base, ext, fi.Mode().Perm(), perm)
			}
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("key directory: %v %v, want mode 0700", fi.Mode(), err)
	}
}

// TestEnsureKeysNeverRegenerates: the second start reuses the keys; a key
// file that does not read is an error, never a reason to make new keys.
func TestEnsureKeysNeverRegenerates(t *testing.T) {
	dir := t.TempDir()
	first, generated, err := dnssec.EnsureKeys(dir, origin, dns.ED25519, false, epoch0)
	if err != nil || !generated || len(first) != 1 {
		t.Fatalf("first: %d keys, generated %v, %v", len(first), generated, err)
	}
	again, generated, err := dnssec.EnsureKeys(dir, origin, dns.ECDSAP256SHA256, true, epoch0.Add(time.Hour))
	if err != nil || generated {
		t.Fatalf("second: generated %v, %v", generated, err)
	}
	if len(again) != 1 || again[0].Tag() != first[0].Tag() || again[0].DNSKEY.PublicKey != first[0].DNSKEY.PublicKey {
		t.Fatalf("second start read %v, want the key made first, %v", again, first)
	}
	if err := os.WriteFile(first[0].File+".private", []byte("Private-key-format: v1.3\nAlgorithm: 15 (ED25519)\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if _, _, err := dnssec.EnsureKeys(dir, origin, dns.ED25519, false, epoch0); !errors.Is(err, dnssec.ErrKeyFile) {
		t.Fatalf("a broken key file: error %v, want ErrKeyFile", err)
	}
	if after, _ := os.ReadDir(dir); len(after) != len(entries) {
		t.Errorf("the key directory went from %d to %d files", len(entries), len(after))
	}
	if err := dnssec.WriteKey(dir, first[0]); !errors.Is(err, dnssec.ErrKeyFile) {
		t.Errorf("WriteKey over an existing key: %v, want ErrKeyFile", err)
	}
}

// TestReadKeyErrors: a bad key file is an error that names the file and
// says what is wrong.
func TestReadKeyErrors(t *testing.T) {
	good, err := dnssec.GenerateKey(origin, dns.ECDSAP256SHA256, true, epoch0)
	if err != nil {
		t.Fatal(err)
	}
	other, err := dnssec.GenerateKey(origin, dns.ECDSAP256SHA256, true, epoch0)
	if err != nil {
		t.Fatal(err)
	}
	pubLine := func(k *dnssec.Key) string {
		return "ports.local. IN DNSKEY " + strings.TrimPrefix(k.DNSKEY.String(), k.DNSKEY.Hdr.String()) + "\n"
	}
	priv := func(k *dnssec.Key, extra string) string { return k.DNSKEY.PrivateKeyString(k.Signer) + extra }
	base := dnssec.KeyBase(origin, good.DNSKEY.Algorithm, good.Tag())
	cases := []struct {
		name      string
		file      string // base name written
		pub, priv string
		want      string
	}{
		{"ok", base, pubLine(good), priv(good, "Activate: 20261130000000\n"), ""},
		{"private of another key", base, pubLine(good), priv(other, ""), "does not match the DNSKEY"},
		{"no private", base, pubLine(good), "", "no private key"},
		{"bad time", base, pubLine(good), priv(good, "Publish: tomorrow\n"), `line 4: publish "tomorrow"`},
		{"revoke", base, pubLine(good), priv(good, "Revoke: 20261130000000\n"), "Revoke"},
		{"not a DNSKEY", base, "ports.local. IN A 127.0.0.1\n", priv(good, ""), "want DNSKEY"},
		{"no record", base, "; only a comment\n", priv(good, ""), "no DNSKEY record"},
		{"algorithm", base, "ports.local. IN DNSKEY 257 3 5 AwEAAa==\n", priv(good, ""), "not one svcdns signs with"},
		{"file name", dnssec.KeyBase(origin, 13, good.Tag()+1), pubLine(good), priv(good, ""), "the key it holds is"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, tc.file)
			if err := os.WriteFile(path+".key", []byte(tc.pub), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.priv != "" {
				if err := os.WriteFile(path+".private", []byte(tc.priv), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			k, err := dnssec.ReadKey(path + ".key")
			if tc.want == "" {
				if err != nil || k.Tag() != good.Tag() || !k.Timing.Activate.Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)) {
					t.Fatalf("ReadKey: %v %v", k, err)
				}
				return
			}
			if !errors.Is(err, dnssec.ErrKeyFile) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.file) {
				t.Fatalf("error %v, want ErrKeyFile naming %s and saying %q", err, tc.file, tc.want)
			}
		})
	}
}

// TestKeyStates walks a key through its life as dnssec-settime sets it.
func TestKeyStates(t *testing.T) {
	at := func(h int) time.Time { return epoch0.Add(time.Duration(h) * time.Hour) }
	k := newKey(t, dns.ECDSAP256SHA256, false)
	k.Timing = dnssec.Timing{Created: at(0), Publish: at(1), Activate: at(2), Inactive: at(3), Delete: at(4)}
	cases := []struct {
		hour int
		want dnssec.State
	}{{0, dnssec.Unpublished}, {1, dnssec.Published}, {2, dnssec.Active}, {3, dnssec.Retired}, {4, dnssec.Removed}, {9, dnssec.Removed}}
	for _, tc := range cases {
		if got := k.StateAt(at(tc.hour)); got != tc.want {
			t.Errorf("hour %d: %v, want %v", tc.hour, got, tc.want)
		}
	}
	// Without Publish a key is published at activation; without either
	// (dnssec-keygen -G) it is never used.
	k.Timing = dnssec.Timing{Activate: at(2)}
	if k.StateAt(at(1)) != dnssec.Unpublished || k.StateAt(at(2)) != dnssec.Active {
		t.Errorf("no Publish: %v at 1, %v at 2", k.StateAt(at(1)), k.StateAt(at(2)))
	}
	k.Timing = dnssec.Timing{Created: at(0)}
	if k.StateAt(at(5)) != dnssec.Unpublished {
		t.Errorf("neither Publish nor Activate: %v, want unpublished", k.StateAt(at(5)))
	}
}

// TestNextEvent: the signer's next event is the first key timing event
// ahead, or the next signing epoch when none comes sooner.
func TestNextEvent(t *testing.T) {
	old, next := newKey(t, dns.ECDSAP256SHA256, true), newKey(t, dns.ECDSAP256SHA256, true)
	next.Timing = dnssec.Timing{Publish: epoch0.Add(2 * time.Hour), Activate: epoch0.Add(5 * time.Hour)}
	s := newSigner(t, old, next)
	if got, want := s.NextEvent(), epoch0.Add(2*time.Hour); !got.Equal(want) {
		t.Errorf("next event %v, want the publication at %v", got, want)
	}
	s = newSigner(t, old)
	p := s.Policy()
	if got, want := s.NextEvent(), s.Epoch(epoch0).Add(p.Validity-p.Refresh); !got.Equal(want) {
		t.Errorf("next event %v, want the next epoch at %v", got, want)
	}
}
