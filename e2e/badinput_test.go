package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestBadInputAtStart gives `svcdns serve` a bad config key, a bad listen
// address and a registry with a bad row: each must stop the process with
// a non-zero status and a message that says what and where.
func TestBadInputAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	config := filepath.Join(dir, "svcdns.yaml")
	if err := os.WriteFile(config, []byte("orgin: example.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	csv := filepath.Join(dir, "bad-registry.csv")
	rows := "Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,Registration Date,Modification Date,Reference,Service Code,Unauthorized Use Reported,Assignment Notes\n" +
		"good,1234,tcp,A good row,,,,,,,,\n" +
		"toobig,70000,tcp,Port out of range,,,,,,,,\n"
	if err := os.WriteFile(csv, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want []string // each must appear in stderr
	}{
		{"typo in config key", []string{"--config", config}, []string{"orgin"}},
		{"listen port out of range", []string{"--listen", "127.0.0.1:99999"}, []string{"listen", "99999"}},
		{"registry row with a bad port", []string{"--registry", csv}, []string{csv, "line 3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "", "--log-format", "json"}, tc.args...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, svcdnsBin, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("svcdns %s still running after 30s: it accepted the bad input\n%s", strings.Join(args, " "), stderr.String())
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() <= 0 {
				t.Fatalf("svcdns %s: %v, want a non-zero exit status\n%s", strings.Join(args, " "), err, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr does not name %q:\n%s", w, stderr.String())
				}
			}
			if strings.Contains(stderr.String(), `"msg":"ready"`) {
				t.Errorf("svcdns said ready before failing:\n%s", stderr.String())
			}
		})
	}
}

// TestListenAddressInUse starts a second server on the address the first
// one serves: like any daemon, it must fail to bind (address in use) and
// exit non-zero, not share the port with the first and answer part of its
// queries.
func TestListenAddressInUse(t *testing.T) {
	t.Parallel()
	first := startServer(t)
	args := []string{"serve", "--listen", first.Addr, "--metrics-listen", "", "--log-format", "json", "--origin", "second.test."}
	cmd := exec.Command(svcdnsBin, args...)
	w := &readyWatcher{ready: make(chan string, 1)}
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() <= 0 {
			t.Errorf("second svcdns on %s: %v, want a non-zero exit", first.Addr, err)
		}
		if !strings.Contains(w.String(), first.Addr) {
			t.Errorf("stderr does not name the address %s:\n%s", first.Addr, w.String())
		}
	case <-w.ready:
		// Both processes now hold the port: count who answers.
		second := 0
		for range 16 {
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			m := new(dns.Msg)
			m.SetQuestion("second.test.", dns.TypeSOA)
			if r, _, err := c.Exchange(m, first.Addr); err == nil && r.Rcode == dns.RcodeSuccess {
				second++
			}
		}
		t.Errorf("a second svcdns started on %s, already served by the first (SO_REUSEPORT): "+
			"it answered %d of 16 UDP queries sent to the first server's address\n%s", first.Addr, second, w.String())
		stopProcess(t, "second svcdns", cmd, done)
	case <-time.After(readyTimeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("second svcdns neither failed nor became ready in %v", readyTimeout)
	}
}
