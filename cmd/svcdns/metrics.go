package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serveHTTP starts /metrics (Prometheus text format), /healthz (the
// process is up) and /readyz (the zone is loaded and the listeners bound)
// on addr; "" starts nothing. It returns a stop function.
func (d *daemon) serveHTTP(addr string) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &dnsCollector{d: d})
	reg.MustRegister(&dnssecCollector{d: d})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: nil}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ready serial %d\n", d.h.Zone().Serial())
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err) // net.OpError names the address
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics server stopped", "err", err)
		}
	}()
	d.log.Info("metrics listening", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

var (
	descQueries = prometheus.NewDesc("svcdns_queries_total", "Queries answered, by query type and kind of reply (answer, nodata, nxdomain, refused, formerr, truncated: sent empty with TC=1 for a retry over TCP, ...).", []string{"qtype", "kind"}, nil)
	descPath    = prometheus.NewDesc("svcdns_answer_path_total", "Queries by answer path: compiled (written from the compiled zone) or message (unpacked and answered on dns.Msg values: TSIG-signed, EDNS versions above 0, malformed and other unusual queries). DNSSEC answers (DO=1) are compiled ones.", []string{"path"}, nil)
	descLatency = prometheus.NewDesc("svcdns_query_duration_seconds", "Time the handler spent per query (parse, lookup, write), timed on one query in 16.", nil, nil)
	descRecords = prometheus.NewDesc("svcdns_zone_records", "Records in the zone served (port names aside).", nil, nil)
	descSerial  = prometheus.NewDesc("svcdns_zone_serial", "SOA serial of the zone served.", nil, nil)
	descReloads = prometheus.NewDesc("svcdns_reloads_total", "Zone reloads, by result.", []string{"result"}, nil)
	descRRL     = prometheus.NewDesc("svcdns_rrl_responses_total", "UDP responses through response rate limiting, by class (answer, nodata, nxdomain, error, all) and action (sent; over the rate: slipped, dropped, or logged under log_only).", []string{"class", "action"}, nil)
	descExempt  = prometheus.NewDesc("svcdns_rrl_exempt_total", "UDP responses not rate limited because the client is trusted: in an exempt network, or presented a valid DNS server cookie.", []string{"reason"}, nil)
	descEvicted = prometheus.NewDesc("svcdns_rrl_evictions_total", "Rate-limit accounts more than half spent pushed out of the fixed table by newer ones (rrl.table_size too small for the load).", nil, nil)
	descCookies = prometheus.NewDesc("svcdns_cookies_total", "Queries with a DNS COOKIE option, by what it held: client_only, valid, bad, expired, malformed.", []string{"result"}, nil)
	descBadCook = prometheus.NewDesc("svcdns_cookies_badcookie_total", "BADCOOKIE replies made instead of an answer (require_cookie, or a bad cookie in a query without a question); rate-limit slips are counted in svcdns_rrl_responses_total.", nil, nil)
	descTCP     = prometheus.NewDesc("svcdns_tcp_connections", "Open TCP connections.", nil, nil)

	descTrQueries   = prometheus.NewDesc("svcdns_transport_queries_total", "Queries received, by transport (udp, tcp, tls, https, quic).", []string{"transport"}, nil)
	descTrOpen      = prometheus.NewDesc("svcdns_transport_connections", "Open connections, by connection-oriented transport.", []string{"transport"}, nil)
	descTrAccepted  = prometheus.NewDesc("svcdns_transport_connections_accepted_total", "Connections accepted within the limits, by transport.", []string{"transport"}, nil)
	descTrRefused   = prometheus.NewDesc("svcdns_transport_connections_refused_total", "Connections closed at once for a limit, by transport and limit (total, per_source).", []string{"transport", "limit"}, nil)
	descTrHandshake = prometheus.NewDesc("svcdns_transport_handshake_failures_total", "TLS and QUIC handshakes that did not complete (timeouts, bad ClientHellos, ALPN or certificate refusals), by transport.", []string{"transport"}, nil)
)

// dnsCollector reads the handler's counters at scrape time, so the query
// path only increments atomics.
type dnsCollector struct{ d *daemon }

func (c *dnsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueries, descPath, descLatency, descRecords, descSerial, descReloads, descRRL, descExempt, descEvicted, descCookies, descBadCook, descTCP,
		descTrQueries, descTrOpen, descTrAccepted, descTrRefused, descTrHandshake} {
		ch <- d
	}
}

func (c *dnsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.d.h.Stats()
	for _, q := range st.Queries() {
		ch <- prometheus.MustNewConstMetric(descQueries, prometheus.CounterValue, float64(q.Count), q.Type, q.Kind)
	}
	ch <- prometheus.MustNewConstMetric(descPath, prometheus.CounterValue, float64(st.Compiled()), "compiled")
	ch <- prometheus.MustNewConstMetric(descPath, prometheus.CounterValue, float64(st.Message()), "message")
	bounds, cum, count, sum := st.Latency()
	buckets := make(map[float64]uint64, len(bounds))
	for i, b := range bounds {
		buckets[b] = cum[i]
	}
	ch <- prometheus.MustNewConstHistogram(descLatency, count, sum, buckets)
	snap := c.d.h.Zone()
	ch <- prometheus.MustNewConstMetric(descRecords, prometheus.GaugeValue, float64(snap.Records()))
	ch <- prometheus.MustNewConstMetric(descSerial, prometheus.GaugeValue, float64(snap.Serial()))
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(c.d.reloads.ok.Load()), "ok")
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(c.d.reloads.failed.Load()), "failed")
	if rs, ok := c.d.srv.RRLStats(); ok {
		for _, r := range rs.Responses {
			ch <- prometheus.MustNewConstMetric(descRRL, prometheus.CounterValue, float64(r.Count), r.Class, r.Action)
		}
		ch <- prometheus.MustNewConstMetric(descExempt, prometheus.CounterValue, float64(rs.ExemptNetwork), "network")
		ch <- prometheus.MustNewConstMetric(descExempt, prometheus.CounterValue, float64(rs.ExemptCookie), "cookie")
		ch <- prometheus.MustNewConstMetric(descEvicted, prometheus.CounterValue, float64(rs.Evicted))
	}
	cs := c.d.srv.CookieStats()
	for _, q := range cs.Queries {
		ch <- prometheus.MustNewConstMetric(descCookies, prometheus.CounterValue, float64(q.Count), q.Result)
	}
	ch <- prometheus.MustNewConstMetric(descBadCook, prometheus.CounterValue, float64(cs.BadCookie))
	ch <- prometheus.MustNewConstMetric(descTCP, prometheus.GaugeValue, float64(c.d.srv.TCPConns()))
	for _, t := range c.d.srv.TransportCounts() {
		ch <- prometheus.MustNewConstMetric(descTrQueries, prometheus.CounterValue, float64(t.Queries), t.Transport)
		if t.Transport == "udp" {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descTrOpen, prometheus.GaugeValue, float64(t.Open), t.Transport)
		ch <- prometheus.MustNewConstMetric(descTrAccepted, prometheus.CounterValue, float64(t.Accepted), t.Transport)
		ch <- prometheus.MustNewConstMetric(descTrRefused, prometheus.CounterValue, float64(t.RefusedTotal), t.Transport, "total")
		ch <- prometheus.MustNewConstMetric(descTrRefused, prometheus.CounterValue, float64(t.RefusedSource), t.Transport, "per_source")
		if t.Transport != "tcp" {
			ch <- prometheus.MustNewConstMetric(descTrHandshake, prometheus.CounterValue, float64(t.HandshakeFailures), t.Transport)
		}
	}
}
