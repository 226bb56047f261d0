// Command bench measures svcdns against Knot DNS and NSD serving the same
// zone (the one `svcdns zone export` writes) with dnsperf, on loopback, and
// prints one table: QPS median/min/max, latency, lost queries, server CPU
// per answered query, and svcdns's ratio to each peer.
//
//	go run ./bench                       # 3 runs x 15 s, UDP and TCP
//	go run ./bench -runs 1 -duration 5s  # a quick look
//	go run ./bench -results bench/RESULTS.md
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
	runs     int
	modes    []string
	queries  int
	clients  int
	outDir   string
	results  string
	servers  []string
	workers  int
	rrl      int
}

func main() {
	var o options
	var modes, servers string
	flag.StringVar(&o.registry, "registry", "../shared/data/iana/service-names-port-numbers.xml", "registry file for the zone and the query mix")
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "length of one dnsperf run")
	flag.IntVar(&o.runs, "runs", 3, "runs per server and mode")
	flag.StringVar(&modes, "modes", "udp,tcp", "transports to measure")
	flag.StringVar(&servers, "servers", "svcdns,knot,nsd", "servers to measure")
	flag.IntVar(&o.queries, "queries", 200000, "distinct queries in the query file")
	flag.IntVar(&o.clients, "clients", 4, "dnsperf -c (client sockets)")
	flag.StringVar(&o.outDir, "out", "bench/out", "work directory (zone, configs, logs)")
	flag.StringVar(&o.results, "results", "", "also write the table to this Markdown file")
	transports := flag.Bool("transports", false, "measure DNS over TLS and HTTPS instead (bench/transports.go): svcdns, BIND and NSD")
	flag.IntVar(&o.rrl, "rrl", 0, "response rate limiting on every server at this rate a second (svcdns rrl.rate, NSD rrl-ratelimit, Knot mod-rrl rate-limit); 0: off, as NSD's rrl-ratelimit: 0. A rate the load never reaches (1000000) measures what checking costs; a low one, limiting")
	flag.IntVar(&o.workers, "workers", 0, "cores each server answers on, set alike for all (svcdns workers, Knot udp-/tcp-workers, NSD server-count); 0: each server's default, one per CPU")
	flag.Parse()
	o.modes = strings.Split(modes, ",")
	o.servers = strings.Split(servers, ",")
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
	name  string
	port  int
	cmd   *exec.Cmd
	ready time.Duration // start to first answer
}

type result struct {
	server, mode   string
	qps            []float64
	latency        []float64 // seconds
	lost, sent     int64
	cpuPerAnswerUs []float64
}

func run(o options) error {
	if err := ensureTools(); err != nil {
		return err
	}
	out, err := filepath.Abs(o.outDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	bin := filepath.Join(out, "svcdns-bin")
	fmt.Println("building svcdns")
	if err := sh("go", "build", "-o", bin, "./cmd/svcdns"); err != nil {
		return err
	}
	zoneFile := filepath.Join(out, "ports.local.zone")
	if err := sh(bin, "zone", "export", "--registry", o.registry, "-o", zoneFile); err != nil {
		return err
	}
	reg, err := registry.ParseFile(o.registry)
	if err != nil {
		return err
	}
	qfile := filepath.Join(out, "queries.txt")
	if err := os.WriteFile(qfile, []byte(querymix.Format(querymix.Generate(reg, "ports.local.", o.queries, 1))), 0o644); err != nil {
		return err
	}

	servers := map[string]*server{}
	defer func() {
		for _, s := range servers {
			stop(s)
		}
	}()
	base := 15300
	for i, name := range o.servers {
		s, err := start(name, bin, o.registry, zoneFile, out, base+i, o.workers, o.rrl)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		servers[name] = s
		fmt.Printf("%s ready on 127.0.0.1:%d in %v\n", name, s.port, s.ready.Round(time.Millisecond))
	}
	if err := sameAnswers(servers, o.servers, qfile); err != nil {
		return err
	}

	results := map[string]*result{}
	for _, mode := range o.modes {
		for _, name := range o.servers {
			// Warm up (fills svcdns's reply cache, Knot's and NSD's CPU caches).
			if _, err := dnsperf(servers[name], mode, qfile, 3*time.Second, o.clients); err != nil {
				return err
			}
		}
		// Interleave the runs so that drift on the machine hits every server.
		for r := 0; r < o.runs; r++ {
			for _, name := range o.servers {
				s := servers[name]
				res := results[name+"/"+mode]
				if res == nil {
					res = &result{server: name, mode: mode}
					results[name+"/"+mode] = res
				}
				cpu0, err := cpuSeconds(s.cmd.Process.Pid)
				if err != nil {
					return err
				}
				p, err := dnsperf(s, mode, qfile, o.duration, o.clients)
				if err != nil {
					return err
				}
				cpu1, _ := cpuSeconds(s.cmd.Process.Pid)
				res.qps = append(res.qps, p.qps)
				res.latency = append(res.latency, p.latency)
				res.lost += p.lost
				res.sent += p.sent
				res.cpuPerAnswerUs = append(res.cpuPerAnswerUs, (cpu1-cpu0)/float64(p.completed)*1e6)
				fmt.Printf("  %-6s %-3s run %d: %8.0f qps, %5.0f µs latency, %d lost, %.2f µs CPU/answer\n",
					name, mode, r+1, p.qps, p.latency*1e6, p.lost, (cpu1-cpu0)/float64(p.completed)*1e6)
			}
		}
	}
	rss := int64(0)
	if s := servers["svcdns"]; s != nil {
		rss, _ = rssKiB(s.cmd.Process.Pid)
	}
	table := render(o, results, servers, rss)
	fmt.Print("\n" + table)
	if o.results != "" {
		if err := os.WriteFile(o.results, []byte(table), 0o644); err != nil {
			return err
		}
	}
	return nil
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

func start(name, bin, reg, zoneFile, out string, port, workers, rrl int) (*server, error) {
	dir := filepath.Join(out, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1@%d", port)
	var c *exec.Cmd
	switch name {
	case "svcdns":
		c = exec.Command(bin, "serve", "--registry", reg, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--metrics-listen", "", "--log-level", "warn")
		// Like NSD's rrl-ratelimit: 0 below: rate limiting off, since
		// one loopback source is the whole load (unless -rrl). The
		// state directory keeps the generated DNS cookie secret.
		c.Env = append(os.Environ(), fmt.Sprintf("SVCDNS_RRL_RATE=%d", rrl), "SVCDNS_STATE_DIR="+filepath.Join(dir, "state"))
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
		// Debian's NSD rate-limits answers unless rrl-ratelimit is 0;
		// server-count matches the cores the other servers use.
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
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	c.Stdout, c.Stderr = logf, logf
	t0 := time.Now()
	if err := c.Start(); err != nil {
		return nil, err
	}
	s := &server{name: name, port: port, cmd: c}
	cl := &dns.Client{Timeout: 100 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("ports.local.", dns.TypeSOA)
	for time.Since(t0) < 30*time.Second {
		if r, _, err := cl.Exchange(m, fmt.Sprintf("127.0.0.1:%d", port)); err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 {
			s.ready = time.Since(t0)
			return s, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop(s)
	log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
	return nil, fmt.Errorf("not answering after 30 s; log:\n%s", log)
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
func sameAnswers(servers map[string]*server, names []string, qfile string) error {
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
		if strings.HasPrefix(strings.ToLower(name), "_") && regexp.MustCompile(`^_[0-9]+\._`).MatchString(name) {
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

func dnsperf(s *server, mode, qfile string, d time.Duration, clients int) (perf, error) {
	args := []string{"-s", "127.0.0.1", "-p", strconv.Itoa(s.port), "-d", qfile, "-l", strconv.Itoa(int(d.Seconds())),
		"-c", strconv.Itoa(clients), "-q", "200", "-m", mode}
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

// cpuSeconds is the user+system CPU time of a process and of every live
// process below it (NSD answers from forked children), with their threads.
func cpuSeconds(pid int) (float64, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return 0, err
	}
	type proc struct {
		ppid int
		cpu  float64
	}
	procs := map[int]proc{}
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		// Fields after the ")" that ends the command name: ppid is the
		// 4th field of the line, utime and stime the 14th and 15th.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		id, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		procs[id] = proc{ppid, (ut + st) / 100} // USER_HZ is 100 on Linux
	}
	if _, ok := procs[pid]; !ok {
		return 0, fmt.Errorf("process %d is gone", pid)
	}
	total := 0.0
	for id, p := range procs {
		for a := id; a > 1; a = procs[a].ppid {
			if a == pid {
				total += p.cpu
				break
			}
			if _, ok := procs[a]; !ok {
				break
			}
		}
	}
	return total, nil
}

func rssKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
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

func render(o options, results map[string]*result, servers map[string]*server, rss int64) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "# svcdns benchmark\n\n")
	fmt.Fprintf(&b, "- date: %s\n- machine: %s, %d CPUs (%s), %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.NumCPU(), cpuModel(), runtime.GOOS+"/"+runtime.GOARCH)
	fmt.Fprintf(&b, "- command: `go run ./bench -runs %d -duration %s -modes %s -clients %d -queries %d -workers %d -rrl %d`\n",
		o.runs, o.duration, strings.Join(o.modes, ","), o.clients, o.queries, o.workers, o.rrl)
	workers := "each server's default, one per CPU"
	if o.workers > 0 {
		workers = fmt.Sprintf("%d for every server (svcdns workers, Knot udp-workers and tcp-workers, NSD server-count)", o.workers)
	}
	fmt.Fprintf(&b, "- workers: %s\n", workers)
	fmt.Fprintf(&b, "- zone: `svcdns zone export` of %s, served by every server; query mix: internal/querymix (%d queries)\n", filepath.Base(o.registry), o.queries)
	fmt.Fprintf(&b, "- versions: %s\n\n", versions())
	fmt.Fprintf(&b, "| mode | server | QPS median | QPS min | QPS max | avg latency | lost | CPU µs/answer |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, mode := range o.modes {
		for _, name := range o.servers {
			r := results[name+"/"+mode]
			if r == nil {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f | %.0f | %.0f µs | %d of %d | %.2f |\n", mode, name,
				median(r.qps), slices.Min(r.qps), slices.Max(r.qps), median(r.latency)*1e6, r.lost, r.sent, median(r.cpuPerAnswerUs))
		}
	}
	fmt.Fprintf(&b, "\n| mode | svcdns vs | QPS ratio (median) | CPU/answer ratio (svcdns / peer) |\n|---|---|---:|---:|\n")
	for _, mode := range o.modes {
		s := results["svcdns/"+mode]
		if s == nil {
			continue
		}
		for _, name := range o.servers {
			p := results[name+"/"+mode]
			if name == "svcdns" || p == nil {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %.2fx | %.2f |\n", mode, name, median(s.qps)/median(p.qps), median(s.cpuPerAnswerUs)/median(p.cpuPerAnswerUs))
		}
	}
	if s := servers["svcdns"]; s != nil {
		fmt.Fprintf(&b, "\nsvcdns on the full registry: first answer %v after process start; RSS after the runs %.1f MiB.\n",
			s.ready.Round(time.Millisecond), float64(rss)/1024)
	}
	return b.String()
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
