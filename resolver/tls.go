package resolver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

// ALPN protocol IDs (IANA "TLS Application-Layer Protocol Negotiation
// (ALPN) Protocol IDs").
const (
	alpnDoT = "dot" // RFC 7858, and RFC 9103 for zone transfers
	alpnDoQ = "doq" // RFC 9250 §4.1.1
)

// TransportAddr is an address an encrypted transport listens on.
type TransportAddr struct {
	// Transport is tls, https or quic.
	Transport string
	Addr      net.Addr
}

// EncryptedAddrs returns the addresses of the TLS, HTTPS and QUIC
// listeners, in the order they were bound.
func (s *Server) EncryptedAddrs() []TransportAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TransportAddr(nil), s.encAddrs...)
}

// XoTPolicy says how zone transfers are protected (RFC 9103). It comes on
// top of the TransferPolicy's networks and TSIG keys, never instead.
type XoTPolicy struct {
	// RequireClientCert refuses a transfer over TLS unless the secondary
	// presented a certificate that verified against the configured
	// client CAs (mutual TLS, RFC 9103 §9.3.3).
	RequireClientCert bool
	// TLSOnly refuses transfers over plain TCP (RFC 9103 §9: a zone that
	// must stay confidential is never sent in the clear).
	TLSOnly bool
}

// SetXoTPolicy installs the transfer-over-TLS rules; call it before
// Listen.
func (s *Server) SetXoTPolicy(p XoTPolicy) { s.xfr = p }

// transferAllowed applies the XoT policy to a transfer request on c. A
// request it refuses is answered REFUSED by the query path, as AXFR is
// where transfers are not served. The network and TSIG rules are the
// transfer function's.
func (s *Server) transferAllowed(c net.Conn, st *stream) bool {
	if st.tls == nil {
		if s.xfr.TLSOnly {
			s.log.Info("transfer refused: only over TLS (tls.xfr_only)", "remote", c.RemoteAddr().String())
			return false
		}
		return true
	}
	if s.xfr.RequireClientCert {
		tc, ok := c.(*tls.Conn)
		if !ok || len(tc.ConnectionState().VerifiedChains) == 0 {
			s.log.Info("transfer refused: no verified client certificate (xot.require_client_cert)", "remote", c.RemoteAddr().String())
			return false
		}
	}
	return true
}

// ListenTLS serves DNS over TLS (RFC 7858) on every address, port 853 in
// production: the connection handling of TCP (RFC 7766 pipelining, idle
// timeout, limits) after a bounded handshake, replies padded to padded
// queries (RFC 8467), and zone transfers (RFC 9103) under the XoT policy.
// cfg supplies the certificate (GetCertificate) and, for mutual TLS, the
// client CAs with ClientAuth VerifyClientCertIfGiven; the ALPN IDs are set
// here: "dot" is offered, and a client that offers no ALPN at all (as
// Unbound does) is served as well. maxQueries caps the queries of one
// connection (0: none).
func (s *Server) ListenTLS(addrs []string, cfg *tls.Config, lim ConnLimits, maxQueries int) error {
	lim = lim.withDefaults()
	st := &stream{transport: trTLS, idle: lim.Idle, maxQueries: maxQueries, handshake: lim.Handshake, pad: true,
		tls: serverTLS(cfg, alpnDoT), pool: newConnPool(lim.MaxConns, lim.PerSource, &s.transports[trTLS])}
	for _, a := range addrs {
		var lc net.ListenConfig
		ln, err := lc.Listen(context.Background(), "tcp", a)
		if err != nil {
			s.Shutdown(context.Background())
			return fmt.Errorf("resolver: listen tls %s: %w", a, err)
		}
		s.addListener(trTLS, ln.Addr(), ln.Close)
		s.wg.Add(1)
		go s.serveStream(ln, st)
		s.log.Info("listening", "tls", ln.Addr().String())
	}
	return nil
}

func (s *Server) addListener(transport int, a net.Addr, closer func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closers = append(s.closers, closer)
	s.encAddrs = append(s.encAddrs, TransportAddr{Transport: transportNames[transport], Addr: a})
}

// serverTLS is cfg for one transport: TLS 1.2 at least (RFC 8310 §8.1:
// TLS 1.3 preferred, which Go negotiates whenever the client offers it),
// and the transport's ALPN IDs.
func serverTLS(cfg *tls.Config, alpn ...string) *tls.Config {
	c := cfg.Clone()
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	c.NextProtos = alpn
	return c
}

// handshake runs the TLS server handshake on c within the transport's
// handshake time.
func (s *Server) handshake(c net.Conn, st *stream) (*tls.Conn, error) {
	tc := tls.Server(c, st.tls)
	ctx, cancel := context.WithTimeout(context.Background(), st.handshake)
	defer cancel()
	c.SetDeadline(time.Now().Add(st.handshake))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	// RFC 7301 §3.2: Go already refuses a client whose ALPN list lacks
	// "dot"; one with no list at all is served.
	if p := tc.ConnectionState().NegotiatedProtocol; p != "" && p != alpnDoT {
		return nil, errors.New("unexpected ALPN " + p)
	}
	return tc, nil
}
