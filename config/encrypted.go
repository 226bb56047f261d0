package config

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
)

var tlsVersions = []string{"1.2", "1.3"}

// validateEncrypted checks the tls, https, quic and xot keys.
func (c *Config) validateEncrypted(v *validator) {
	// TCP ports in use: listen (UDP and TCP), tls.listen, https.listen;
	// UDP ports: listen, quic.listen. A duplicate would fail to bind.
	tcpUsed, udpUsed := map[string]string{}, map[string]string{}
	for i, a := range c.Listen {
		tcpUsed[a] = fmt.Sprintf("listen[%d]", i)
		udpUsed[a] = fmt.Sprintf("listen[%d]", i)
	}
	c.TLS.Listen = checkListen(v, "tls.listen", c.TLS.Listen, defaultDoTPort, tcpUsed)
	c.HTTPS.Listen = checkListen(v, "https.listen", c.HTTPS.Listen, defaultDoHPort, tcpUsed)
	c.QUIC.Listen = checkListen(v, "quic.listen", c.QUIC.Listen, defaultDoQPort, udpUsed)

	t := &c.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.add("tls.cert_file", t.CertFile, "tls.cert_file and tls.key_file go together (key_file %q); set both, or neither for a generated lab certificate", t.KeyFile)
	}
	if !slices.Contains(tlsVersions, t.MinVersion) {
		v.add("tls.min_version", t.MinVersion, "must be 1.2 or 1.3")
	}
	if t.HandshakeTimeout == 0 || t.HandshakeTimeout > 60 {
		v.add("tls.handshake_timeout", t.HandshakeTimeout, "must be in 1..60 seconds")
	}
	checkConnLimits(v, "tls", t.MaxConnections, t.MaxPerSource, t.IdleTimeout)
	for _, e := range []struct {
		key string
		e   *Encrypted
	}{{"https", &c.HTTPS}, {"quic", &c.QUIC}} {
		checkConnLimits(v, e.key, e.e.MaxConnections, e.e.MaxPerSource, e.e.IdleTimeout)
		if e.e.MaxStreams == 0 || e.e.MaxStreams > 1000 {
			v.add(e.key+".max_streams", e.e.MaxStreams, "must be in 1..1000")
		}
	}

	x := &c.XoT
	if x.RequireClientCert && x.ClientCAFile == "" {
		v.add("xot.client_ca_file", "", "is required with xot.require_client_cert: it names the CAs that issue the secondaries' certificates")
	}
	if (x.RequireClientCert || x.TLSOnly) && len(t.Listen) == 0 {
		key := "xot.require_client_cert"
		if x.TLSOnly {
			key = "xot.tls_only"
		}
		v.add(key, true, "needs tls.listen: transfers over TLS are served there")
	}
}

// checkListen validates a list of encrypted listen addresses, giving a
// bare IP the transport's port, and reports one already bound by another
// key of the same protocol.
func checkListen(v *validator, key string, addrs []string, defaultPort string, used map[string]string) []string {
	addrs = nilIfEmpty(addrs)
	for i, a := range addrs {
		k := fmt.Sprintf("%s[%d]", key, i)
		if ip, err := netip.ParseAddr(a); err == nil {
			a = net.JoinHostPort(ip.String(), defaultPort)
			addrs[i] = a
		}
		if why := checkHostPort(a, true, false); why != "" {
			v.add(k, a, "%s", why)
			continue
		}
		if _, port, _ := net.SplitHostPort(a); port != "0" {
			if other, dup := used[a]; dup {
				v.add(k, a, "already used by %s", other)
				continue
			}
			used[a] = k
		}
	}
	return addrs
}

func checkConnLimits(v *validator, key string, maxConns, perSource, idle uint32) {
	if maxConns == 0 {
		v.add(key+".max_connections", maxConns, "must be at least 1")
	}
	if perSource == 0 || perSource > maxConns {
		v.add(key+".max_per_source", perSource, "must be in 1..%s.max_connections", key)
	}
	if idle == 0 || idle > 3600 {
		v.add(key+".idle_timeout", idle, "must be in 1..3600 seconds")
	}
}
