package main

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/svcdns/svcdns/config"
)

func cookieCfg(dir string, secrets ...string) config.Config {
	c := config.Default()
	c.StateDir = dir
	c.Cookies.Secrets = secrets
	return c
}

// TestCookieSecretGenerated checks the generated secret: made on first
// start into the state directory (0600), the same on every later start,
// never replaced, and an unreadable one is an error, not a new secret.
func TestCookieSecretGenerated(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	c1, warn, err := cookieConfig(cookieCfg(dir), nil, now)
	if err != nil || warn != nil || len(c1.Secrets) != 1 {
		t.Fatalf("first start: %v secrets, warn %v, err %v", len(c1.Secrets), warn, err)
	}
	path := filepath.Join(dir, cookieSecretFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v, mode %v; want 0600", err, fi.Mode())
	}
	b, _ := os.ReadFile(path)
	if strings.TrimSpace(string(b)) != hex.EncodeToString(c1.Secrets[0].Key[:]) {
		t.Errorf("file holds %q, the server uses %x", b, c1.Secrets[0].Key)
	}
	c2, _, err := cookieConfig(cookieCfg(dir), nil, now.Add(time.Hour))
	if err != nil || c2.Secrets[0].Key != c1.Secrets[0].Key {
		t.Errorf("second start: %x (err %v), want the first start's %x", c2.Secrets[0].Key, err, c1.Secrets[0].Key)
	}
	if err := os.WriteFile(path, []byte("not a secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cookieConfig(cookieCfg(dir), nil, now); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("corrupt secret file: err %v, want one naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "not a secret\n" {
		t.Errorf("the corrupt secret file was replaced: %q", b)
	}
	// No writable state directory: a secret all the same, with a warning.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if c, warn, err := cookieConfig(cookieCfg(filepath.Join(blocker, "state")), nil, now); err != nil || warn == nil || len(c.Secrets) != 1 {
		t.Errorf("unwritable state directory: %d secrets, warn %v, err %v; want a secret and a warning", len(c.Secrets), warn, err)
	}
	off := cookieCfg(t.TempDir())
	off.Cookies.Enabled = false
	if c, _, err := cookieConfig(off, nil, now); err != nil || len(c.Secrets) != 0 {
		t.Errorf("cookies off: %d secrets, %v", len(c.Secrets), err)
	}
}

// TestCookieSecretRoll checks a change of secret: the configured list as
// given, plus the secret that stopped making cookies, accepted for an
// hour, across restarts, then dropped.
func TestCookieSecretRoll(t *testing.T) {
	const a, b, c = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c"
	dir := t.TempDir()
	t0 := time.Unix(1_800_000_000, 0)
	keys := func(cfg config.Config, now time.Time) []string {
		t.Helper()
		cc, warn, err := cookieConfig(cfg, nil, now)
		if err != nil || warn != nil {
			t.Fatalf("%v %v", err, warn)
		}
		var out []string
		for _, s := range cc.Secrets {
			k := hex.EncodeToString(s.Key[:])
			if !s.Until.IsZero() {
				k += "@" + s.Until.Sub(t0).String()
			}
			out = append(out, k)
		}
		return out
	}
	for _, step := range []struct {
		name    string
		secrets []string
		at      time.Duration
		want    string
	}{
		{"start with a", []string{a}, 0, a},
		{"restart with a", []string{a}, time.Minute, a},
		{"stage 1: b accepted", []string{a, b}, 2 * time.Minute, a + " " + b},
		{"stage 2: b first", []string{b, a}, 3 * time.Minute, b + " " + a},
		{"stage 3: a removed", []string{b}, 4 * time.Minute, b + " " + a + "@1h3m0s"},
		{"restart within the hour", []string{b}, 30 * time.Minute, b + " " + a + "@1h3m0s"},
		{"straight to c", []string{c}, 40 * time.Minute, c + " " + a + "@1h3m0s " + b + "@1h40m0s"},
		{"after a's hour", []string{c}, 65 * time.Minute, c + " " + b + "@1h40m0s"},
		{"a back", []string{a, c}, 66 * time.Minute, a + " " + c + " " + b + "@1h40m0s"},
		{"after b's hour", []string{a, c}, 101 * time.Minute, a + " " + c},
	} {
		if got := strings.Join(keys(cookieCfg(dir, step.secrets...), t0.Add(step.at)), " "); got != step.want {
			t.Errorf("%s: secrets %s, want %s", step.name, got, step.want)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, cookieStateFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file: %v %v, want 0600", err, fi)
	}
	if _, err := os.Stat(filepath.Join(dir, cookieSecretFile)); err == nil {
		t.Error("a secret was generated although secrets are configured")
	}
}
