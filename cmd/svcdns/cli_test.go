package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/svcdns/svcdns/internal/testenv"
)

// TestUsageErrors: a command line that cannot run as written gets one
// line saying what is wrong (with the command or flag meant, where one is
// near), the command's usage, and exit status 2.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		first string // the error line
		usage string // the usage line that follows
	}{
		{[]string{"lokup", "x"}, `svcdns: unknown command "lokup"; did you mean "lookup"?`, "Usage: svcdns [flags]"},
		{[]string{"serv"}, `svcdns: unknown command "serv"; did you mean "serve"?`, "Usage: svcdns [flags]"},
		{[]string{"zone", "exprt"}, `svcdns zone: unknown command "exprt"; did you mean "export"?`, "Usage: svcdns zone COMMAND [flags]"},
		{[]string{"registry", "chek", "x.csv"}, `svcdns registry: unknown command "chek"; did you mean "check"?`, "Usage: svcdns registry COMMAND [flags]"},
		{[]string{"frobnicate"}, `svcdns: unknown command "frobnicate"`, "Usage: svcdns [flags]"},
		{[]string{"help", "lokup"}, `svcdns help: unknown command "lokup"; did you mean "lookup"?`, "Usage: svcdns help [command] [flags]"},
		{[]string{"help", "zone", "exprt"}, `svcdns help: unknown command "exprt"; did you mean "export"?`, "Usage: svcdns help [command] [flags]"},
		{[]string{"--lisen", ":1053"}, "svcdns: unknown flag: --lisen; did you mean --listen?", "Usage: svcdns [flags]"},
		{[]string{"serve", "--metrics-lisen", ":9153"}, "svcdns serve: unknown flag: --metrics-lisen; did you mean --metrics-listen?", "Usage: svcdns serve [flags]"},
		{[]string{"--metrics", ":9153"}, "svcdns: unknown flag: --metrics; did you mean --metrics-listen?", "Usage: svcdns [flags]"},
		{[]string{"lookup", "_rets._tcp", "--orign", "x."}, "svcdns lookup: unknown flag: --orign; did you mean --origin?", "Usage: svcdns lookup NAME [TYPE] [flags]"},
		{[]string{"lookup", "_rets._tcp", "--listen", ":1053"}, "svcdns lookup: unknown flag: --listen; --listen is a flag of svcdns serve", "Usage: svcdns lookup NAME [TYPE] [flags]"},
		{[]string{"registry", "check", "--jsn"}, "svcdns registry check: unknown flag: --jsn; did you mean --json?", "Usage: svcdns registry check [FILE|-] [flags]"},
		{[]string{"lookup"}, "svcdns lookup: missing NAME", "Usage: svcdns lookup NAME [TYPE] [flags]"},
		{[]string{"lookup", "a", "SRV", "c"}, `svcdns lookup: unexpected argument "c"`, "Usage: svcdns lookup NAME [TYPE] [flags]"},
		{[]string{"version", "extra"}, `svcdns version: takes no arguments; got "extra"`, "Usage: svcdns version [flags]"},
		{[]string{"registry", "check", "a", "b"}, `svcdns registry check: unexpected argument "b"`, "Usage: svcdns registry check [FILE|-] [flags]"},
		{[]string{"--listen"}, "svcdns: flag needs an argument: --listen", "Usage: svcdns [flags]"},
		{[]string{"-x"}, "svcdns: unknown shorthand flag: 'x' in -x", "Usage: svcdns [flags]"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errs, code := runCmd(t, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			lines := strings.Split(strings.TrimSuffix(errs, "\n"), "\n")
			if len(lines) < 3 || lines[0] != tc.first || lines[1] != tc.usage || !strings.HasPrefix(lines[len(lines)-1], "Run '") {
				t.Errorf("stderr:\n%s\nwant:\n%s\n%s\n...\nRun '... --help' for more.", errs, tc.first, tc.usage)
			}
			if strings.Count(errs, tc.first) != 1 {
				t.Errorf("the error is said %d times:\n%s", strings.Count(errs, tc.first), errs)
			}
		})
	}
}

// TestGroupCommandAlone: a command that only groups others prints its help
// and succeeds, as `svcdns help zone` does; `svcdns help zone export`
// prints that command's help.
func TestGroupCommandAlone(t *testing.T) {
	for _, group := range []string{"zone", "registry"} {
		out, errs, code := runCmd(t, group)
		if code != 0 || errs != "" || !strings.Contains(out, "Available Commands:") {
			t.Errorf("svcdns %s: exit %d, stderr %q, stdout:\n%s", group, code, errs, out)
		}
		help, _, code := runCmd(t, "help", group)
		if code != 0 || help != out {
			t.Errorf("svcdns help %s: exit %d, printed\n%s\nwant what svcdns %s prints", group, code, help, group)
		}
	}
	out, _, code := runCmd(t, "help", "zone", "export")
	if code != 0 || !strings.Contains(out, "svcdns zone export [flags]") {
		t.Errorf("svcdns help zone export: exit %d\n%s", code, out)
	}
}

// helpFlag matches a flag line of cobra's help: "  -o, --output string  ...".
var helpFlag = regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`)

// TestHelpShowsOwnFlags: each command's help lists exactly the flags it
// takes; commands that answer without a server do not offer the server's.
func TestHelpShowsOwnFlags(t *testing.T) {
	zoneFlags := []string{"config", "help", "origin", "origins", "port-names", "registry"}
	serveFlags := append(slices.Clone(zoneFlags), "cpuprofile", "listen", "log-format", "log-level", "mdns-interfaces", "metrics-listen", "query-log")
	for _, tc := range []struct {
		cmd  []string
		want []string
	}{
		{nil, serveFlags},
		{[]string{"serve"}, serveFlags},
		{[]string{"lookup"}, append(slices.Clone(zoneFlags), "dnssec")},
		{[]string{"zone", "export"}, append(slices.Clone(zoneFlags), "output", "unsigned", "zone")},
		{[]string{"dnssec", "ds"}, append(slices.Clone(zoneFlags), "digest", "format")},
		{[]string{"tls", "pin"}, zoneFlags},
		{[]string{"registry", "check"}, []string{"help", "json"}},
		{[]string{"registry", "update"}, []string{"force", "help", "out", "timeout", "url"}},
		{[]string{"version"}, []string{"help"}},
	} {
		name := strings.Join(append([]string{"svcdns"}, tc.cmd...), " ")
		out, errs, code := runCmd(t, append(tc.cmd, "--help")...)
		if code != 0 {
			t.Errorf("%s --help: exit %d: %s", name, code, errs)
			continue
		}
		var got []string
		for _, m := range helpFlag.FindAllStringSubmatch(out, -1) {
			got = append(got, m[1])
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(tc.want))
		if !slices.Equal(got, want) {
			t.Errorf("%s --help lists flags %q, want %q\n%s", name, got, want, out)
		}
	}
}

// TestRegistryCheckStdin: `registry check -` reads standard input and
// reports what `registry check FILE` reports for the same bytes.
func TestRegistryCheckStdin(t *testing.T) {
	data, err := os.ReadFile(testenv.Excerpt())
	if err != nil {
		t.Fatal(err)
	}
	fromFile, _, code := runCmd(t, "registry", "check", testenv.Excerpt())
	if code != 0 {
		t.Fatalf("registry check FILE: exit %d", code)
	}
	var out, errb bytes.Buffer
	code = run(context.Background(), []string{"registry", "check", "-"}, bytes.NewReader(data), &out, &errb, nil)
	if code != 0 {
		t.Fatalf("registry check -: exit %d: %s", code, errb.String())
	}
	want := strings.Replace(fromFile, "source:   "+testenv.Excerpt(), "source:   <stdin>", 1)
	if out.String() != want {
		t.Errorf("registry check - printed\n%s\nwant (as for the file)\n%s", out.String(), want)
	}
	// Bad bytes on stdin are refused as a bad file is.
	out.Reset()
	errb.Reset()
	code = run(context.Background(), []string{"registry", "check", "-"}, strings.NewReader("<!DOCTYPE html><html>502</html>"), &out, &errb, nil)
	if code != 1 || !strings.HasPrefix(errb.String(), "svcdns registry check: ") || !strings.Contains(errb.String(), "HTML") {
		t.Errorf("HTML on stdin: exit %d, stderr %q", code, errb.String())
	}
}

// TestRegistryCheckJSONFields: --json carries every count the text
// carries, zeros included, with the same values.
func TestRegistryCheckJSONFields(t *testing.T) {
	text, _, code := runCmd(t, "registry", "check")
	if code != 0 {
		t.Fatal("registry check failed")
	}
	js, _, code := runCmd(t, "registry", "check", "--json")
	if code != 0 {
		t.Fatal("registry check --json failed")
	}
	var rep struct {
		Records    int            `json:"records"`
		ByStatus   map[string]int `json:"by_status"`
		ByProtocol map[string]int `json:"by_protocol"`
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatal(err)
	}
	// The text's "by status: assigned 76, ..." and "by protocol: tcp 43, ...".
	for _, line := range []struct {
		label string
		m     map[string]int
	}{{"by status:", rep.ByStatus}, {"by protocol:", rep.ByProtocol}} {
		i := strings.Index(text, line.label)
		if i < 0 {
			t.Fatalf("text lacks %q:\n%s", line.label, text)
		}
		rest, _, _ := strings.Cut(text[i+len(line.label):], "\n")
		fields := strings.Split(strings.TrimSpace(rest), ", ")
		if len(fields) != len(line.m) {
			t.Errorf("%s text has %d counts %q, JSON %d %v", line.label, len(fields), fields, len(line.m), line.m)
		}
		for _, f := range fields {
			k, v, _ := strings.Cut(f, " ")
			n, ok := line.m[k]
			if !ok {
				t.Errorf("%s JSON lacks %q (text %q)", line.label, k, f)
			} else if v != strconv.Itoa(n) {
				t.Errorf("%s %s: text %s, JSON %d", line.label, k, v, n)
			}
		}
	}
	// The embedded excerpt has no sctp or dccp rows: the zeros are there.
	for _, p := range []string{"sctp", "dccp"} {
		if n, ok := rep.ByProtocol[p]; !ok || n != 0 {
			t.Errorf("by_protocol[%s] = %d, %v; want 0, present", p, n, ok)
		}
	}
}

// TestQueryName: a trailing dot means absolute; without it the origin is
// appended unless the name already ends in one of the origins served.
func TestQueryName(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"_rets._tcp", "_rets._tcp.ports.local."},
		{"_rets._tcp.ports.local", "_rets._tcp.ports.local."},
		{"_rets._tcp.PORTS.Local", "_rets._tcp.PORTS.Local."},
		{"_rets._tcp.ports.local.", "_rets._tcp.ports.local."},
		{"ports.local", "ports.local."},
		{"example.com", "example.com.ports.local."},
		{"example.com.", "example.com."},
		{"local", "local.ports.local."},
		{".", "."},
		{"_rets._tcp.ports.home.arpa", "_rets._tcp.ports.home.arpa."},
		{"home.arpa", "home.arpa.ports.local."},
	} {
		got, err := queryName(tc.arg, []string{"ports.local.", "ports.home.arpa."})
		if err != nil || got != tc.want {
			t.Errorf("queryName(%q) = %q, %v; want %q", tc.arg, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "a..b", strings.Repeat("a", 64) + ".x."} {
		if got, err := queryName(bad, []string{"ports.local."}); err == nil {
			t.Errorf("queryName(%q) = %q, want an error", bad, got)
		}
	}
}

// TestLookupOutsideZone: asked a name outside the zone, lookup prints the
// server's REFUSED, not an NXDOMAIN of the name under the origin.
func TestLookupOutsideZone(t *testing.T) {
	out, errs, code := runCmd(t, "lookup", "example.com.", "A")
	if code != 0 || !strings.Contains(out, "status: REFUSED") || strings.Contains(out, "ports.local") {
		t.Errorf("lookup example.com. A: exit %d\n%s%s", code, out, errs)
	}
	out, _, _ = runCmd(t, "lookup", "example.com", "A")
	if !strings.Contains(out, "status: NXDOMAIN") || !strings.Contains(out, ";example.com.ports.local.\tIN\t A") {
		t.Errorf("lookup example.com A (relative):\n%s", out)
	}
}

// TestListenErrorAdvice: a failed bind is said once, with the fix.
func TestListenErrorAdvice(t *testing.T) {
	bind := func(addr string, errno syscall.Errno) error {
		a, _ := net.ResolveTCPAddr("tcp", addr)
		return &net.OpError{Op: "listen", Net: "tcp", Addr: a, Err: os.NewSyscallError("bind", errno)}
	}
	for _, tc := range []struct {
		name string
		err  error
		want []string
	}{
		{"in use", bind("127.0.0.1:1053", syscall.EADDRINUSE),
			[]string{"listen tcp 127.0.0.1:1053: bind: address already in use; ", "use --listen to pick another"}},
		{"privileged port", bind("0.0.0.0:53", syscall.EACCES),
			[]string{"listen tcp 0.0.0.0:53: bind: permission denied; ", "CAP_NET_BIND_SERVICE", "deploy/svcdns.service", "setcap cap_net_bind_service=+ep ", "--listen with a port of 1024 or more"}},
		{"no such address", bind("192.0.2.1:1053", syscall.EADDRNOTAVAIL),
			[]string{"listen tcp 192.0.2.1:1053: bind: cannot assign requested address; ", "--listen"}},
		{"wrapped", errors.Join(errors.New("context"), bind("127.0.0.1:9153", syscall.EADDRINUSE)),
			[]string{"listen tcp 127.0.0.1:9153: bind: address already in use; "}},
	} {
		got := listenError(tc.err, "--listen").Error()
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tc.name, got, w)
			}
		}
		if strings.Count(got, "listen tcp") != 1 {
			t.Errorf("%s: %q names the listen more than once", tc.name, got)
		}
	}
}

// TestVersionString: -ldflags wins; then the module version Go recorded;
// then (devel) with the commit.
func TestVersionString(t *testing.T) {
	rev := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}
	for _, tc := range []struct {
		stamped string
		bi      *debug.BuildInfo
		want    string
	}{
		{"v1.2.3", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-x"}}, "svcdns v1.2.3 "},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: rev}, "svcdns v1.4.0 "},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: rev}, "svcdns (devel) 0123456789ab-dirty "},
		{"", &debug.BuildInfo{}, "svcdns (devel) "},
		{"", nil, "svcdns (devel) "},
	} {
		got := formatVersion(tc.stamped, tc.bi)
		if !strings.HasPrefix(got, tc.want+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) {
			t.Errorf("formatVersion(%q, %+v) = %q, want %q...", tc.stamped, tc.bi, got, tc.want)
		}
	}
}
