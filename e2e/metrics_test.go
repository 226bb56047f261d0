package e2e_test

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
	"github.com/svcdns/svcdns/internal/testenv"
)

// TestMetrics checks the HTTP side of a running server: /healthz and
// /readyz answer, /metrics is valid Prometheus text format, and its query
// counters move by exactly the queries sent, by type and kind of reply.
func TestMetrics(t *testing.T) {
	t.Parallel()
	metricsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	srv := startServer(t, "--registry", testenv.Excerpt(), "--metrics-listen", metricsAddr)
	base := "http://" + metricsAddr

	if code, body := opsHTTPGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %q, want 200", code, body)
	}
	// The one query before the first scrape: the serial that /readyz
	// must report.
	serial, err := opsSOASerial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	code, body := opsHTTPGet(t, base+"/readyz")
	if code != http.StatusOK || !strings.Contains(body, strconv.FormatUint(uint64(serial), 10)) {
		t.Errorf("/readyz: %d %q, want 200 with the serial %d", code, body, serial)
	}

	before := opsScrape(t, metricsAddr)
	for name, typ := range map[string]dto.MetricType{
		"svcdns_queries_total":          dto.MetricType_COUNTER,
		"svcdns_answer_path_total":      dto.MetricType_COUNTER,
		"svcdns_query_duration_seconds": dto.MetricType_HISTOGRAM,
		"svcdns_zone_records":           dto.MetricType_GAUGE,
		"svcdns_zone_serial":            dto.MetricType_GAUGE,
		"svcdns_reloads_total":          dto.MetricType_COUNTER,
	} {
		if f, ok := before[name]; !ok || f.GetType() != typ {
			t.Errorf("/metrics: %s missing or not a %v", name, typ)
		}
	}
	if got := before.value(t, "svcdns_zone_serial"); got != float64(serial) {
		t.Errorf("svcdns_zone_serial %v, want %d", got, serial)
	}
	if got := before.value(t, "svcdns_zone_records"); got < 400 {
		t.Errorf("svcdns_zone_records %v, want the excerpt's ~450", got)
	}

	// 100 queries: 60 SRV answers and 40 SRV NXDOMAINs, each name asked
	// several times, over UDP and TCP.
	answers := []string{"_rets._tcp", "_geneve._udp", "_dbdb._udp", "_lm-x._tcp", "_qmtps._tcp"}
	const nAnswer, nNX = 60, 40
	ex := dialTCP(t, srv.Addr)
	// The latency histogram times one query in 16, those whose ID's low
	// byte is a multiple of 16; the replies echo the IDs.
	timed := 0
	send := func(i int, name string, wantRcode int) {
		t.Helper()
		var r *dns.Msg
		if i%2 == 0 {
			r = query(t, "udp", srv.Addr, name, dns.TypeSRV)
		} else {
			var err error
			if r, err = ex.Exchange(name, dns.TypeSRV); err != nil {
				t.Fatal(err)
			}
		}
		if r.Id&0xFF%16 == 0 {
			timed++
		}
		if r.Rcode != wantRcode || (wantRcode == dns.RcodeSuccess) != (len(r.Answer) > 0) {
			t.Fatalf("%s SRV: rcode %s, %d answers; want %s", name, dns.RcodeToString[r.Rcode], len(r.Answer), dns.RcodeToString[wantRcode])
		}
	}
	for i := range nAnswer {
		send(i, answers[i%len(answers)]+"."+origin, dns.RcodeSuccess)
	}
	for i := range nNX {
		send(i, fmt.Sprintf("_nosuch%d._tcp.%s", i%8, origin), dns.RcodeNameError)
	}
	after := opsScrape(t, metricsAddr)

	delta := func(name string, labels ...string) float64 {
		return after.value(t, name, labels...) - before.value(t, name, labels...)
	}
	if d := delta("svcdns_queries_total", "qtype", "SRV", "kind", "answer"); d != nAnswer {
		t.Errorf("svcdns_queries_total{qtype=SRV,kind=answer} grew by %v, want %d", d, nAnswer)
	}
	if d := delta("svcdns_queries_total", "qtype", "SRV", "kind", "nxdomain"); d != nNX {
		t.Errorf("svcdns_queries_total{qtype=SRV,kind=nxdomain} grew by %v, want %d", d, nNX)
	}
	var total float64
	for _, s := range after["svcdns_queries_total"].GetMetric() {
		total += s.GetCounter().GetValue()
	}
	for _, s := range before["svcdns_queries_total"].GetMetric() {
		total -= s.GetCounter().GetValue()
	}
	if total != nAnswer+nNX {
		t.Errorf("svcdns_queries_total grew by %v in all, want %d", total, nAnswer+nNX)
	}
	// Every one of these plain queries is answered from the compiled zone.
	compiled, message := delta("svcdns_answer_path_total", "path", "compiled"), delta("svcdns_answer_path_total", "path", "message")
	if compiled != nAnswer+nNX || message != 0 {
		t.Errorf("answer paths grew by %v compiled and %v message, want %d and 0", compiled, message, nAnswer+nNX)
	}
	hist := func(m opsMetrics) uint64 {
		f := m["svcdns_query_duration_seconds"]
		if f == nil || len(f.GetMetric()) != 1 {
			return 0
		}
		return f.GetMetric()[0].GetHistogram().GetSampleCount()
	}
	if d := hist(after) - hist(before); d != uint64(timed) {
		t.Errorf("svcdns_query_duration_seconds count grew by %d, want %d (the queries with ID%%256%%16 == 0)", d, timed)
	}
	t.Logf("after %d queries: SRV answer +%v, SRV nxdomain +%v, compiled +%v, message +%v",
		nAnswer+nNX, delta("svcdns_queries_total", "qtype", "SRV", "kind", "answer"),
		delta("svcdns_queries_total", "qtype", "SRV", "kind", "nxdomain"), compiled, message)
}
