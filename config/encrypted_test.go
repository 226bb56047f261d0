package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestEncryptedValidation(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, key, why string
	}{
		{"bad address", "tls:\n  listen: [\"localhost:853\"]\n", "tls.listen[0]", "not an IP"},
		{"tls on the tcp listener", "listen: [\"127.0.0.1:5300\"]\ntls:\n  listen: [\"127.0.0.1:5300\"]\n", "tls.listen[0]", "already used by listen[0]"},
		{"https on the tls port", "tls:\n  listen: [\"127.0.0.1:853\"]\nhttps:\n  listen: [\"127.0.0.1:853\"]\n", "https.listen[0]", "already used by tls.listen[0]"},
		{"quic on the udp listener", "listen: [\"127.0.0.1:5300\"]\nquic:\n  listen: [\"127.0.0.1:5300\"]\n", "quic.listen[0]", "already used by listen[0]"},
		{"cert without key", "tls:\n  cert_file: /etc/c.pem\n", "tls.cert_file", "go together"},
		{"tls version", "tls:\n  min_version: \"1.1\"\n", "tls.min_version", "1.2 or 1.3"},
		{"handshake timeout", "tls:\n  handshake_timeout: 0\n", "tls.handshake_timeout", "1..60"},
		{"tls per source", "tls:\n  max_per_source: 2000\n", "tls.max_per_source", "1..tls.max_connections"},
		{"https idle", "https:\n  idle_timeout: 0\n", "https.idle_timeout", "1..3600"},
		{"quic streams", "quic:\n  max_streams: 0\n", "quic.max_streams", "1..1000"},
		{"mtls without CA", "tls:\n  listen: [\"127.0.0.1:853\"]\nxot:\n  require_client_cert: true\n", "xot.client_ca_file", "is required"},
		{"tls_only without tls", "xot:\n  tls_only: true\n", "xot.tls_only", "needs tls.listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeFile(t, "c.yaml", tc.yaml), nil, nil)
			if !errors.Is(err, ErrBadValue) || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("err = %v, want a bad value naming %s: %s", err, tc.key, tc.why)
			}
		})
	}
}

// A bare IP gets the transport's well-known port; port 0 may repeat.
func TestEncryptedListenPorts(t *testing.T) {
	c := mustLoad(t, writeFile(t, "c.yaml", "tls:\n  listen: [\"127.0.0.1\", \"::1\", \"127.0.0.1:0\"]\n"+
		"https:\n  listen: [\"127.0.0.1\", \"127.0.0.1:0\"]\nquic:\n  listen: [\"127.0.0.1\"]\n"), nil, nil)
	for _, tc := range []struct {
		key       string
		got, want []string
	}{
		{"tls", c.TLS.Listen, []string{"127.0.0.1:853", "[::1]:853", "127.0.0.1:0"}},
		{"https", c.HTTPS.Listen, []string{"127.0.0.1:443", "127.0.0.1:0"}},
		{"quic", c.QUIC.Listen, []string{"127.0.0.1:853"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s.listen = %q, want %q", tc.key, tc.got, tc.want)
		}
	}
	env := mustLoad(t, "", []string{"SVCDNS_TLS_LISTEN=127.0.0.1:8853", "SVCDNS_XOT_TLS_ONLY=true", "SVCDNS_QUIC_MAX_STREAMS=7"}, nil)
	if !slices.Equal(env.TLS.Listen, []string{"127.0.0.1:8853"}) || !env.XoT.TLSOnly || env.QUIC.MaxStreams != 7 {
		t.Errorf("from the environment: tls %+v, xot %+v, quic %+v", env.TLS, env.XoT, env.QUIC)
	}
}
