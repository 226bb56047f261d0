package e2e_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/querymix"
)

// soakDuration is how long TestSoakShort loads the server: SOAK_DURATION
// (a Go duration; scripts/soak sets it for the long run outside CI),
// else 30 s.
func soakDuration(t testing.TB) time.Duration {
	t.Helper()
	v := os.Getenv("SOAK_DURATION")
	if v == "" {
		return 30 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 3*time.Second {
		t.Fatalf("SOAK_DURATION=%q: want a duration of at least 3s (e.g. 10m)", v)
	}
	return d
}

// soakExpect is what a reply must carry: rcode, TC, and the answer
// section as sorted text. Authority is left out: the SOA serial in a
// negative answer changes with every reload.
type soakExpect struct {
	rcode  int
	tc     bool
	answer string
}

func soakExpectOf(m *dns.Msg) soakExpect {
	rrs := make([]string, len(m.Answer))
	for i, rr := range m.Answer {
		rrs[i] = rr.String()
	}
	slices.Sort(rrs)
	return soakExpect{rcode: m.Rcode, tc: m.Truncated, answer: strings.Join(rrs, "\n")}
}

func (e soakExpect) String() string {
	return fmt.Sprintf("%s tc=%v [%s]", dns.RcodeToString[e.rcode], e.tc, strings.ReplaceAll(e.answer, "\n", "; "))
}

// soakSample is one reading of the server, taken every second.
type soakSample struct {
	at         time.Duration
	rss        float64 // MiB
	rssPeak    float64 // MiB, the highest of the readings since the previous sample
	goroutines float64
}

// soakWorker is what one load goroutine did.
type soakWorker struct {
	net               string
	queries, failures int
	wrong, failed     []string // the first few
	wrongCount        int
	lat               []time.Duration
	conns             int // TCP connections opened
}

func (w *soakWorker) bad(format string, args ...any) {
	w.wrongCount++
	if len(w.wrong) < 5 {
		w.wrong = append(w.wrong, fmt.Sprintf(format, args...))
	}
}

func (w *soakWorker) fail(format string, args ...any) {
	w.failures++
	if len(w.failed) < 5 {
		w.failed = append(w.failed, fmt.Sprintf(format, args...))
	}
}

// TestSoakShort serves the full registry while it is swapped (renamed
// over) every 10 s between two versions, under a mixed UDP and TCP load
// of querymix queries at ~4,000 a second, for 30 s (SOAK_DURATION sets
// another duration: scripts/soak runs 10 minutes). Only queries whose
// answer is the same in both versions are asked, so every reply is
// checked: zero wrong answers and zero failures. RSS is read every 100 ms
// and goroutines every second (both every 100 ms in the setup, which
// reloads three times); after a warm-up of a third of the run, neither may
// grow by 10% or more (RSS at its lower quartile, goroutines by median:
// see soakGrowth).
func TestSoakShort(t *testing.T) {
	const (
		swapEvery  = 10 * time.Second
		udpWorkers = 3
		udpRate    = 1000 // queries a second, each UDP worker
		tcpWorkers = 2
		tcpRate    = 500 // each TCP worker
		tcpReuse   = 1000
		distinct   = 3000
		maxGrowth  = 0.10
	)
	soak := soakDuration(t)
	reg, fullPath := fullRegistry(t)
	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry.xml")
	versionA, err := os.ReadFile(fullPath)
	if err != nil {
		t.Fatal(err)
	}
	versionB := soakVersionB(t, versionA)
	if err := os.WriteFile(regPath, versionA, 0o644); err != nil {
		t.Fatal(err)
	}
	swap := func(data []byte) {
		tmp := filepath.Join(dir, ".registry.xml.new")
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			t.Error(err)
			return
		}
		if err := os.Rename(tmp, regPath); err != nil {
			t.Error(err)
		}
	}
	srv := startLoadServer(t, []string{"SVCDNS_RRL_RATE=0"}, "--registry", regPath)
	server, err := net.ResolveUDPAddr("udp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	reloadsOK := func() int {
		m, err := srv.Scrape()
		if err != nil {
			t.Errorf("scrape: %v", err)
			return -1
		}
		return int(m[`svcdns_reloads_total{result="ok"}`])
	}

	// The server is sampled every 100 ms through the setup, which reloads
	// the zone three times: its peaks are part of the warm-up.
	var setupSamples []soakSample
	setupDone, setupSampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(setupSampled)
		t0 := time.Now()
		for {
			rss, err1 := srv.RSSMiB()
			m, err2 := srv.Scrape()
			if err1 == nil && err2 == nil {
				setupSamples = append(setupSamples, soakSample{at: time.Since(t0), rss: rss, rssPeak: rss, goroutines: m["go_goroutines"]})
			}
			select {
			case <-setupDone:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	// The questions, and their answers under each version: a question is
	// kept only when both versions answer it alike.
	var qs []querymix.Query
	seen := map[querymix.Query]bool{}
	for _, q := range querymix.Generate(reg, origin, distinct, 7) {
		if !seen[q] {
			seen[q] = true
			qs = append(qs, q)
		}
	}
	setupStart := time.Now()
	serialA := srv.MustScrape(t)["svcdns_zone_serial"]
	expA := soakAnswers(t, srv.Addr, server, qs)
	swap(versionB)
	if !loadWaitFor(60*time.Second, 50*time.Millisecond, func() bool { return reloadsOK() >= 1 }) {
		t.Fatal("version B was not loaded within 60s")
	}
	serialB := srv.MustScrape(t)["svcdns_zone_serial"]
	if serialB == serialA {
		t.Fatalf("serial %.0f after the swap to version B: the zone did not change", serialB)
	}
	expB := soakAnswers(t, srv.Addr, server, qs)
	var keep []querymix.Query
	var expect [][2]soakExpect // by query: UDP, TCP
	var differ []string
	for i, q := range qs {
		if expA[i] != expB[i] {
			differ = append(differ, q.String())
			continue
		}
		keep = append(keep, q)
		expect = append(expect, expA[i])
	}
	t.Logf("serial %.0f (version A) then %.0f (B); %d distinct queries from querymix, %d answered alike by both versions; the %d left out: %v",
		serialA, serialB, len(qs), len(keep), len(differ), differ[:min(5, len(differ))])
	if len(keep) < len(qs)*9/10 {
		t.Fatalf("%d of %d answers differ between the versions: want a few (version B changes one service and the date)", len(differ), len(qs))
	}
	packed := make([][]byte, len(keep))
	for i, q := range keep {
		packed[i] = loadPackQuery(t, 0, q.Name, q.Type)
	}
	// Two more reloads (back to A, then B again): the memory a reload
	// takes is then part of the warm-up, not of the growth.
	for n, v := range [][]byte{versionA, versionB} {
		swap(v)
		if !loadWaitFor(60*time.Second, 50*time.Millisecond, func() bool { return reloadsOK() >= 2+n }) {
			t.Fatalf("reload %d of the setup not done within 60s", 2+n)
		}
	}
	close(setupDone)
	<-setupSampled
	t.Logf("setup (expected answers, three reloads): %v", time.Since(setupStart).Round(time.Millisecond))

	preLoad := srv.MustScrape(t)
	reloadsBefore := int(preLoad[`svcdns_reloads_total{result="ok"}`])
	failedBefore := int(preLoad[`svcdns_reloads_total{result="failed"}`])
	goroutinesBefore := preLoad["go_goroutines"]

	start := time.Now()
	deadline := start.Add(soak)
	var wg sync.WaitGroup
	workers := make([]*soakWorker, 0, udpWorkers+tcpWorkers)
	for i := range udpWorkers + tcpWorkers {
		w := &soakWorker{net: "udp"}
		rate := udpRate
		if i >= udpWorkers {
			w.net, rate = "tcp", tcpRate
		}
		workers = append(workers, w)
		rng := rand.New(rand.NewPCG(uint64(i), 99))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if w.net == "udp" {
				soakUDP(w, server, packed, expect, rng, rate, start, deadline)
			} else {
				soakTCP(w, srv.Addr, packed, expect, rng, rate, tcpReuse, start, deadline)
			}
		}()
	}
	// The version swaps, and the samples.
	swaps := 0
	var samples []soakSample
	sampleErrs := 0
	version := 'B'
	// RSS is read every 100 ms, so that each sample carries the peak of
	// its second (a reload's peak lasts less than a second); the rest
	// every second.
	tick := time.NewTicker(100 * time.Millisecond)
	nextSwap, nextSample := start.Add(swapEvery), start.Add(time.Second)
	var peak float64
	for now := range tick.C {
		if !now.Before(deadline) {
			break
		}
		if !now.Before(nextSwap) {
			if version == 'B' {
				swap(versionA)
				version = 'A'
			} else {
				swap(versionB)
				version = 'B'
			}
			swaps++
			nextSwap = nextSwap.Add(swapEvery)
		}
		rss, err := srv.RSSMiB()
		if err == nil {
			peak = max(peak, rss)
		}
		if now.Before(nextSample) {
			continue
		}
		nextSample = nextSample.Add(time.Second)
		m, err2 := srv.Scrape()
		if err != nil || err2 != nil {
			sampleErrs++
			continue
		}
		samples = append(samples, soakSample{at: now.Sub(start), rss: rss, rssPeak: peak, goroutines: m["go_goroutines"]})
		peak = 0
	}
	tick.Stop()
	wg.Wait()
	elapsed := time.Since(start)

	// Every swap must have been loaded, none refused.
	var reloads int
	caughtUp := loadWaitFor(60*time.Second, 100*time.Millisecond, func() bool {
		reloads = reloadsOK() - reloadsBefore
		return reloads >= swaps
	})
	post := srv.MustScrape(t)
	reloadFails := int(post[`svcdns_reloads_total{result="failed"}`]) - failedBefore
	// With the load gone, the goroutines of its connections go too. The
	// scrapes' own keep-alive connections are closed first: concurrent
	// scrapes during the soak leave more of them (a goroutine each on the
	// metrics server) than there were before it.
	var goroutinesAfter float64
	loadWaitFor(5*time.Second, 100*time.Millisecond, func() bool {
		srv.http.CloseIdleConnections()
		if m, err := srv.Scrape(); err == nil {
			goroutinesAfter = m["go_goroutines"]
		}
		return goroutinesAfter <= goroutinesBefore+1
	})

	var total soakWorker
	lat := map[string][]time.Duration{}
	var wrong, failed []string
	for _, w := range workers {
		total.queries += w.queries
		total.failures += w.failures
		total.wrongCount += w.wrongCount
		total.conns += w.conns
		wrong = append(wrong, w.wrong...)
		failed = append(failed, w.failed...)
		lat[w.net] = append(lat[w.net], w.lat...)
	}
	t.Logf("soak %v (SOAK_DURATION): %d queries (%.0f/s) by %d UDP and %d TCP workers over %d TCP connections; %d wrong answers, %d failures",
		elapsed.Round(time.Millisecond), total.queries, float64(total.queries)/elapsed.Seconds(), udpWorkers, tcpWorkers, total.conns, total.wrongCount, total.failures)
	t.Logf("latency: UDP %v; TCP %v", loadLatency(lat["udp"]), loadLatency(lat["tcp"]))
	t.Logf("registry swapped %d times (every %v), %d reloads ok, %d failed", swaps, swapEvery, reloads, reloadFails)

	rssGrowth, rssSummary := soakGrowth(setupSamples, samples, soak, func(s soakSample) float64 { return s.rssPeak }, 0.25)
	gGrowth, gSummary := soakGrowth(setupSamples, samples, soak, func(s soakSample) float64 { return s.goroutines }, 0.5)
	t.Logf("RSS MiB (peak of each second): %s: growth %+.1f%%", rssSummary, 100*rssGrowth)
	t.Logf("goroutines: %s: growth %+.1f%%; %.0f before the load, %.0f after it", gSummary, 100*gGrowth, goroutinesBefore, goroutinesAfter)
	var series bytes.Buffer
	step := max(1, len(samples)/60)
	for i := 0; i < len(samples); i += step {
		s := samples[i]
		fmt.Fprintf(&series, " %d:%.0f/%.0f", int(s.at.Seconds()), s.rss, s.goroutines)
	}
	t.Logf("samples (s:RSS MiB/goroutines, every %d):%s", step, series.String())

	if total.wrongCount > 0 {
		t.Errorf("%d wrong answers; the first: %v", total.wrongCount, wrong)
	}
	if total.failures > 0 {
		t.Errorf("%d queries failed (no reply or a broken one); the first: %v", total.failures, failed)
	}
	if !caughtUp || reloadFails > 0 {
		t.Errorf("%d swaps, %d reloads ok and %d failed: want every swap loaded", swaps, reloads, reloadFails)
	}
	if len(samples) < 6 || sampleErrs > len(samples)/10 {
		t.Errorf("%d samples, %d failed: too few to judge growth", len(samples), sampleErrs)
	}
	if rssGrowth > maxGrowth {
		t.Errorf("RSS grew %.1f%% after the warm-up, want under %.0f%%: %s", 100*rssGrowth, 100*maxGrowth, rssSummary)
	}
	if gGrowth > maxGrowth {
		t.Errorf("goroutines grew %.1f%% after the warm-up, want under %.0f%%: %s", 100*gGrowth, 100*maxGrowth, gSummary)
	}
	if goroutinesAfter > goroutinesBefore+1 {
		t.Errorf("%.0f goroutines once the load stopped, %.0f before it: connections' goroutines leak", goroutinesAfter, goroutinesBefore)
	}
	if !srv.Alive() {
		t.Fatal("svcdns exited during the soak")
	}
}

// soakVersionB is the registry with its date moved a day on (a new
// serial) and one service's description changed (a different TXT).
func soakVersionB(t testing.TB, a []byte) []byte {
	t.Helper()
	const (
		date    = "<updated>2026-08-17</updated>"
		descr   = "<description>Generic Network Virtualization Encapsulation (Geneve)</description>"
		changed = "<description>Generic Network Virtualization Encapsulation (Geneve), soak version B</description>"
	)
	if !bytes.Contains(a, []byte(date)) || bytes.Count(a, []byte(descr)) != 1 {
		t.Fatalf("the full registry has no %s or not one %s: the soak test needs updating", date, descr)
	}
	b := bytes.Replace(a, []byte(date), []byte("<updated>2026-08-18</updated>"), 1)
	return bytes.Replace(b, []byte(descr), []byte(changed), 1)
}

// soakAnswers asks every query over UDP and over TCP, one at a time, and
// returns the replies' expectations.
func soakAnswers(t *testing.T, addr string, server *net.UDPAddr, qs []querymix.Query) [][2]soakExpect {
	t.Helper()
	tcp := dialTCP(t, addr)
	defer tcp.conn.Close() // not held until the end: the goroutine count is watched
	out := make([][2]soakExpect, len(qs))
	for i, q := range qs {
		r, _, err := loadUDPAsk(nil, server, uint16(i), q.Name, q.Type, 2*time.Second)
		if err != nil {
			t.Fatalf("%v over UDP: %v", q, err)
		}
		out[i][0] = soakExpectOf(r)
		r, err = tcp.Exchange(q.Name, q.Type)
		if err != nil {
			t.Fatalf("%v over TCP: %v", q, err)
		}
		out[i][1] = soakExpectOf(r)
	}
	return out
}

// soakPace sleeps while w is ahead of rate queries a second since start.
func soakPace(w *soakWorker, rate int, start time.Time) {
	for w.queries >= int(time.Since(start).Seconds()*float64(rate)) {
		time.Sleep(time.Millisecond)
	}
}

// soakCheck compares a reply with its query's expectation.
func soakCheck(w *soakWorker, b []byte, id uint16, q []byte, want soakExpect) {
	var r dns.Msg
	if err := r.Unpack(b); err != nil {
		w.fail("%s: reply does not parse: %v", w.net, err)
		return
	}
	var qm dns.Msg
	_ = qm.Unpack(q)
	if r.Id != id || len(r.Question) != 1 || r.Question[0] != qm.Question[0] {
		w.bad("%s: reply id %d question %v to query id %d %v", w.net, r.Id, r.Question, id, qm.Question[0])
		return
	}
	if got := soakExpectOf(&r); got != want {
		w.bad("%s %s %s: got %v, want %v", w.net, qm.Question[0].Name, dns.TypeToString[qm.Question[0].Qtype], got, want)
	}
}

func soakUDP(w *soakWorker, server *net.UDPAddr, packed [][]byte, expect [][2]soakExpect, rng *rand.Rand, rate int, start, deadline time.Time) {
	c, err := net.DialUDP("udp", nil, server)
	if err != nil {
		w.fail("udp: %v", err)
		return
	}
	defer c.Close()
	buf := make([]byte, 65535)
	q := make([]byte, 0, 512)
	for id := uint16(1); time.Now().Before(deadline); id++ {
		soakPace(w, rate, start)
		i := rng.IntN(len(packed))
		q = append(q[:0], packed[i]...)
		binary.BigEndian.PutUint16(q, id)
		w.queries++
		sent := time.Now()
		_ = c.SetDeadline(sent.Add(2 * time.Second))
		if _, err := c.Write(q); err != nil {
			w.fail("udp: %v", err)
			continue
		}
		for {
			n, err := c.Read(buf)
			if err != nil {
				w.fail("udp: no reply within 2s: %v", err)
				break
			}
			if n >= 2 && binary.BigEndian.Uint16(buf) != id {
				continue // a late reply to an earlier query
			}
			w.lat = append(w.lat, time.Since(sent))
			soakCheck(w, buf[:n], id, q, expect[i][0])
			break
		}
	}
}

func soakTCP(w *soakWorker, addr string, packed [][]byte, expect [][2]soakExpect, rng *rand.Rand, rate, reuse int, start, deadline time.Time) {
	var c net.Conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	buf := make([]byte, 65535)
	q := make([]byte, 0, 512)
	onConn := 0
	for id := uint16(1); time.Now().Before(deadline); id++ {
		soakPace(w, rate, start)
		if c == nil || onConn == reuse {
			if c != nil {
				c.Close()
			}
			var err error
			if c, err = net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
				w.fail("tcp: %v", err)
				c = nil
				time.Sleep(100 * time.Millisecond)
				continue
			}
			w.conns++
			onConn = 0
		}
		i := rng.IntN(len(packed))
		q = binary.BigEndian.AppendUint16(q[:0], uint16(len(packed[i])))
		q = append(q, packed[i]...)
		binary.BigEndian.PutUint16(q[2:], id)
		w.queries++
		onConn++
		sent := time.Now()
		_ = c.SetDeadline(sent.Add(5 * time.Second))
		var lb [2]byte
		_, err := c.Write(q)
		if err == nil {
			_, err = io.ReadFull(c, lb[:])
		}
		if err == nil {
			_, err = io.ReadFull(c, buf[:binary.BigEndian.Uint16(lb[:])])
		}
		if err != nil {
			w.fail("tcp: %v after %d queries on the connection", err, onConn)
			c.Close()
			c = nil
			continue
		}
		w.lat = append(w.lat, time.Since(sent))
		soakCheck(w, buf[:binary.BigEndian.Uint16(lb[:])], id, q[2:], expect[i][1])
	}
}

// soakGrowth compares the samples after the warm-up (the first third of
// the run) with those of the warm-up at quantile q (0.25: the lower
// quartile; 0.5: the median), and summarizes the series with the setup's.
//
// RSS is compared at its lower quartile, the level it holds between
// reloads: answering allocates nothing, so that level is flat (54-57 MiB
// with the full registry in the run of 2026-11-30), and a leak, per query
// or per reload, raises it. Each reload adds a peak lasting a second or
// more whose height depends on when the collector runs (112 MiB idle in
// the setup, 138 MiB under the load, for the same reload): comparing peaks
// failed runs without a leak. Goroutines are a count of live things: a
// reconnect caught by a sample adds one, so their medians are compared.
func soakGrowth(setup, samples []soakSample, run time.Duration, value func(soakSample) float64, q float64) (float64, string) {
	var set, warm, after []float64
	for _, s := range setup {
		set = append(set, value(s))
	}
	for _, s := range samples {
		if s.at < run/3 {
			warm = append(warm, value(s))
		} else {
			after = append(after, value(s))
		}
	}
	sorted := func(v []float64) []float64 {
		s := slices.Clone(v)
		slices.Sort(s)
		return s
	}
	window := func(v []float64) string {
		if len(v) == 0 {
			return "none"
		}
		s := sorted(v)
		return fmt.Sprintf("min %.1f median %.1f max %.1f", s[0], s[len(s)/2], s[len(s)-1])
	}
	summary := fmt.Sprintf("setup [%s], warm-up [%s], after it [%s]", window(set), window(warm), window(after))
	if len(warm) == 0 || len(after) == 0 {
		return 0, summary
	}
	b, a := sorted(warm), sorted(after)
	at := func(v []float64) float64 { return v[int(q*float64(len(v)-1))] }
	return at(a)/at(b) - 1, summary + fmt.Sprintf("; compared at quantile %.2f: %.1f then %.1f", q, at(b), at(a))
}
