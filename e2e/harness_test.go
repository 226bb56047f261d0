// Package e2e_test runs the svcdns binary as a real server and queries it
// with clients the project did not write: dig, kdig, drill, Unbound, Go's
// own resolver, and raw sockets.
package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/testenv"
)

// Bounds on every wait of the harness.
const (
	buildTimeout    = 5 * time.Minute
	readyTimeout    = 60 * time.Second // the full registry under -race on 2 cores
	shutdownTimeout = 10 * time.Second
	toolTimeout     = 20 * time.Second
	origin          = "ports.local."
)

// svcdnsBin is the binary built once by TestMain.
var svcdnsBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "svcdns-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	svcdnsBin = filepath.Join(dir, "svcdns")
	gobin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: the go command is needed to build svcdns:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", svcdnsBin, "./cmd/svcdns")
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/svcdns: %v\n%s", err, out)
		return 1
	}
	// serve prefers the registry cache of `svcdns registry update` over
	// the embedded excerpt: point every server at an empty cache, so that
	// a developer's own cache does not change what the tests see. Go's
	// build cache defaults to $XDG_CACHE_HOME/go-build, and an empty one
	// rebuilds the standard library: the go commands that tests run keep
	// the real one.
	if os.Getenv("GOCACHE") == "" {
		out, err := exec.Command(gobin, "env", "GOCACHE").Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: go env GOCACHE:", err)
			return 1
		}
		os.Setenv("GOCACHE", strings.TrimSpace(string(out)))
	}
	os.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	// Likewise the state directory (generated secrets, keys, certificates,
	// the IXFR journal): commands that read it see none, and each server
	// gets its own (spawnServer).
	os.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	return m.Run()
}

// syncBuffer is a bytes.Buffer safe for one writer and many readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// readyWatcher is the server's stderr: it keeps every byte and reports
// the "listen" attribute of the first JSON log line with msg "ready".
type readyWatcher struct {
	syncBuffer
	mu      sync.Mutex
	partial []byte
	once    sync.Once
	ready   chan string
}

func (w *readyWatcher) Write(p []byte) (int, error) {
	w.syncBuffer.Write(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := w.partial[:i]
		var rec struct {
			Msg    string `json:"msg"`
			Listen string `json:"listen"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "ready" {
			w.once.Do(func() { w.ready <- rec.Listen })
		}
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

// server is one running `svcdns serve` process.
type server struct {
	Addr   string // host:port of both the UDP and the TCP listener
	stderr *readyWatcher
}

// Stderr returns what the server has logged so far.
func (s *server) Stderr() string { return s.stderr.String() }

// startServer runs `svcdns serve` on a free loopback port with args added,
// waits for its "ready" log line and returns its address. At cleanup it
// sends SIGTERM and requires a graceful exit with status 0; the server's
// log is printed when the test failed.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	p := spawnServer(t, nil, append([]string{"--metrics-listen", ""}, args...))
	return &server{Addr: p.Addr, stderr: p.stderr}
}

// spawned is a running `svcdns serve` that has logged "ready".
type spawned struct {
	Addr   string // host:port of both listeners
	PID    int
	stderr *readyWatcher
	exited chan struct{} // closed once the process has exited
}

// spawnServer starts `svcdns serve --listen 127.0.0.1:0 --log-format json`
// with args (--listen among them replaces the default), in the test's environment less its SVCDNS_* variables (svcdns
// rejects names it does not know) plus env, and waits until it is ready.
// Cleanup sends SIGTERM and requires a graceful exit with status 0; a
// test killed by its timeout takes the server with it (Pdeathsig).
func spawnServer(t testing.TB, env, args []string) *spawned {
	t.Helper()
	argv := []string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json"}
	if slices.Contains(args, "--listen") {
		// The caller's own port (a server restarted on the same one).
		argv = slices.Delete(argv, 1, 3)
	}
	argv = append(argv, args...)
	cmd := exec.Command(svcdnsBin, argv...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SVCDNS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// A state directory of its own (the IXFR journal), unless env names
	// one: servers running at once must not share a journal.
	cmd.Env = append(cmd.Env, "STATE_DIRECTORY="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	w := &readyWatcher{ready: make(chan string, 1)}
	var stdout syncBuffer
	cmd.Stdout = &stdout
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start svcdns: %v", err)
	}
	done := make(chan error, 1)
	p := &spawned{PID: cmd.Process.Pid, stderr: w, exited: make(chan struct{})}
	go func() { done <- cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		if p.Addr != "" {
			stopProcess(t, "svcdns", cmd, done)
		} else {
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("svcdns %s (env %s)\n--- stderr ---\n%s--- stdout ---\n%s", strings.Join(argv, " "), strings.Join(env, " "),
				tail(w.String(), 64<<10), tail(stdout.String(), 8<<10))
		}
	})
	select {
	case listen := <-w.ready:
		addr, err := listenAddr(listen)
		if err != nil {
			t.Fatalf("svcdns ready line: %v", err)
		}
		p.Addr = addr
		return p
	case <-p.exited:
		t.Fatalf("svcdns exited before it was ready\n%s", tail(w.String(), 8<<10))
	case <-time.After(readyTimeout):
		t.Fatalf("svcdns not ready after %v", readyTimeout)
	}
	return nil
}

// listenAddr takes "udp://127.0.0.1:5353,tcp://127.0.0.1:5353" and returns
// the one address that both transports listen on.
func listenAddr(listen string) (string, error) {
	var udp, tcp string
	for _, part := range strings.Split(listen, ",") {
		network, addr, ok := strings.Cut(part, "://")
		if !ok {
			return "", fmt.Errorf("listen %q: %q has no scheme", listen, part)
		}
		switch network {
		case "udp":
			udp = addr
		case "tcp":
			tcp = addr
		}
	}
	if udp == "" || udp != tcp {
		return "", fmt.Errorf("listen %q: want UDP and TCP on one address", listen)
	}
	host, _, err := net.SplitHostPort(udp)
	if err != nil {
		return "", fmt.Errorf("listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("listen %q: not a loopback address", listen)
	}
	return udp, nil
}

// stopProcess sends SIGTERM and requires a clean exit (status 0) within
// shutdownTimeout; a process that does not stop is killed and the test
// fails.
func stopProcess(t testing.TB, name string, cmd *exec.Cmd, done <-chan error) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("%s: SIGTERM: %v", name, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s: exit after SIGTERM: %v, want status 0 (graceful shutdown)", name, err)
		}
	case <-time.After(shutdownTimeout):
		_ = cmd.Process.Kill()
		<-done
		t.Errorf("%s: still running %v after SIGTERM; killed", name, shutdownTimeout)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// runTool runs an external client with a timeout and returns its stdout
// and stderr; a non-zero exit fails the test unless allowFail.
func runTool(t testing.TB, tool string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", tool, strings.Join(args, " "), err, o.String(), e.String())
	}
	return o.String(), e.String()
}

// reply is a DNS message as a command-line client printed it.
type reply struct {
	Rcode      string
	ID         string
	Flags      map[string]bool
	Question   []string // owner names, as printed
	Answer     []dns.RR
	Authority  []dns.RR
	Additional []dns.RR
	EDE        []string // the lines that report an Extended DNS Error
}

// parseReply reads the output of dig, kdig or drill. The three print the
// same shape with small differences:
//
//	dig:   ;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1
//	       ;; flags: qr aa rd; QUERY: 1, ...
//	kdig:  ;; ->>HEADER<<- opcode: QUERY; status: NOERROR; id: 1
//	       ;; Flags: qr aa rd; QUERY: 1; ...
//	drill: ;; ->>HEADER<<- opcode: QUERY, rcode: NOERROR, id: 1
//	       ;; flags: qr aa rd ; QUERY: 1, ...
//
// then ";; X SECTION:" headings with one record per line. When a client
// prints several messages (a TC reply, then the TCP retry) the last one
// counts. Any line that is neither a comment nor a record is an error.
func parseReply(out string) (*reply, error) {
	var r *reply
	var section *[]dns.RR
	inQuestion := false
	for _, line := range strings.Split(out, "\n") {
		trim := strings.TrimSpace(line)
		switch {
		case strings.Contains(trim, "->>HEADER<<-"):
			r = &reply{Flags: map[string]bool{}}
			section, inQuestion = nil, false
			for _, f := range strings.FieldsFunc(trim, func(c rune) bool { return c == ',' || c == ';' }) {
				k, v, ok := strings.Cut(strings.TrimSpace(f), ": ")
				if !ok {
					continue
				}
				switch k {
				case "status", "rcode":
					r.Rcode = v
				case "id":
					r.ID = v
				}
			}
		case r == nil:
			continue
		case strings.HasPrefix(strings.ToLower(trim), ";; flags:"):
			fl, _, _ := strings.Cut(trim[len(";; flags:"):], ";")
			for _, f := range strings.Fields(fl) {
				r.Flags[f] = true
			}
		case strings.HasPrefix(trim, ";") && strings.Contains(trim, "EDE:"):
			r.EDE = append(r.EDE, trim)
		case strings.HasPrefix(trim, ";;") && strings.HasSuffix(trim, "SECTION:"):
			section, inQuestion = nil, false
			switch {
			case strings.Contains(trim, "QUESTION"):
				inQuestion = true
			case strings.Contains(trim, "ANSWER"):
				section = &r.Answer
			case strings.Contains(trim, "AUTHORITY"):
				section = &r.Authority
			case strings.Contains(trim, "ADDITIONAL"):
				section = &r.Additional
			}
		case strings.Contains(trim, "PSEUDOSECTION:"):
			section, inQuestion = nil, false
		case trim == "":
		case inQuestion && strings.HasPrefix(trim, ";"):
			if f := strings.Fields(strings.TrimLeft(trim, "; ")); len(f) > 0 {
				r.Question = append(r.Question, f[0])
			}
		case strings.HasPrefix(trim, ";"):
		case section != nil:
			rr, err := dns.NewRR(trim)
			if err != nil || rr == nil {
				return nil, fmt.Errorf("record line %q: %v", trim, err)
			}
			*section = append(*section, rr)
		default:
			return nil, fmt.Errorf("unexpected line outside a section: %q", trim)
		}
	}
	if r == nil {
		return nil, errors.New("no message header in the output")
	}
	return r, nil
}

// toolQuery is how one client is asked one question.
type toolQuery struct {
	name  string   // dig, kdig, drill
	flags []string // always passed
}

// clients are the three command-line clients, each with EDNS(0) on so that
// Extended DNS Errors can come back.
var clients = []toolQuery{
	{"dig", []string{"+time=5", "+tries=1"}},
	{"kdig", []string{"+time=5", "+retry=0", "+edns"}},
	{"drill", []string{"-b", "1232"}},
}

// ask runs client c against addr for name/qtype with extra flags, and
// parses what it printed.
func (c toolQuery) ask(t testing.TB, addr, name, qtype string, extra ...string) (*reply, string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	path := testenv.Tool(t, c.name)
	var args []string
	switch c.name {
	case "drill":
		// drill takes its options before the query.
		args = append(append(append([]string{"-p", port}, c.flags...), extra...), "@"+host, name, qtype)
	default:
		args = append(append(append([]string{"@" + host, "-p", port}, c.flags...), extra...), name, qtype)
	}
	out, errOut := runTool(t, path, args...)
	r, err := parseReply(out)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", c.name, strings.Join(args, " "), err, out)
	}
	return r, out + errOut
}

// exchanger sends queries over one TCP connection to a server.
type exchanger struct {
	mu     sync.Mutex
	conn   *dns.Conn
	client *dns.Client
	addr   string
	n      int // queries answered over this connection
}

func dialTCP(t testing.TB, addr string) *exchanger {
	t.Helper()
	c := &dns.Client{Net: "tcp", Timeout: 10 * time.Second}
	conn, err := c.Dial(addr)
	if err != nil {
		t.Fatalf("dial tcp %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &exchanger{conn: conn, client: c, addr: addr}
}

// Exchange sends name/qtype (with EDNS(0), as a resolver would) and
// checks that the reply is the reply to it.
func (e *exchanger) Exchange(name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, false)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return nil, err
	}
	r, _, err := e.client.ExchangeWithConn(m, e.conn)
	if err != nil {
		return nil, err
	}
	if len(r.Question) != 1 || r.Question[0].Name != name || r.Question[0].Qtype != qtype {
		return nil, fmt.Errorf("%s %s: reply is for %v", name, dns.TypeToString[qtype], r.Question)
	}
	e.n++
	return r, nil
}

// Count is how many queries were answered over the connection.
func (e *exchanger) Count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

// query sends one query with miekg/dns over net ("udp" or "tcp").
func query(t testing.TB, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, false)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return r
}
