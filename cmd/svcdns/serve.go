package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/svcdns/svcdns/config"
	"github.com/svcdns/svcdns/resolver"
	"github.com/svcdns/svcdns/zone"
)

func newServeCmd(env []string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the zone over UDP and TCP (the default command)",
		Args:  cobra.NoArgs,
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
		return serve(cmd.Context(), cfg, cmd, env)
	}
	return cmd
}

// loadConfig reads --config, the environment and the flags.
func loadConfig(cmd *cobra.Command, env []string) (config.Config, error) {
	path, _ := cmd.Flags().GetString("config")
	return config.Load(path, env, cmd.Flags())
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

func serve(ctx context.Context, cfg config.Config, cmd *cobra.Command, env []string) error {
	start := time.Now()
	log := newLogger(cfg, cmd.ErrOrStderr())
	// Reading the registry and building the zone make ~100 MB of short-
	// lived garbage on the full registry; collecting it while building
	// only slows start-up. It is collected, and returned to the system,
	// once the server is ready.
	gcPercent := debug.SetGCPercent(-1)
	snap, err := buildZone(cfg, nil)
	if err != nil {
		debug.SetGCPercent(gcPercent)
		return err
	}
	if strings.HasSuffix(snap.Origin(), ".local.") || snap.Origin() == "local." {
		log.Warn("the origin is under .local, which RFC 6762 reserves for multicast DNS: "+
			"many stub resolvers send such names to mDNS, not to unicast DNS; forward it explicitly "+
			"(README: Resolver set-up) or use an origin under home.arpa. (RFC 8375)", "origin", snap.Origin())
	}
	h := resolver.NewHandler(snap, cfg.EDNSBufferSize, log)
	srv := resolver.NewServer(h, resolver.DefaultLimits, log)
	if err := srv.Listen(cfg.Listen); err != nil {
		return err
	}
	addrs := make([]string, 0, 2)
	for _, a := range srv.Addrs() {
		addrs = append(addrs, a.Network()+"://"+a.String())
	}
	log.Info("ready", "origin", snap.Origin(), "serial", snap.Serial(), "records", snap.Records(),
		"registry", registryName(cfg), "listen", strings.Join(addrs, ","), "startup", time.Since(start).Round(time.Millisecond))

	debug.SetGCPercent(gcPercent)
	debug.FreeOSMemory()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		case <-hup:
			reload(cmd, env, h, log)
		}
	}
}

// reload rebuilds the zone aside from the current config and registry and
// swaps it in; on any error the old zone keeps serving.
func reload(cmd *cobra.Command, env []string, h *resolver.Handler, log *slog.Logger) {
	cfg, err := loadConfig(cmd, env)
	if err != nil {
		log.Error("reload failed, still serving the previous zone", "err", err)
		return
	}
	old := h.Zone()
	snap, err := buildZone(cfg, old)
	if err != nil {
		log.Error("reload failed, still serving the previous zone", "err", err, "serial", old.Serial())
		return
	}
	h.Swap(snap)
	log.Info("reloaded", "serial", snap.Serial(), "previous", old.Serial(), "records", snap.Records())
}

func registryName(c config.Config) string {
	if c.Registry == "" {
		return "embedded"
	}
	return c.Registry
}

// snapshotFor loads config and builds the zone, for commands that answer
// without a server.
func snapshotFor(cmd *cobra.Command, env []string) (*zone.Snapshot, config.Config, error) {
	cfg, err := loadConfig(cmd, env)
	if err != nil {
		return nil, cfg, err
	}
	snap, err := buildZone(cfg, nil)
	if err != nil {
		return nil, cfg, fmt.Errorf("%w", err)
	}
	return snap, cfg, nil
}
