package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/testenv"
	"github.com/svcdns/svcdns/registry"
)

// netLab is two network namespaces joined by a veth pair: svcdns on one
// side, the clients (Avahi, systemd-resolved, dig) on the other. Nothing
// it sends leaves the two namespaces.
type netLab struct {
	ip                string // the ip command
	srvNS, cliNS      string
	srvIf, cliIf      string
	srvAddr, cliAddr  string
	dir               string
	stopped           []func()
	processesToReport []*labProcess
	toolTimeoutForLab time.Duration
	cliEnv            []string // DBUS_SYSTEM_BUS_ADDRESS once the bus runs
}

// labProcess is a daemon the lab started, with what it printed.
type labProcess struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

func newNetLab(t *testing.T) *netLab {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root, to create network namespaces")
	}
	l := &netLab{ip: testenv.Tool(t, "ip"), dir: t.TempDir(), toolTimeoutForLab: 30 * time.Second,
		srvAddr: "10.211.0.1", cliAddr: "10.211.0.2"}
	id := os.Getpid() % 1000000
	l.srvNS, l.cliNS = fmt.Sprintf("svcdns11s%d", id), fmt.Sprintf("svcdns11c%d", id)
	l.srvIf, l.cliIf = fmt.Sprintf("v11s%d", id), fmt.Sprintf("v11c%d", id)
	t.Cleanup(func() {
		for i := len(l.stopped) - 1; i >= 0; i-- {
			l.stopped[i]()
		}
		if t.Failed() {
			for _, p := range l.processesToReport {
				t.Logf("--- %s ---\n%s", p.name, tail(p.out.String(), 16<<10))
			}
		}
		exec.Command(l.ip, "netns", "del", l.srvNS).Run()
		exec.Command(l.ip, "netns", "del", l.cliNS).Run()
	})
	steps := [][]string{
		{"netns", "add", l.srvNS},
		{"netns", "add", l.cliNS},
		{"link", "add", l.srvIf, "type", "veth", "peer", "name", l.cliIf},
		{"link", "set", l.srvIf, "netns", l.srvNS},
		{"link", "set", l.cliIf, "netns", l.cliNS},
		{"-n", l.srvNS, "addr", "add", l.srvAddr + "/24", "dev", l.srvIf},
		{"-n", l.cliNS, "addr", "add", l.cliAddr + "/24", "dev", l.cliIf},
		{"-n", l.srvNS, "link", "set", "lo", "up"},
		{"-n", l.cliNS, "link", "set", "lo", "up"},
		{"-n", l.srvNS, "link", "set", l.srvIf, "up"},
		{"-n", l.cliNS, "link", "set", l.cliIf, "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command(l.ip, s...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(s, " "), err, out)
		}
	}
	return l
}

// start runs a daemon in namespace ns (in a mount namespace of its own
// when private is set: a tmpfs over /run, and the binds given as
// "file:target"), keeps its output, and stops it at cleanup.
func (l *netLab) start(t *testing.T, name, ns string, env []string, binds []string, argv ...string) *labProcess {
	t.Helper()
	args := []string{"netns", "exec", ns}
	if binds != nil {
		script := "mount -t tmpfs tmpfs /run"
		for _, b := range binds {
			src, dst, _ := strings.Cut(b, ":")
			script += " && mount --bind " + src + " " + dst
		}
		for i, a := range argv {
			argv[i] = strconv.Quote(a)
		}
		script += " && exec " + strings.Join(argv, " ")
		args = append(args, "unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	} else {
		args = append(args, argv...)
	}
	cmd := exec.Command(l.ip, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &labProcess{name: name, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	l.processesToReport = append(l.processesToReport, p)
	l.stopped = append(l.stopped, func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			if name == "svcdns" && cmd.ProcessState.ExitCode() != 0 {
				t.Errorf("svcdns: exit status %d after SIGTERM, want 0", cmd.ProcessState.ExitCode())
			}
		case <-time.After(shutdownTimeout):
			_ = cmd.Process.Kill()
			<-p.done
			t.Errorf("%s: still running %v after SIGTERM; killed", name, shutdownTimeout)
		}
	})
	return p
}

// waitFor waits until the daemon prints want, or fails.
func (p *labProcess) waitFor(t *testing.T, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.out.String(), want) {
		select {
		case <-p.done:
			t.Fatalf("%s exited before printing %q:\n%s", p.name, want, tail(p.out.String(), 8<<10))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q in %v:\n%s", p.name, want, d, tail(p.out.String(), 8<<10))
		}
	}
}

// run runs a client in the clients' namespace and returns its output; a
// non-zero exit fails the test unless ok accepts it.
func (l *netLab) run(t *testing.T, ok func(code int) bool, argv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), l.toolTimeoutForLab)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.ip, append([]string{"netns", "exec", l.cliNS}, argv...)...)
	cmd.Env = append(os.Environ(), l.cliEnv...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		code = -1
		if ee, isExit := err.(*exec.ExitError); isExit {
			code = ee.ExitCode()
		}
		if ok == nil || !ok(code) {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	return string(out)
}

// TestMulticastAndWideAreaDNSSD serves the embedded registry under
// ports.local. (over multicast DNS too) and ports.home.arpa. in one
// network namespace, and browses it from another with the clients people
// run: Avahi over multicast DNS and over wide-area unicast DNS, dig as a
// legacy unicast querier (RFC 6762 §6.7), and systemd-resolved.
func TestMulticastAndWideAreaDNSSD(t *testing.T) {
	for _, tool := range []string{"avahi-daemon", "avahi-browse", "dbus-daemon", "dig", "unshare"} {
		testenv.Tool(t, tool)
	}
	l := newNetLab(t)

	// svcdns: the excerpt under both origins; mDNS on its side of the veth.
	cfg := filepath.Join(l.dir, "svcdns.yaml")
	writeLabFile(t, cfg, fmt.Sprintf(`listen: ["%[1]s:53"]
metrics_listen: ""
log_format: json
origins: [ports.home.arpa.]
target: {name: svc.ports.local., addresses: [%[1]s]}
name_servers: [{name: ns1.ports.local., addresses: [%[1]s]}]
mdns: {interfaces: [%[2]s]}
`, l.srvAddr, l.srvIf))
	svc := l.start(t, "svcdns", l.srvNS, []string{"XDG_CACHE_HOME=" + l.dir}, nil, svcdnsBin, "serve", "--config", cfg)
	svc.waitFor(t, `"msg":"ready"`, readyTimeout)
	svc.waitFor(t, `"host":"svc.ports.local."`, 10*time.Second) // probed and announced (RFC 6762 §8)

	// A private system bus, then Avahi with its pid file and socket in a
	// tmpfs /run of its own and a resolv.conf naming svcdns (wide-area).
	// The bus socket's directory is open to systemd-resolved, which drops
	// to its own user.
	busDir, err := os.MkdirTemp("", "svcdns11-bus-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(busDir) })
	if err := os.Chmod(busDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bus := filepath.Join(busDir, "bus")
	busConf := filepath.Join(l.dir, "bus.conf")
	writeLabFile(t, busConf, `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=`+bus+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/><allow send_type="signal"/><allow send_type="method_return"/><allow send_type="error"/>
    <allow receive_type="method_call"/><allow receive_type="signal"/><allow receive_type="method_return"/><allow receive_type="error"/>
  </policy>
</busconfig>
`)
	dbusd := l.start(t, "dbus-daemon", l.cliNS, nil, nil, testenv.Tool(t, "dbus-daemon"), "--config-file="+busConf, "--nofork", "--nopidfile", "--print-address")
	dbusd.waitFor(t, "unix:path="+bus, 10*time.Second)
	l.cliEnv = []string{"DBUS_SYSTEM_BUS_ADDRESS=unix:path=" + bus}
	resolv := filepath.Join(l.dir, "resolv.conf")
	writeLabFile(t, resolv, "nameserver "+l.srvAddr+"\n")
	avahiConf := filepath.Join(l.dir, "avahi-daemon.conf")
	writeLabFile(t, avahiConf, fmt.Sprintf(`[server]
host-name=avahi-lab
domain-name=local
use-ipv4=yes
use-ipv6=no
allow-interfaces=%s
enable-dbus=yes
[wide-area]
enable-wide-area=yes
[publish]
publish-hinfo=no
publish-workstation=no
publish-domain=no
`, l.cliIf))
	avahi := l.start(t, "avahi-daemon", l.cliNS, l.cliEnv, []string{resolv + ":/etc/resolv.conf"},
		testenv.Tool(t, "avahi-daemon"), "-f", avahiConf, "--no-drop-root", "--no-chroot", "--no-rlimits")
	avahi.waitFor(t, "Server startup complete", 20*time.Second)

	reg, err := registry.Default()
	if err != nil {
		t.Fatal(err)
	}
	var types []string // "_rets._tcp"
	for k := range validPairs(reg) {
		if k.Proto == registry.TCP || k.Proto == registry.UDP {
			types = append(types, strings.TrimSuffix(serviceOwner(k.Name, k.Proto), "."+origin))
		}
	}
	slices.Sort(types)

	t.Run("LegacyUnicast", func(t *testing.T) {
		// RFC 6762 §6.7: a one-shot query from a port other than 5353 gets
		// a conventional reply: its ID and question, TTLs of at most ten
		// seconds, no cache-flush bit.
		for _, edns := range []string{"+noedns", "+edns=0"} {
			out := l.run(t, nil, "dig", "-p", "5353", "@"+l.srvAddr, "SRV", "_rets._tcp.ports.local", edns, "+time=3", "+tries=1")
			r, err := parseReply(out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if r.Rcode != "NOERROR" || !r.Flags["qr"] || !r.Flags["aa"] || len(r.Question) != 1 || r.Question[0] != "_rets._tcp.ports.local." ||
				strings.Contains(out, "ID mismatch") {
				t.Errorf("%s: rcode %s flags %v question %v\n%s", edns, r.Rcode, r.Flags, r.Question, out)
			}
			if len(r.Answer) != 1 {
				t.Fatalf("%s: answer %v\n%s", edns, r.Answer, out)
			}
			srv, ok := r.Answer[0].(*dns.SRV)
			if !ok || srv.Port != 6103 || srv.Hdr.Ttl > 10 || srv.Hdr.Class != dns.ClassINET {
				t.Errorf("%s: answer %v, want SRV port 6103, TTL <= 10, class IN without the cache-flush bit", edns, r.Answer[0])
			}
			for _, rr := range r.Additional {
				if rr.Header().Ttl > 10 || rr.Header().Class != dns.ClassINET {
					t.Errorf("%s: additional %v: TTL over 10 or cache-flush bit", edns, rr)
				}
			}
			if !hasAddress(r.Additional, "svc.ports.local.") {
				t.Errorf("%s: no address of svc.ports.local. in %v", edns, r.Additional)
			}
		}
	})

	t.Run("AvahiMulticast", func(t *testing.T) {
		out := l.run(t, nil, "avahi-browse", "-d", "ports.local", "-a", "-r", "-t", "-p")
		got := resolvedServices(t, out)
		var listed []string
		for typ := range got {
			listed = append(listed, typ)
		}
		slices.Sort(listed)
		if !slices.Equal(listed, types) {
			t.Errorf("avahi resolved %d types, want the registry's %d:\n got  %q\n want %q\n%s", len(listed), len(types), listed, types, tail(out, 4<<10))
		}
		rets := got["_rets._tcp"]
		if rets.port != "6103" || rets.address != l.srvAddr || rets.host != "svc.ports.local" || !strings.Contains(rets.txt, `"port=6103"`) {
			t.Errorf("_rets._tcp resolved to %+v, want svc.ports.local %s port 6103 with port=6103 in the TXT", rets, l.srvAddr)
		}
	})

	// What the zone says, over unicast DNS from the clients' namespace:
	// the truth Avahi's wide-area browsing is checked against.
	ptrs := func(t *testing.T, name string) []string {
		out := l.run(t, nil, "dig", "+short", "+time=3", "+tries=1", "@"+l.srvAddr, "PTR", name)
		var got []string
		for line := range strings.Lines(out) {
			if line = strings.TrimSpace(line); line != "" {
				got = append(got, strings.TrimSuffix(line, "."))
			}
		}
		slices.Sort(got)
		return got
	}
	var leaf string // the leaf browse domain that lists _rets._tcp
	t.Run("AvahiWideArea", func(t *testing.T) {
		// avahi-browse -D at every level of the tree: each lists what the
		// zone's b._dns-sd._udp list holds.
		levels := 0
		for level := []string{"ports.home.arpa"}; len(level) > 0; levels++ {
			var next []string
			for _, d := range level {
				want := ptrs(t, "b._dns-sd._udp."+d+".")
				if len(want) == 0 {
					if slices.Contains(ptrs(t, "_services._dns-sd._udp."+d+"."), "_rets._tcp."+d) {
						leaf = d
					}
					continue
				}
				out := l.run(t, nil, "avahi-browse", "-D", "-d", d, "-t", "-p")
				var got []string
				for line := range strings.Lines(out) {
					if f := strings.Split(strings.TrimSpace(line), ";"); len(f) == 4 && f[0] == "+" {
						got = append(got, f[3])
					}
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("avahi-browse -D -d %s: %q, want %q\n%s", d, got, want, out)
				}
				next = append(next, want...)
			}
			level = next
		}
		if levels < 3 || leaf == "" {
			t.Fatalf("browse tree of %d levels, rets in %q: want at least the origin, tcp/udp and their leaves", levels, leaf)
		}
		// -a -r in the leaf that holds rets: every type it lists resolves.
		out := l.run(t, nil, "avahi-browse", "-d", leaf, "-a", "-r", "-t", "-p")
		got := resolvedServices(t, out)
		var want, listed []string
		for _, typ := range ptrs(t, "_services._dns-sd._udp."+leaf+".") {
			want = append(want, strings.TrimSuffix(typ, "."+leaf))
		}
		for typ := range got {
			listed = append(listed, typ)
		}
		slices.Sort(listed)
		if !slices.Equal(listed, want) {
			t.Errorf("avahi-browse -a -r -d %s resolved %q, want %q\n%s", leaf, listed, want, out)
		}
		if rets := got["_rets._tcp"]; rets.port != "6103" || rets.address != l.srvAddr || !strings.Contains(rets.txt, `"port=6103"`) {
			t.Errorf("_rets._tcp in %s resolved to %+v", leaf, rets)
		}
		t.Logf("wide-area: %d levels below and at ports.home.arpa; %d types resolved in %s", levels, len(got), leaf)
	})

	t.Run("SystemdResolved", func(t *testing.T) {
		daemon := ""
		for _, p := range []string{"/lib/systemd/systemd-resolved", "/usr/lib/systemd/systemd-resolved"} {
			if _, err := os.Stat(p); err == nil {
				daemon = p
				break
			}
		}
		if daemon == "" {
			testenv.Missing(t, "systemd-resolved (./scripts/test installs it)")
		}
		testenv.Tool(t, "resolvectl")
		// resolved runs without systemd as PID 1: on the lab's bus, in a
		// mount namespace with its runtime directory and a configuration
		// that routes ports.home.arpa to svcdns.
		conf := filepath.Join(l.dir, "resolved.conf")
		writeLabFile(t, conf, "[Resolve]\nDNS="+l.srvAddr+"\nDomains=~ports.home.arpa\nMulticastDNS=no\nLLMNR=no\nDNSSEC=no\nDNSStubListener=no\n")
		script := filepath.Join(l.dir, "resolved.sh")
		writeLabFile(t, script, "mkdir -p /run/systemd/resolve && chown systemd-resolve: /run/systemd/resolve 2>/dev/null; exec "+daemon+"\n")
		resolved := l.start(t, "systemd-resolved", l.cliNS, append(l.cliEnv, "SYSTEMD_LOG_LEVEL=debug"), []string{conf + ":/etc/systemd/resolved.conf"}, "sh", script)
		resolved.waitFor(t, "Successfully acquired requested service name", 20*time.Second)
		// resolved looks up an SRV target's address on the link the SRV
		// answer came from, so the server is given to the link as well.
		l.run(t, nil, "resolvectl", "dns", l.cliIf, l.srvAddr)
		l.run(t, nil, "resolvectl", "domain", l.cliIf, "~ports.home.arpa")
		for _, args := range [][]string{{"_rets._tcp", "ports.home.arpa"}, {"RETS", "_rets._tcp", leaf}} {
			out := l.run(t, nil, append([]string{"resolvectl", "service"}, args...)...)
			if !strings.Contains(out, "svc.ports.home.arpa:6103") || !strings.Contains(out, l.srvAddr) || !strings.Contains(out, "port=6103") {
				t.Errorf("resolvectl service %s:\n%s", strings.Join(args, " "), out)
			}
		}
	})
}

// avahiService is one resolved service as avahi-browse -p prints it.
type avahiService struct {
	name, host, address, port, txt string
}

// resolvedServices reads avahi-browse -p -r output: "=" lines are
// resolved services, keyed by type; every "+" must have its "=".
func resolvedServices(t *testing.T, out string) map[string]avahiService {
	t.Helper()
	seen := map[string]bool{}
	got := map[string]avahiService{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), ";", 10)
		switch {
		case len(f) >= 6 && f[0] == "+":
			seen[f[4]] = true
		case len(f) == 10 && f[0] == "=":
			got[f[4]] = avahiService{name: f[3], host: f[6], address: f[7], port: f[8], txt: f[9]}
		}
	}
	for typ := range seen {
		if _, ok := got[typ]; !ok {
			t.Errorf("avahi listed %s but did not resolve it", typ)
		}
	}
	return got
}

func writeLabFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
