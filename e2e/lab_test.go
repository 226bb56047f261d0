package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/testenv"
	"go.yaml.in/yaml/v3"
)

// labTimeout bounds one scripts/lab.sh command; `up` may build svcdns.
const labTimeout = 5 * time.Minute

// labRun runs scripts/lab.sh with args in env and returns its combined
// output.
func labRun(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), labTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Tool(t, "bash"), append([]string{filepath.Join(testenv.RepoRoot(), "scripts", "lab.sh")}, args...)...)
	cmd.Env = env
	cmd.Dir = testenv.RepoRoot()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The daemons that `up` leaves running hold no copy of these pipes
	// (the script sends their output to logs), so Run returns when the
	// script does; WaitDelay is the guard if that ever breaks.
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	return out.String(), err
}

// labPortBase finds a port P with P to P+4 (UDP and TCP) and P+3800 (TCP)
// free, the ports scripts/lab.sh uses.
func labPortBase(t *testing.T) int {
	t.Helper()
	free := func(port int, udp bool) bool {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		l.Close()
		if !udp {
			return true
		}
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		pc.Close()
		return true
	}
	for range 100 {
		base := 20000 + rand.IntN(30000)
		if free(base, true) && free(base+1, true) && free(base+2, true) && free(base+3, true) && free(base+4, true) && free(base+3800, false) {
			return base
		}
	}
	t.Fatal("no free port base for the lab")
	return 0
}

// labDaemons are the processes scripts/lab.sh runs.
var labDaemons = []string{"svcdns", "knotd", "nsd", "named", "unbound"}

// labSecondaries are the secondaries' names in the script's reports,
// with their ports above the lab's base.
var labSecondaries = []struct {
	name   string
	offset int
}{{"knot", 1}, {"nsd", 3}, {"bind", 4}}

// labPIDs reads the PIDs that `up` recorded.
func labPIDs(t *testing.T, dir string) map[string]int {
	t.Helper()
	pids := map[string]int{}
	for _, name := range labDaemons {
		b, err := os.ReadFile(filepath.Join(dir, name+".pid"))
		if err != nil {
			t.Fatalf("lab up recorded no PID for %s: %v", name, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			t.Fatalf("%s.pid holds %q", name, b)
		}
		pids[name] = pid
	}
	return pids
}

// labSerial asks addr for the zone's SOA serial, as a secondary would.
func labSerial(t *testing.T, addr string) uint32 {
	t.Helper()
	r := query(t, "udp", addr, origin, dns.TypeSOA)
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 {
		t.Fatalf("SOA %s at %s: rcode %s, aa %v, answer %v", origin, addr, dns.RcodeToString[r.Rcode], r.Authoritative, r.Answer)
	}
	soa, ok := r.Answer[0].(*dns.SOA)
	if !ok {
		t.Fatalf("SOA %s at %s: answer %v", origin, addr, r.Answer[0])
	}
	return soa.Serial
}

// TestLabScript brings the native lab up with scripts/lab.sh (svcdns as a
// hidden primary; Knot, NSD and BIND as secondaries; Unbound as a resolver
// in front of them; all on loopback), and checks both what the script
// reports and, independently, the servers: the resolver answers SRV
// _rets._tcp with port 6103 through the secondaries, and each secondary,
// having pulled the zone by AXFR, serves svcdns's serial and its port
// names. Then `notify` changes the zone and every secondary must follow
// within seconds by IXFR, which only svcdns's NOTIFY can make happen
// (their refresh timer is an hour). `down` must leave no process and no
// state directory.
func TestLabScript(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"knotd", "nsd", "named", "unbound", "dig", "go"} {
		testenv.Tool(t, tool)
	}
	dir := t.TempDir()
	base := labPortBase(t)
	env := append(os.Environ(), "LAB_DIR="+dir, "LAB_PORT_BASE="+strconv.Itoa(base), "LAB_TIMEOUT=60")
	primary := net.JoinHostPort("127.0.0.1", strconv.Itoa(base))
	resolver := net.JoinHostPort("127.0.0.1", strconv.Itoa(base+2))
	secondary := func(offset int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(base+offset)) }

	downDone := false
	t.Cleanup(func() {
		if downDone {
			return
		}
		if out, err := labRun(t, env, "down"); err != nil {
			t.Errorf("lab.sh down: %v\n%s", err, out)
		}
	})
	logs := func() string {
		var b strings.Builder
		for _, name := range labDaemons {
			log, _ := os.ReadFile(filepath.Join(dir, name+".log"))
			fmt.Fprintf(&b, "--- %s.log\n%s", name, tail(string(log), 8<<10))
		}
		return b.String()
	}

	out, err := labRun(t, env, "up")
	if err != nil {
		t.Fatalf("lab.sh up: %v\n%s\n%s", err, out, logs())
	}
	t.Logf("lab.sh up:\n%s", out)
	pids := labPIDs(t, dir)

	// A second lab in the same directory is refused, not started over
	// the running one.
	if out, err := labRun(t, env, "up"); err == nil || !strings.Contains(out, "down first") {
		t.Errorf("second lab.sh up: %v, want a refusal saying to run down first\n%s", err, out)
	}

	checkReport := func(t *testing.T) uint32 {
		t.Helper()
		out, err := labRun(t, env, "check")
		if err != nil {
			t.Fatalf("lab.sh check: %v\n%s\n%s", err, out, logs())
		}
		t.Logf("lab.sh check:\n%s", out)
		srv := regexp.MustCompile(`(?m)^ok +resolver +127\.0\.0\.1:(\d+) +SRV _rets\._tcp\.ports\.local\. -> 0 0 6103 svc\.ports\.local\. \(NOERROR, [^)]*\bra\b[^)]*\)$`)
		if m := srv.FindStringSubmatch(out); m == nil {
			t.Errorf("check output has no ok line for SRV _rets._tcp via the resolver with port 6103:\n%s", out)
		} else if m[1] != strconv.Itoa(base+2) {
			t.Errorf("check asked the resolver on port %s, want %d", m[1], base+2)
		}
		for _, role := range []string{"primary", "knot", "nsd", "bind"} {
			if !regexp.MustCompile(`(?m)^ok +` + role + ` +127\.0\.0\.1:\d+ +SRV _rets\._tcp\.ports\.local\. -> 0 0 6103 `).MatchString(out) {
				t.Errorf("check output has no ok SRV line for the %s:\n%s", role, out)
			}
		}
		m := regexp.MustCompile(`(?m)^ok +serial +primary (\d+) = knot (\d+) = nsd (\d+) = bind (\d+)$`).FindStringSubmatch(out)
		if m == nil || m[1] != m[2] || m[1] != m[3] || m[1] != m[4] {
			t.Fatalf("check output shows no equal serials at the primary and the secondaries:\n%s", out)
		}
		for _, sec := range labSecondaries {
			if !regexp.MustCompile(`(?m)^ok +zone +` + sec.name + ` holds the primary's \d+ records \(AXFR\)$`).MatchString(out) {
				t.Errorf("check output has no ok zone comparison for %s:\n%s", sec.name, out)
			}
		}
		if !regexp.MustCompile(`(?m)^ok +port name +_6081\._udp\.ports\.local\. TXT alike at the primary, knot, nsd, bind and the resolver$`).MatchString(out) {
			t.Errorf("check output has no ok port name line:\n%s", out)
		}
		if !regexp.MustCompile(`(?m)^check: all \d+ passed$`).MatchString(out) {
			t.Errorf("check output does not end with all passed:\n%s", out)
		}
		serial, _ := strconv.ParseUint(m[1], 10, 32)
		return uint32(serial)
	}

	t.Run("check", func(t *testing.T) {
		reported := checkReport(t)
		// The same facts, asked without the script.
		r := query(t, "udp", resolver, "_rets._tcp."+origin, dns.TypeSRV)
		if r.Rcode != dns.RcodeSuccess || !r.RecursionAvailable || r.Authoritative {
			t.Errorf("resolver: rcode %s, ra %v, aa %v; want NOERROR from a resolver", dns.RcodeToString[r.Rcode], r.RecursionAvailable, r.Authoritative)
		}
		if len(r.Answer) != 1 {
			t.Fatalf("resolver: answer %v, want one SRV", r.Answer)
		}
		if s, ok := r.Answer[0].(*dns.SRV); !ok || s.Port != 6103 {
			t.Errorf("resolver: answer %v, want SRV port 6103", r.Answer[0])
		}
		p := labSerial(t, primary)
		if p != reported {
			t.Errorf("serials: primary %d, check reported %d", p, reported)
		}
		want := query(t, "udp", primary, "_6081._udp."+origin, dns.TypeTXT)
		for _, sec := range labSecondaries {
			addr := secondary(sec.offset)
			if s := labSerial(t, addr); s != p {
				t.Errorf("%s serves serial %d, the primary %d", sec.name, s, p)
			}
			// A port name, answered by the secondary from the zone it
			// was transferred.
			got := query(t, "udp", addr, "_6081._udp."+origin, dns.TypeTXT)
			if got.Rcode != dns.RcodeSuccess || !slices.Equal(opsRRTexts(got.Answer), opsRRTexts(want.Answer)) {
				t.Errorf("%s: _6081._udp TXT %v, primary %v", sec.name, got.Answer, want.Answer)
			}
		}
	})

	t.Run("notify", func(t *testing.T) {
		before := labSerial(t, primary)
		out, err := labRun(t, env, "notify")
		if err != nil {
			t.Fatalf("lab.sh notify: %v\n%s\n%s", err, out, logs())
		}
		t.Logf("lab.sh notify:\n%s", out)
		if !regexp.MustCompile(`(?m)^ok +notify +primary \d+ -> \d+; knot, nsd and bind followed in \d+s by knot:IXFR nsd:IXFR bind:IXFR `).MatchString(out) {
			t.Errorf("notify output has no ok line with an IXFR to each secondary:\n%s", out)
		}
		p := labSerial(t, primary)
		if p <= before {
			t.Errorf("after notify: primary %d (was %d); want a new serial", p, before)
		}
		for _, sec := range labSecondaries {
			if s := labSerial(t, secondary(sec.offset)); s != p {
				t.Errorf("after notify: %s at serial %d, primary %d", sec.name, s, p)
			}
		}
		if reported := checkReport(t); reported != p {
			t.Errorf("check after notify reports serial %d, want %d", reported, p)
		}
	})

	out, err = labRun(t, env, "down")
	downDone = true
	if err != nil {
		t.Fatalf("lab.sh down: %v\n%s", err, out)
	}
	for name, pid := range pids {
		// The daemons were not our children: they are gone when the
		// PID no longer exists (or is no longer theirs).
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := syscall.Kill(pid, 0)
			if errors.Is(err, syscall.ESRCH) {
				break
			}
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if !bytes.Contains(cmdline, []byte(dir)) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s (pid %d) still running after lab.sh down", name, pid)
				syscall.Kill(pid, syscall.SIGKILL)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lab.sh down left %s: %v", dir, err)
	}
	if out, err := labRun(t, env, "check"); err == nil {
		t.Errorf("lab.sh check after down succeeded, want an error\n%s", out)
	}
}

// The lab of docker-compose.yml: its services, their fixed addresses and
// the configs in lab/ that name them.
const (
	composeFile  = "docker-compose.yml"
	labSubnet    = "172.28.0.0/24"
	labSvcdnsIP  = "172.28.0.10"
	labKnotIP    = "172.28.0.11"
	labUnboundIP = "172.28.0.12"
	labNSDIP     = "172.28.0.13"
	labBINDIP    = "172.28.0.14"
)

// composeConfig is what this test reads of the model compose-spec prints.
type composeConfig struct {
	Services map[string]struct {
		Image string `yaml:"image"`
		User  string `yaml:"user"`
		Build struct {
			Context    string            `yaml:"context"`
			Dockerfile string            `yaml:"dockerfile"`
			Args       map[string]string `yaml:"args"`
		} `yaml:"build"`
		Volumes []struct {
			Type     string `yaml:"type"`
			Source   string `yaml:"source"`
			Target   string `yaml:"target"`
			ReadOnly bool   `yaml:"read_only"`
		} `yaml:"volumes"`
		Networks map[string]struct {
			IPv4 string `yaml:"ipv4_address"`
		} `yaml:"networks"`
	} `yaml:"services"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
}

// TestComposeFileValid checks docker-compose.yml without a Docker engine:
// compose-spec (the validator of compose-go, the Compose Specification's
// reference library, which docker compose itself loads files with;
// ./scripts/test installs it) validates it against the specification, and
// the resolved model has the six
// services of the lab on fixed addresses of one subnet, svcdns built from
// the repository's Dockerfile with lab/svcdns.yaml mounted read-only and a
// volume for its state directory (the IXFR journal), and that
// Dockerfile's final stage runs as a non-root user. No traffic goes to any
// lab address.
func TestComposeFileValid(t *testing.T) {
	t.Parallel()
	dc := testenv.Tool(t, "compose-spec")
	root := testenv.RepoRoot()
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, dc, append(args, composeFile)...)
		cmd.Dir = root
		// Unset overrides: the file is checked as it is written.
		cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, "LAB_") || strings.HasPrefix(kv, "SVCDNS_VERSION=") || strings.HasPrefix(kv, "COMPOSE_")
		})
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("compose-spec %s %s: %v\n%s%s", strings.Join(args, " "), composeFile, err, o.String(), e.String())
		}
		return o.String()
	}

	var c composeConfig
	if err := yaml.Unmarshal([]byte(run()), &c); err != nil {
		t.Fatalf("compose-spec output: %v", err)
	}
	var names []string
	for name := range c.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"bind", "client", "knot", "nsd", "resolver", "svcdns"}; !slices.Equal(names, want) {
		t.Errorf("services %v, want %v", names, want)
	}

	subnet := netip.MustParsePrefix(labSubnet)
	if len(c.Networks) != 1 {
		t.Errorf("networks %v, want the one lab network", c.Networks)
	}
	for name, n := range c.Networks {
		if len(n.IPAM.Config) != 1 || n.IPAM.Config[0].Subnet != labSubnet {
			t.Errorf("network %s: ipam %+v, want subnet %s", name, n.IPAM.Config, labSubnet)
		}
	}
	wantIP := map[string]string{"svcdns": labSvcdnsIP, "knot": labKnotIP, "resolver": labUnboundIP, "nsd": labNSDIP, "bind": labBINDIP}
	for name, s := range c.Services {
		if len(s.Networks) != 1 {
			t.Errorf("service %s: networks %v, want the lab network", name, s.Networks)
		}
		for _, n := range s.Networks {
			ip, err := netip.ParseAddr(n.IPv4)
			if err != nil || !subnet.Contains(ip) {
				t.Errorf("service %s: ipv4_address %q, want a fixed address in %s", name, n.IPv4, labSubnet)
			}
			if w, ok := wantIP[name]; ok && n.IPv4 != w {
				t.Errorf("service %s: ipv4_address %s, want %s (the configs in lab/ name it)", name, n.IPv4, w)
			}
		}
	}

	svc := c.Services["svcdns"]
	if filepath.Clean(svc.Build.Context) != filepath.Clean(root) || svc.Build.Dockerfile != "Dockerfile" {
		t.Errorf("svcdns build %+v, want the repository's Dockerfile", svc.Build)
	}
	mounted := false
	for _, v := range svc.Volumes {
		mounted = mounted || v.Type == "bind" && v.Source == filepath.Join(root, "lab", "svcdns.yaml") &&
			v.Target == "/etc/svcdns/svcdns.yaml" && v.ReadOnly
	}
	if !mounted {
		t.Errorf("svcdns volumes %+v, want lab/svcdns.yaml on /etc/svcdns/svcdns.yaml read-only", svc.Volumes)
	}
	state := false
	for _, v := range svc.Volumes {
		state = state || v.Target == "/var/lib/svcdns" && !v.ReadOnly
	}
	if !state {
		t.Errorf("svcdns volumes %+v, want a writable volume on /var/lib/svcdns, its state directory (lab/svcdns.yaml)", svc.Volumes)
	}
	if u := svc.User; u != "" {
		t.Errorf("svcdns overrides the image's user with %q", u)
	}

	user, expose := dockerfileFinalStage(t, filepath.Join(root, "Dockerfile"))
	uid, _, _ := strings.Cut(user, ":")
	if uid == "" || uid == "root" || uid == "0" {
		t.Errorf("Dockerfile: final stage USER %q, want a non-root user", user)
	}
	// A non-root user binds no port below 1024 (without capabilities,
	// which the compose file drops): the lab config listens above.
	for _, p := range []string{"1053/udp", "1053/tcp", "9153/tcp"} {
		if !slices.Contains(expose, p) {
			t.Errorf("Dockerfile: final stage EXPOSE %v, want %s", expose, p)
		}
	}
}

// dockerfileFinalStage returns the USER and the EXPOSEd ports of a
// Dockerfile's last stage (continuation lines joined).
func dockerfileFinalStage(t *testing.T, path string) (user string, expose []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages int
	var line strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(l, `\`); ok {
			line.WriteString(s + " ")
			continue
		}
		line.WriteString(l)
		f := strings.Fields(line.String())
		line.Reset()
		if len(f) == 0 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			stages++
			user, expose = "", nil
		case "USER":
			if len(f) == 2 {
				user = f[1]
			}
		case "EXPOSE":
			for _, p := range f[1:] {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				expose = append(expose, p)
			}
		}
	}
	if stages < 2 {
		t.Errorf("Dockerfile has %d stages, want a multi-stage build", stages)
	}
	return user, expose
}

// TestComposeLabConfigs checks the configs in lab/ with the tools that
// will read them (svcdns itself, unbound-checkconf, knotc, nsd-checkconf,
// named-checkconf) and checks that they name each other by the addresses
// of docker-compose.yml: Knot, NSD and BIND pull from and accept NOTIFY
// from svcdns, Unbound stubs ports.local to the three of them, svcdns
// allows them to transfer and notifies them.
func TestComposeLabConfigs(t *testing.T) {
	t.Parallel()
	root := testenv.RepoRoot()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, "lab", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	t.Run("svcdns", func(t *testing.T) {
		conf := filepath.Join(root, "lab", "svcdns.yaml")
		// lookup loads and validates the whole configuration.
		out, _ := runTool(t, svcdnsBin, "lookup", "--config", conf, "ns1."+origin, "A")
		if !regexp.MustCompile(`(?m)^ns1\.ports\.local\.\s+\d+\s+IN\s+A\s+` + regexp.QuoteMeta(labKnotIP) + `$`).MatchString(out) {
			t.Errorf("svcdns lookup ns1 A: want %s, the secondary, as the zone's name server\n%s", labKnotIP, out)
		}
		text := read("svcdns.yaml")
		for _, want := range []string{`listen: [":1053"]`, `notify: ["` + labKnotIP + `:53", "` + labNSDIP + `:53", "` + labBINDIP + `:53"]`,
			`allow_networks: [` + labSubnet + `]`, "state_dir: /var/lib/svcdns"} {
			if !strings.Contains(text, want) {
				t.Errorf("lab/svcdns.yaml lacks %q", want)
			}
		}
	})

	t.Run("knot", func(t *testing.T) {
		knotc := testenv.Tool(t, "knotc")
		runTool(t, knotc, "-c", filepath.Join(root, "lab", "knot.conf"), "conf-check")
		text := read("knot.conf")
		for _, want := range []string{
			"address: " + labSvcdnsIP + "@1053", // the remote
			"address: " + labSvcdnsIP + "\n",    // the NOTIFY ACL
			"action: notify",
			"listen: 0.0.0.0@53",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("lab/knot.conf lacks %q", want)
			}
		}
	})

	t.Run("nsd", func(t *testing.T) {
		runTool(t, testenv.Tool(t, "nsd-checkconf"), filepath.Join(root, "lab", "nsd.conf"))
		text := read("nsd.conf")
		for _, want := range []string{
			"request-xfr: " + labSvcdnsIP + "@1053 NOKEY",
			"allow-notify: " + labSvcdnsIP + " NOKEY",
			"ip-address: 0.0.0.0",
			"port: 53",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("lab/nsd.conf lacks %q", want)
			}
		}
	})

	t.Run("bind", func(t *testing.T) {
		runTool(t, testenv.Tool(t, "named-checkconf"), filepath.Join(root, "lab", "named.conf"))
		text := read("named.conf")
		for _, want := range []string{
			"primaries { " + labSvcdnsIP + " port 1053; };",
			"allow-notify { " + labSvcdnsIP + "; };",
			"type secondary;",
			"listen-on port 53 { any; };",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("lab/named.conf lacks %q", want)
			}
		}
	})

	t.Run("unbound", func(t *testing.T) {
		check := testenv.Tool(t, "unbound-checkconf")
		text := read("unbound.conf")
		for _, want := range []string{
			`stub-addr: ` + labKnotIP + `@53`,
			`stub-addr: ` + labNSDIP + `@53`,
			`stub-addr: ` + labBINDIP + `@53`,
			`local-zone: "local." nodefault`,
			`domain-insecure: "ports.local"`,
			`access-control: ` + labSubnet + ` allow`,
		} {
			if !strings.Contains(text, want) {
				t.Errorf("lab/unbound.conf lacks %q", want)
			}
		}
		if strings.Contains(text, labSvcdnsIP) {
			t.Error("lab/unbound.conf names svcdns, a hidden primary: the resolver must ask the secondaries")
		}
		// The image's user and root data are the image's: checked here
		// without them when this machine lacks them.
		text = strings.Replace(text, `username: "unbound"`, `username: ""`, 1)
		for _, f := range []string{"/usr/share/dns/root.key", "/usr/share/dns/root.hints"} {
			if _, err := os.Stat(f); err != nil {
				t.Logf("%s missing here (dns-root-data): checking without it", f)
				text = regexp.MustCompile(`(?m)^.*"`+regexp.QuoteMeta(f)+`"\n`).ReplaceAllString(text, "")
			}
		}
		conf := filepath.Join(t.TempDir(), "unbound.conf")
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		runTool(t, check, conf)
	})
}

// systemdUnit is the unit file, as section -> key -> values (a key may
// repeat).
func systemdUnit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string]map[string][]string{}
	var section string
	for i, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";"):
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			section = l[1 : len(l)-1]
			unit[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: %q is not key=value in a section", path, i+1, l)
			}
			unit[section][strings.TrimSpace(k)] = append(unit[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return unit
}

// TestSystemdUnit checks deploy/svcdns.service: it runs `svcdns serve
// --config /etc/svcdns/svcdns.yaml` as a dynamic unprivileged user holding
// only CAP_NET_BIND_SERVICE, with the sandboxing settings in place, and,
// where systemd-analyze exists, systemd itself accepts the unit and rates
// its exposure low.
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	path := filepath.Join(testenv.RepoRoot(), "deploy", "svcdns.service")
	unit := systemdUnit(t, path)
	svc := unit["Service"]
	if svc == nil {
		t.Fatal("no [Service] section")
	}
	want := map[string]string{
		"ExecStart":               "/usr/local/bin/svcdns serve --config /etc/svcdns/svcdns.yaml",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"Restart":                 "on-failure",
		"DynamicUser":             "yes",
		"AmbientCapabilities":     "CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet":   "CAP_NET_BIND_SERVICE",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"RestrictNamespaces":      "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"CacheDirectory":          "svcdns",
		"StateDirectory":          "svcdns",
		"Environment":             "XDG_CACHE_HOME=%C",
	}
	for k, v := range want {
		if got := svc[k]; len(got) != 1 || got[0] != v {
			t.Errorf("[Service] %s=%v, want %s", k, got, v)
		}
	}
	if f := svc["SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
		t.Errorf("[Service] SystemCallFilter=%v, want @system-service first", f)
	}
	if u := svc["User"]; len(u) > 1 || len(u) == 1 && (u[0] == "root" || u[0] == "0") {
		t.Errorf("[Service] User=%v, want the dynamic user's name or none", u)
	}
	if v, ok := svc["ReadWritePaths"]; ok {
		t.Errorf("[Service] ReadWritePaths=%v: CacheDirectory and StateDirectory are the only writable places", v)
	}
	if w := unit["Install"]["WantedBy"]; !slices.Equal(w, []string{"multi-user.target"}) {
		t.Errorf("[Install] WantedBy=%v, want multi-user.target", w)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not found: the unit is checked as text only")
		return
	}
	// verify needs ExecStart's binary to exist: a copy of the unit points
	// at the one TestMain built.
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "svcdns.service")
	text = bytes.ReplaceAll(text, []byte("ExecStart=/usr/local/bin/svcdns "), []byte("ExecStart="+svcdnsBin+" "))
	if err := os.WriteFile(copyPath, text, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, analyze, "verify", copyPath).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("svcdns.service")) {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Exposure 0 (locked down) to 10 (none); 2.5 is well inside "OK".
	out, err = exec.CommandContext(ctx, analyze, "security", "--offline=true", "--threshold=25", copyPath).CombinedOutput()
	switch {
	case err != nil && bytes.Contains(out, []byte("unrecognized option")):
		t.Logf("systemd-analyze security --offline is not supported here (systemd < 250): %s", bytes.TrimSpace(out))
	case err != nil:
		t.Errorf("systemd-analyze security: %v (exposure above 2.5?)\n%s", err, tail(string(out), 4<<10))
	default:
		if m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out); m != nil {
			t.Logf("systemd-analyze security: exposure %s", m[1])
		}
	}
}
