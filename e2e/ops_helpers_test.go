package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// opsWriteFile writes data to path or fails the test.
func opsWriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// opsReplaceByRename puts data at path the way `registry update` and editors
// do: a new file beside it, renamed over it in one step.
func opsReplaceByRename(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".new")
	opsWriteFile(t, tmp, data)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// opsChangedRegistry is the full XML registry data with its <updated> date
// set to updated (2026-08-17 in the original) and the description of
// rets/tcp set to desc: the content changes, so the zone's serial moves
// on (an unchanged zone keeps its serial whatever the date).
func opsChangedRegistry(t testing.TB, data []byte, updated, desc string) []byte {
	t.Helper()
	const rets = "<name>rets</name>\n    <protocol>tcp</protocol>\n    <xref type=\"person\" data=\"Jeremy_Crawford\"/>\n    <description>RETS</description>"
	next := bytes.Replace(data, []byte("<updated>2026-08-17</updated>"), []byte("<updated>"+updated+"</updated>"), 1)
	next = bytes.Replace(next, []byte(rets), []byte(strings.Replace(rets, ">RETS<", ">"+desc+"<", 1)), 1)
	if !bytes.Contains(next, []byte("<updated>"+updated+"</updated>")) || bytes.Count(next, []byte(">"+desc+"<")) != 1 {
		t.Fatal("the registry does not have the <updated> and rets/tcp record expected")
	}
	return next
}

// opsCopyFile copies src to dst (dst writable even when src is read-only).
func opsCopyFile(t testing.TB, src, dst string) []byte {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	opsWriteFile(t, dst, data)
	return data
}

// opsExportZone runs `svcdns zone export` with args and returns the master
// file's path.
func opsExportZone(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out := filepath.Join(dir, "ports.local.zone")
	runTool(t, svcdnsBin, append([]string{"zone", "export", "-o", out}, args...)...)
	return out
}

// opsZoneRecords parses a master file with miekg/dns, not with svcdns.
func opsZoneRecords(t testing.TB, path string) []dns.RR {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zp := dns.NewZoneParser(bufio.NewReaderSize(f, 1<<16), origin, path)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return rrs
}

// opsRRTexts is a section as comparable text: TTL 0, lower case, sorted.
// Each record goes through the wire format first, so that a name read
// from a master file (`a\047b`) and the same name read from a message
// (`a/b`) print alike.
func opsRRTexts(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	buf := make([]byte, 65535)
	for _, rr := range rrs {
		rr = dns.Copy(rr)
		rr.Header().Ttl = 0
		if n, err := dns.PackRR(rr, buf, 0, nil, false); err == nil {
			if u, _, err := dns.UnpackRR(buf[:n], 0); err == nil {
				rr = u
			}
		}
		out = append(out, strings.ToLower(rr.String()))
	}
	slices.Sort(out)
	return out
}

// opsLogRecord is one JSON line of the server's log.
type opsLogRecord map[string]any

func (r opsLogRecord) str(k string) string { s, _ := r[k].(string); return s }

// opsLogRecords parses the server's JSON log so far; lines that are not JSON
// are skipped.
func opsLogRecords(s *server) []opsLogRecord {
	var out []opsLogRecord
	for _, line := range strings.Split(s.Stderr(), "\n") {
		var r opsLogRecord
		d := json.NewDecoder(strings.NewReader(line))
		d.UseNumber()
		if d.Decode(&r) == nil {
			out = append(out, r)
		}
	}
	return out
}

// opsCountLog counts the log lines whose msg starts with prefix.
func opsCountLog(s *server, prefix string) int {
	n := 0
	for _, r := range opsLogRecords(s) {
		if strings.HasPrefix(r.str("msg"), prefix) {
			n++
		}
	}
	return n
}

// opsWaitFor polls cond every step until it holds or d passes.
func opsWaitFor(d, step time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(step)
	}
}

// opsHTTPGet fetches url with a bounded wait.
func opsHTTPGet(t testing.TB, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// opsMetrics is one scrape of /metrics, parsed by Prometheus's own text
// format parser.
type opsMetrics map[string]*dto.MetricFamily

func opsScrape(t testing.TB, metricsAddr string) opsMetrics {
	t.Helper()
	url := "http://" + metricsAddr + "/metrics"
	code, body := opsHTTPGet(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d\n%s", url, code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("GET %s: not the Prometheus text format: %v\n%s", url, err, tail(body, 4<<10))
	}
	return fams
}

// value is the counter, gauge or untyped value of name with exactly the
// labels given; 0 when the series does not exist (a counter not yet
// incremented is not exported).
func (m opsMetrics) value(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	fam, ok := m[name]
	if !ok {
		return 0
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, s := range fam.GetMetric() {
		if len(s.GetLabel()) != len(want) {
			continue
		}
		match := true
		for _, l := range s.GetLabel() {
			if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case s.Counter != nil:
			return s.GetCounter().GetValue()
		case s.Gauge != nil:
			return s.GetGauge().GetValue()
		case s.Untyped != nil:
			return s.GetUntyped().GetValue()
		}
		t.Fatalf("%s%v is not a counter or gauge", name, labels)
	}
	return 0
}

// opsSOASerial asks addr for the zone's SOA over UDP.
func opsSOASerial(addr string) (uint32, error) {
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	m := new(dns.Msg)
	m.SetQuestion(origin, dns.TypeSOA)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return 0, err
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		return 0, fmt.Errorf("SOA: rcode %s, answer %v", dns.RcodeToString[r.Rcode], r.Answer)
	}
	soa, ok := r.Answer[0].(*dns.SOA)
	if !ok {
		return 0, fmt.Errorf("SOA: answer %v", r.Answer[0])
	}
	return soa.Serial, nil
}

// opsWaitSerial polls addr until it serves the SOA serial want, and returns
// how long that took; it fails the test after d.
func opsWaitSerial(t *testing.T, addr string, want uint32, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last uint32
	var lastErr error
	if !opsWaitFor(d, 10*time.Millisecond, func() bool {
		last, lastErr = opsSOASerial(addr)
		return lastErr == nil && last == want
	}) {
		t.Fatalf("%s: no SOA serial %d after %v (last serial %d, err %v)", addr, want, d, last, lastErr)
	}
	return time.Since(start)
}
