package e2e_test

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/testenv"
	"github.com/svcdns/svcdns/registry"
)

// reloadCSV is the second good registry of TestReloadUnderLoad: rows of
// the official CSV for services that the text excerpt also has, plus ssh,
// which the excerpt lacks, so that the two zones differ.
const reloadCSV = "Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,Registration Date,Modification Date,Reference,Service Code,Unauthorized Use Reported,Assignment Notes\r\n" +
	"ssh,22,tcp,The Secure Shell (SSH) Protocol,,,,,[RFC4251],,,Defined TXT keys: u=<username> p=<password>\r\n" +
	"geneve,6081,udp,Generic Network Virtualization Encapsulation (Geneve),[IESG],[IETF_Chair],2014-03-27,2020-05-04,[RFC8926],,,\r\n" +
	"rets,6103,tcp,RETS,[Jeremy_Crawford],[Jeremy_Crawford],,,,,,\r\n" +
	"rets,6103,udp,RETS,[Jeremy_Crawford],[Jeremy_Crawford],,,,,,\r\n" +
	"dbdb,6104,tcp,DBDB,[Aaron_Brick],[Aaron_Brick],,,,,,\r\n" +
	"dbdb,6104,udp,DBDB,[Aaron_Brick],[Aaron_Brick],,,,,,\r\n" +
	"softcm,6110,tcp,HP SoftBench CM,[Scott_A_Kramer],[Scott_A_Kramer],,,,,,\r\n" +
	"lm-x,6200,tcp,LM-X License Manager by X-Formation,[Henrik_Goldman],[Henrik_Goldman],2006-10,,,,Known Unauthorized Use on port 6200,\r\n" +
	"qmtps,6209,udp,QMTP over TLS,[FEHCom],[Erwin_Hoffmann],2015-01-09,,,,,\r\n"

// reloadXML is a well-formed XML registry; TestReloadUnderLoad serves it
// cut in the middle of a record.
const reloadXML = `<?xml version='1.0' encoding='UTF-8'?>
<registry xmlns="http://www.iana.org/assignments" id="service-names-port-numbers">
  <title>Service Name and Transport Protocol Port Number Registry</title>
  <updated>2026-08-17</updated>
  <record>
    <name>rets</name>
    <protocol>tcp</protocol>
    <description>RETS</description>
    <number>6103</number>
  </record>
  <record>
    <name>dbdb</name>
    <protocol>tcp</protocol>
    <description>DBDB</description>
    <number>6104</number>
  </record>
</registry>
`

// reloadCheck is one question of the load and the ports its answer holds.
type reloadCheck struct {
	owner string
	ports []uint16
}

// TestReloadUnderLoad replaces the registry file by rename 50 times while
// clients query over UDP and TCP, alternating a good registry with a
// broken one (garbage, truncated XML, a CSV with a bad row). Every reload
// must be atomic and a bad file must leave the old zone serving: not one
// query may fail or get a wrong answer, and the log and /metrics must
// count both outcomes.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	goodA, err := os.ReadFile(testenv.Excerpt())
	if err != nil {
		t.Fatal(err)
	}
	goods := [][]byte{goodA, []byte(reloadCSV)}
	cut := strings.Index(reloadXML, "<name>dbdb</name>") + 8
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i*7 + i/256)
	}
	broken := [][]byte{
		garbage,
		[]byte(reloadXML[:cut]),
		[]byte(strings.Replace(reloadCSV, "dbdb,6104,udp", "dbdb,61o4,udp", 1)),
	}
	// The expectations come from the registry parser, and the fixtures
	// are what they claim to be.
	if _, err := registry.Parse("reloadXML", []byte(reloadXML)); err != nil {
		t.Fatalf("the untruncated XML does not parse: %v", err)
	}
	var pairs []map[registry.Key]map[uint16]bool
	for i, g := range goods {
		reg, err := registry.Parse(fmt.Sprint("good ", i), g)
		if err != nil {
			t.Fatalf("good registry %d: %v", i, err)
		}
		pairs = append(pairs, validPairs(reg))
	}
	for i, b := range broken {
		if _, err := registry.Parse(fmt.Sprint("broken ", i), b); err == nil {
			t.Fatalf("broken registry %d parses", i)
		}
	}
	var checks []reloadCheck
	for k, ports := range pairs[0] {
		if other, ok := pairs[1][k]; ok && len(ports) > 0 && maps.Equal(ports, other) {
			checks = append(checks, reloadCheck{serviceOwner(k.Name, k.Proto), sortedPorts(ports)})
		}
	}
	slices.SortFunc(checks, func(a, b reloadCheck) int { return strings.Compare(a.owner, b.owner) })
	if len(checks) < 5 || !slices.ContainsFunc(checks, func(c reloadCheck) bool { return c.owner == "_rets._tcp."+origin }) {
		t.Fatalf("names in both registries: %v; want _rets._tcp and at least 5", checks)
	}

	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry")
	opsWriteFile(t, regPath, goods[0])
	conf := filepath.Join(dir, "svcdns.yaml")
	// Rate limiting would drop this test's own UDP load (one source,
	// thousands of queries a second); it is not what is tested here.
	opsWriteFile(t, conf, []byte("rrl:\n  rate: 0\n"))
	metricsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	srv := startServer(t, "--config", conf, "--registry", regPath, "--metrics-listen", metricsAddr)

	var queries, failed, wrong atomic.Int64
	var mu sync.Mutex
	var problems []string
	report := func(counter *atomic.Int64, format string, args ...any) {
		counter.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	verify := func(network string, c reloadCheck, r *dns.Msg, err error) {
		queries.Add(1)
		if err != nil {
			report(&failed, "%s %s SRV: %v", network, c.owner, err)
			return
		}
		var ports []uint16
		for _, rr := range r.Answer {
			if s, ok := rr.(*dns.SRV); ok && strings.EqualFold(s.Hdr.Name, c.owner) {
				ports = append(ports, s.Port)
			}
		}
		slices.Sort(ports)
		if r.Rcode != dns.RcodeSuccess || r.Truncated || len(ports) != len(r.Answer) || !slices.Equal(ports, c.ports) {
			report(&wrong, "%s %s SRV: rcode %s tc=%v answer %v; want NOERROR and ports %v",
				network, c.owner, dns.RcodeToString[r.Rcode], r.Truncated, r.Answer, c.ports)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const udpWorkers, tcpWorkers = 3, 2
	for w := range udpWorkers {
		wg.Go(func() {
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				chk := checks[i%len(checks)]
				m := new(dns.Msg)
				m.SetQuestion(chk.owner, dns.TypeSRV)
				m.SetEdns0(1232, false)
				r, _, err := c.Exchange(m, srv.Addr)
				verify("udp", chk, r, err)
			}
		})
	}
	for w := range tcpWorkers {
		ex := dialTCP(t, srv.Addr)
		wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				chk := checks[i%len(checks)]
				r, err := ex.Exchange(chk.owner, dns.TypeSRV)
				verify("tcp", chk, r, err)
			}
		})
	}

	reloads := func() (ok, bad int) {
		return opsCountLog(srv, "reloaded"), opsCountLog(srv, "reload failed")
	}
	// The file watch may start a little after "ready" (TestReloadAtStartup
	// is about that): rewrite the same file until a reload shows that it
	// is watched, then start counting.
	for try := 1; opsCountLog(srv, "reloaded") == 0; try++ {
		if try > 10 {
			t.Fatal("10 rewrites of the registry file, none reloaded: the file is not watched")
		}
		opsReplaceByRename(t, regPath, goods[0])
		opsWaitFor(time.Second, 10*time.Millisecond, func() bool { return opsCountLog(srv, "reloaded") > 0 })
	}
	const swaps = 50
	start := time.Now()
	for i := range swaps {
		var data []byte
		if i%2 == 0 {
			data = broken[(i/2)%len(broken)]
		} else {
			data = goods[(i/2+1)%len(goods)]
		}
		ok0, bad0 := reloads()
		opsReplaceByRename(t, regPath, data)
		// The watcher waits 250 ms for the writes to settle; the next
		// swap comes once this one has been reloaded (or rejected).
		if !opsWaitFor(5*time.Second, 10*time.Millisecond, func() bool {
			ok, bad := reloads()
			return ok+bad > ok0+bad0
		}) {
			t.Errorf("swap %d: no reload logged 5s after the registry file was replaced", i)
		}
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()

	ok, bad := reloads()
	t.Logf("%d swaps in %v: %d queries (%d udp + %d tcp workers), %d failed, %d wrong; %d reloads ok, %d failed",
		swaps, elapsed.Round(time.Millisecond), queries.Load(), udpWorkers, tcpWorkers, failed.Load(), wrong.Load(), ok, bad)
	for _, p := range problems {
		t.Error(p)
	}
	if failed.Load() != 0 || wrong.Load() != 0 {
		t.Errorf("%d of %d queries failed and %d got a wrong answer during reloads; want none", failed.Load(), queries.Load(), wrong.Load())
	}
	if queries.Load() < 1000 {
		t.Errorf("only %d queries during %d swaps: the load did not run", queries.Load(), swaps)
	}
	if ok < 1 || bad < 20 {
		t.Errorf("log shows %d successful reloads and %d \"reload failed\"; want >= 1 and >= 20", ok, bad)
	}
	// Each failed reload says why, and that the old zone keeps serving.
	for _, r := range opsLogRecords(srv) {
		if strings.HasPrefix(r.str("msg"), "reload failed") && (r.str("err") == "" || r.str("level") != "ERROR") {
			t.Errorf("reload failure logged without an error: %v", r)
		}
	}

	m := opsScrape(t, metricsAddr)
	mok := m.value(t, "svcdns_reloads_total", "result", "ok")
	mbad := m.value(t, "svcdns_reloads_total", "result", "failed")
	t.Logf("/metrics: svcdns_reloads_total ok=%v failed=%v", mok, mbad)
	if mbad < 20 || mok < 1 {
		t.Errorf("svcdns_reloads_total failed=%v ok=%v; want failed >= 20 and ok >= 1", mbad, mok)
	}
	if int(mok) != ok || int(mbad) != bad {
		t.Errorf("svcdns_reloads_total ok=%v failed=%v, the log shows %d and %d", mok, mbad, ok, bad)
	}
	// The last file was good B: it is the zone now.
	if r := query(t, "udp", srv.Addr, "_ssh._tcp."+origin, dns.TypeSRV); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("after the last swap (the CSV registry): _ssh._tcp SRV %v", r)
	}
}

// TestReloadAtStartup replaces the registry file while the server starts:
// during the build of the first zone, and the moment "ready" is logged.
// The file watch must cover both (config management or `registry update`
// may run right after a start): within seconds the server must serve the
// file as it is now, not the version it happened to read first.
func TestReloadAtStartup(t *testing.T) {
	t.Parallel()
	_, full := fullRegistry(t)
	data, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	const newSerial = 2026081900
	next := opsChangedRegistry(t, data, "2026-08-19", "RETS (changed by TestReloadAtStartup)")
	for _, tc := range []struct {
		name        string
		duringBuild bool // else right after "ready"
	}{
		{"DuringFirstBuild", true},
		{"RightAfterReady", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			regPath := filepath.Join(dir, "registry.xml")
			opsWriteFile(t, regPath, data)
			tmp := filepath.Join(dir, ".registry.xml.new")
			opsWriteFile(t, tmp, next)
			renamed := make(chan error, 1)
			if tc.duringBuild {
				go func() { renamed <- opsRenameOnceRead(regPath, tmp, len(data)) }()
			}
			srv := startServer(t, "--registry", regPath)
			if !tc.duringBuild {
				renamed <- os.Rename(tmp, regPath)
			}
			if err := <-renamed; err != nil {
				t.Fatal(err)
			}
			for _, r := range opsLogRecords(srv) {
				if r.str("msg") == "ready" && fmt.Sprint(r["serial"]) != "2026081700" {
					t.Fatalf("ready with serial %v: the server read the file after it was replaced, so this run tests nothing", r["serial"])
				}
			}
			var serial uint32
			var err error
			if !opsWaitFor(10*time.Second, 20*time.Millisecond, func() bool {
				serial, err = opsSOASerial(srv.Addr)
				return err == nil && serial == newSerial
			}) {
				t.Fatalf("10s after the registry file was replaced the server still serves serial %d (%v), want %d: "+
					"the change was not seen (%d reloads logged)", serial, err, newSerial, opsCountLog(srv, "reloaded"))
			}
		})
	}
}

// opsRenameOnceRead renames tmp over path as soon as the svcdns process
// serving path has read n bytes (Linux /proc/PID/io rchar): it has read the
// registry and is building its first zone from it, which takes a second or
// more for the full registry. Without /proc it renames after 300 ms.
func opsRenameOnceRead(path, tmp string, n int) error {
	deadline := time.Now().Add(readyTimeout)
	pid := ""
	for time.Now().Before(deadline) {
		if pid == "" {
			procs, err := os.ReadDir("/proc")
			if err != nil {
				time.Sleep(300 * time.Millisecond)
				return os.Rename(tmp, path)
			}
			for _, p := range procs {
				cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
				if err == nil && bytes.Contains(cmdline, []byte("\x00serve\x00")) && bytes.Contains(cmdline, []byte("\x00"+path+"\x00")) {
					pid = p.Name()
					break
				}
			}
		}
		if pid != "" {
			io, err := os.ReadFile(filepath.Join("/proc", pid, "io"))
			if err != nil {
				return fmt.Errorf("svcdns process %s: %w", pid, err)
			}
			for _, line := range strings.Split(string(io), "\n") {
				if v, ok := strings.CutPrefix(line, "rchar: "); ok {
					if read, _ := strconv.Atoi(v); read >= n {
						return os.Rename(tmp, path)
					}
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("the svcdns process serving %s did not read %d bytes in %v", path, n, readyTimeout)
}
