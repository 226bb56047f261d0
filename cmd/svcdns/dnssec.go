package main

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/svcdns/svcdns/config"
	"github.com/svcdns/svcdns/dnssec"
	"github.com/svcdns/svcdns/zone"
)

// zoneSigning is what building a signed zone needs besides the
// configuration: where the state directory is (from the environment),
// the signature cache kept across reloads, and where key events are
// logged.
type zoneSigning struct {
	env   []string
	cache *dnssec.Cache
	log   *slog.Logger
}

// signer returns the zone's signer as c configures it, nil when DNSSEC is
// off. Keys come from c's key files or key directory, or are generated in
// the state directory on first use.
func (z *zoneSigning) signer(c config.Config, origin string) (*dnssec.Signer, error) {
	if !c.DNSSEC.Enabled {
		return nil, nil
	}
	keys, err := z.keys(c, origin)
	if err != nil {
		return nil, err
	}
	p, err := dnssecPolicy(c)
	if err != nil {
		return nil, err
	}
	return dnssec.NewSigner(origin, keys, p, z.cache)
}

// keys reads (or, for a lab, generates) the keys c names for the zone of
// origin: of the key files listed, those of that zone.
func (z *zoneSigning) keys(c config.Config, origin string) ([]*dnssec.Key, error) {
	d := c.DNSSEC
	switch {
	case len(d.KeyFiles) > 0:
		var keys []*dnssec.Key
		for _, f := range d.KeyFiles {
			k, err := dnssec.ReadKey(f)
			if err != nil {
				return nil, err
			}
			if !slices.ContainsFunc(c.AllOrigins(), func(o string) bool { return strings.EqualFold(k.DNSKEY.Hdr.Name, o) }) {
				return nil, fmt.Errorf("dnssec: %s: the key is for %s, which is not a zone served here (%s)",
					f, k.DNSKEY.Hdr.Name, strings.Join(c.AllOrigins(), ", "))
			}
			if strings.EqualFold(k.DNSKEY.Hdr.Name, origin) {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("dnssec: dnssec.key_files has no key for %s", origin)
		}
		return keys, nil
	case d.KeyDirectory != "":
		keys, err := dnssec.ReadKeyDir(d.KeyDirectory, origin)
		if err == nil && len(keys) == 0 {
			err = fmt.Errorf("dnssec: no keys of %s in %s: make them with `dnssec-keygen -K %s -a ECDSAP256SHA256 -f KSK %s`, "+
				"or leave dnssec.key_directory empty to have svcdns generate them in its state directory",
				origin, d.KeyDirectory, d.KeyDirectory, strings.TrimSuffix(origin, "."))
		}
		return keys, err
	}
	state, err := config.StateDirectory(c, z.env)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(state, "dnssec")
	alg, _ := dnssec.AlgorithmByName(d.Algorithm)
	keys, generated, err := dnssec.EnsureKeys(dir, origin, alg, d.Keys == "ksk+zsk", time.Now())
	if err != nil {
		return nil, err
	}
	if generated {
		for _, k := range keys {
			z.log.Warn("dnssec: generated a key; give the parent its DS (`svcdns dnssec ds`) or validators a trust anchor",
				"key", k.String(), "sep", k.SEP(), "file", k.File)
		}
	}
	return keys, nil
}

// dnssecPolicy maps the dnssec settings onto the signer's policy.
func dnssecPolicy(c config.Config) (dnssec.Policy, error) {
	d := c.DNSSEC
	p := dnssec.Policy{
		Validity:        time.Duration(d.Validity) * time.Second,
		Refresh:         time.Duration(d.Refresh) * time.Second,
		InceptionOffset: time.Duration(d.InceptionOffset) * time.Second,
		DNSKEYTTL:       d.DNSKEYTTL,
		NSEC3:           dnssec.NSEC3Params{Iterations: d.NSEC3.Iterations, Salt: d.NSEC3.Salt},
	}
	switch d.Denial {
	case "nsec":
		p.Denial = dnssec.DenialNSEC
	case "nsec3":
		p.Denial = dnssec.DenialNSEC3
	default:
		return p, fmt.Errorf("config: dnssec.denial %q", d.Denial)
	}
	return p, nil
}

// logKeyEvents logs each key whose state differs between the signers of
// the previous and the new zone (either may be nil): published,
// activated, retired, removed.
func logKeyEvents(log *slog.Logger, prev, cur *dnssec.Signer) {
	before := map[string]dnssec.State{}
	if prev != nil {
		for _, k := range prev.Keys() {
			before[k.Key.String()] = k.State
		}
	}
	seen := map[string]bool{}
	if cur != nil {
		for _, k := range cur.Keys() {
			name := k.Key.String()
			seen[name] = true
			if st, ok := before[name]; ok && st == k.State {
				continue
			}
			log.Info("dnssec: key "+k.State.String(), "key", name, "sep", k.Key.SEP(), "signs", k.Signs, "file", k.Key.File)
		}
	}
	for name := range before {
		if !seen[name] {
			log.Info("dnssec: key no longer configured", "key", name)
		}
	}
}

// dnssecDescs are the DNSSEC series of /metrics.
var (
	descSignatures = prometheus.NewDesc("svcdns_dnssec_signatures_total", "RRSIGs made (online answers and signed zones for export and transfer).", nil, nil)
	descSigHits    = prometheus.NewDesc("svcdns_dnssec_cache_hits_total", "RRsets whose signatures came from the signature cache.", nil, nil)
	descSigMisses  = prometheus.NewDesc("svcdns_dnssec_cache_misses_total", "RRsets signed because the signature cache lacked them.", nil, nil)
	descSigWaits   = prometheus.NewDesc("svcdns_dnssec_cache_waits_total", "Requests that waited for a signing of the same RRset already under way.", nil, nil)
	descKeys       = prometheus.NewDesc("svcdns_dnssec_keys", "Keys of the zone served, by role (ksk for SEP keys, zsk) and state.", []string{"role", "state"}, nil)
	descNextEvent  = prometheus.NewDesc("svcdns_dnssec_next_event_timestamp_seconds", "When the zone is next rebuilt for a key timing event or re-signing.", nil, nil)
)

// dnssecCollector reads the signature cache's counters and the current
// zone's keys at scrape time.
type dnssecCollector struct{ d *daemon }

func (c *dnssecCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSignatures, descSigHits, descSigMisses, descSigWaits, descKeys, descNextEvent} {
		ch <- d
	}
}

func (c *dnssecCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.d.signing.cache.Stats()
	ch <- prometheus.MustNewConstMetric(descSignatures, prometheus.CounterValue, float64(st.Signatures()))
	ch <- prometheus.MustNewConstMetric(descSigHits, prometheus.CounterValue, float64(st.Hits()))
	ch <- prometheus.MustNewConstMetric(descSigMisses, prometheus.CounterValue, float64(st.Misses()))
	ch <- prometheus.MustNewConstMetric(descSigWaits, prometheus.CounterValue, float64(st.Waits()))
	sg := c.d.h.Zone().Signer()
	if sg == nil {
		return
	}
	counts := map[[2]string]int{}
	for _, role := range []string{"ksk", "zsk"} {
		for _, s := range []dnssec.State{dnssec.Unpublished, dnssec.Published, dnssec.Active, dnssec.Retired, dnssec.Removed} {
			counts[[2]string{role, s.String()}] = 0
		}
	}
	for _, k := range sg.Keys() {
		role := "zsk"
		if k.Key.SEP() {
			role = "ksk"
		}
		counts[[2]string{role, k.State.String()}]++
	}
	for rs, n := range counts {
		ch <- prometheus.MustNewConstMetric(descKeys, prometheus.GaugeValue, float64(n), rs[0], rs[1])
	}
	ch <- prometheus.MustNewConstMetric(descNextEvent, prometheus.GaugeValue, float64(sg.NextEvent().Unix()))
}

// armSigning sets the timer that rebuilds the zone at its signer's next
// key event or signing epoch; a zone that is not signed needs none.
func (d *daemon) armSigning(snaps []*zone.Snapshot) {
	var next time.Time
	for _, s := range snaps {
		if sg := s.Signer(); sg != nil && (next.IsZero() || sg.NextEvent().Before(next)) {
			next = sg.NextEvent()
		}
	}
	if next.IsZero() {
		d.resign.Stop()
		return
	}
	// A second late, so that the event has come when the zone is rebuilt.
	wait := time.Until(next) + time.Second
	d.resign.Reset(max(wait, time.Second))
	d.log.Debug("dnssec: next rebuild for signing", "at", next.UTC().Format(time.RFC3339), "in", wait.Round(time.Second))
}

// signerOf is the signer of the zone of origin among snaps, or nil.
func signerOf(snaps []*zone.Snapshot, origin string) *dnssec.Signer {
	if s := snapshotOf(snaps, origin); s != nil {
		return s.Signer()
	}
	return nil
}

func newDNSSECCmd(env []string) *cobra.Command {
	cmd := &cobra.Command{Use: "dnssec", Short: "DNSSEC keys: the DS for the parent, trust anchors, key states"}
	var digest, format string
	ds := &cobra.Command{
		Use:   "ds",
		Short: "Print the DS records of the zone's key-signing keys, or a trust anchor",
		Long: "ds prints the DS records of the zone's published SEP keys (KSK or CSK), read from the\n" +
			"configured key files or generated in the state directory as `serve` would. --format ds\n" +
			"(default) prints master-file lines: what the parent zone publishes, and what Unbound's\n" +
			"trust-anchor-file reads. --format bind prints a trust-anchors statement for named.conf\n" +
			"and `delv -a FILE`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sg, cfg, err := signerFor(cmd, env)
			if err != nil {
				return err
			}
			dt := map[string]uint8{"sha256": dns.SHA256, "sha384": dns.SHA384}[strings.ToLower(digest)]
			if dt == 0 {
				return fmt.Errorf("dnssec ds: --digest %q: want sha256 or sha384", digest)
			}
			records, err := dnssec.DS(sg.AnchorKeys(), dt, cfg.DNSSEC.DNSKEYTTL)
			if err != nil {
				return err
			}
			switch format {
			case "ds":
				return dnssec.WriteZoneAnchors(cmd.OutOrStdout(), records)
			case "bind":
				return dnssec.WriteBINDAnchors(cmd.OutOrStdout(), records)
			}
			return fmt.Errorf("dnssec ds: --format %q: want ds or bind", format)
		},
	}
	config.AddZoneFlags(ds.Flags())
	ds.Flags().StringVar(&digest, "digest", "sha256", "digest type: sha256 or sha384")
	ds.Flags().StringVar(&format, "format", "ds", "ds (master-file DS records; Unbound trust-anchor-file) or bind (trust-anchors statement; delv -a)")

	keys := &cobra.Command{
		Use:   "keys",
		Short: "List the zone's keys with their role, state and timing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sg, _, err := signerFor(cmd, env)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KEY\tFLAGS\tSTATE\tSIGNS\tPUBLISH\tACTIVATE\tINACTIVE\tDELETE\tFILE")
			for _, k := range sg.Keys() {
				t := k.Key.Timing
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Key, k.Key.DNSKEY.Flags, k.State, orDash(k.Signs),
					stamp(t.Publish), stamp(t.Activate), stamp(t.Inactive), stamp(t.Delete), orDash(k.Key.File))
			}
			fmt.Fprintf(w, "\nnext event: %s\n", sg.NextEvent().UTC().Format(time.RFC3339))
			return w.Flush()
		},
	}
	config.AddZoneFlags(keys.Flags())
	cmd.AddCommand(ds, keys)
	return cmd
}

// signerFor loads the configuration and the keys it names.
func signerFor(cmd *cobra.Command, env []string) (*dnssec.Signer, config.Config, error) {
	cfg, err := loadConfig(cmd, env)
	if err != nil {
		return nil, cfg, err
	}
	if !cfg.DNSSEC.Enabled {
		return nil, cfg, errors.New("dnssec: dnssec.enabled is false in this configuration; set it (or SVCDNS_DNSSEC_ENABLED=true)")
	}
	zs := &zoneSigning{env: env, log: newLogger(cfg, cmd.ErrOrStderr())}
	sg, err := zs.signer(cfg, cfg.Origin)
	return sg, cfg, err
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
