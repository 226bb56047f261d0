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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/miekg/dns"
	"github.com/spf13/cobra"
	"github.com/svcdns/svcdns/config"
	"github.com/svcdns/svcdns/journal"
	"github.com/svcdns/svcdns/registry"
	"github.com/svcdns/svcdns/resolver"
	"github.com/svcdns/svcdns/zone"
)

func newServeCmd(env []string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the zone over UDP and TCP (the default command)",
		Long: "serve answers DNS for the zone over UDP and TCP. SIGINT and SIGTERM shut it down\n" +
			"gracefully. SIGHUP, and any change to the registry or config file, rebuild the zone aside\n" +
			"and swap it in; a new file that does not load is logged and the old zone keeps serving.",
		Args: cobra.NoArgs,
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
	cmd *cobra.Command
	env []string
	log *slog.Logger
	h   *resolver.Handler
	srv *resolver.Server

	mu      sync.Mutex // serializes reloads
	cfg     config.Config
	ready   atomic.Bool
	reloads struct{ ok, failed atomic.Uint64 }
	notify  context.CancelFunc
	// jnl is the IXFR journal (nil: off); reloads append to it.
	jnl *journal.Journal
}

func (d *daemon) run(ctx context.Context, cfg config.Config) error {
	start := time.Now()
	d.cfg = cfg
	d.log = newLogger(cfg, d.cmd.ErrOrStderr())
	if cfg.Workers > 0 {
		runtime.GOMAXPROCS(int(cfg.Workers))
	}
	// Watch before reading, so that a change made while the zone is being
	// built is not lost: it reloads once the server is up.
	changes, stopWatch := d.watch()
	defer stopWatch()
	// Reading the registry and building the zone make ~100 MB of short-
	// lived garbage on the full registry. It is collected while building
	// (turning the collector off saved ~15 ms but left the zone scattered
	// between dead objects, ~3 MB more resident), and what is left is
	// returned to the system once the server is ready.
	// The journal is read first: the serial it ends at seeds this zone's,
	// so that serials keep increasing across a restart (zone.BuildAfter).
	d.jnl = openJournal(cfg, d.env, d.log)
	var last zone.Version
	if d.jnl != nil {
		defer func() {
			if d.jnl != nil {
				d.jnl.Close()
			}
		}()
		last = d.jnl.Last()
	}
	snap, err := buildZoneAfter(cfg, last)
	if err != nil {
		return err
	}
	if d.jnl != nil {
		d.startJournal(snap)
	}
	if strings.HasSuffix(snap.Origin(), ".local.") || snap.Origin() == "local." {
		d.log.Warn("the origin is under .local, which RFC 6762 reserves for multicast DNS: "+
			"many stub resolvers send such names to mDNS, not to unicast DNS; forward it explicitly "+
			"(README: Resolver set-up) or use an origin under home.arpa. (RFC 8375)", "origin", snap.Origin())
	}
	d.h = resolver.NewHandler(snap, cfg.EDNSBufferSize, d.log)
	limits, err := serverLimits(cfg)
	if err != nil {
		return err
	}
	d.srv = resolver.NewServer(d.h, limits, d.log)
	d.srv.SetQueryLog(cfg.QueryLog)
	policy, keys, err := transferPolicy(cfg)
	if err != nil {
		return err
	}
	d.h.SetTSIGKeys(keys)
	policy.Journal = d.jnl
	d.srv.SetTransfer(d.h.Transfer(policy))
	d.srv.SetUDPTransfer(d.h.TransferUDP(policy))
	if err := d.srv.Listen(cfg.Listen); err != nil {
		return err
	}
	stopHTTP, err := d.serveHTTP(cfg.MetricsListen)
	if err != nil {
		d.srv.Shutdown(context.Background())
		return err
	}
	defer stopHTTP()
	addrs := make([]string, 0, 2)
	for _, a := range d.srv.Addrs() {
		addrs = append(addrs, a.Network()+"://"+a.String())
	}
	d.ready.Store(true)
	d.log.Info("ready", "origin", snap.Origin(), "serial", snap.Serial(), "records", snap.Records(), "workers", runtime.GOMAXPROCS(0),
		"registry", registryName(cfg), "listen", strings.Join(addrs, ","), "metrics", cfg.MetricsListen,
		"startup", time.Since(start).Round(time.Millisecond))
	debug.FreeOSMemory()
	// The registry changed while svcdns was down: the secondaries hear of
	// it now rather than at their next refresh (RFC 1996).
	if last.Serial != 0 && last.Serial != snap.Serial() && len(cfg.Transfer.Notify) > 0 {
		d.sendNotify(snap)
	}

	go d.refresh(ctx)
	go trimMemory(ctx, d.log)
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
		case path := <-changes:
			d.reload("file changed: " + path)
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
	l.RRL = resolver.RRLConfig{Rate: c.RRL.Rate, Slip: c.RRL.Slip, IPv4Prefix: int(c.RRL.IPv4Prefix), IPv6Prefix: int(c.RRL.IPv6Prefix)}
	for _, n := range c.RRL.Exempt {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return l, fmt.Errorf("config: rrl.exempt %q: %w", n, err)
		}
		l.RRL.Exempt = append(l.RRL.Exempt, p)
	}
	return l, nil
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
	old := d.h.Zone()
	if err == nil {
		var snap *zone.Snapshot
		if snap, err = buildZone(cfg, old); err == nil {
			if !sameListeners(cfg, d.cfg) {
				d.log.Warn("listen, metrics_listen, workers, transfer, rrl, tcp and log settings take effect at restart", "reason", reason)
			}
			// The delta is on disk before the zone it leads to is
			// served, so a secondary never sees a serial the journal
			// cannot join after a crash.
			d.recordDelta(old, snap)
			d.h.Swap(snap)
			d.cfg = cfg
			d.reloads.ok.Add(1)
			d.log.Info("reloaded", "reason", reason, "serial", snap.Serial(), "previous", old.Serial(), "records", snap.Records())
			if snap.Serial() != old.Serial() && len(cfg.Transfer.Notify) > 0 {
				d.sendNotify(snap)
			}
			return
		}
	}
	d.reloads.failed.Add(1)
	d.log.Error("reload failed; still serving the previous zone", "reason", reason, "err", err, "serial", old.Serial())
}

func sameListeners(a, b config.Config) bool {
	return strings.Join(a.Listen, ",") == strings.Join(b.Listen, ",") && a.MetricsListen == b.MetricsListen &&
		fmt.Sprint(a.Transfer) == fmt.Sprint(b.Transfer) && a.LogLevel == b.LogLevel && a.LogFormat == b.LogFormat &&
		a.QueryLog == b.QueryLog && fmt.Sprint(a.RRL, a.TCP) == fmt.Sprint(b.RRL, b.TCP) && a.Workers == b.Workers
}

// sendNotify announces snap's serial, cancelling an announcement of an
// older one still retrying.
func (d *daemon) sendNotify(snap *zone.Snapshot) {
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
	go func() {
		defer cancel()
		resolver.Notify(ctx, snap.SOA(), d.cfg.Transfer.Notify, key, d.log)
	}()
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

// snapshotFor loads config and builds the zone, for commands that answer
// without a server.
func snapshotFor(cmd *cobra.Command, env []string) (*zone.Snapshot, config.Config, error) {
	cfg, err := loadConfig(cmd, env)
	if err != nil {
		return nil, cfg, err
	}
	snap, err := buildZoneAfter(cfg, lastVersion(cfg, env))
	if err != nil {
		return nil, cfg, err
	}
	return snap, cfg, nil
}
