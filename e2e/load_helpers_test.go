package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
)

// The load tests (flood, slow clients, garbage, soak) need more of the
// server process than startServer gives: their own environment, the PID
// (for VmRSS) and the /metrics address (for the server's own counters).

// loadServer is one `svcdns serve` process run by a load test.
type loadServer struct {
	Addr    string // host:port of the UDP and TCP listeners
	Metrics string // host:port of /metrics
	PID     int
	stderr  *readyWatcher
	exited  chan struct{} // closed once the process has exited
	http    *http.Client
}

// startLoadServer runs `svcdns serve` on a free loopback port with a
// /metrics listener on another, the SVCDNS_* settings of env (every
// SVCDNS_ variable of the test's own environment is removed: svcdns
// rejects names it does not know, such as SOAK_DURATION) and args added.
// Cleanup is startServer's: SIGTERM, and a graceful exit with status 0
// is required.
func startLoadServer(t testing.TB, env []string, args ...string) *loadServer {
	t.Helper()
	p := spawnServer(t, env, append([]string{"--metrics-listen", "127.0.0.1:0"}, args...))
	s := &loadServer{Addr: p.Addr, PID: p.PID, stderr: p.stderr, exited: p.exited,
		http: &http.Client{Timeout: 5 * time.Second}}
	t.Cleanup(s.http.CloseIdleConnections)
	w := p.stderr
	// "metrics listening" is logged before "ready".
	for _, line := range strings.Split(w.String(), "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "metrics listening" {
			s.Metrics = rec.Addr
		}
	}
	if s.Metrics == "" {
		t.Fatalf("svcdns logged no \"metrics listening\" line\n%s", tail(w.String(), 8<<10))
	}
	return s
}

// Alive reports whether the process is still running.
func (s *loadServer) Alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Stderr returns what the server has logged so far.
func (s *loadServer) Stderr() string { return s.stderr.String() }

// LogCount counts the JSON log lines whose msg is msg.
func (s *loadServer) LogCount(msg string) int {
	n := 0
	for _, line := range strings.Split(s.Stderr(), "\n") {
		var rec struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
			n++
		}
	}
	return n
}

// RSSMiB is the process's resident set (VmRSS) in MiB.
func (s *loadServer) RSSMiB() (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.PID))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS %q: %v", v, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", s.PID)
}

// CPUSeconds is the user and system CPU time the process has used.
func (s *loadServer) CPUSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.PID))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14, stime 15 (in clock ticks,
	// 100 a second on Linux).
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", s.PID, b)
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q", s.PID, b)
	}
	return (utime + stime) / 100, nil
}

// loadMetrics is one scrape of /metrics: each sample line's series, as
// printed ("name{label=\"v\"}"), to its value.
type loadMetrics map[string]float64

// Scrape reads /metrics.
func (s *loadServer) Scrape() (loadMetrics, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Metrics+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	m := loadMetrics{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("/metrics line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m, nil
}

// MustScrape is Scrape that fails the test on error.
func (s *loadServer) MustScrape(t testing.TB) loadMetrics {
	t.Helper()
	m, err := s.Scrape()
	if err != nil {
		t.Fatalf("scrape %s: %v", s.Metrics, err)
	}
	return m
}

// Sum adds the samples of metric name whose labels contain every one of
// labels (each `key="value"`).
func (m loadMetrics) Sum(name string, labels ...string) float64 {
	var sum float64
	for series, v := range m {
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
			}
		}
		if ok {
			sum += v
		}
	}
	return sum
}

// loadRaiseNoFile raises the soft RLIMIT_NOFILE of the test process, which the
// servers it starts inherit, to at least n (up to the hard limit).
func loadRaiseNoFile(t testing.TB, n uint64) uint64 {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return lim.Cur
	}
	want := min(n, lim.Max)
	old := lim.Cur
	lim.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit NOFILE %d: %v", want, err)
	}
	t.Cleanup(func() {
		lim.Cur = old
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	})
	return want
}

// loadPackQuery packs name/qtype with EDNS(0) 1232 and the given ID.
func loadPackQuery(t testing.TB, id uint16, name string, qtype uint16) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, false)
	m.Id = id
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("pack %s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return b
}

// loadUDPAsk sends one query from local (nil: any) to server over UDP and
// waits up to timeout for the reply with its ID.
func loadUDPAsk(local, server *net.UDPAddr, id uint16, name string, qtype uint16, timeout time.Duration) (*dns.Msg, time.Duration, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, false)
	m.Id = id
	wire, err := m.Pack()
	if err != nil {
		return nil, 0, err
	}
	c, err := net.DialUDP("udp", local, server)
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	start := time.Now()
	if err := c.SetDeadline(start.Add(timeout)); err != nil {
		return nil, 0, err
	}
	if _, err := c.Write(wire); err != nil {
		return nil, 0, err
	}
	buf := make([]byte, 65535)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, time.Since(start), err
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf[:n]); err != nil {
			return nil, time.Since(start), fmt.Errorf("reply does not parse: %v", err)
		}
		if r.Id != id {
			continue // a late reply to an earlier query
		}
		return r, time.Since(start), nil
	}
}

// loadCheckSRV says what is wrong with r as the answer to an SRV query
// for a service on port, or "" when nothing is.
func loadCheckSRV(r *dns.Msg, port uint16) string {
	if r.Rcode != dns.RcodeSuccess || r.Truncated || len(r.Answer) == 0 {
		return fmt.Sprintf("rcode %s tc=%v answers %d", dns.RcodeToString[r.Rcode], r.Truncated, len(r.Answer))
	}
	for _, rr := range r.Answer {
		if s, ok := rr.(*dns.SRV); !ok || s.Port != port {
			return fmt.Sprintf("answer %v, want SRV port %d", rr, port)
		}
	}
	return ""
}

// loadLatencyStats is a summary of latencies.
type loadLatencyStats struct {
	N             int
	P50, P99, Max time.Duration
}

func loadLatency(ds []time.Duration) loadLatencyStats {
	if len(ds) == 0 {
		return loadLatencyStats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[int(math.Ceil(q*float64(len(s))))-1] }
	return loadLatencyStats{N: len(s), P50: at(0.50), P99: at(0.99), Max: s[len(s)-1]}
}

func (d loadLatencyStats) String() string {
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", d.N, d.P50.Round(time.Microsecond), d.P99.Round(time.Microsecond), d.Max.Round(time.Microsecond))
}

// loadWaitFor polls cond every step until it holds or d passes.
func loadWaitFor(d, step time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(step)
	}
	return true
}

// loadReadUntilQuiet reads datagrams from c in batches into in and hands
// each batch to got, until done is closed and then nothing has come for
// quiet (a server that lags behind its queue still has its replies
// counted), or c is closed.
func loadReadUntilQuiet(c *net.UDPConn, in []ipv4.Message, done <-chan struct{}, quiet time.Duration, got func([]ipv4.Message)) {
	pc := ipv4.NewPacketConn(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(quiet))
		n, err := pc.ReadBatch(in, 0)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			select {
			case <-done:
				return
			default:
				continue
			}
		}
		got(in[:n])
	}
}

// loadUDPRcvbufErrors is the network namespace's count of UDP datagrams
// dropped because a socket's receive buffer was full (-1: unknown).
func loadUDPRcvbufErrors() int {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return -1
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.Atoi(f[i])
				return v
			}
		}
	}
	return -1
}
