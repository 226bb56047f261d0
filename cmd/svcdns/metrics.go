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
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
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
	descQueries = prometheus.NewDesc("svcdns_queries_total", "Queries answered, by query type and kind of reply (answer, nodata, nxdomain, refused, formerr, ...).", []string{"qtype", "kind"}, nil)
	descPath    = prometheus.NewDesc("svcdns_answer_path_total", "Queries by answer path: compiled (written from the compiled zone) or message (unpacked and answered on dns.Msg values: TSIG-signed, EDNS versions above 0, malformed and other unusual queries).", []string{"path"}, nil)
	descLatency = prometheus.NewDesc("svcdns_query_duration_seconds", "Time the handler spent per query (parse, lookup, write), timed on one query in 16.", nil, nil)
	descRecords = prometheus.NewDesc("svcdns_zone_records", "Records in the zone served (port names aside).", nil, nil)
	descSerial  = prometheus.NewDesc("svcdns_zone_serial", "SOA serial of the zone served.", nil, nil)
	descReloads = prometheus.NewDesc("svcdns_reloads_total", "Zone reloads, by result.", []string{"result"}, nil)
	descRRL     = prometheus.NewDesc("svcdns_rrl_limited_total", "UDP responses held back by response rate limiting: dropped, or slipped (sent empty with TC=1).", []string{"action"}, nil)
	descTCP     = prometheus.NewDesc("svcdns_tcp_connections", "Open TCP connections.", nil, nil)
)

// dnsCollector reads the handler's counters at scrape time, so the query
// path only increments atomics.
type dnsCollector struct{ d *daemon }

func (c *dnsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueries, descPath, descLatency, descRecords, descSerial, descReloads, descRRL, descTCP} {
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
	dropped, slipped := c.d.srv.RRLCounts()
	ch <- prometheus.MustNewConstMetric(descRRL, prometheus.CounterValue, float64(dropped), "dropped")
	ch <- prometheus.MustNewConstMetric(descRRL, prometheus.CounterValue, float64(slipped), "slipped")
	ch <- prometheus.MustNewConstMetric(descTCP, prometheus.GaugeValue, float64(c.d.srv.TCPConns()))
}
