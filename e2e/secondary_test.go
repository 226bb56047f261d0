package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/querymix"
	"github.com/svcdns/svcdns/internal/testenv"
	"github.com/svcdns/svcdns/registry"
)

// A secondary of the test's svcdns: Knot DNS, NSD or BIND, each with its
// own loopback source address for transfers, so that svcdns's log tells
// which of them was sent what.
type secondary struct {
	name    string // knot, nsd, bind
	addr    string // where it answers
	via     string // the address it transfers from
	dir     string
	pid     int
	out     *syncBuffer
	started time.Time
}

// secondaryVia is each secondary's transfer source address.
var secondaryVia = map[string]string{"knot": "127.0.0.11", "nsd": "127.0.0.12", "bind": "127.0.0.13"}

// The configurations make each server a secondary of ports.local at the
// primary (port %[3]s), taking NOTIFY from 127.0.0.1, answering on
// 127.0.0.1 port %[2]d, keeping its files in %[1]s, transferring from
// %[4]s. Nothing else: no recursion, no control channel, minimal
// responses where the server has the setting.
const (
	knotSecondaryConf = `server:
    rundir: %[1]s
    user: %[5]s
    listen: 127.0.0.1@%[2]d
    pidfile: %[1]s/knot.pid
log:
  - target: stderr
    any: info
database:
    storage: %[1]s
control:
    listen: %[1]s/knot.sock
remote:
  - id: svcdns
    address: 127.0.0.1@%[3]s
    via: %[4]s
acl:
  - id: notify_from_svcdns
    address: 127.0.0.1
    action: notify
zone:
  - domain: ports.local
    storage: %[1]s
    file: ports.local.zone
    master: svcdns
    acl: notify_from_svcdns
    zonefile-load: none
    zonefile-sync: -1
    journal-content: none
`
	nsdSecondaryConf = `server:
    ip-address: 127.0.0.1@%[2]d
    username: ""
    chroot: ""
    zonesdir: %[1]s
    database: ""
    pidfile: %[1]s/nsd.pid
    xfrdfile: %[1]s/xfrd.state
    xfrdir: %[1]s
    zonelistfile: %[1]s/zone.list
    verbosity: 2
    server-count: 1
    do-ip6: no
    minimal-responses: yes
remote-control:
    control-enable: no
zone:
    name: ports.local
    zonefile: ports.local.zone
    outgoing-interface: %[4]s
    request-xfr: 127.0.0.1@%[3]s NOKEY
    allow-notify: 127.0.0.1 NOKEY
`
	bindSecondaryConf = `options {
    directory "%[1]s";
    listen-on port %[2]d { 127.0.0.1; };
    listen-on-v6 { none; };
    pid-file "%[1]s/named.pid";
    session-keyfile "%[1]s/session.key";
    managed-keys-directory "%[1]s";
    recursion no;
    dnssec-validation no;
    notify no;
    minimal-responses yes;
    transfer-source %[4]s;
};
controls { };
logging {
    channel out { stderr; severity info; print-time yes; };
    channel xfer { stderr; severity debug 1; print-time yes; };
    category default { out; };
    category xfer-in { xfer; };
};
zone "ports.local" {
    type secondary;
    primaries { 127.0.0.1 port %[3]s; };
    file "%[1]s/ports.local.db";
    allow-notify { 127.0.0.1; };
};
`
)

// startSecondary runs server kind on port in the foreground as a
// secondary of the svcdns at primary, and stops it at cleanup. It does not
// wait for the zone.
func startSecondary(t *testing.T, kind string, port int, primary string) *secondary {
	t.Helper()
	_, primaryPort, err := net.SplitHostPort(primary)
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	s := &secondary{name: kind, via: secondaryVia[kind], dir: t.TempDir(), out: &syncBuffer{}}
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	conf := filepath.Join(s.dir, kind+".conf")
	var argv []string
	switch kind {
	case "knot":
		opsWriteFile(t, conf, fmt.Appendf(nil, knotSecondaryConf, s.dir, port, primaryPort, s.via, u.Username))
		runTool(t, testenv.Tool(t, "knotc"), "-c", conf, "conf-check")
		argv = []string{testenv.Tool(t, "knotd"), "-c", conf}
	case "nsd":
		opsWriteFile(t, conf, fmt.Appendf(nil, nsdSecondaryConf, s.dir, port, primaryPort, s.via))
		runTool(t, testenv.Tool(t, "nsd-checkconf"), conf)
		argv = []string{testenv.Tool(t, "nsd"), "-d", "-c", conf}
	case "bind":
		opsWriteFile(t, conf, fmt.Appendf(nil, bindSecondaryConf, s.dir, port, primaryPort, s.via))
		runTool(t, testenv.Tool(t, "named-checkconf"), conf)
		// -d 1: BIND says "requesting IXFR" only at debug level 1.
		argv = []string{testenv.Tool(t, "named"), "-g", "-d", "1", "-c", conf}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", kind, err)
	}
	s.pid = cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		stopProcess(t, kind, cmd, done)
		if t.Failed() {
			t.Logf("%s log:\n%s", kind, tail(s.out.String(), 16<<10))
		}
	})
	return s
}

// rssMiB is the largest resident set of the secondary's processes (NSD
// serves from a forked child that holds the zone).
func (s *secondary) rssMiB() float64 {
	maxKiB := 0
	pids := []int{s.pid}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after ')'.
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 1 && f[1] == strconv.Itoa(s.pid) {
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		if m := regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB`).FindSubmatch(status); m != nil {
			kib, _ := strconv.Atoi(string(m[1]))
			maxKiB = max(maxKiB, kib)
		}
	}
	return float64(maxKiB) / 1024
}

// transferBytes reads from a secondary's log the bytes of each transfer
// it completed, in order: the three servers each report it.
func (s *secondary) transferBytes() []int {
	re := map[string]*regexp.Regexp{
		"knot": regexp.MustCompile(`XFR, incoming, remote [^,]+, finished, [^,]+, \d+ messages, (\d+) bytes`),
		"nsd":  regexp.MustCompile(`received update to serial \d+ at \S+ from \S+ of (\d+) bytes`),
		"bind": regexp.MustCompile(`Transfer completed: \d+ messages, \d+ records, (\d+) bytes`),
	}[s.name]
	var out []int
	for _, m := range re.FindAllStringSubmatch(s.out.String(), -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

// saysIXFR reports whether the secondary's own log shows it asked for,
// and applied, an incremental transfer. Knot says so; BIND says it
// requested IXFR and, having applied one, keeps a journal of it; NSD
// names no transfer type, so its log is checked for the small update it
// received (the primary's log shows it was sent an IXFR).
func (s *secondary) saysIXFR(t *testing.T, axfrBytes int) bool {
	t.Helper()
	log := s.out.String()
	switch s.name {
	case "knot":
		return strings.Contains(log, "IXFR, incoming") && strings.Contains(log, "finished")
	case "bind":
		_, err := os.Stat(filepath.Join(s.dir, "ports.local.db.jnl"))
		return strings.Contains(log, "requesting IXFR") && err == nil
	default:
		b := s.transferBytes()
		return len(b) > 1 && b[len(b)-1] < axfrBytes/100
	}
}

// xfrLog is one "zone transferred" line of svcdns's log.
type xfrLog struct {
	remote, qtype, answer string
	from                  uint32
	bytes, records        int
}

func transfersLogged(s *spawned) []xfrLog {
	var out []xfrLog
	for _, r := range opsLogRecords(&server{stderr: s.stderr}) {
		if r.str("msg") != "zone transferred" {
			continue
		}
		num := func(k string) int {
			n, _ := r[k].(json.Number)
			v, _ := n.Int64()
			return int(v)
		}
		out = append(out, xfrLog{remote: r.str("remote"), qtype: r.str("type"), answer: r.str("answer"),
			from: uint32(num("from")), bytes: num("bytes"), records: num("records")})
	}
	return out
}

// lastTransferTo is the last transfer svcdns logged to remote.
func lastTransferTo(s *spawned, remote string) (xfrLog, bool) {
	ls := transfersLogged(s)
	for i := len(ls) - 1; i >= 0; i-- {
		if ls[i].remote == remote {
			return ls[i], true
		}
	}
	return xfrLog{}, false
}

// changeDescriptions appends " (tag)" to n row descriptions of the XML
// registry, spread over it (every 700th, from offset): a registry update
// of n rows, some named services and some reserved or unassigned ranges,
// so that SRV/TXT owners, DNS-SD instances and port names all change.
func changeDescriptions(t *testing.T, data []byte, n, offset int, tag string) []byte {
	t.Helper()
	parts := bytes.Split(data, []byte("</description>"))
	changed := 0
	for i := offset; i < len(parts)-1 && changed < n; i += 700 {
		parts[i] = append(parts[i], []byte(" ("+tag+")")...)
		changed++
	}
	if changed != n {
		t.Fatalf("changed %d descriptions, want %d", changed, n)
	}
	return bytes.Join(parts, []byte("</description>"))
}

// ixfrFrom runs an IXFR from serial over TCP from 127.0.0.1, as a
// secondary at that serial would, and returns the records in order.
func ixfrFrom(t *testing.T, addr string, serial uint32, qtype uint16) []dns.RR {
	t.Helper()
	m := new(dns.Msg)
	if qtype == dns.TypeAXFR {
		m.SetAxfr(origin)
	} else {
		m.SetIxfr(origin, serial, "ns1."+origin, "hostmaster."+origin)
	}
	tr := &dns.Transfer{DialTimeout: 5 * time.Second, ReadTimeout: xfrTimeout}
	ch, err := tr.In(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var rrs []dns.RR
	for env := range ch {
		if env.Error != nil {
			t.Fatalf("%s from %d: %v", dns.TypeToString[qtype], serial, env.Error)
		}
		rrs = append(rrs, env.RR...)
	}
	return rrs
}

// xfrZone is a zone as a secondary holds it: record texts (TTL kept, case
// folded, through the wire form), SOA aside.
type xfrZone map[string]bool

func zoneOf(rrs []dns.RR) xfrZone {
	z := xfrZone{}
	for _, rr := range rrs {
		if rr.Header().Rrtype != dns.TypeSOA {
			z[rrKey(rr)] = true
		}
	}
	return z
}

// rrKey is a record as a secondary holds it: its uncompressed wire form,
// case folded (names and, harmlessly for a comparison, TXT strings).
func rrKey(rr dns.RR) string {
	buf := make([]byte, dns.Len(rr)+64)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return strings.ToLower(rr.String())
	}
	return string(bytes.ToLower(buf[:n]))
}

// xfrForm asks for IXFR from serial over TCP and reads only the first
// message: "soa" for the current SOA alone, "incremental" when the second
// record is a SOA too, "full" otherwise (RFC 1995 §4).
func xfrForm(t *testing.T, addr string, serial uint32) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(xfrTimeout))
	co := &dns.Conn{Conn: c}
	m := new(dns.Msg)
	m.SetIxfr(origin, serial, "ns1."+origin, "hostmaster."+origin)
	if err := co.WriteMsg(m); err != nil {
		t.Fatal(err)
	}
	r, err := co.ReadMsg()
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case len(r.Answer) == 1 && r.Answer[0].Header().Rrtype == dns.TypeSOA:
		return "soa"
	case len(r.Answer) > 1 && r.Answer[1].Header().Rrtype == dns.TypeSOA:
		return "incremental"
	}
	return "full"
}

// applyIXFR applies an IXFR reply to a zone held, as RFC 1995 §4 has a
// secondary do it; form is "soa" (up to date), "incremental" or "full".
func applyIXFR(t *testing.T, have xfrZone, rrs []dns.RR) (xfrZone, string) {
	t.Helper()
	if len(rrs) == 1 {
		return have, "soa"
	}
	if len(rrs) < 2 || rrs[0].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("transfer of %d records starts with %v", len(rrs), rrs[0])
	}
	if rrs[1].Header().Rrtype != dns.TypeSOA {
		return zoneOf(rrs), "full"
	}
	z := maps.Clone(have)
	adding := true
	for _, rr := range rrs[1 : len(rrs)-1] {
		if rr.Header().Rrtype == dns.TypeSOA {
			adding = !adding
			continue
		}
		k := rrKey(rr)
		if adding {
			if z[k] {
				t.Fatalf("IXFR adds %s, already held", k)
			}
			z[k] = true
		} else {
			if !z[k] {
				t.Fatalf("IXFR deletes %s, not held", k)
			}
			delete(z, k)
		}
	}
	return z, "incremental"
}

func sameZone(t *testing.T, what string, got, want xfrZone) {
	t.Helper()
	var missing, extra []string
	for k := range want {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	if len(missing)+len(extra) > 0 {
		slices.Sort(missing)
		slices.Sort(extra)
		t.Errorf("%s: %d records missing %.3q, %d extra %.3q", what, len(missing), missing, len(extra), extra)
	}
}

// TestSecondaries runs svcdns as the hidden primary of Knot, NSD and BIND
// secondaries, started once, and checks the life of the fleet on the full
// registry with every port name: each secondary takes the zone by AXFR;
// after a registry update of 20 rows, svcdns's NOTIFY brings each an IXFR
// (their logs and svcdns's show it) of a few KB instead of the ~27 MB
// zone; each then answers 10,000 queries of every kind exactly as svcdns
// does; a restart of svcdns between two updates keeps the serial and
// still serves IXFR across both; and a journal cut short or corrupted
// while svcdns is down is detected at start and replaced by full
// transfers, never by a wrong diff.
func TestSecondaries(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"knotd", "knotc", "nsd", "nsd-checkconf", "named", "named-checkconf"} {
		testenv.Tool(t, tool)
	}
	reg, full := fullRegistry(t)
	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry.xml")
	data := opsCopyFile(t, full, regPath)
	state := filepath.Join(dir, "state")
	names := []string{"knot", "nsd", "bind"}
	ports := map[string]int{}
	var notify []string
	for _, n := range names {
		ports[n] = freePort(t)
		notify = append(notify, strconv.Quote(net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[n]))))
	}
	conf := filepath.Join(dir, "svcdns.yaml")
	env := []string{"STATE_DIRECTORY=" + state}
	// One port for every start: the secondaries know the primary by it.
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	var srv *spawned
	startPrimary := func(notify []string) {
		// Rate limiting off, as at the secondaries: 10,000 queries from
		// one address are a test, not a flood.
		opsWriteFile(t, conf, fmt.Appendf(nil, "rrl: {rate: 0}\ntransfer:\n  notify: [%s]\n", strings.Join(notify, ", ")))
		srv = spawnServer(t, env, []string{"--listen", listen, "--metrics-listen", "", "--config", conf, "--registry", regPath})
	}
	startPrimary(notify)
	s1, err := opsSOASerial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	zone1 := zoneOf(ixfrFrom(t, srv.Addr, 0, dns.TypeAXFR))
	axfr, _ := lastTransferTo(srv, "127.0.0.1")
	t.Logf("AXFR of the full registry, every port name: %d records, %d bytes in %s", axfr.records, axfr.bytes, axfr.answer)

	secs := map[string]*secondary{}
	for _, n := range names {
		secs[n] = startSecondary(t, n, ports[n], srv.Addr)
	}
	var wg sync.WaitGroup
	for _, s := range secs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opsWaitSerial(t, s.addr, s1, 3*time.Minute)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, n := range names {
		s := secs[n]
		x, ok := lastTransferTo(srv, s.via)
		if !ok || x.qtype != "AXFR" && x.answer != "full" {
			t.Errorf("%s: svcdns logged no full transfer to %s: %+v", n, s.via, x)
		}
		t.Logf("%s: took serial %d by %s in %v (%d bytes by its log); RSS %.0f MiB", n, s1, x.qtype,
			time.Since(s.started).Round(100*time.Millisecond), s.transferBytes(), s.rssMiB())
	}
	restart := func(t *testing.T) {
		t.Helper()
		if err := syscall.Kill(srv.PID, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-srv.exited:
		case <-time.After(shutdownTimeout):
			t.Fatal("svcdns did not stop")
		}
		startPrimary(notify)
	}

	// update replaces the registry by rename, as `registry update` does,
	// and waits for every secondary to serve the new serial.
	update := func(t *testing.T, next []byte, from uint32) uint32 {
		t.Helper()
		opsReplaceByRename(t, regPath, next)
		var to uint32
		if !opsWaitFor(30*time.Second, 20*time.Millisecond, func() bool {
			to, _ = opsSOASerial(srv.Addr)
			return to > from
		}) {
			t.Fatalf("svcdns still at serial %d after the registry changed", from)
		}
		replaced := time.Now()
		for _, n := range names {
			// NOTIFY, not the refresh timer (3600 s), brings it.
			opsWaitSerial(t, secs[n].addr, to, 30*time.Second)
		}
		t.Logf("serial %d -> %d at every secondary %v after svcdns moved", from, to, time.Since(replaced).Round(time.Millisecond))
		for _, n := range names {
			acked := false
			for _, r := range opsLogRecords(&server{stderr: srv.stderr}) {
				acked = acked || r.str("msg") == "notify acknowledged" && r.str("secondary") == secs[n].addr && fmt.Sprint(r["serial"]) == fmt.Sprint(to)
			}
			if !acked {
				t.Errorf("%s: svcdns logged no acknowledged NOTIFY of serial %d", n, to)
			}
		}
		return to
	}
	checkIXFR := func(t *testing.T, from uint32) {
		t.Helper()
		for _, n := range names {
			s := secs[n]
			x, ok := lastTransferTo(srv, s.via)
			if !ok || x.qtype != "IXFR" || x.answer != "incremental" || x.from != from {
				t.Errorf("%s: svcdns's last transfer to %s is %+v, want an incremental IXFR from %d", n, s.via, x, from)
			}
			if !s.saysIXFR(t, axfr.bytes) {
				t.Errorf("%s: its log does not show an IXFR", n)
			}
			b := s.transferBytes()
			t.Logf("%s: IXFR of %d records, %d bytes by svcdns's log (%d by its own), against %d for AXFR: %.4f%%",
				n, x.records, x.bytes, b[len(b)-1], axfr.bytes, 100*float64(x.bytes)/float64(axfr.bytes))
		}
	}

	data2 := changeDescriptions(t, data, 20, 350, "update 1")
	var s2 uint32
	t.Run("IXFR", func(t *testing.T) {
		s2 = update(t, data2, s1)
		checkIXFR(t, s1)
	})
	if s2 == 0 {
		t.FailNow()
	}

	t.Run("SameAnswers", func(t *testing.T) {
		compareFleet(t, reg, srv.Addr, secs, names, 10000)
	})

	var zone3 xfrZone
	var s3 uint32
	t.Run("RestartBetweenUpdates", func(t *testing.T) {
		restart(t)
		if s, err := opsSOASerial(srv.Addr); err != nil || s != s2 {
			t.Fatalf("after a restart: serial %d (%v), want %d, the serial before it", s, err, s2)
		}
		if opsCountLog(&server{stderr: srv.stderr}, "journal kept") != 1 {
			t.Error("svcdns did not log that it kept the journal")
		}
		s3 = update(t, changeDescriptions(t, data2, 20, 351, "update 2"), s2)
		checkIXFR(t, s2)
		// A secondary still at the first serial gets one IXFR across
		// both updates, the one before the restart and the one after.
		zone3 = zoneOf(ixfrFrom(t, srv.Addr, 0, dns.TypeAXFR))
		got, form := applyIXFR(t, zone1, ixfrFrom(t, srv.Addr, s1, dns.TypeIXFR))
		if form != "incremental" {
			t.Errorf("IXFR from %d after the restart: %s, want incremental", s1, form)
		}
		sameZone(t, fmt.Sprintf("IXFR %d -> %d applied", s1, s3), got, zone3)
		x, _ := lastTransferTo(srv, "127.0.0.1")
		t.Logf("IXFR %d -> %d across the restart: %d records, %d bytes", s1, s3, x.records, x.bytes)
	})
	if s3 == 0 {
		t.FailNow()
	}

	t.Run("DamagedJournal", func(t *testing.T) {
		path := filepath.Join(state, "journal", "ports.local.jnl")
		for _, damage := range []struct {
			name string
			do   func(b []byte) []byte
		}{
			{"cut short", func(b []byte) []byte { return b[:len(b)-7] }},
			{"corrupted", func(b []byte) []byte { b[len(b)/2] ^= 0x10; return b }},
		} {
			if err := syscall.Kill(srv.PID, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			<-srv.exited
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			opsWriteFile(t, path, damage.do(b))
			startPrimary(notify)
			logged := false
			for _, r := range opsLogRecords(&server{stderr: srv.stderr}) {
				if r.str("msg") == "journal damaged: not used; secondaries get a full transfer" {
					logged = true
					t.Logf("%s: svcdns logged: %s", damage.name, r.str("err"))
				}
			}
			if !logged {
				t.Errorf("%s: svcdns did not log the damaged journal", damage.name)
			}
			// The version kept beside the journal says which serial
			// this content had: the secondaries hold it already.
			s, err := opsSOASerial(srv.Addr)
			if err != nil || s != s3 {
				t.Fatalf("%s: serial %d (%v) after restart, want %d", damage.name, s, err, s3)
			}
			// An older serial gets the whole zone (compared record for
			// record once; after that by its form).
			if damage.name == "cut short" {
				got, form := applyIXFR(t, xfrZone{}, ixfrFrom(t, srv.Addr, s2, dns.TypeIXFR))
				if form != "full" {
					t.Errorf("%s: IXFR from %d: %s, want a full transfer", damage.name, s2, form)
				}
				sameZone(t, damage.name+": full transfer", got, zone3)
			} else if form := xfrForm(t, srv.Addr, s2); form != "full" {
				t.Errorf("%s: IXFR from %d: %s, want a full transfer", damage.name, s2, form)
			}
			if form := xfrForm(t, srv.Addr, s); form != "soa" {
				t.Errorf("%s: IXFR from the current serial: %s, want the SOA alone", damage.name, form)
			}
		}
	})

	// The registry changes while svcdns is down: the journal cannot
	// prove a delta to the new zone, so the serial moves past the last
	// one served, svcdns announces it at start, and each secondary's IXFR
	// gets the whole zone.
	t.Run("ChangedWhileDown", func(t *testing.T) {
		if err := syscall.Kill(srv.PID, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-srv.exited
		data3, err := os.ReadFile(regPath)
		if err != nil {
			t.Fatal(err)
		}
		opsWriteFile(t, regPath, changeDescriptions(t, data3, 20, 352, "update 3"))
		startPrimary(notify)
		s4, err := opsSOASerial(srv.Addr)
		if err != nil || s4 <= s3 {
			t.Fatalf("serial %d (%v) after the registry changed while down, want above %d", s4, err, s3)
		}
		for _, n := range names {
			opsWaitSerial(t, secs[n].addr, s4, time.Minute)
			if x, ok := lastTransferTo(srv, secs[n].via); !ok || x.answer != "full" {
				t.Errorf("%s: svcdns's last transfer to it is %+v, want a full one", n, x)
			} else {
				t.Logf("%s: IXFR from %d answered with the whole zone (%d records)", n, x.from, x.records)
			}
		}
		compareFleet(t, reg, srv.Addr, secs, names, 2000)
	})
}

// fleetKind sorts a query by the answer the primary gave, for the report
// and to make sure every kind was asked.
func fleetKind(q querymix.Query, r *dns.Msg) string {
	name := strings.ToLower(q.Name)
	switch {
	case r.Rcode == dns.RcodeNameError:
		return "nxdomain"
	case len(r.Answer) == 0:
		return "nodata"
	case regexp.MustCompile(`^_\d+\._[a-z]+\.`).MatchString(name):
		return "port name"
	case strings.Contains(name, "_dns-sd.") || q.Type == dns.TypePTR || strings.Count(name, ".") > 4:
		return "dns-sd"
	case r.Answer[0].Header().Rrtype == dns.TypeCNAME:
		return "alias"
	}
	return "service"
}

// fleetAsk asks addr over UDP (on conn when it is set), and over TCP
// when the reply is truncated; a datagram lost on a busy machine is asked
// again.
func fleetAsk(c, tc *dns.Client, conn *dns.Conn, addr string, q querymix.Query) (r *dns.Msg, err error) {
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Type)
	m.SetEdns0(1232, false)
	for range 3 {
		if conn != nil {
			conn.SetDeadline(time.Now().Add(c.Timeout))
			r, _, err = c.ExchangeWithConn(m, conn)
		} else {
			r, _, err = c.Exchange(m, addr)
		}
		if err == nil {
			break
		}
	}
	if err == nil && r.Truncated {
		r, _, err = tc.Exchange(m, addr)
	}
	return r, err
}

// compareFleet sends n queries to the primary and to each secondary
// and requires the same answer: the same rcode and the same answer
// section (records sorted, TTLs and case set aside: a secondary counts
// TTLs down and may keep names in another case). For NXDOMAIN and NODATA
// the authority section must hold the same SOA too; beyond that the
// authority and additional sections are left to each server (an apex NS
// set, SRV target addresses, DNS-SD's §12 extras are optional, RFC 2181
// §9, RFC 6763 §12).
func compareFleet(t *testing.T, reg *registry.Registry, primary string, secs map[string]*secondary, names []string, n int) {
	qs := querymix.Generate(reg, origin, n*9/10, 20261130)
	// DNS-SD instances, by the names the primary's PTR answers give.
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	tc := &dns.Client{Net: "tcp", Timeout: 10 * time.Second}
	for _, q := range qs {
		if len(qs) >= n {
			break
		}
		if q.Type != dns.TypePTR || !strings.HasPrefix(q.Name, "_") {
			continue
		}
		r, err := fleetAsk(c, tc, nil, primary, q)
		if err != nil || len(r.Answer) != 1 {
			continue
		}
		if p, ok := r.Answer[0].(*dns.PTR); ok && !strings.HasPrefix(p.Ptr, "_") {
			qs = append(qs, querymix.Query{Name: p.Ptr, Type: dns.TypeSRV}, querymix.Query{Name: p.Ptr, Type: dns.TypeTXT})
		}
	}
	if len(qs) < n {
		qs = append(qs, querymix.Generate(reg, origin, n-len(qs), 20261201)...)
	}
	qs = qs[:n]
	type result struct {
		r   *dns.Msg
		err error
	}
	ask := func(addr string) []result {
		out := make([]result, len(qs))
		var wg sync.WaitGroup
		const workers = 8
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := c.Dial(addr)
				if err != nil {
					for i := w; i < len(qs); i += workers {
						out[i].err = err
					}
					return
				}
				defer conn.Close()
				for i := w; i < len(qs); i += workers {
					out[i].r, out[i].err = fleetAsk(c, tc, conn, addr, qs[i])
				}
			}()
		}
		wg.Wait()
		return out
	}
	start := time.Now()
	want := ask(primary)
	kinds := map[string]int{}
	for i, w := range want {
		if w.err != nil {
			t.Fatalf("svcdns: %s %s: %v", qs[i].Name, dns.TypeToString[qs[i].Type], w.err)
		}
		kinds[fleetKind(qs[i], w.r)]++
	}
	for _, k := range []string{"service", "alias", "port name", "dns-sd", "nxdomain", "nodata"} {
		if kinds[k] == 0 {
			t.Errorf("no query of kind %s among %d", k, len(qs))
		}
	}
	t.Logf("%d queries: %v", len(qs), kinds)
	negative := func(r *dns.Msg) bool {
		return r.Rcode == dns.RcodeNameError || r.Rcode == dns.RcodeSuccess && len(r.Answer) == 0
	}
	soas := func(rrs []dns.RR) []string {
		var out []dns.RR
		for _, rr := range rrs {
			if rr.Header().Rrtype == dns.TypeSOA {
				out = append(out, rr)
			}
		}
		return opsRRTexts(out)
	}
	for _, n := range names {
		got := ask(secs[n].addr)
		differ := 0
		for i, g := range got {
			q, w := qs[i], want[i].r
			var d []string
			switch {
			case g.err != nil:
				d = append(d, g.err.Error())
			default:
				if g.r.Rcode != w.Rcode {
					d = append(d, fmt.Sprintf("rcode %s vs %s", dns.RcodeToString[w.Rcode], dns.RcodeToString[g.r.Rcode]))
				}
				if x, y := opsRRTexts(w.Answer), opsRRTexts(g.r.Answer); !slices.Equal(x, y) {
					d = append(d, fmt.Sprintf("answer\n  svcdns %.4q\n  %-6s %.4q", x, n, y))
				}
				if negative(w) {
					if x, y := soas(w.Ns), soas(g.r.Ns); !slices.Equal(x, y) || len(x) != 1 {
						d = append(d, fmt.Sprintf("authority\n  svcdns %q\n  %-6s %q", x, n, y))
					}
				}
			}
			if len(d) > 0 {
				if differ++; differ <= 5 {
					t.Errorf("%s: %s %s: %s", n, q.Name, dns.TypeToString[q.Type], strings.Join(d, "; "))
				}
			}
		}
		if differ > 5 {
			t.Errorf("%s: ... %d of %d queries answered differently", n, differ, len(qs))
		}
		t.Logf("%s: %d queries, %d answered differently", n, len(qs), differ)
	}
	t.Logf("%d queries to each of 4 servers in %v", len(qs), time.Since(start).Round(time.Millisecond))
}
