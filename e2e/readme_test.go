package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

	"github.com/svcdns/svcdns/internal/testenv"
)

// The README's examples are checked as a new user would meet them: in a
// fresh clone of the repository's HEAD, after the README's two set-up
// commands, every example of every ```console block is run and its output
// compared with what the README shows. A ```console block is a session:
//
//	$ command            run by bash in the clone, with svcdns on PATH
//	expected output      stdout and stderr as a terminal shows them
//	...                  (a line of its own) any number of lines
//	text ... text        (within a line) any text
//	[1]                  (last line) the exit status, when it is not 0
//	$ svcdns ... &       a server started in the background; its output
//	                     until it logs "ready" is the expected output, and
//	                     it runs until the end (then SIGTERM must stop it
//	                     with status 0), or until `kill %N`
//
// Message IDs (`id: 2022`) and runs of blanks are not compared. The ports
// the examples use (1053, 1054, ...) are moved to free ports in commands
// and outputs alike, and SVCDNS_LISTEN moves the default one. Blocks
// fenced ```sh are shown but not run (installing, root, Docker).

// readmeStep is one "$ command" of a console block and what follows it.
type readmeStep struct {
	line     int // in README.md
	cmd      string
	expected []string
	status   int
}

// readmeConsole extracts the steps of every ```console block, in order.
func readmeConsole(t *testing.T, readme string) []readmeStep {
	t.Helper()
	var steps []readmeStep
	in, indent := false, ""
	status := regexp.MustCompile(`^\[(\d+)\]$`)
	for i, line := range strings.Split(readme, "\n") {
		if in {
			// A block in a list item is indented as the item is.
			line = strings.TrimPrefix(line, indent)
		}
		switch {
		case !in && strings.TrimSpace(line) == "```console":
			in, indent = true, line[:strings.Index(line, "```")]
		case in && strings.TrimSpace(line) == "```":
			in = false
		case in && strings.HasPrefix(line, "$ "):
			steps = append(steps, readmeStep{line: i + 1, cmd: strings.TrimPrefix(line, "$ ")})
		case in && len(steps) == 0:
			t.Fatalf("README.md:%d: a console block must start with a \"$ \" command", i+1)
		case in:
			s := &steps[len(steps)-1]
			if m := status.FindStringSubmatch(line); m != nil {
				s.status, _ = strconv.Atoi(m[1])
				continue
			}
			s.expected = append(s.expected, line)
		}
	}
	if in {
		t.Fatal("README.md: a ```console block is not closed")
	}
	return steps
}

// setupCommands returns the commands of the first ```sh block of the
// "Set-up: two commands" section, comments removed.
func setupCommands(t *testing.T, readme string) []string {
	t.Helper()
	_, after, ok := strings.Cut(readme, "\n## Set-up: two commands")
	if !ok {
		t.Fatal(`README.md has no "## Set-up: two commands" section`)
	}
	_, block, ok := strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatal("the set-up section has no ```sh block")
	}
	block, _, _ = strings.Cut(block, "```")
	var cmds []string
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		cmd, _, _ := strings.Cut(line, "#")
		cmds = append(cmds, strings.TrimSpace(cmd))
	}
	return cmds
}

// expectedPattern turns expected output into a regular expression over
// normalized output: "..." lines match any lines, "..." in a line any text.
func expectedPattern(lines []string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^`)
	for _, l := range trimBlankEnd(lines) {
		l = normalizeLine(l)
		if l == "..." {
			b.WriteString(`(?:[^\n]*\n)*?`)
			continue
		}
		parts := strings.Split(l, "...")
		for i, p := range parts {
			if i > 0 {
				b.WriteString(`[^\n]*`)
			}
			b.WriteString(regexp.QuoteMeta(p))
		}
		b.WriteString(`\n`)
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

var (
	blanks    = regexp.MustCompile(`[ \t]+`)
	messageID = regexp.MustCompile(`\bid: \d+`)
)

func normalizeLine(l string) string {
	l = strings.TrimSpace(blanks.ReplaceAllString(l, " "))
	return messageID.ReplaceAllString(l, "id: N")
}

func normalizeOutput(out string) string {
	var b strings.Builder
	for _, l := range trimBlankEnd(strings.Split(out, "\n")) {
		b.WriteString(normalizeLine(l))
		b.WriteByte('\n')
	}
	return b.String()
}

func trimBlankEnd(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// portMap moves the ports the README uses to free ones.
type portMap map[string]string

var portUse = regexp.MustCompile(`(?:-p |:|@|#)(\d{4,5})\b`)

func newPortMap(t *testing.T, steps []readmeStep) portMap {
	m := portMap{"1053": strconv.Itoa(freePort(t))} // the default listen port
	for _, s := range steps {
		for _, match := range portUse.FindAllStringSubmatch(s.cmd, -1) {
			if _, ok := m[match[1]]; !ok {
				m[match[1]] = strconv.Itoa(freePort(t))
			}
		}
	}
	return m
}

func (m portMap) apply(s string) string {
	for from, to := range m {
		s = regexp.MustCompile(`\b`+from+`\b`).ReplaceAllString(s, to)
	}
	return s
}

// readmeEnv is the environment of every command: the test's, less its
// SVCDNS_* and cache settings, with the clone's svcdns first on PATH, an
// empty home and cache (so a developer's registry cache does not change
// what serve reads), Go's own build cache kept, and the default listen
// port moved.
func readmeEnv(t *testing.T, tmp, bin, listen string) []string {
	// Go's caches and settings default to places under HOME and
	// XDG_CACHE_HOME; they are the machine's, kept as they are.
	goVars := []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOENV"}
	goEnv, err := exec.Command("go", append([]string{"env"}, goVars...)...).Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SVCDNS_") || k == "HOME" || k == "XDG_CACHE_HOME" || k == "PATH" || slices.Contains(goVars, k) {
			continue
		}
		env = append(env, kv)
	}
	for i, v := range strings.Split(strings.TrimSpace(string(goEnv)), "\n") {
		env = append(env, goVars[i]+"="+v)
	}
	home := filepath.Join(tmp, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	return append(env,
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+home,
		"XDG_CACHE_HOME="+filepath.Join(tmp, "cache"),
		"SVCDNS_LISTEN="+listen,
	)
}

// bgJob is a command the README starts with "&".
type bgJob struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

// startJob runs command in its own process group and waits until its
// output says "msg=ready", or it exits, or timeout passes.
func startJob(t *testing.T, dir string, env []string, command string, timeout time.Duration) (*bgJob, error) {
	t.Helper()
	cmd := exec.Command("bash", "-c", command)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	j := &bgJob{cmd: cmd, out: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = j.out, j.out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { j.done <- cmd.Wait() }()
	t.Cleanup(func() { j.stop() })
	deadline := time.After(timeout)
	for !strings.Contains(j.out.String(), "msg=ready") {
		select {
		case err := <-j.done:
			j.done <- err
			return j, fmt.Errorf("exited before it was ready: %v", err)
		case <-deadline:
			return j, fmt.Errorf("not ready after %v", timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return j, nil
}

// stop signals the job's process group (as a terminal's kill %N or
// Ctrl-C does) and returns how it exited.
func (j *bgJob) stopWith(sig syscall.Signal) error {
	select {
	case err := <-j.done:
		j.done <- err
		return fmt.Errorf("had already exited: %v", err)
	default:
	}
	_ = syscall.Kill(-j.cmd.Process.Pid, sig)
	select {
	case err := <-j.done:
		j.done <- err
		return err
	case <-time.After(shutdownTimeout):
		_ = syscall.Kill(-j.cmd.Process.Pid, syscall.SIGKILL)
		return fmt.Errorf("still running %v after %v", shutdownTimeout, sig)
	}
}

func (j *bgJob) stop() {
	select {
	case <-j.done:
	default:
		_ = syscall.Kill(-j.cmd.Process.Pid, syscall.SIGKILL)
		<-j.done
	}
}

// TestREADME: a fresh clone, the README's two set-up commands, the build
// command of its Install section, then every console example.
func TestREADME(t *testing.T) {
	git := testenv.Tool(t, "git")
	testenv.Tool(t, "dig")
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("the go command is needed")
	}
	tmp := t.TempDir()
	clone := filepath.Join(tmp, "clone")
	if out, err := exec.Command(git, "clone", "--quiet", testenv.RepoRoot(), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	readmeBytes, err := os.ReadFile(filepath.Join(clone, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(readmeBytes)
	steps := readmeConsole(t, readme)
	if len(steps) < 10 {
		t.Fatalf("README.md has only %d console examples", len(steps))
	}
	ports := newPortMap(t, steps)
	bin := filepath.Join(tmp, "bin")
	env := readmeEnv(t, tmp, bin, "127.0.0.1:"+ports["1053"])

	// The two set-up commands: the first is run as written; the second,
	// the whole suite, is what CI runs (it cannot run inside itself).
	setup := setupCommands(t, readme)
	if len(setup) != 2 || setup[0] != "go run ./cmd/svcdns" || setup[1] != "./scripts/test" {
		t.Fatalf("set-up commands %q, want [go run ./cmd/svcdns ./scripts/test]", setup)
	}
	ci, err := os.ReadFile(filepath.Join(clone, ".ci", "run"))
	if err != nil || !regexp.MustCompile(`(?m)^exec \./scripts/test$`).Match(ci) {
		t.Errorf(".ci/run does not run ./scripts/test (%v)", err)
	}
	t.Run("set-up/"+setup[0], func(t *testing.T) {
		j, err := startJob(t, clone, env, setup[0], buildTimeout)
		if err != nil {
			t.Fatalf("%s: %v\n%s", setup[0], err, j.out.String())
		}
		out, err := exec.Command("dig", "+short", "@127.0.0.1", "-p", ports["1053"], "SRV", "_rets._tcp.ports.local").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "0 0 6103 svc.ports.local." {
			t.Errorf("dig against `%s`: %v %q", setup[0], err, out)
		}
		// "Ctrl-C stops it": SIGINT to the process group, as a terminal
		// sends it. svcdns shuts down gracefully; `go run` itself exits 1
		// after an interrupt whatever its child did, so its status is not
		// the server's.
		err = j.stopWith(syscall.SIGINT)
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Errorf("Ctrl-C: %v\n%s", err, j.out.String())
		}
		if !strings.Contains(j.out.String(), `msg="shutting down"`) {
			t.Errorf("Ctrl-C: svcdns did not shut down gracefully\n%s", j.out.String())
		}
		if err := syscall.Kill(-j.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("Ctrl-C: processes of `%s` still running (%v)", setup[0], err)
		}
	})

	// The Install section's build command, as written, gives the binary
	// the examples run, stamped with the clone's version.
	build := regexp.MustCompile("(?m)^go build .*-o svcdns ./cmd/svcdns$").FindString(readme)
	if build == "" {
		t.Fatal("README.md's Install section has no `go build ... -o svcdns ./cmd/svcdns`")
	}
	if out, err := runIn(clone, env, build, buildTimeout); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, out)
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(clone, "svcdns"), filepath.Join(bin, "svcdns")); err != nil {
		t.Fatal(err)
	}
	describe, err := exec.Command(git, "-C", clone, "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := runIn(clone, env, "svcdns version", toolTimeout); !strings.HasPrefix(out, "svcdns "+strings.TrimSpace(string(describe))+" go1.") {
		t.Errorf("svcdns version = %q, want the version the build stamped, %q", out, strings.TrimSpace(string(describe)))
	}

	var jobs []*bgJob
	for _, s := range steps {
		cmd := ports.apply(s.cmd)
		name := fmt.Sprintf("README.md:%d", s.line)
		want := expectedPattern(strings.Split(ports.apply(strings.Join(s.expected, "\n")), "\n"))
		var out string
		switch {
		case strings.HasSuffix(cmd, "&"):
			j, err := startJob(t, clone, env, "exec "+strings.TrimSuffix(cmd, "&"), readyTimeout)
			out = j.out.String()
			if err != nil {
				t.Errorf("%s: $ %s: %v\n%s", name, s.cmd, err, out)
				continue
			}
			jobs = append(jobs, j)
		case strings.HasPrefix(cmd, "kill %"):
			n, err := strconv.Atoi(strings.TrimPrefix(cmd, "kill %"))
			if err != nil || n < 1 || n > len(jobs) {
				t.Fatalf("%s: $ %s: no such job", name, s.cmd)
			}
			if err := jobs[n-1].stopWith(syscall.SIGTERM); err != nil {
				t.Errorf("%s: $ %s: %v", name, s.cmd, err)
			}
		default:
			var err error
			out, err = runIn(clone, env, cmd, toolTimeout)
			status := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				status = ee.ExitCode()
			} else if err != nil {
				t.Errorf("%s: $ %s: %v", name, s.cmd, err)
				continue
			}
			if status != s.status {
				t.Errorf("%s: $ %s: exit status %d, README shows %d\n%s", name, s.cmd, status, s.status, out)
			}
		}
		if !want.MatchString(normalizeOutput(out)) {
			t.Errorf("%s: $ %s\nprinted:\n%s\nREADME shows:\n%s", name, s.cmd, out, strings.Join(s.expected, "\n"))
		}
	}
	// "kill %1 (SIGTERM) stops it gracefully": every server still running.
	for i, j := range jobs {
		if err := j.stopWith(syscall.SIGTERM); err != nil && !strings.Contains(err.Error(), "had already exited") {
			t.Errorf("job %%%d: SIGTERM: %v\n%s", i+1, err, j.out.String())
		}
	}
}

// runIn runs command with bash in dir and returns stdout and stderr
// interleaved, as a terminal shows them.
func runIn(dir string, env []string, command string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", command)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestReadmeExampleFormat checks the matcher the README test relies on.
func TestReadmeExampleFormat(t *testing.T) {
	steps := readmeConsole(t, strings.Join([]string{
		"text", "```console", "$ a &", "... msg=ready ...", "$ b", "x\ty", "...", "z", "[1]", "```", "```sh", "$ not run", "```",
		"- item", "  ```console", "  $ c", "  out", "  ```",
	}, "\n"))
	if len(steps) != 3 || steps[0].cmd != "a &" || steps[1].status != 1 || len(steps[1].expected) != 3 ||
		steps[2].cmd != "c" || len(steps[2].expected) != 1 || steps[2].expected[0] != "out" {
		t.Fatalf("steps %+v", steps)
	}
	p := expectedPattern(steps[1].expected)
	for out, want := range map[string]bool{
		"x  y\nz\n":            true,
		"x y\n1\n2\nz\n":       true,
		"x y\nz\nextra\n":      false,
		"x y\n":                false,
		"x y\n\nz\n\n\n":       true,
		"id: 1 x y\nz\n":       false,
		"x y\nz ok\n":          false,
		"x y\n" + "zz\n":       false,
		"x\ty\nq\nz\n":         true,
		"w\nx y\nz\n":          false,
		"x y\nid: 99\nz\n":     true,
		"x  y  \nz\n":          true,
		"x y\nz":               true,
		"x y\n...\nz\n":        true,
		"x y\n...\n":           false,
		"x y\nz\n" + "\n" + "": true,
	} {
		if got := p.MatchString(normalizeOutput(out)); got != want {
			t.Errorf("%q matches %v, want %v", out, got, want)
		}
	}
	id := expectedPattern([]string{";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 2022"})
	if !id.MatchString(normalizeOutput(";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 51234\n")) {
		t.Error("message IDs are compared")
	}
	ports := portMap{"1053": "40001", "1054": "40002"}
	if got := ports.apply("dig -p 1053 @127.0.0.1 x; svcdns --listen 127.0.0.1:1054 # 10530"); got != "dig -p 40001 @127.0.0.1 x; svcdns --listen 127.0.0.1:40002 # 10530" {
		t.Errorf("ports moved: %q", got)
	}
}
