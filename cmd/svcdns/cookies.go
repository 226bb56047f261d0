package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/svcdns/svcdns/config"
	"github.com/svcdns/svcdns/internal/atomicfile"
	"github.com/svcdns/svcdns/resolver"
)

// Files in the state directory.
const (
	// cookieSecretFile holds the generated secret (hex), made once and
	// never replaced: a restart keeps every client's cookie valid.
	cookieSecretFile = "cookie-secret"
	// cookieStateFile remembers the secret last used to make cookies, and
	// the secrets retired since with when they stop being accepted, so
	// that a changed secret is honoured for its grace period across a
	// restart too.
	cookieStateFile = "cookie-secrets.state"
)

// cookieGrace is how long a secret that stopped making cookies is still
// accepted: a cookie lives an hour (RFC 9018 §4.3), so every cookie it made
// that would still be valid stays valid.
const cookieGrace = time.Hour

// cookieConfig resolves the DNS cookie settings: the configured secrets,
// or the secret generated once into the state directory, plus the secrets
// retired less than cookieGrace ago. err means cookies cannot be served as
// configured (a secret file that is there but not a secret). warn is a
// problem that costs only continuity: no state directory to keep a
// generated secret in (it then lives until the process exits, and
// clients' cookies go stale at a restart, as BIND's do without
// cookie-secret), or a state file that cannot be written (no grace period
// for a changed secret after a restart).
func cookieConfig(cfg config.Config, env []string, now time.Time) (c resolver.CookieConfig, warn, err error) {
	if !cfg.Cookies.Enabled {
		return c, nil, nil
	}
	c.RequireUDP = cfg.Cookies.RequireCookie
	keys := slices.Clone(cfg.Cookies.Secrets) // validated: 32 lower-case hex digits
	dir, dirErr := config.StateDirectory(cfg, env)
	if len(keys) == 0 {
		path := ""
		if dirErr == nil {
			path = filepath.Join(dir, cookieSecretFile)
		}
		k, kwarn, err := generatedCookieSecret(path)
		if err != nil {
			return c, nil, err
		}
		if kwarn == nil && dirErr != nil {
			kwarn = fmt.Errorf("cookies: no state directory to keep the generated secret in (set state_dir): %w", dirErr)
		}
		warn = kwarn
		keys = []string{k}
	}
	var retired []retiredSecret
	if dirErr == nil {
		var rwarn error
		retired, rwarn = rollCookieState(filepath.Join(dir, cookieStateFile), keys, now)
		warn = errors.Join(warn, rwarn)
	}
	for _, k := range keys {
		c.Secrets = append(c.Secrets, resolver.CookieSecret{Key: mustKey(k)})
	}
	for _, r := range retired {
		c.Secrets = append(c.Secrets, resolver.CookieSecret{Key: mustKey(r.key), Until: r.until})
	}
	return c, warn, nil
}

func mustKey(h string) (k [16]byte) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != len(k) {
		panic("cookies: secret not validated")
	}
	copy(k[:], b)
	return k
}

// generatedCookieSecret reads the secret at path, or makes one there (0600)
// when there is no file. A file that is there but unreadable or not a
// secret is an error: replacing it would invalidate every client's cookie
// and, in an anycast set, break the set. A secret that cannot be written
// (or path "") is used all the same, with a warning.
func generatedCookieSecret(path string) (key string, warn, err error) {
	if path != "" {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			k := strings.ToLower(strings.TrimSpace(string(b)))
			if !isSecret(k) {
				return "", nil, fmt.Errorf("cookies: %s: not a 128-bit secret in hex (32 hex digits); fix or remove it", path)
			}
			return k, nil, nil
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
			// There may be a secret we cannot read: never replace it.
			return "", nil, fmt.Errorf("cookies: reading the secret: %w", err)
		}
	}
	var k [16]byte
	if _, err := rand.Read(k[:]); err != nil {
		return "", nil, fmt.Errorf("cookies: generating a secret: %w", err)
	}
	h := hex.EncodeToString(k[:])
	if path != "" {
		if _, err := atomicfile.Write(path, []byte(h+"\n"), 0o600); err != nil {
			warn = fmt.Errorf("cookies: the generated secret is not kept, so clients' cookies go stale at a restart: %w", err)
		}
	}
	return h, warn, nil
}

// retiredSecret is a secret accepted until a time.
type retiredSecret struct {
	key   string
	until time.Time
}

// rollCookieState reads the state file, retires the secret last used to
// make cookies when it is no longer the first of keys (it stays accepted
// for cookieGrace from then, whether or not it is still configured),
// forgets retirements past their end, writes the file back when that
// changed anything, and returns the retired secrets still accepted that
// keys does not list. A state file that cannot be read or written costs
// only the grace period, so it is reported, not fatal.
func rollCookieState(path string, keys []string, now time.Time) ([]retiredSecret, error) {
	current, retired, readErr := readCookieState(path)
	var keep []retiredSecret
	for _, r := range retired {
		if r.until.After(now) && r.key != keys[0] && r.key != current {
			keep = append(keep, r)
		}
	}
	if current != "" && current != keys[0] {
		keep = append(keep, retiredSecret{current, now.Add(cookieGrace)})
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# svcdns DNS cookie secrets: do not edit (docs/cookies.md)\ncurrent %s\n", keys[0])
	for _, r := range keep {
		fmt.Fprintf(&b, "retired %s %d\n", r.key, r.until.Unix())
	}
	accepted := slices.DeleteFunc(slices.Clone(keep), func(r retiredSecret) bool { return slices.Contains(keys, r.key) })
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b.Bytes()) {
		return accepted, readErr
	}
	if _, err := atomicfile.Write(path, b.Bytes(), 0o600); err != nil {
		return accepted, errors.Join(readErr, fmt.Errorf("cookies: a changed secret gets no grace period after a restart: %w", err))
	}
	return accepted, readErr
}

// readCookieState parses the state file; a missing file is empty.
func readCookieState(path string) (current string, retired []retiredSecret, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("cookies: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) == 0 || strings.HasPrefix(fields[0], "#"):
		case fields[0] == "current" && len(fields) == 2 && isSecret(fields[1]):
			current = fields[1]
		case fields[0] == "retired" && len(fields) == 3 && isSecret(fields[1]):
			sec, perr := strconv.ParseInt(fields[2], 10, 64)
			if perr != nil {
				return current, retired, fmt.Errorf("cookies: %s:%d: bad time %q", path, n, fields[2])
			}
			retired = append(retired, retiredSecret{fields[1], time.Unix(sec, 0)})
		default:
			return current, retired, fmt.Errorf("cookies: %s:%d: not a line of the state file", path, n)
		}
	}
	return current, retired, sc.Err()
}

func isSecret(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 16
}
