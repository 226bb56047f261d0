package e2e_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/testenv"
)

// unboundConf is a recursive resolver that knows one zone, ports.local,
// stubbed to svcdns, and queries it as resolvers do in production: with
// QNAME minimisation (RFC 9156) and RFC 8020 NXDOMAIN cuts.
const unboundConf = `server:
	interface: 127.0.0.1
	port: %[2]d
	do-ip6: no
	do-daemonize: no
	username: ""
	chroot: ""
	directory: %[1]q
	pidfile: %[4]q
	use-syslog: no
	logfile: %[5]q
	# 3 logs every query sent upstream: the test reads them.
	verbosity: 3
	num-threads: 1
	access-control: 127.0.0.0/8 allow
	qname-minimisation: yes
	harden-below-nxdomain: yes
	do-not-query-localhost: no
	# No DNSSEC here: the iterator alone, and ports.local insecure.
	module-config: "iterator"
	domain-insecure: "ports.local"
	# Unbound serves .local as an empty local zone unless told not to.
	local-zone: "local." nodefault
remote-control:
	control-enable: no
stub-zone:
	name: "ports.local"
	stub-addr: 127.0.0.1@%[3]s
`

// freePort returns a port free for both UDP and TCP on 127.0.0.1, for a
// server a test starts. It is drawn below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), where the kernel never puts the source
// port of an outgoing socket: a port from that range, found free and closed
// again, could be taken by any client of a parallel test (dig, a Go
// resolver) before the server binds it, which happened under load. Ports
// handed out are remembered, so two tests of this process never get the
// same one.
func freePort(t testing.TB) int {
	t.Helper()
	lo, hi := 10000, ephemeralLow()
	freePorts.Lock()
	defer freePorts.Unlock()
	for range 1000 {
		port := lo + rand.IntN(hi-lo)
		if freePorts.given[port] {
			continue
		}
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		pc.Close()
		if err != nil {
			continue
		}
		l.Close()
		freePorts.given[port] = true
		return port
	}
	t.Fatalf("no free port for UDP and TCP in %d-%d", lo, hi-1)
	return 0
}

// freePorts holds the ports freePort handed out.
var freePorts = struct {
	sync.Mutex
	given map[int]bool
}{given: map[int]bool{}}

// ephemeralLow is the first port of the kernel's ephemeral range, 32768
// when it cannot be read or leaves too little room below it.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	if n, err := strconv.Atoi(f[0]); err == nil && n >= 20000 {
		return n
	}
	return 32768
}

// startUnbound runs Unbound in the foreground with stub-zone ports.local
// pointed at svcdnsAddr, waits until it answers, and stops it at cleanup.
// It returns Unbound's address and the path of its log.
func startUnbound(t *testing.T, svcdnsAddr string) (addr, logPath string) {
	t.Helper()
	_, svcPort, err := net.SplitHostPort(svcdnsAddr)
	if err != nil {
		t.Fatal(err)
	}
	return runUnbound(t, func(dir string, port int, pidfile, logPath string) string {
		return fmt.Sprintf(unboundConf, dir, port, svcPort, pidfile, logPath)
	})
}

// runUnbound runs Unbound with the configuration conf makes for its
// directory, port, pid file and log, as startUnbound does.
func runUnbound(t *testing.T, conf func(dir string, port int, pidfile, logPath string) string) (addr, logPath string) {
	t.Helper()
	bin := testenv.Tool(t, "unbound")
	check := testenv.Tool(t, "unbound-checkconf")
	dir := t.TempDir()
	confPath := filepath.Join(dir, "unbound.conf")
	logPath = filepath.Join(dir, "unbound.log")
	port := freePort(t)
	if err := os.WriteFile(confPath, []byte(conf(dir, port, filepath.Join(dir, "unbound.pid"), logPath)), 0o644); err != nil {
		t.Fatal(err)
	}
	runTool(t, check, confPath)

	cmd := exec.Command(bin, "-d", "-c", confPath)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start unbound: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	t.Cleanup(func() {
		if !exited {
			stopProcess(t, "unbound", cmd, done)
		}
		if t.Failed() {
			log, _ := os.ReadFile(logPath)
			t.Logf("unbound output:\n%s\nunbound log:\n%s", out.String(), tail(string(log), 32<<10))
		}
	})
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// Unbound answers version.server CH TXT itself: ready without
	// asking svcdns anything.
	probe := new(dns.Msg)
	probe.SetQuestion("version.server.", dns.TypeTXT)
	probe.Question[0].Qclass = dns.ClassCHAOS
	c := &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-done:
			exited = true
			t.Fatalf("unbound exited: %v\n%s", err, out.String())
		default:
		}
		if _, _, err := c.Exchange(probe, addr); err == nil {
			return addr, logPath
		}
		if time.Now().After(deadline) {
			t.Fatalf("unbound not answering on %s after 15s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUnboundStub resolves names of the zone through Unbound, which
// reaches svcdns as a stub zone with QNAME minimisation on: every answer
// comes back through a resolver, and minimised queries for the empty
// non-terminals on the way (_tcp.ports.local) do not break resolution.
func TestUnboundStub(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	addr, logPath := startUnbound(t, srv.Addr)
	dig := clients[0]

	// In order: Unbound's cache and its NXDOMAIN cuts carry from one
	// question to the next, as they would in production.
	cases := []struct {
		qname, qtype, rcode string
		check               func(t *testing.T, r *reply)
	}{
		{"_rets._tcp.ports.local", "SRV", "NOERROR", func(t *testing.T, r *reply) {
			if len(r.Answer) != 1 {
				t.Fatalf("answer %v, want one SRV", r.Answer)
			}
			if s, ok := r.Answer[0].(*dns.SRV); !ok || s.Port != 6103 || s.Target != "svc.ports.local." {
				t.Errorf("answer %v, want SRV 6103 svc.ports.local.", r.Answer[0])
			}
		}},
		{"_bmc_ctd_ldap._tcp.ports.local", "SRV", "NOERROR", func(t *testing.T, r *reply) {
			if len(r.Answer) != 2 {
				t.Fatalf("answer %v, want CNAME + SRV", r.Answer)
			}
			if c, ok := r.Answer[0].(*dns.CNAME); !ok || c.Target != "_bmc-ctd-ldap._tcp.ports.local." {
				t.Errorf("answer[0] %v, want CNAME to _bmc-ctd-ldap._tcp.ports.local.", r.Answer[0])
			}
			if s, ok := r.Answer[1].(*dns.SRV); !ok || s.Port != 6301 {
				t.Errorf("answer[1] %v, want SRV 6301", r.Answer[1])
			}
		}},
		{"_bad_name._tcp.ports.local", "SRV", "NXDOMAIN", noAnswer},
		{"_nosuchsvc._udp.ports.local", "SRV", "NXDOMAIN", noAnswer},
		// An NXDOMAIN sibling must not hide the empty non-terminal or
		// the names below it (harden-below-nxdomain).
		{"_udp.ports.local", "SRV", "NOERROR", noAnswer},
		{"_geneve._udp.ports.local", "SRV", "NOERROR", func(t *testing.T, r *reply) {
			if len(r.Answer) != 1 {
				t.Fatalf("answer %v, want one SRV", r.Answer)
			}
			if s, ok := r.Answer[0].(*dns.SRV); !ok || s.Port != 6081 {
				t.Errorf("answer %v, want SRV 6081", r.Answer[0])
			}
		}},
		{"_6081._udp.ports.local", "PTR", "NOERROR", func(t *testing.T, r *reply) {
			if len(r.Answer) != 1 {
				t.Fatalf("answer %v, want one PTR", r.Answer)
			}
			if p, ok := r.Answer[0].(*dns.PTR); !ok || p.Ptr != "_geneve._udp.ports.local." {
				t.Errorf("answer %v, want PTR _geneve._udp.ports.local.", r.Answer[0])
			}
		}},
		// A DNS-SD instance: three labels below the empty non-terminal.
		{"RETS._rets._tcp.ports.local", "SRV", "NOERROR", func(t *testing.T, r *reply) {
			if len(r.Answer) != 1 {
				t.Fatalf("answer %v, want one SRV", r.Answer)
			}
			if s, ok := r.Answer[0].(*dns.SRV); !ok || s.Port != 6103 {
				t.Errorf("answer %v, want SRV 6103", r.Answer[0])
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.qname+"/"+tc.qtype, func(t *testing.T) {
			r, out := dig.ask(t, addr, tc.qname, tc.qtype)
			if r.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s\n%s", r.Rcode, tc.rcode, out)
			}
			// A resolver's reply: recursion available, not authoritative.
			if !r.Flags["ra"] || r.Flags["aa"] {
				t.Errorf("flags %v, want ra and not aa from Unbound", r.Flags)
			}
			tc.check(t, r)
		})
	}

	// Unbound really minimised: it asked svcdns about the empty
	// non-terminal _tcp.ports.local on its own before the full names.
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?mi)sending query: _tcp\.ports\.local\. [A-Z]+ IN$`).Match(log) {
		t.Error("unbound log has no minimised query for _tcp.ports.local.: QNAME minimisation was not exercised")
	}
}

func noAnswer(t *testing.T, r *reply) {
	t.Helper()
	if len(r.Answer) != 0 {
		t.Errorf("answer %v, want none", r.Answer)
	}
	if len(r.Authority) != 1 || r.Authority[0].Header().Rrtype != dns.TypeSOA {
		t.Errorf("authority %v, want the SOA", r.Authority)
	}
}
