package tlscert

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestEnsureSelfSigned(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	cert, key, created, err := EnsureSelfSigned(dir, []string{"ns1.ports.local.", "localhost"}, []netip.Addr{netip.MustParseAddr("192.0.2.1")}, now)
	if err != nil || !created {
		t.Fatalf("first call: created %v, %v", created, err)
	}
	st, err := os.Stat(key)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key %s: %v mode %v, want 0600", key, err, st.Mode().Perm())
	}
	s, err := Open(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf := s.Leaf()
	if err := leaf.VerifyHostname("ns1.ports.local"); err != nil {
		t.Error(err)
	}
	if err := leaf.VerifyHostname("192.0.2.1"); err != nil {
		t.Error(err)
	}
	if leaf.NotAfter.Before(now.Add(365 * 24 * time.Hour)) {
		t.Errorf("lab certificate expires %v: too soon for one that is never regenerated", leaf.NotAfter)
	}
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", leaf.PublicKey)
	}
	// Never overwritten.
	before, _ := os.ReadFile(cert)
	if _, _, created, err := EnsureSelfSigned(dir, []string{"other.example."}, nil, now); err != nil || created {
		t.Fatalf("second call: created %v, %v", created, err)
	}
	after, _ := os.ReadFile(cert)
	if string(before) != string(after) {
		t.Error("an existing lab certificate was replaced")
	}
	// Half a pair is an error, not a reason to regenerate.
	os.Remove(cert)
	if _, _, _, err := EnsureSelfSigned(dir, nil, nil, now); err == nil {
		t.Error("a key without its certificate: no error")
	}
}

func TestSPKIPin(t *testing.T) {
	cert, key, _, err := EnsureSelfSigned(t.TempDir(), []string{"a."}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(s.Leaf().RawSubjectPublicKeyInfo)
	pin := SPKIPin(s.Leaf())
	if pin != base64.StdEncoding.EncodeToString(sum[:]) || len(pin) != 44 {
		t.Errorf("pin %q", pin)
	}
}

// TestStoreReload swaps a replaced pair in by Watch, keeps the old one
// when the new files are bad, and serves it through GetCertificate.
func TestStoreReload(t *testing.T) {
	dir := t.TempDir()
	a, b := t.TempDir(), t.TempDir()
	certA, keyA, _, _ := EnsureSelfSigned(a, []string{"a."}, nil, time.Now())
	certB, keyB, _, _ := EnsureSelfSigned(b, []string{"b."}, nil, time.Now())
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cp := func(src, dst string) {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		tmp := dst + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, dst); err != nil {
			t.Fatal(err)
		}
	}
	cp(certA, cert)
	cp(keyA, key)
	s, err := Open(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	served := func() string {
		c, err := s.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.DNSNames[0]
	}
	reloads := make(chan error, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Watch(ctx, slog.New(slog.DiscardHandler), func(err error) { reloads <- err }); err != nil {
		t.Fatal(err)
	}
	cp(keyB, key)
	cp(certB, cert)
	waitFor := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for served() != want {
			select {
			case <-reloads:
			case <-deadline:
				t.Fatalf("serving %s, want %s", served(), want)
			}
		}
	}
	waitFor("b")
	// A certificate that is not one: the reload fails, b stays.
	if err := os.WriteFile(cert, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-reloads:
		for err == nil { // a reload of the half-written pair may come first
			err = <-reloads
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reload attempt after the file changed")
	}
	if served() != "b" {
		t.Errorf("after a bad file: serving %s, want b still", served())
	}
	if err := s.Reload(); err == nil {
		t.Error("Reload of a bad file: no error")
	}
}
