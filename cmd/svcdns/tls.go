package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/svcdns/svcdns/config"
	"github.com/svcdns/svcdns/internal/tlscert"
	"github.com/svcdns/svcdns/resolver"
)

// encrypted reports whether any encrypted listener is configured.
func encrypted(c config.Config) bool {
	return len(c.TLS.Listen)+len(c.HTTPS.Listen)+len(c.QUIC.Listen) > 0
}

// certFiles returns the certificate and key the encrypted transports
// present: the configured files, or the lab certificate in the state
// directory, generated there when it is missing and generate is true.
func certFiles(c config.Config, env []string, generate bool) (certFile, keyFile string, created bool, err error) {
	if c.TLS.CertFile != "" {
		return c.TLS.CertFile, c.TLS.KeyFile, false, nil
	}
	dir, err := config.StateDirectory(c, env)
	if err != nil {
		return "", "", false, err
	}
	if !generate {
		certFile, keyFile = tlscert.LabPaths(dir)
		return certFile, keyFile, false, nil
	}
	names := []string{"localhost"}
	for _, ns := range c.NameServers {
		names = append(names, ns.Name)
	}
	ips := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
	for _, l := range [][]string{c.TLS.Listen, c.HTTPS.Listen, c.QUIC.Listen} {
		for _, a := range l {
			if ap, err := netip.ParseAddrPort(a); err == nil && !ap.Addr().IsUnspecified() && !ap.Addr().IsLoopback() {
				ips = append(ips, ap.Addr())
			}
		}
	}
	return tlscert.EnsureSelfSigned(dir, names, ips, time.Now())
}

// serverTLSConfig is the TLS configuration of every encrypted listener:
// the certificate store, the minimum version and, for transfers over TLS,
// the CAs that secondaries' client certificates are verified against.
func serverTLSConfig(c config.Config, store *tlscert.Store) (*tls.Config, error) {
	cfg := &tls.Config{GetCertificate: store.GetCertificate, MinVersion: tls.VersionTLS12}
	if c.TLS.MinVersion == "1.3" {
		cfg.MinVersion = tls.VersionTLS13
	}
	if f := c.XoT.ClientCAFile; f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("xot.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("xot.client_ca_file %s: no PEM certificate in it", f)
		}
		// A DNS over TLS client needs no certificate; one that presents
		// one must present a good one. Transfers check for it (XoTPolicy).
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		cfg.ClientCAs = pool
	}
	return cfg, nil
}

// listenEncrypted starts the TLS, HTTPS and QUIC listeners, if any, with
// the certificate from files (watched for changes) or a lab certificate.
func (d *daemon) listenEncrypted(ctx context.Context, c config.Config) error {
	if !encrypted(c) {
		return nil
	}
	certFile, keyFile, created, err := certFiles(c, d.env, true)
	if err != nil {
		return err
	}
	store, err := tlscert.Open(certFile, keyFile)
	if err != nil {
		return err
	}
	leaf := store.Leaf()
	msg := "tls certificate"
	if created {
		msg = "generated a self-signed lab certificate"
	}
	d.log.Info(msg, "cert_file", certFile, "spki_pin", tlscert.SPKIPin(leaf), "names", leaf.DNSNames, "not_after", leaf.NotAfter.Format(time.RFC3339))
	if err := store.Watch(ctx, d.log, nil); err != nil {
		d.log.Warn("not watching the certificate files; SIGHUP still reloads them", "err", err)
	}
	d.certs = store
	cfg, err := serverTLSConfig(c, store)
	if err != nil {
		return err
	}
	hs := time.Duration(c.TLS.HandshakeTimeout) * time.Second
	if len(c.TLS.Listen) > 0 {
		lim := resolver.ConnLimits{MaxConns: int(c.TLS.MaxConnections), PerSource: int(c.TLS.MaxPerSource),
			Idle: time.Duration(c.TLS.IdleTimeout) * time.Second, Handshake: hs}
		if err := d.srv.ListenTLS(c.TLS.Listen, cfg, lim, int(c.TLS.MaxQueries)); err != nil {
			return err
		}
	}
	limits := func(e config.Encrypted) resolver.ConnLimits {
		return resolver.ConnLimits{MaxConns: int(e.MaxConnections), PerSource: int(e.MaxPerSource),
			Idle: time.Duration(e.IdleTimeout) * time.Second, Handshake: hs, MaxStreams: int(e.MaxStreams)}
	}
	if len(c.HTTPS.Listen) > 0 {
		if err := d.srv.ListenHTTPS(c.HTTPS.Listen, cfg, limits(c.HTTPS)); err != nil {
			return err
		}
	}
	if len(c.QUIC.Listen) > 0 {
		if err := d.srv.ListenQUIC(c.QUIC.Listen, cfg, limits(c.QUIC)); err != nil {
			return err
		}
	}
	return nil
}

// reloadCerts rereads the certificate files (SIGHUP).
func (d *daemon) reloadCerts() {
	if d.certs == nil {
		return
	}
	if err := d.certs.Reload(); err != nil {
		d.log.Error("certificate reload failed; still serving the previous certificate", "err", err)
		return
	}
	d.log.Info("certificate reloaded", "reason", "SIGHUP", "spki_pin", tlscert.SPKIPin(d.certs.Leaf()))
}

// encryptedAddrs lists the encrypted listeners' addresses by transport,
// for the ready log line.
func encryptedAddrs(srv *resolver.Server) map[string][]string {
	out := map[string][]string{}
	for _, a := range srv.EncryptedAddrs() {
		out[a.Transport] = append(out[a.Transport], a.Addr.String())
	}
	return out
}

func newTLSCmd(env []string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tls",
		Short: "Certificates of the encrypted transports",
	}
	pin := &cobra.Command{
		Use:   "pin",
		Short: "Print the SPKI pin of the certificate that DNS over TLS, HTTPS and QUIC present",
		Long: "pin prints the base64 SHA-256 digest of the certificate's public key (RFC 7858 §4.2), as\n" +
			"kdig's +tls-pin takes it: kdig +tls-pin=$(svcdns tls pin) @127.0.0.1 -p 853 ...\n" +
			"It reads tls.cert_file, or the lab certificate that serve generates in the state directory.",
		Args: cobra.NoArgs,
	}
	config.AddZoneFlags(pin.Flags())
	pin.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loadConfig(cmd, env)
		if err != nil {
			return err
		}
		certFile, keyFile, _, err := certFiles(cfg, env, false)
		if err != nil {
			return err
		}
		store, err := tlscert.Open(certFile, keyFile)
		if err != nil {
			if cfg.TLS.CertFile == "" && errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no lab certificate in %s yet: `svcdns serve` makes it on its first start with tls.listen, https.listen or quic.listen set", certFile)
			}
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), tlscert.SPKIPin(store.Leaf()))
		return nil
	}
	cmd.AddCommand(pin)
	return cmd
}
