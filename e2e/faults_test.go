package e2e_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/testenv"
)

// TestFaultsKeepServing breaks the files a running server depends on, one
// fault after another: the registry deleted, truncated, swapped for
// garbage; the config given a bad value. Each is logged with the reason
// and counted, and the zone keeps answering as before.
func TestFaultsKeepServing(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "registry.txt")
	excerpt, err := os.ReadFile(testenv.Excerpt())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(reg, excerpt, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "svcdns.yaml")
	if err := os.WriteFile(conf, []byte("ttl:\n  srv: 600\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--config", conf, "--registry", reg)
	check := func(step string) {
		t.Helper()
		for _, network := range []string{"udp", "tcp"} {
			r := query(t, network, s.Addr, "_rets._tcp.ports.local.", dns.TypeSRV)
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.SRV).Port != 6103 || r.Answer[0].Header().Ttl != 600 {
				t.Fatalf("after %s, over %s: %v", step, network, r)
			}
		}
	}
	// waitLog waits for the n-th "reload failed" line and returns it.
	waitLog := func(step string, n int) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			lines := []string{}
			for _, l := range strings.Split(s.Stderr(), "\n") {
				if strings.Contains(l, "reload failed") {
					lines = append(lines, l)
				}
			}
			if len(lines) >= n {
				return lines[n-1]
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: no reload failure logged within 10 s:\n%s", step, s.Stderr())
		return ""
	}
	check("start")
	steps := []struct {
		name  string
		fault func() error
		want  string // in the logged reason
	}{
		{"registry deleted", func() error { return os.Remove(reg) }, "no such file"},
		{"registry truncated", func() error { return os.WriteFile(reg, excerpt[:300], 0o644) }, "not an IANA"},
		{"registry garbage", func() error { return os.WriteFile(reg, []byte("\x00\x01garbage\xff"), 0o644) }, "binary"},
		{"config bad value", func() error { return os.WriteFile(conf, []byte("ttl:\n  srv: -5\n"), 0o644) }, "ttl.srv"},
		{"config unknown key", func() error { return os.WriteFile(conf, []byte("ttl:\n  srvv: 5\n"), 0o644) }, "ttl.srvv"},
	}
	for i, st := range steps {
		if err := st.fault(); err != nil {
			t.Fatal(err)
		}
		line := waitLog(st.name, i+1)
		if !strings.Contains(line, st.want) {
			t.Errorf("%s: logged %s, want the reason to mention %q", st.name, line, st.want)
		}
		check(st.name)
		t.Logf("%s: %s", st.name, line)
		// Put the registry back (the config faults need a good one) and
		// let the watcher's reload of it pass before the next fault.
		if i < 2 {
			if err := os.WriteFile(reg, excerpt, 0o644); err != nil {
				t.Fatal(err)
			}
			time.Sleep(600 * time.Millisecond)
		}
	}
}
