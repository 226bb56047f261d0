// Command bench measures svcdns against Knot DNS and NSD serving the same
// zone (the one `svcdns zone export` writes) with dnsperf, on loopback,
// and writes one report: for every load and client setting, QPS, latency,
// lost queries and server CPU per answer, with svcdns's ratios to each
// peer; CPU per answer at a fixed offered load; start-up time (process
// start to first answer); and resident memory after start and after the
// runs.
//
//	go run ./bench                         # everything: ~30 min
//	go run ./bench -smoke                  # every step, briefly: ~2 min, proves the harness works
//	go run ./bench -loads mix -settings 4x200 -modes udp
//	go run ./bench -results bench/RESULTS.md
//	go run ./bench -transports             # DNS over TLS and HTTPS instead (transports.go)
//	go run ./bench -dnssec -loads mix,flood,ports # signed: each load also with DO=1
//	go run ./bench -dnssec -loads flood -rrl 1000 # a DO=1 random-subdomain flood under RRL
//
// The loads: mix (internal/querymix: services, aliases, DNS-SD, port
// names, invalid and unknown names), flood (a random-subdomain attack:
// unique names, NXDOMAIN), ports (random _PORT._PROTO TXT and PTR) and
// dnssd (browse lists, instance enumeration, instances' SRV and TXT).
// Port names are svcdns's own: a peer is measured on the ports load only
// when the exported zone carries them.
//
// With -dnssec every server serves the zone signed: svcdns with
// dnssec.enabled and a lab key generated into a state directory under
// -out, Knot and NSD the signed export (`svcdns zone export` with the
// same key). Each load is then measured twice, as LOAD (DO=0) and LOAD-do
// (dnsperf -D: DO=1, every answer signed), and the report gives each
// server's signed/unsigned QPS ratio, with the signatures svcdns made per
// second (svcdns_dnssec_signatures_total) and, with -rrl, the share of
// its UDP responses rate limiting held back.
//
// It installs dnsperf, nsd and knot from Debian when they are missing.
package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/querymix"
	"github.com/svcdns/svcdns/registry"
)

type options struct {
	registry string
	duration time.Duration
	warmup   time.Duration
	runs     int
	modes    []string
	loads    []string
	settings []setting
	rate     int
	queries  int
	outDir   string
	results  string
	servers  []string
	workers  int
	startups int
	smoke    bool
	rrl      int
	dnssec   bool
}

// setting is a dnsperf client setting: -c clients -q outstanding.
type setting struct{ clients, outstanding int }

func (s setting) String() string { return fmt.Sprintf("-c %d -q %d", s.clients, s.outstanding) }

func parseSettings(v string) ([]setting, error) {
	var out []setting
	for _, f := range strings.Split(v, ",") {
		c, q, ok := strings.Cut(f, "x")
		ci, err1 := strconv.Atoi(c)
		qi, err2 := strconv.Atoi(q)
		if !ok || err1 != nil || err2 != nil || ci < 1 || qi < 1 {
			return nil, fmt.Errorf("-settings: %q is not CLIENTSxOUTSTANDING (10x100)", f)
		}
		out = append(out, setting{ci, qi})
	}
	return out, nil
}

var allLoads = []string{"mix", "flood", "ports", "dnssd"}

func main() {
	var o options
	var modes, servers, loads, settings string
	flag.StringVar(&o.registry, "registry", "../shared/data/iana/service-names-port-numbers.xml", "registry file for the zone and the query mix")
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "length of one dnsperf run")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "length of the warm-up run before each server's runs")
	flag.IntVar(&o.runs, "runs", 3, "runs per server, load, setting and mode")
	flag.StringVar(&modes, "modes", "udp,tcp", "transports to measure the mix on (the other loads are UDP)")
	flag.StringVar(&loads, "loads", strings.Join(allLoads, ","), "loads to measure: "+strings.Join(allLoads, ", ")+"; none: start-up and memory only")
	flag.StringVar(&settings, "settings", "10x100,4x200", "dnsperf client settings, CLIENTSxOUTSTANDING (-c, -q)")
	flag.IntVar(&o.rate, "rate", 40000, "offered load (dnsperf -Q) of the fixed-rate runs of the mix, UDP; 0: none")
	flag.StringVar(&servers, "servers", "svcdns,knot,nsd", "servers to measure")
	flag.IntVar(&o.queries, "queries", 200000, "distinct queries in each load's query file")
	flag.StringVar(&o.outDir, "out", "bench/out", "work directory (zone, configs, logs)")
	flag.StringVar(&o.results, "results", "", "also write the report to this Markdown file")
	flag.IntVar(&o.workers, "workers", 0, "cores each server answers on, set alike for all (svcdns workers, Knot udp-/tcp-workers, NSD server-count); 0: each server's default, one per CPU")
	flag.IntVar(&o.startups, "startups", 3, "start-up measurements per server")
	flag.BoolVar(&o.smoke, "smoke", false, "a short run of every step (1 run of 2 s, 1 s warm-up, 20,000 queries per load): proves the harness, measures nothing")
	transports := flag.Bool("transports", false, "measure DNS over TLS and HTTPS instead (bench/transports.go): svcdns, BIND and NSD, at the first of -settings")
	flag.BoolVar(&o.dnssec, "dnssec", false, "serve the zone signed (svcdns online with a lab key, Knot and NSD the signed export) and measure every load also with DO=1 (LOAD-do): signed/unsigned QPS per server, svcdns's signatures per second")
	flag.IntVar(&o.rrl, "rrl", 0, "response rate limiting on every server at this rate a second (svcdns rrl.rate, NSD rrl-ratelimit, Knot mod-rrl rate-limit); 0: off, as NSD's rrl-ratelimit: 0. A rate the load never reaches (1000000) measures what checking costs; a low one, limiting")
	flag.Parse()
	o.modes = strings.Split(modes, ",")
	o.servers = strings.Split(servers, ",")
	if o.loads = strings.Split(loads, ","); loads == "none" {
		o.loads = nil // start-up and memory only
	}
	var err error
	if o.settings, err = parseSettings(settings); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	for _, l := range o.loads {
		if !slices.Contains(allLoads, l) {
			fmt.Fprintf(os.Stderr, "bench: unknown load %q\n", l)
			os.Exit(2)
		}
	}
	if o.smoke {
		o.duration, o.warmup, o.runs, o.queries = 2*time.Second, time.Second, 1, 20000
	}
	runner := run
	if *transports {
		runner = runTransports
	}
	if err := runner(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// server is one DNS server under test.
type server struct {
	name    string
	port    int
	cmd     *exec.Cmd
	ready   time.Duration // start to first answer
	metrics string        // svcdns's metrics listener, host:port; "" none
}

// result is the runs of one server on one load, setting and mode.
type result struct {
	qps            []float64
	latency        []float64 // seconds
	lost, sent     int64
	cpuPerAnswerUs []float64
	sigsPerSec     []float64 // svcdns with -dnssec: signatures made a second
	rrlHeld        []float64 // svcdns with -rrl: share of UDP responses not sent in full
}

// key names a measurement: load, mode, setting ("rate" for fixed rate).
type key struct{ load, mode, setting string }

type report struct {
	o        options
	results  map[key]map[string]*result // by server
	keys     []key
	startups map[string][]time.Duration // by server (and "svcdns workers=1")
	memStart map[string]memory
	memEnd   map[string]memory
	skipped  []string
}

// buildInto makes the work directory dir (absolute) and builds svcdns
// into it, returning both paths.
func buildInto(dir string) (out, bin string, err error) {
	if out, err = filepath.Abs(dir); err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", "", err
	}
	bin = filepath.Join(out, "svcdns-bin")
	fmt.Println("building svcdns")
	if err := sh("go", "build", "-o", bin, "./cmd/svcdns"); err != nil {
		return "", "", err
	}
	return out, bin, nil
}

func run(o options) error {
	if err := ensureTools(); err != nil {
		return err
	}
	out, bin, err := buildInto(o.outDir)
	if err != nil {
		return err
	}
	zoneFile := filepath.Join(out, "ports.local.zone")
	export := exec.Command(bin, "zone", "export", "--registry", o.registry, "-o", zoneFile)
	export.Stdout, export.Stderr = os.Stdout, os.Stderr
	if o.dnssec {
		// The key is generated here on first use and reused by the
		// svcdns servers: every server serves the same signatures.
		fmt.Println("exporting the signed zone")
		zoneFile = filepath.Join(out, "ports.local.signed.zone")
		export.Args[len(export.Args)-1] = zoneFile
		export.Env = append(os.Environ(), dnssecEnv(out, false)...)
	}
	if err := export.Run(); err != nil {
		return fmt.Errorf("zone export: %w", err)
	}
	qfiles, portsInExport, err := writeQueryFiles(o, out, zoneFile)
	if err != nil {
		return err
	}

	rep := &report{o: o, results: map[key]map[string]*result{}, startups: map[string][]time.Duration{},
		memStart: map[string]memory{}, memEnd: map[string]memory{}}
	servers := map[string]*server{}
	defer func() {
		for _, s := range servers {
			stop(s)
		}
	}()
	// Start-up, side by side: each server is started startups times, the
	// last one kept for the runs; svcdns with one worker too.
	starts := slices.Clone(o.servers)
	if o.workers == 0 && slices.Contains(o.servers, "svcdns") {
		starts = append(starts, "svcdns workers=1")
	}
	for _, name := range starts {
		port, err := freePort()
		if err != nil {
			return err
		}
		for r := range o.startups {
			s, err := start(name, bin, zoneFile, out, port, o)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			rep.startups[name] = append(rep.startups[name], s.ready)
			fmt.Printf("%s ready on 127.0.0.1:%d in %v\n", name, s.port, s.ready.Round(time.Millisecond))
			if r < o.startups-1 || strings.Contains(name, " ") {
				stop(s)
				continue
			}
			servers[name] = s
		}
	}
	time.Sleep(time.Second) // let every server settle before reading its memory
	for name, s := range servers {
		rep.memStart[name], _ = memoryOf(s.cmd.Process.Pid)
	}
	if err := sameAnswers(servers, o.servers, qfiles["mix"], portsInExport); err != nil {
		return err
	}

	floods := uint64(1) // seeds of the flood-do query files
	measure := func(k key, st setting, rate int, qfile string, names []string) error {
		do := strings.HasSuffix(k.load, "-do")
		// dnsperf starts every run at its file's first query: for the
		// DO=1 flood each run gets names no run has asked, so that its
		// answers are signed rather than found in svcdns's cache.
		next := func() (string, error) {
			if k.load != "flood-do" {
				return qfile, nil
			}
			floods++
			f := filepath.Join(out, fmt.Sprintf("queries-flood-%d.txt", floods))
			return f, os.WriteFile(f, []byte(querymix.Format(querymix.Flood("ports.local.", o.queries, floods))), 0o644)
		}
		rep.keys = append(rep.keys, k)
		rep.results[k] = map[string]*result{}
		for _, name := range names {
			// Warm up (the servers' CPU caches, the kernel's socket
			// buffers). A DO=1 load but the flood goes once through its
			// whole query file, so that the runs measure signed answers
			// whose signatures are made (in svcdns's cache); the flood
			// is new names each run (next).
			warm, passes := o.warmup, 0
			if do && !strings.HasPrefix(k.load, "flood") {
				warm, passes = 10*time.Minute, 1
			}
			q, err := next()
			if err != nil {
				return err
			}
			if _, err := dnsperf(servers[name], k.mode, q, warm, st, rate, do, passes); err != nil {
				return err
			}
		}
		// Interleave the runs so that drift on the machine hits every server.
		for r := 0; r < o.runs; r++ {
			for _, name := range names {
				s := servers[name]
				res := rep.results[k][name]
				if res == nil {
					res = &result{}
					rep.results[k][name] = res
				}
				cpu0, err := cpuSeconds(s.cmd.Process.Pid)
				if err != nil {
					return err
				}
				m0 := scrape(s)
				t0 := time.Now()
				q, err := next()
				if err != nil {
					return err
				}
				p, err := dnsperf(s, k.mode, q, o.duration, st, rate, do, 0)
				if err != nil {
					return err
				}
				cpu1, _ := cpuSeconds(s.cmd.Process.Pid)
				if m1 := scrape(s); m0 != nil && m1 != nil {
					secs := time.Since(t0).Seconds()
					if o.dnssec {
						res.sigsPerSec = append(res.sigsPerSec, (m1.signatures-m0.signatures)/secs)
					}
					if all := m1.rrlAll - m0.rrlAll; o.rrl > 0 && all > 0 {
						res.rrlHeld = append(res.rrlHeld, 1-(m1.rrlSent-m0.rrlSent)/all)
					}
				}
				us := (cpu1 - cpu0) / float64(p.completed) * 1e6
				res.qps = append(res.qps, p.qps)
				res.latency = append(res.latency, p.latency)
				res.lost += p.lost
				res.sent += p.sent
				res.cpuPerAnswerUs = append(res.cpuPerAnswerUs, us)
				fmt.Printf("  %-8s %-3s %-11s %-6s run %d: %8.0f qps, %5.0f µs latency, %d lost, %.2f µs CPU/answer%s\n",
					k.load, k.mode, k.setting, name, r+1, p.qps, p.latency*1e6, p.lost, us, res.extra())
			}
		}
		return nil
	}
	for _, load := range o.loads {
		names := o.servers
		if load == "ports" && !portsInExport {
			names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n != "svcdns" })
			rep.skipped = append(rep.skipped, "ports: svcdns only, as the exported zone carries no port names")
		}
		if len(names) == 0 {
			continue
		}
		modes := []string{"udp"}
		if load == "mix" {
			modes = o.modes
		}
		for _, mode := range modes {
			for _, st := range o.settings {
				if err := measure(key{load, mode, st.String()}, st, 0, qfiles[load], names); err != nil {
					return err
				}
				if o.dnssec && mode == "udp" {
					if err := measure(key{load + "-do", mode, st.String()}, st, 0, qfiles[load], names); err != nil {
						return err
					}
				}
			}
		}
	}
	if o.rate > 0 && slices.Contains(o.loads, "mix") {
		if err := measure(key{"mix", "udp", fmt.Sprintf("-Q %d", o.rate)}, o.settings[0], o.rate, qfiles["mix"], o.servers); err != nil {
			return err
		}
	}
	for name, s := range servers {
		rep.memEnd[name], _ = memoryOf(s.cmd.Process.Pid)
	}
	text := rep.render()
	fmt.Print("\n" + text)
	if o.results != "" {
		if err := os.WriteFile(o.results, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// freePort returns a loopback port free for both UDP and TCP, so that
// the harness can run beside other servers.
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port for UDP and TCP")
}

// writeQueryFiles writes one dnsperf query file per load, and says
// whether the exported zone carries port names.
func writeQueryFiles(o options, out, zoneFile string) (map[string]string, bool, error) {
	reg, err := registry.ParseFile(o.registry)
	if err != nil {
		return nil, false, err
	}
	rrs, err := readZone(zoneFile)
	if err != nil {
		return nil, false, err
	}
	portsInExport := false
	for _, rr := range rrs {
		if portName.MatchString(rr.Header().Name) {
			portsInExport = true
			break
		}
	}
	const origin = "ports.local."
	files := map[string]string{}
	loads := o.loads
	if !slices.Contains(loads, "mix") {
		loads = append(slices.Clone(loads), "mix") // sameAnswers checks the servers on it
	}
	for _, load := range loads {
		var qs []querymix.Query
		switch load {
		case "mix":
			qs = querymix.Generate(reg, origin, o.queries, 1)
		case "flood":
			qs = querymix.Flood(origin, o.queries, 1)
		case "ports":
			qs = querymix.PortNames(origin, o.queries, 1)
		case "dnssd":
			qs = querymix.DNSSD(rrs, o.queries, 1)
		}
		if len(qs) == 0 {
			return nil, false, fmt.Errorf("load %s: no queries (the zone has none of its names)", load)
		}
		files[load] = filepath.Join(out, "queries-"+load+".txt")
		if err := os.WriteFile(files[load], []byte(querymix.Format(qs)), 0o644); err != nil {
			return nil, false, err
		}
	}
	return files, portsInExport, nil
}

var portName = regexp.MustCompile(`^_[0-9]+\._[A-Za-z]+\.`)

func readZone(path string) ([]dns.RR, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zp := dns.NewZoneParser(bufio.NewReader(f), "", path)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	return rrs, zp.Err()
}

func ensureTools() error {
	need := map[string]string{"dnsperf": "dnsperf", "nsd": "nsd", "knotd": "knot"}
	var missing []string
	for cmd, pkg := range need {
		if _, err := exec.LookPath(cmd); err != nil {
			if _, err := os.Stat("/usr/sbin/" + cmd); err != nil {
				missing = append(missing, pkg)
			}
		}
	}
	os.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin:/sbin")
	if len(missing) == 0 {
		return nil
	}
	fmt.Println("installing", missing)
	if err := sh("apt-get", "update", "-qq"); err != nil {
		return err
	}
	return sh("apt-get", append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)...)
}

func sh(name string, args ...string) error {
	c := exec.Command(name, args...)
	c.Stdout, c.Stderr = os.Stdout, os.Stderr
	c.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// knotRRL is the configuration that turns Knot's mod-rrl on at rate for
// every zone, or nothing when rate is 0.
func knotRRL(rate int) string {
	if rate <= 0 {
		return ""
	}
	return fmt.Sprintf("mod-rrl:\n  - id: bench\n    rate-limit: %d\n    slip: 2\ntemplate:\n  - id: default\n    global-module: mod-rrl/bench\n", rate)
}

// knotWorkers is the server-section lines setting Knot's workers, or none
// for its default (one per CPU).
func knotWorkers(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf("    udp-workers: %d\n    tcp-workers: %d\n", n, n)
}

// start starts a server and waits for its first answer. "svcdns
// workers=1" is svcdns with one worker.
func start(name, bin, zoneFile, out string, port int, o options) (*server, error) {
	reg, workers, rrl := o.registry, o.workers, o.rrl
	metrics := "" // svcdns's metrics listener
	dir := filepath.Join(out, strings.ReplaceAll(name, " ", "-"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1@%d", port)
	var c *exec.Cmd
	switch name {
	case "svcdns", "svcdns workers=1":
		if o.dnssec || rrl > 0 {
			// Read around each run: signatures made, rate limiting.
			mp, err := freePort()
			if err != nil {
				return nil, err
			}
			metrics = fmt.Sprintf("127.0.0.1:%d", mp)
		}
		c = exec.Command(bin, "serve", "--registry", reg, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--metrics-listen", metrics, "--log-level", "warn")
		// Like NSD's rrl-ratelimit: 0 below: rate limiting off, since
		// one loopback source is the whole load (unless -rrl). The
		// state directory keeps the generated DNS cookie secret (and,
		// with -dnssec, the key the export was signed with).
		c.Env = append(os.Environ(), fmt.Sprintf("SVCDNS_RRL_RATE=%d", rrl), "SVCDNS_STATE_DIR="+filepath.Join(dir, "state"))
		if o.dnssec {
			c.Env = append(c.Env, dnssecEnv(out, true)...)
		}
		if name != "svcdns" {
			workers = 1
		}
		if workers > 0 {
			c.Env = append(c.Env, fmt.Sprintf("SVCDNS_WORKERS=%d", workers))
		}
	case "knot":
		conf := fmt.Sprintf(`server:
    listen: %s
    rundir: %s
    user: root
%slog:
  - target: stderr
    any: warning
database:
    storage: %s
%szone:
  - domain: ports.local
    storage: %s
    file: %s
    journal-content: none
`, addr, dir, knotWorkers(workers), dir, knotRRL(rrl), filepath.Dir(zoneFile), filepath.Base(zoneFile))
		if err := os.WriteFile(filepath.Join(dir, "knot.conf"), []byte(conf), 0o644); err != nil {
			return nil, err
		}
		c = exec.Command("knotd", "-c", filepath.Join(dir, "knot.conf"))
	case "nsd":
		// Debian's NSD rate-limits answers unless rrl-ratelimit is 0
		// (-rrl sets it); server-count matches the cores the other
		// servers use.
		conf := fmt.Sprintf(`server:
    ip-address: %s
    port: %d
    server-count: %d
    username: ""
    chroot: ""
    zonesdir: %s
    pidfile: %s/nsd.pid
    xfrdfile: %s/xfrd.state
    zonelistfile: %s/zone.list
    database: ""
    rrl-ratelimit: %d
    verbosity: 0
    hide-version: yes
remote-control:
    control-enable: no
zone:
    name: ports.local
    zonefile: %s
`, addr, port, cmp.Or(workers, runtime.NumCPU()), filepath.Dir(zoneFile), dir, dir, dir, rrl, filepath.Base(zoneFile))
		if err := os.WriteFile(filepath.Join(dir, "nsd.conf"), []byte(conf), 0o644); err != nil {
			return nil, err
		}
		c = exec.Command("nsd", "-d", "-c", filepath.Join(dir, "nsd.conf"))
	default:
		return nil, fmt.Errorf("unknown server %q", name)
	}
	s := &server{name: name, port: port, metrics: metrics}
	if err := launch(s, c, dir, 30*time.Second, 2*time.Millisecond); err != nil {
		return nil, err
	}
	return s, nil
}

// launch starts c as s's process, its output in dir/server.log, and waits
// until it answers the zone's SOA on s.port, asking every poll for at most
// limit; s.ready is the time that took. A server that does not answer is
// stopped.
func launch(s *server, c *exec.Cmd, dir string, limit, poll time.Duration) error {
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return err
	}
	c.Stdout, c.Stderr = logf, logf
	t0 := time.Now()
	if err := c.Start(); err != nil {
		return err
	}
	s.cmd = c
	cl := &dns.Client{Timeout: 100 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("ports.local.", dns.TypeSOA)
	for time.Since(t0) < limit {
		if r, _, err := cl.Exchange(m, fmt.Sprintf("127.0.0.1:%d", s.port)); err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 {
			s.ready = time.Since(t0)
			return nil
		}
		time.Sleep(poll)
	}
	stop(s)
	log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
	return fmt.Errorf("not answering after %v; log:\n%s", limit, log)
}

func stop(s *server) {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
	}
}

// sameAnswers checks, before any timing, that the peers answer the query
// mix like svcdns does (rcode and answer section), so that the servers
// are compared on the same work.
func sameAnswers(servers map[string]*server, names []string, qfile string, portsInExport bool) error {
	f, err := os.Open(qfile)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	cl := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	checked, differ := 0, 0
	for sc.Scan() && checked < 500 {
		name, typ, _ := strings.Cut(sc.Text(), " ")
		if portName.MatchString(name) && !portsInExport {
			continue // port names are synthesized by svcdns only
		}
		m := new(dns.Msg)
		m.SetQuestion(name, dns.StringToType[typ])
		var ref string
		for _, n := range names {
			r, _, err := cl.Exchange(m, fmt.Sprintf("127.0.0.1:%d", servers[n].port))
			if err != nil {
				return fmt.Errorf("%s: %s: %w", n, sc.Text(), err)
			}
			got := dns.RcodeToString[r.Rcode] + " " + sortedRRs(r.Answer)
			if n == names[0] {
				ref = got
			} else if got != ref {
				differ++
				if differ <= 3 {
					fmt.Printf("  answers differ for %s: %s says %q, %s says %q\n", sc.Text(), names[0], ref, n, got)
				}
			}
		}
		checked++
	}
	fmt.Printf("answers compared on %d queries: %d differ\n", checked, differ)
	if differ > 0 {
		return errors.New("the servers do not answer alike; timing them would compare different work")
	}
	return nil
}

func sortedRRs(rrs []dns.RR) string {
	var s []string
	for _, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Ttl = 0
		s = append(s, strings.ToLower(c.String()))
	}
	slices.Sort(s)
	return strings.Join(s, "|")
}

type perf struct {
	qps, latency          float64
	sent, completed, lost int64
}

var (
	reSent      = regexp.MustCompile(`Queries sent:\s+(\d+)`)
	reCompleted = regexp.MustCompile(`Queries completed:\s+(\d+)`)
	reLost      = regexp.MustCompile(`Queries lost:\s+(\d+)`)
	reQPS       = regexp.MustCompile(`Queries per second:\s+([\d.]+)`)
	reLatency   = regexp.MustCompile(`Average Latency \(s\):\s+([\d.]+)`)
)

// dnsperf runs dnsperf against s; rate > 0 caps the offered load (-Q);
// do sets the DO bit (-D), asking for signed answers; passes > 0 stops
// after that many runs through the query file (-n) if d has not passed.
func dnsperf(s *server, mode, qfile string, d time.Duration, st setting, rate int, do bool, passes int) (perf, error) {
	args := []string{"-s", "127.0.0.1", "-p", strconv.Itoa(s.port), "-d", qfile, "-l", strconv.Itoa(max(int(d.Seconds()), 1)),
		"-c", strconv.Itoa(st.clients), "-q", strconv.Itoa(st.outstanding), "-m", mode}
	if rate > 0 {
		args = append(args, "-Q", strconv.Itoa(rate))
	}
	if do {
		args = append(args, "-D")
	}
	if passes > 0 {
		args = append(args, "-n", strconv.Itoa(passes))
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, "dnsperf", args...)
	outb, err := c.CombinedOutput()
	if err != nil {
		return perf{}, fmt.Errorf("dnsperf %s: %w\n%s", strings.Join(args, " "), err, outb)
	}
	o := string(outb)
	var p perf
	p.sent = atoi(reSent, o)
	p.completed = atoi(reCompleted, o)
	p.lost = atoi(reLost, o)
	p.qps = atof(reQPS, o)
	p.latency = atof(reLatency, o)
	if p.completed == 0 {
		return p, fmt.Errorf("dnsperf against %s completed no query:\n%s", s.name, o)
	}
	return p, nil
}

// dnssecEnv is the environment that turns svcdns's DNSSEC on with the
// lab key kept under out: `zone export` generates it into its state
// directory on first use; serve reads it from there.
func dnssecEnv(out string, serve bool) []string {
	state := filepath.Join(out, "dnssec-state")
	if serve {
		return []string{"SVCDNS_DNSSEC_ENABLED=true", "SVCDNS_DNSSEC_KEY_DIRECTORY=" + filepath.Join(state, "dnssec")}
	}
	return []string{"SVCDNS_DNSSEC_ENABLED=true", "SVCDNS_STATE_DIR=" + state}
}

// counters is what the harness reads from svcdns's metrics around a run.
type counters struct {
	signatures      float64 // svcdns_dnssec_signatures_total
	rrlAll, rrlSent float64 // svcdns_rrl_responses_total: every class and action, and sent
}

// scrape reads s's counters, or returns nil when s has no metrics
// listener or it does not answer.
func scrape(s *server) *counters {
	if s.metrics == "" {
		return nil
	}
	conn, err := net.DialTimeout("tcp", s.metrics, 2*time.Second)
	if err != nil {
		return nil
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", s.metrics)
	var c counters
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		switch series := line[:i]; {
		case series == "svcdns_dnssec_signatures_total":
			c.signatures += v
		case strings.HasPrefix(series, "svcdns_rrl_responses_total{"): // each response once, under the class that decided it
			c.rrlAll += v
			if strings.Contains(series, `action="sent"`) {
				c.rrlSent += v
			}
		}
	}
	return &c
}

// extra is what a run's line adds for svcdns: signatures a second, the
// share of responses rate limiting held back.
func (r *result) extra() string {
	var b strings.Builder
	if n := len(r.sigsPerSec); n > 0 {
		fmt.Fprintf(&b, ", %.0f signatures/s", r.sigsPerSec[n-1])
	}
	if n := len(r.rrlHeld); n > 0 {
		fmt.Fprintf(&b, ", RRL held back %.1f%%", 100*r.rrlHeld[n-1])
	}
	return b.String()
}

func atoi(re *regexp.Regexp, s string) int64 {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseInt(m[1], 10, 64)
	return v
}

func atof(re *regexp.Regexp, s string) float64 {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// tree returns pid and every live process below it (NSD answers from
// forked children).
func tree(pid int) (map[int]bool, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	parent := map[int]int{}
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		// The fields after the ")" that ends the command name: ppid is
		// the 4th field of the line.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		id, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		parent[id], _ = strconv.Atoi(f[1])
	}
	if _, ok := parent[pid]; !ok {
		return nil, fmt.Errorf("process %d is gone", pid)
	}
	out := map[int]bool{}
	for id := range parent {
		for a := id; a > 1; a = parent[a] {
			if a == pid {
				out[id] = true
				break
			}
			if _, ok := parent[a]; !ok {
				break
			}
		}
	}
	return out, nil
}

// cpuSeconds is the user+system CPU time of a process and of every live
// process below it, with their threads.
func cpuSeconds(pid int) (float64, error) {
	ps, err := tree(pid)
	if err != nil {
		return 0, err
	}
	total := 0.0
	for id := range ps {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", id))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ut, _ := strconv.ParseFloat(f[11], 64) // utime and stime: the 14th and 15th fields
		st, _ := strconv.ParseFloat(f[12], 64)
		total += (ut + st) / 100 // USER_HZ is 100 on Linux
	}
	return total, nil
}

// memory is what a server holds resident: the RSS of its main process,
// and the PSS of its whole process tree, which counts pages shared by
// NSD's forked servers (and by any two processes) once.
type memory struct{ rssKiB, pssKiB int64 }

func memoryOf(pid int) (memory, error) {
	var m memory
	ps, err := tree(pid)
	if err != nil {
		return m, err
	}
	for id := range ps {
		if v, err := statusField(fmt.Sprintf("/proc/%d/smaps_rollup", id), "Pss:"); err == nil {
			m.pssKiB += v
		}
	}
	m.rssKiB, err = statusField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
	return m, err
}

func statusField(path, field string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n, nil
		}
	}
	return 0, io.EOF
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianDuration(v []time.Duration) time.Duration {
	f := make([]float64, len(v))
	for i, d := range v {
		f[i] = float64(d)
	}
	return time.Duration(median(f))
}

func (rep *report) render() string {
	o := rep.o
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "# svcdns benchmark\n\n")
	if o.smoke {
		fmt.Fprintf(&b, "**Smoke run (-smoke): every step of the harness, too short to measure anything.**\n\n")
	}
	fmt.Fprintf(&b, "- date: %s\n- machine: %s, %d CPUs (%s), %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.NumCPU(), cpuModel(), runtime.GOOS+"/"+runtime.GOARCH)
	settings := make([]string, len(o.settings))
	for i, s := range o.settings {
		settings[i] = fmt.Sprintf("%dx%d", s.clients, s.outstanding)
	}
	fmt.Fprintf(&b, "- command: `go run ./bench -runs %d -duration %s -warmup %s -modes %s -loads %s -settings %s -rate %d -queries %d -workers %d -startups %d -rrl %d%s`\n",
		o.runs, o.duration, o.warmup, strings.Join(o.modes, ","), strings.Join(o.loads, ","), strings.Join(settings, ","), o.rate, o.queries, o.workers, o.startups, o.rrl, map[bool]string{true: " -dnssec"}[o.dnssec])
	workers := "each server's default, one per CPU"
	if o.workers > 0 {
		workers = fmt.Sprintf("%d for every server (svcdns workers, Knot udp-workers and tcp-workers, NSD server-count)", o.workers)
	}
	fmt.Fprintf(&b, "- workers: %s\n", workers)
	fmt.Fprintf(&b, "- zone: `svcdns zone export` of %s, served by every server; loads: mix (internal/querymix), flood (unique random names, NXDOMAIN), ports (random _PORT._PROTO TXT and PTR), dnssd (browse lists, instance enumeration, instances' SRV and TXT); %d queries each\n", filepath.Base(o.registry), o.queries)
	fmt.Fprintf(&b, "- CPU per answer: user+system CPU of the server's processes over a run, divided by the answers dnsperf received\n")
	fmt.Fprintf(&b, "- versions: %s\n", versions())
	for _, s := range rep.skipped {
		fmt.Fprintf(&b, "- %s\n", s)
	}
	fmt.Fprintf(&b, "\n## Throughput and CPU per answer\n\n")
	fmt.Fprintf(&b, "| load | mode | dnsperf | server | QPS median | QPS min | QPS max | avg latency | lost | CPU µs/answer |\n|---|---|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range rep.keys {
		for _, name := range o.servers {
			r := rep.results[k][name]
			if r == nil {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %.0f | %.0f | %.0f | %.0f µs | %d of %d | %.2f |\n", k.load, k.mode, k.setting, name,
				median(r.qps), slices.Min(r.qps), slices.Max(r.qps), median(r.latency)*1e6, r.lost, r.sent, median(r.cpuPerAnswerUs))
		}
	}
	fmt.Fprintf(&b, "\n## svcdns against each peer (medians)\n\n")
	fmt.Fprintf(&b, "| load | mode | dnsperf | svcdns vs | QPS ratio | CPU/answer ratio (svcdns / peer) |\n|---|---|---|---|---:|---:|\n")
	for _, k := range rep.keys {
		s := rep.results[k]["svcdns"]
		if s == nil {
			continue
		}
		for _, name := range o.servers {
			p := rep.results[k][name]
			if name == "svcdns" || p == nil {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %.2fx | %.2f |\n", k.load, k.mode, k.setting, name,
				median(s.qps)/median(p.qps), median(s.cpuPerAnswerUs)/median(p.cpuPerAnswerUs))
		}
	}
	if o.dnssec {
		rep.renderSigned(&b)
	}
	fmt.Fprintf(&b, "\n## Start-up: process start to first answer (full registry)\n\n")
	fmt.Fprintf(&b, "| server | median | runs | svcdns / server |\n|---|---:|---|---:|\n")
	names := append(slices.Clone(o.servers), "svcdns workers=1")
	for _, name := range names {
		v := rep.startups[name]
		if len(v) == 0 {
			continue
		}
		runs := make([]string, len(v))
		for i, d := range v {
			runs[i] = d.Round(time.Millisecond).String()
		}
		ratio := ""
		if s := rep.startups["svcdns"]; len(s) > 0 && !strings.HasPrefix(name, "svcdns") {
			ratio = fmt.Sprintf("%.2f", float64(medianDuration(s))/float64(medianDuration(v)))
			if w1 := rep.startups["svcdns workers=1"]; len(w1) > 0 {
				ratio += fmt.Sprintf(" (workers=1: %.2f)", float64(medianDuration(w1))/float64(medianDuration(v)))
			}
		}
		fmt.Fprintf(&b, "| %s | %v | %s | %s |\n", name, medianDuration(v).Round(time.Millisecond), strings.Join(runs, ", "), ratio)
	}
	fmt.Fprintf(&b, "\n## Memory\n\n")
	fmt.Fprintf(&b, "RSS of the main process and PSS of the whole process tree (NSD forks its servers, which share pages), 1 s after the last start and after all runs.\n\n")
	fmt.Fprintf(&b, "| server | RSS after start | RSS after the runs | PSS after start | PSS after the runs | svcdns / server (RSS after start, after the runs) |\n|---|---:|---:|---:|---:|---:|\n")
	mib := func(k int64) string { return fmt.Sprintf("%.1f MiB", float64(k)/1024) }
	sv0, sv1 := rep.memStart["svcdns"], rep.memEnd["svcdns"]
	for _, name := range o.servers {
		m0, m1 := rep.memStart[name], rep.memEnd[name]
		ratio := ""
		if name != "svcdns" && m0.rssKiB > 0 && m1.rssKiB > 0 && sv0.rssKiB > 0 {
			if name == "nsd" { // its servers are forked processes: compare trees
				ratio = fmt.Sprintf("%.2f, %.2f (PSS)", float64(sv0.pssKiB)/float64(m0.pssKiB), float64(sv1.pssKiB)/float64(m1.pssKiB))
			} else {
				ratio = fmt.Sprintf("%.2f, %.2f", float64(sv0.rssKiB)/float64(m0.rssKiB), float64(sv1.rssKiB)/float64(m1.rssKiB))
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", name, mib(m0.rssKiB), mib(m1.rssKiB), mib(m0.pssKiB), mib(m1.pssKiB), ratio)
	}
	return b.String()
}

// renderSigned writes, for -dnssec, each server's signed (DO=1) QPS
// against its unsigned QPS on the same load, and what svcdns signed.
func (rep *report) renderSigned(b *strings.Builder) {
	o := rep.o
	fmt.Fprintf(b, "\n## Signed answers (DO=1) against unsigned (DO=0), same zone and queries (medians)\n\n")
	fmt.Fprintf(b, "svcdns signs online (lab ECDSAP256SHA256 key, compact denial); the peers serve the signed export (NSEC chain). Signatures/s: svcdns_dnssec_signatures_total over the run. RRL held back: share of UDP responses rate limiting dropped or slipped (-rrl).\n\n")
	fmt.Fprintf(b, "| load | dnsperf | server | QPS DO=0 | QPS DO=1 | signed / unsigned | CPU µs/answer DO=0 | DO=1 | signatures/s | RRL held back |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range rep.keys {
		if strings.HasSuffix(k.load, "-do") {
			continue
		}
		kd := key{k.load + "-do", k.mode, k.setting}
		for _, name := range o.servers {
			u, d := rep.results[k][name], rep.results[kd][name]
			if u == nil || d == nil {
				continue
			}
			sigs, held := "", ""
			if len(d.sigsPerSec) > 0 {
				sigs = fmt.Sprintf("%.0f", median(d.sigsPerSec))
			}
			if len(d.rrlHeld) > 0 {
				held = fmt.Sprintf("%.1f%%", 100*median(d.rrlHeld))
			}
			fmt.Fprintf(b, "| %s | %s | %s | %.0f | %.0f | %.2fx | %.2f | %.2f | %s | %s |\n", k.load, k.setting, name,
				median(u.qps), median(d.qps), median(d.qps)/median(u.qps), median(u.cpuPerAnswerUs), median(d.cpuPerAnswerUs), sigs, held)
		}
	}
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}

func versions() string {
	var out []string
	for _, c := range [][]string{{"knotd", "-V"}, {"nsd", "-v"}, {"dnsperf", "-h"}} {
		b, _ := exec.Command(c[0], c[1:]...).CombinedOutput()
		line := strings.SplitN(strings.TrimSpace(string(b)), "\n", 2)[0]
		if c[0] == "dnsperf" {
			line = regexp.MustCompile(`DNS Performance Testing Tool\s*\n?`).ReplaceAllString(line, "")
			if m := regexp.MustCompile(`Version ([\d.]+)`).FindStringSubmatch(string(b)); m != nil {
				line = "dnsperf " + m[1]
			}
		}
		out = append(out, line)
	}
	out = append(out, "svcdns built with "+runtime.Version())
	return strings.Join(out, "; ")
}
