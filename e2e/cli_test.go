package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/testenv"
)

// svcdnsRun runs the svcdns binary with args in the test's environment less
// its SVCDNS_* variables and returns stdout, stderr and the exit status.
func svcdnsRun(t testing.TB, args ...string) (string, string, int) {
	t.Helper()
	// Exporting the full registry's signed zone takes a while under -race.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, svcdnsBin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SVCDNS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return o.String(), e.String(), 0
	case errors.As(err, &ee):
		return o.String(), e.String(), ee.ExitCode()
	}
	t.Fatalf("svcdns %s: %v", strings.Join(args, " "), err)
	return "", "", -1
}

// TestSecondInstance: a second svcdns started beside a running one with
// only --listen changed starts and answers (nothing else listens by
// default); one started on the same address exits at once, saying the
// address is taken once and how to pick another; so does an explicitly
// asked metrics address that is taken.
func TestSecondInstance(t *testing.T) {
	// spawnServer passes only --listen 127.0.0.1:0 (and JSON logs): both
	// run on every other default, metrics_listen included.
	first := spawnServer(t, nil, nil)
	second := spawnServer(t, nil, nil)
	for _, addr := range []string{first.Addr, second.Addr} {
		m := new(dns.Msg)
		m.SetQuestion("_rets._tcp.ports.local.", dns.TypeSRV)
		r, err := dns.Exchange(m, addr)
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("instance on %s: %v %v", addr, r, err)
		}
	}

	_, stderr, code := svcdnsRun(t, "serve", "--listen", first.Addr)
	want := "svcdns serve: listen tcp " + first.Addr + ": bind: address already in use; "
	if code != 1 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "use --listen to pick another") {
		t.Errorf("same --listen: exit %d, stderr:\n%s\nwant %q ... use --listen to pick another", code, stderr, want)
	}
	if n := strings.Count(stderr, "address already in use"); n != 1 {
		t.Errorf("same --listen: the error is said %d times:\n%s", n, stderr)
	}

	// The first instance's DNS port is a taken TCP port for metrics.
	_, stderr, code = svcdnsRun(t, "serve", "--listen", "127.0.0.1:0", "--metrics-listen", first.Addr)
	if code != 1 || !strings.Contains(stderr, "svcdns serve: listen tcp "+first.Addr+": bind: address already in use; ") ||
		!strings.Contains(stderr, "use --metrics-listen to pick another") {
		t.Errorf("taken --metrics-listen: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestPrivilegedPortAdvice runs svcdns as nobody in a network namespace of
// its own (so nothing outside it is touched) with --listen :53: the error
// names the capability, setcap and the systemd unit.
func TestPrivilegedPortAdvice(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root, to start svcdns as another user in a network namespace")
	}
	// nobody must be able to run the binary: a copy in a directory it can read.
	dir, err := os.MkdirTemp("", "svcdns-i17-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "svcdns")
	copyFile(t, svcdnsBin, bin, 0o755)
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--listen", ":53", "--log-level", "error")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "XDG_CACHE_HOME=" + dir}
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET,
		Credential: &syscall.Credential{Uid: 65534, Gid: 65534},
		Pdeathsig:  syscall.SIGKILL,
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("svcdns --listen :53 as nobody: %v, want exit status 1\n%s", err, stderr.String())
	}
	got := stderr.String()
	for _, w := range []string{"svcdns: listen tcp :53: bind: permission denied; ", "CAP_NET_BIND_SERVICE",
		"deploy/svcdns.service", "setcap cap_net_bind_service=+ep " + bin, "--listen with a port of 1024 or more"} {
		if !strings.Contains(got, w) {
			t.Errorf("stderr lacks %q:\n%s", w, got)
		}
	}
	if n := strings.Count(got, "permission denied"); n != 1 {
		t.Errorf("permission denied said %d times:\n%s", n, got)
	}
}

func copyFile(t testing.TB, from, to string, perm os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// msgID is the id in a printed message header.
var msgID = regexp.MustCompile(`id: \d+`)

// TestLookupMatchesServer asks `svcdns lookup` and a running server the
// same questions: the printed replies agree in everything but the message
// ID (rcode, flags, every section), inside the zone and outside it, for
// relative names, absolute ones and names already under the origin.
func TestLookupMatchesServer(t *testing.T) {
	srv := startServer(t)
	for _, tc := range []struct {
		arg, qtype string
		asked      string // the name the server is asked
		rcode      int
	}{
		{"_rets._tcp", "SRV", "_rets._tcp.ports.local.", dns.RcodeSuccess},
		{"_rets._tcp.ports.local", "SRV", "_rets._tcp.ports.local.", dns.RcodeSuccess},
		{"_RETS._Tcp.Ports.LOCAL.", "SRV", "_RETS._Tcp.Ports.LOCAL.", dns.RcodeSuccess},
		{"_rets._tcp", "TXT", "_rets._tcp.ports.local.", dns.RcodeSuccess},
		{"_bmc_ctd_ldap._tcp", "SRV", "_bmc_ctd_ldap._tcp.ports.local.", dns.RcodeSuccess},
		{"_bmc_ldap!._tcp", "SRV", "_bmc_ldap!._tcp.ports.local.", dns.RcodeNameError},
		{"_6081._udp", "TXT", "_6081._udp.ports.local.", dns.RcodeSuccess},
		{"_6081._udp", "PTR", "_6081._udp.ports.local.", dns.RcodeSuccess},
		{"_udp", "SRV", "_udp.ports.local.", dns.RcodeSuccess},
		{"b._dns-sd._udp", "PTR", "b._dns-sd._udp.ports.local.", dns.RcodeSuccess},
		{"_services._dns-sd._udp.a.tcp", "PTR", "_services._dns-sd._udp.a.tcp.ports.local.", dns.RcodeSuccess},
		{"ports.local.", "SOA", "ports.local.", dns.RcodeSuccess},
		{"ports.local", "ANY", "ports.local.", dns.RcodeSuccess},
		{"nothing-here", "TXT", "nothing-here.ports.local.", dns.RcodeNameError},
		{"example.com", "A", "example.com.ports.local.", dns.RcodeNameError},
		{"example.com.", "A", "example.com.", dns.RcodeRefused},
		{"local.", "SOA", "local.", dns.RcodeRefused},
		{".", "NS", ".", dns.RcodeRefused},
	} {
		t.Run(tc.arg+"/"+tc.qtype, func(t *testing.T) {
			out, errs, code := svcdnsRun(t, "lookup", tc.arg, tc.qtype)
			if code != 0 {
				t.Fatalf("lookup: exit %d: %s", code, errs)
			}
			q := new(dns.Msg)
			q.SetQuestion(tc.asked, dns.StringToType[tc.qtype])
			q.SetEdns0(1232, false)
			c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
			r, _, err := c.Exchange(q, srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != tc.rcode {
				t.Errorf("server rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			got := msgID.ReplaceAllString(strings.TrimSpace(out), "id: N")
			want := msgID.ReplaceAllString(strings.TrimSpace(r.String()), "id: N")
			if got != want {
				t.Errorf("lookup %s %s printed\n%s\nthe server answered\n%s", tc.arg, tc.qtype, got, want)
			}
		})
	}
}
