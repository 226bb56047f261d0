package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/miekg/dns"
	"github.com/spf13/cobra"
	"github.com/svcdns/svcdns/config"
	"github.com/svcdns/svcdns/dnssec"
	"github.com/svcdns/svcdns/internal/tlscert"
	"github.com/svcdns/svcdns/journal"
	"github.com/svcdns/svcdns/registry"
	"github.com/svcdns/svcdns/resolver"
	"github.com/svcdns/svcdns/zone"
)

func newServeCmd(env []string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the zone over UDP and TCP, and TLS, HTTPS and QUIC where configured (the default command)",
		Long: "serve answers DNS for the zone over UDP and TCP. SIGINT and SIGTERM shut it down\n" +
			"gracefully. SIGHUP, and any change to the registry or config file, rebuild the zone aside\n" +
			"and swap it in; a new file that does not load is logged and the old zone keeps serving.",
		Args: noArgs,
	}
	config.AddFlags(cmd.Flags())
	var cpuProfile string
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile to this file until shutdown (for the benchmark harness)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loadConfig(cmd, env)
		if err != nil {
			return err
		}
		if cpuProfile != "" {
			f, err := os.Create(cpuProfile)
			if err != nil {
				return fmt.Errorf("cpuprofile: %w", err)
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return fmt.Errorf("cpuprofile: %w", err)
			}
			defer pprof.StopCPUProfile()
		}
		d := &daemon{cmd: cmd, env: env}
		return d.run(cmd.Context(), cfg)
	}
	return cmd
}

// loadConfig reads --config, the environment and the flags.
func loadConfig(cmd *cobra.Command, env []string) (config.Config, error) {
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		path = lookupEnv(env, "SVCDNS_CONFIG")
	}
	return config.Load(path, env, cmd.Flags())
}

func lookupEnv(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

func newLogger(c config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// daemon is a running `svcdns serve`: the server, and what reloads it.
type daemon struct {
	cmd   *cobra.Command
	env   []string
	log   *slog.Logger
	h     *resolver.Handler
	srv   *resolver.Server
	certs *tlscert.Store // nil without encrypted listeners

	mu      sync.Mutex // serializes reloads
	cfg     config.Config
	ready   atomic.Bool
	reloads struct{ ok, failed atomic.Uint64 }
	notify  context.CancelFunc
	// signing signs the zone when DNSSEC is on; resign fires at the
	// signer's next key event or signing epoch.
	signing *zoneSigning
	resign  *time.Timer
	// jnls are the IXFR journals by origin (none: off); reloads
	// append to them. The map is not changed once serving.
	jnls map[string]*journal.Journal
}

func (d *daemon) run(ctx context.Context, cfg config.Config) error {
	start := time.Now()
	d.cfg = cfg
	d.log = newLogger(cfg, d.cmd.ErrOrStderr())
	// Watch before reading, so that a change made while the zone is being
	// built is not lost: it reloads once the server is up.
	changes, stopWatch := d.watch()
	defer stopWatch()
	// Reading the registry and building the zone make short-lived garbage
	// (~100 MB on the full registry). It is collected while building, and
	// what is left is returned to the system once the server is ready.
	// The first build uses every CPU, as Knot loads zones on its
	// background workers whatever its udp-workers: workers says how many
	// cores answer, and is applied once the zones are ready.
	d.signing = &zoneSigning{env: d.env, cache: dnssec.NewCache(int(cfg.DNSSEC.SignatureCache)), log: d.log}
	d.resign = time.NewTimer(time.Hour)
	d.resign.Stop()
	// The journals are read first: the serial each ends at seeds its
	// zone's, so that serials keep increasing across a restart
	// (zone.BuildAfter).
	d.jnls = openJournals(cfg, d.env, d.log)
	defer d.closeJournals()
	last := lastOf(d.jnls)
	snaps, err := buildZones(cfg, last, d.signing)
	if err != nil {
		return err
	}
	d.startJournals(snaps)
	if cfg.DNSSEC.Enabled && cfg.PortNames == "all" {
		d.log.Warn("dnssec with port_names: all: the signed zone for secondaries (transfers, export, the journal) " +
			"signs every one of the 262,144 port names, about 30 s of CPU after start and at each re-signing epoch, " +
			"and holds ~270 MiB more while it serves; port_names: registered is the default with DNSSEC (docs/transfers.md)")
	}
	if cfg.Workers > 0 {
		runtime.GOMAXPROCS(int(cfg.Workers))
	}
	snap := snaps[0]
	for _, s := range snaps {
		logKeyEvents(d.log, nil, s.Signer())
	}
	d.armSigning(snaps)
	if len(cfg.MDNS.Interfaces) == 0 && !slices.ContainsFunc(snaps, func(s *zone.Snapshot) bool { return !underLocal(s.Origin()) }) {
		d.log.Warn("the origin is under .local, which RFC 6762 reserves for multicast DNS: "+
			"many stub resolvers send such names to mDNS, not to unicast DNS; forward it explicitly "+
			"(README: Resolver set-up), add an origin under home.arpa. (RFC 8375), or answer it over "+
			"multicast DNS (mdns.interfaces)", "origin", snap.Origin())
	}
	if d.h, err = resolver.NewHandlerZones(snaps, cfg.EDNSBufferSize, d.log); err != nil {
		return err
	}
	limits, err := serverLimits(cfg)
	if err != nil {
		return err
	}
	d.srv = resolver.NewServer(d.h, limits, d.log)
	d.srv.SetQueryLog(cfg.QueryLog)
	if err := d.setCookies(cfg); err != nil {
		return err
	}
	policy, keys, err := transferPolicy(cfg)
	if err != nil {
		return err
	}
	d.h.SetTSIGKeys(keys)
	policy.Journals = d.jnls
	d.srv.SetTransfer(d.h.Transfer(policy))
	d.srv.SetXoTPolicy(resolver.XoTPolicy{RequireClientCert: cfg.XoT.RequireClientCert, TLSOnly: cfg.XoT.TLSOnly})
	d.srv.SetUDPTransfer(d.h.TransferUDP(policy))
	if err := d.srv.Listen(cfg.Listen); err != nil {
		return listenError(err, "--listen")
	}
	if err := d.listenEncrypted(ctx, cfg); err != nil {
		d.srv.Shutdown(context.Background())
		return err
	}
	if len(cfg.MDNS.Interfaces) > 0 {
		md := resolver.NewMDNS(resolver.MDNSConfig{Interfaces: cfg.MDNS.Interfaces}, d.h.Zones, d.log)
		if err := md.Start(); err != nil {
			d.srv.Shutdown(context.Background())
			return err
		}
		defer md.Close()
		warnLoopbackHosts(d.log, snaps)
	}
	stopHTTP, err := d.serveHTTP(cfg.MetricsListen)
	if err != nil {
		d.srv.Shutdown(context.Background())
		return listenError(err, "--metrics-listen")
	}
	defer stopHTTP()
	addrs := make([]string, 0, 2)
	for _, a := range d.srv.Addrs() {
		addrs = append(addrs, a.Network()+"://"+a.String())
	}
	d.ready.Store(true)
	d.log.Info("ready", "origin", snap.Origin(), "origins", strings.Join(cfg.AllOrigins(), ","), "serial", snap.Serial(), "records", snap.Records(), "workers", runtime.GOMAXPROCS(0),
		"registry", registryName(cfg), "listen", strings.Join(addrs, ","), "metrics", cfg.MetricsListen,
		"encrypted", encryptedAddrs(d.srv), "startup", time.Since(start).Round(time.Millisecond))
	debug.FreeOSMemory()
	// The registry changed while svcdns was down: the secondaries hear of
	// it now rather than at their next refresh (RFC 1996).
	var moved []*zone.Snapshot
	for _, s := range snaps {
		if v := last[s.Origin()]; v.Serial != 0 && v.Serial != s.Serial() {
			moved = append(moved, s)
		}
	}
	if len(moved) > 0 && len(cfg.Transfer.Notify) > 0 {
		d.sendNotify(moved)
	}

	go d.refresh(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			d.ready.Store(false)
			d.log.Info("shutting down")
			if d.notify != nil {
				d.notify()
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return d.srv.Shutdown(sctx)
		case <-hup:
			d.reload("SIGHUP")
			d.reloadCerts()
		case path := <-changes:
			d.reload("file changed: " + path)
		case <-d.resign.C:
			d.reload("dnssec: key timing event or re-signing")
		}
	}
}

// serverLimits maps the rrl and tcp settings onto the server's limits.
func serverLimits(c config.Config) (resolver.Limits, error) {
	l := resolver.DefaultLimits
	l.TCPConns = int(c.TCP.MaxConnections)
	l.TCPPerSource = int(c.TCP.MaxPerSource)
	l.TCPIdle = time.Duration(c.TCP.IdleTimeout) * time.Second
	l.TCPQueries = int(c.TCP.MaxQueries)
	l.UDPSockets = int(c.Workers) // 0: one per CPU
	l.RRL = resolver.RRLConfig{
		ResponsesPerSecond: c.RRL.Rate, NoDataPerSecond: c.RRL.NoDataRate, NXDomainsPerSecond: c.RRL.NXDomainRate,
		ErrorsPerSecond: c.RRL.ErrorRate, AllPerSecond: c.RRL.AllRate, Window: c.RRL.Window, Slip: c.RRL.Slip,
		IPv4Prefix: int(c.RRL.IPv4Prefix), IPv6Prefix: int(c.RRL.IPv6Prefix), LogOnly: c.RRL.LogOnly, TableSize: int(c.RRL.TableSize),
	}
	for _, n := range c.RRL.Exempt {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return l, fmt.Errorf("config: rrl.exempt %q: %w", n, err)
		}
		l.RRL.Exempt = append(l.RRL.Exempt, p)
	}
	return l, nil
}

// setCookies resolves the cookie secrets of cfg (generating or rolling
// them in the state directory) and hands them to the server; it runs at
// start and on every reload, so a changed secret takes effect at once.
func (d *daemon) setCookies(cfg config.Config) error {
	c, warn, err := cookieConfig(cfg, d.env, time.Now())
	if err != nil {
		return err
	}
	if warn != nil {
		d.log.Warn("DNS cookies", "err", warn)
	}
	d.srv.SetCookies(c)
	return nil
}

// transferPolicy maps the transfer settings onto the resolver's.
func transferPolicy(c config.Config) (resolver.TransferPolicy, map[string]resolver.TSIGKey, error) {
	var p resolver.TransferPolicy
	keys := map[string]resolver.TSIGKey{}
	for _, n := range c.Transfer.AllowNetworks {
		pr, err := netip.ParsePrefix(n)
		if err != nil {
			return p, nil, fmt.Errorf("config: transfer.allow_networks %q: %w", n, err)
		}
		p.Allow = append(p.Allow, pr.Masked())
	}
	for _, k := range c.Transfer.TSIGKeys {
		name := strings.ToLower(dns.Fqdn(k.Name))
		keys[name] = resolver.TSIGKey{Name: name, Algorithm: dns.Fqdn(strings.ToLower(k.Algorithm)), Secret: k.Secret}
	}
	return p, keys, nil
}

// reload rebuilds the zone aside from the current config and registry and
// swaps it in; on any error the old zone keeps serving. A new serial is
// announced to the configured secondaries (RFC 1996).
func (d *daemon) reload(reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cfg, err := loadConfig(d.cmd, d.env)
	old := d.h.Zones()
	if err == nil {
		var snaps []*zone.Snapshot
		if snaps, err = buildZones(cfg, versions(old), d.signing); err == nil {
			err = d.setCookies(cfg)
		}
		if err == nil {
			// Each delta is on disk before the zone it leads to is
			// served, so a secondary never sees a serial the journal
			// cannot join after a crash.
			d.recordDeltas(old, snaps)
			err = d.h.SwapZones(snaps)
		}
		if err == nil {
			if !sameListeners(cfg, d.cfg) {
				d.log.Warn("listen, metrics_listen, workers, transfer, rrl, tcp, tls, https, quic, xot, mdns and log settings take effect at restart", "reason", reason)
			}
			for _, s := range snaps {
				logKeyEvents(d.log, signerOf(old, s.Origin()), s.Signer())
			}
			d.armSigning(snaps)
			d.cfg = cfg
			d.reloads.ok.Add(1)
			d.log.Info("reloaded", "reason", reason, "serial", snaps[0].Serial(), "previous", old[0].Serial(), "records", snaps[0].Records())
			// Answering allocates nothing, so the heap the build grew
			// would stay resident; return it, as at start.
			debug.FreeOSMemory()
			var changed []*zone.Snapshot
			for _, s := range snaps {
				if i := slices.IndexFunc(old, func(o *zone.Snapshot) bool { return o.Origin() == s.Origin() }); i < 0 || old[i].Serial() != s.Serial() {
					changed = append(changed, s)
				}
			}
			if len(changed) > 0 && len(cfg.Transfer.Notify) > 0 {
				d.sendNotify(changed)
			}
			return
		}
	}
	d.reloads.failed.Add(1)
	d.log.Error("reload failed; still serving the previous zone", "reason", reason, "err", err, "serial", old[0].Serial())
	for _, s := range old {
		if sg := s.Signer(); sg != nil && !sg.NextEvent().After(time.Now()) {
			// A key event or re-signing is due: try again in a minute
			// rather than serve the old keys and signatures until the next
			// change.
			d.resign.Reset(time.Minute)
		}
	}
}

func sameListeners(a, b config.Config) bool {
	return strings.Join(a.Listen, ",") == strings.Join(b.Listen, ",") && a.MetricsListen == b.MetricsListen &&
		fmt.Sprint(a.Transfer) == fmt.Sprint(b.Transfer) && a.LogLevel == b.LogLevel && a.LogFormat == b.LogFormat &&
		a.QueryLog == b.QueryLog && fmt.Sprint(a.RRL, a.TCP) == fmt.Sprint(b.RRL, b.TCP) && a.Workers == b.Workers &&
		fmt.Sprint(a.TLS, a.HTTPS, a.QUIC, a.XoT) == fmt.Sprint(b.TLS, b.HTTPS, b.QUIC, b.XoT) &&
		slices.Equal(a.MDNS.Interfaces, b.MDNS.Interfaces)
}

// sendNotify announces the serials of the zones given, cancelling an
// announcement of older ones still retrying.
func (d *daemon) sendNotify(snaps []*zone.Snapshot) {
	if d.notify != nil {
		d.notify()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	d.notify = cancel
	var key *resolver.TSIGKey
	if ks := d.cfg.Transfer.TSIGKeys; len(ks) > 0 {
		k := resolver.TSIGKey{Name: strings.ToLower(dns.Fqdn(ks[0].Name)), Algorithm: dns.Fqdn(strings.ToLower(ks[0].Algorithm)), Secret: ks[0].Secret}
		key = &k
	}
	var wg sync.WaitGroup
	for _, snap := range snaps {
		wg.Go(func() { resolver.Notify(ctx, snap.SOA(), d.cfg.Transfer.Notify, key, d.log) })
	}
	go func() {
		wg.Wait()
		cancel()
	}()
}

// underLocal reports whether an origin is under .local (RFC 6762).
func underLocal(origin string) bool {
	return origin == "local." || strings.HasSuffix(origin, ".local.")
}

// warnLoopbackHosts warns about host names that multicast DNS would
// publish with loopback addresses: clients on the link cannot reach them.
func warnLoopbackHosts(log *slog.Logger, snaps []*zone.Snapshot) {
	for _, s := range snaps {
		if !underLocal(s.Origin()) {
			continue
		}
		for _, h := range s.Hosts() {
			for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
				for _, rr := range s.Lookup(h, t).Answer {
					var ip netip.Addr
					switch r := rr.(type) {
					case *dns.A:
						ip, _ = netip.AddrFromSlice(r.A)
					case *dns.AAAA:
						ip, _ = netip.AddrFromSlice(r.AAAA)
					}
					if ip.Unmap().IsLoopback() {
						log.Warn("multicast DNS publishes a loopback address, which no one on the link can reach; set target.addresses and name_servers", "host", h, "address", ip.String())
					}
				}
			}
		}
	}
}

// watch reports changes to the registry and config files, debounced: an
// editor's or `registry update`'s write-and-rename is one change. The
// directories are watched, so a file replaced by rename is seen too.
func (d *daemon) watch() (<-chan string, func()) {
	out := make(chan string, 1)
	files := map[string]bool{}
	if p := registryPath(d.cfg); p != "" {
		files[filepath.Clean(p)] = true
	} else if p, err := registry.DefaultCachePath(); err == nil && os.MkdirAll(filepath.Dir(p), 0o755) == nil {
		// No registry file yet: watch for `registry update` creating the cache.
		files[filepath.Clean(p)] = true
	}
	if p, _ := d.cmd.Flags().GetString("config"); p != "" {
		files[filepath.Clean(p)] = true
	} else if p := lookupEnv(d.env, "SVCDNS_CONFIG"); p != "" {
		files[filepath.Clean(p)] = true
	}
	if len(files) == 0 {
		return out, func() {}
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		d.log.Warn("not watching files for changes; SIGHUP still reloads", "err", err)
		return out, func() {}
	}
	dirs := map[string]bool{}
	for f := range files {
		dirs[filepath.Dir(f)] = true
	}
	for dir := range dirs {
		if err := w.Add(dir); err != nil {
			d.log.Warn("not watching a directory for changes; SIGHUP still reloads", "dir", dir, "err", err)
		}
	}
	done := make(chan struct{})
	go func() {
		const settle = 250 * time.Millisecond
		var timer *time.Timer
		var last string
		fire := make(chan struct{}, 1)
		for {
			select {
			case <-done:
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if !files[filepath.Clean(ev.Name)] || ev.Op == fsnotify.Chmod {
					continue
				}
				last = ev.Name
				if timer == nil {
					timer = time.AfterFunc(settle, func() { fire <- struct{}{} })
				} else {
					timer.Reset(settle)
				}
			case <-fire:
				timer = nil
				select {
				case out <- last:
				default: // a reload is already pending; it will read the new file
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				d.log.Warn("file watch error", "err", err)
			}
		}
	}()
	return out, func() { close(done); w.Close() }
}

func registryName(c config.Config) string {
	if p := registryPath(c); p != "" {
		return p
	}
	return "embedded"
}

// refresh downloads the registry into the cache every registry_refresh
// seconds (conditional GET, so an unchanged registry costs one request);
// the file watch then reloads the zone. A refused download is logged and
// the zone keeps serving.
func (d *daemon) refresh(ctx context.Context) {
	c := d.cfg
	if c.Registry != "" || c.RegistryRefresh == 0 {
		return
	}
	path, err := registry.DefaultCachePath()
	if err != nil {
		d.log.Warn("registry_refresh is set but there is no cache directory", "err", err)
		return
	}
	t := time.NewTicker(time.Duration(c.RegistryRefresh) * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		uctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		res, err := registry.Update(uctx, registry.UpdateOptions{URL: c.RegistryURL, Path: path})
		cancel()
		switch {
		case err != nil:
			d.log.Error("registry refresh failed; keeping the current registry", "url", c.RegistryURL, "err", err)
		case res.Changed:
			d.log.Info("registry refreshed", "path", path, "records", res.Records, "previous", res.PreviousRecords)
		default:
			d.log.Debug("registry unchanged", "url", c.RegistryURL)
		}
	}
}

// snapshotFor loads config and builds the zones, for commands that answer
// without a server.
func snapshotFor(cmd *cobra.Command, env []string) ([]*zone.Snapshot, config.Config, error) {
	cfg, err := loadConfig(cmd, env)
	if err != nil {
		return nil, cfg, err
	}
	zs := &zoneSigning{env: env, log: newLogger(cfg, cmd.ErrOrStderr())}
	snaps, err := buildZones(cfg, lastVersions(cfg, env), zs)
	if err != nil {
		return nil, cfg, err
	}
	return snaps, cfg, nil
}
