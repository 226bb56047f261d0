package resolver

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"time"

	"github.com/quic-go/quic-go"
)

// DoQ error codes (RFC 9250 §4.3), sent as QUIC application error codes on
// a connection or a stream.
const (
	DoQNoError          = 0x0 // DOQ_NO_ERROR
	DoQInternalError    = 0x1 // DOQ_INTERNAL_ERROR
	DoQProtocolError    = 0x2 // DOQ_PROTOCOL_ERROR
	DoQRequestCancelled = 0x3 // DOQ_REQUEST_CANCELLED
	DoQExcessiveLoad    = 0x4 // DOQ_EXCESSIVE_LOAD
)

// ListenQUIC serves DNS over QUIC (RFC 9250) on every address, over UDP:
// ALPN "doq", one query per bidirectional stream with a two-byte length
// prefix and message ID 0, replies padded to padded queries (RFC 9250
// §5.4, RFC 8467), and the error codes of §4.3. The transport's limits
// cap connections (in all and per source, beyond which a connection is
// closed with DOQ_EXCESSIVE_LOAD), the streams a client may have open at
// once, the handshake time, and the idle time after which a connection is
// closed (§5.5). Zone transfers over QUIC (XoQ) are not served: AXFR and
// IXFR are answered REFUSED, as over UDP.
func (s *Server) ListenQUIC(addrs []string, cfg *tls.Config, lim ConnLimits) error {
	lim = lim.withDefaults()
	stats := &s.transports[trQUIC]
	pool := newConnPool(lim.MaxConns, lim.PerSource, stats)
	tcfg := serverTLS(cfg, alpnDoQ)
	// RFC 9250 §4.1: TLS 1.3 is what QUIC runs on.
	tcfg.MinVersion = tls.VersionTLS13
	inner := tcfg.GetConfigForClient
	tcfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		stats.handshakeStarted.Add(1)
		if inner != nil {
			return inner(hello)
		}
		return nil, nil
	}
	qcfg := &quic.Config{
		HandshakeIdleTimeout: lim.Handshake,
		MaxIdleTimeout:       lim.Idle,
		MaxIncomingStreams:   int64(lim.MaxStreams),
		// DoQ uses bidirectional streams only (§4.2).
		MaxIncomingUniStreams: -1,
		// A query and its reply are each at most 64 KiB: no need for
		// quic-go's multi-megabyte windows per connection.
		InitialStreamReceiveWindow:     64 << 10,
		MaxStreamReceiveWindow:         128 << 10,
		InitialConnectionReceiveWindow: 256 << 10,
		MaxConnectionReceiveWindow:     1 << 20,
	}
	for _, a := range addrs {
		ln, err := quic.ListenAddr(a, tcfg, qcfg)
		if err != nil {
			s.Shutdown(context.Background())
			return fmt.Errorf("resolver: listen quic %s: %w", a, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		s.addListener(trQUIC, ln.Addr(), func() error {
			cancel()
			return ln.Close()
		})
		s.wg.Add(1)
		go s.serveQUIC(ctx, ln, pool, lim)
		s.log.Info("listening", "quic", ln.Addr().String())
	}
	return nil
}

func (s *Server) serveQUIC(ctx context.Context, ln *quic.Listener, pool *connPool, lim ConnLimits) {
	defer s.wg.Done()
	var shard byte
	for {
		conn, err := ln.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, quic.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("accept", "transport", "quic", "err", err)
			continue
		}
		// The address admitted is the one released: a connection may
		// migrate to another while it is open.
		remote := conn.RemoteAddr()
		if ok, why := pool.admit(remote); !ok {
			s.log.Debug(why+"; closing", "transport", "quic", "remote", conn.RemoteAddr().String())
			conn.CloseWithError(DoQExcessiveLoad, why)
			continue
		}
		s.wg.Add(1)
		shard++
		go func(shard byte) {
			defer s.wg.Done()
			defer pool.release(remote)
			s.serveQUICConn(ctx, conn, shard, lim)
		}(shard)
	}
}

// serveQUICConn answers the streams of one connection, each on its own
// goroutine; QUIC's stream limit bounds how many run at once.
func (s *Server) serveQUICConn(ctx context.Context, conn *quic.Conn, shard byte, lim ConnLimits) {
	for {
		st, err := conn.AcceptStream(ctx)
		if err != nil {
			if ctx.Err() != nil {
				// Shutting down: tell the client, so that it does not wait
				// for its idle timeout (§5.3.1).
				conn.CloseWithError(DoQNoError, "server shutting down")
			}
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveQUICStream(conn, st, shard)
		}()
	}
}

// serveQUICStream reads the one query of a stream up to its FIN, answers
// it and ends the stream (RFC 9250 §4.2). A message that breaks the
// protocol (cut short, longer than its length prefix, more than one
// message, a non-zero message ID) closes the whole connection with
// DOQ_PROTOCOL_ERROR (§4.3.3); a client that stops sending halfway has its
// stream cancelled.
func (s *Server) serveQUICStream(conn *quic.Conn, st *quic.Stream, shard byte) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic serving a DoQ stream; cancelled", "panic", r, "stack", string(debug.Stack()))
			st.CancelRead(DoQInternalError)
			st.CancelWrite(DoQInternalError)
		}
	}()
	st.SetReadDeadline(time.Now().Add(s.limits.ReadTimeout))
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	var lb [2]byte
	if !s.readQUIC(conn, st, lb[:]) {
		return
	}
	in := (*bp)[:binary.BigEndian.Uint16(lb[:])]
	if !s.readQUIC(conn, st, in) {
		return
	}
	// §4.2: the client ends the stream after its one query.
	var extra [1]byte
	if k, err := st.Read(extra[:]); k > 0 {
		s.protocolError(conn, "more than one message on a stream")
		return
	} else if !errors.Is(err, io.EOF) {
		s.streamFailed(conn, st, err)
		return
	}
	if len(in) < 12 {
		s.protocolError(conn, "message shorter than a DNS header")
		return
	}
	// §4.2.1: the ID must be 0; a client's ID would let streams be linked.
	if in[0] != 0 || in[1] != 0 {
		s.protocolError(conn, "non-zero message ID")
		return
	}
	s.transports[trQUIC].query(shard, 1)
	op := bufPool.Get().(*[]byte)
	defer bufPool.Put(op)
	out := (*op)[:2]
	resp := s.answerStream(shard, in, sourceOf(conn.RemoteAddr()), out[2:])
	resp = padReply(in, resp)
	if s.queryLog {
		s.logQuery(conn.RemoteAddr(), transportNames[trQUIC], in, resp)
	}
	if resp == nil {
		s.protocolError(conn, "not a DNS query")
		return
	}
	frame := out[:2+len(resp)]
	if &resp[0] != &out[2:3][0] {
		frame = append(out[:2], resp...) // written elsewhere (a signed reply)
	}
	binary.BigEndian.PutUint16(frame, uint16(len(resp)))
	st.SetWriteDeadline(time.Now().Add(s.limits.WriteTimeout))
	if _, err := st.Write(frame); err != nil {
		st.CancelWrite(DoQRequestCancelled)
		return
	}
	st.Close()
}

// readQUIC fills b from the stream. A stream that ends first breaks the
// protocol (§4.3.3: a FIN before the length's worth of octets); one that
// the client resets or lets stall is cancelled.
func (s *Server) readQUIC(conn *quic.Conn, st *quic.Stream, b []byte) bool {
	_, err := io.ReadFull(st, b)
	switch {
	case err == nil:
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		s.protocolError(conn, "stream ended inside a message")
	default:
		s.streamFailed(conn, st, err)
	}
	return false
}

// streamFailed ends a stream whose read failed: the client reset it, or
// it stalled past the read timeout.
func (s *Server) streamFailed(conn *quic.Conn, st *quic.Stream, err error) {
	var se *quic.StreamError
	if errors.As(err, &se) && se.Remote {
		st.CancelWrite(DoQRequestCancelled) // the client gave up
		return
	}
	s.log.Debug("doq stream read", "remote", conn.RemoteAddr().String(), "err", err)
	st.CancelRead(DoQRequestCancelled)
	st.CancelWrite(DoQRequestCancelled)
}

func (s *Server) protocolError(conn *quic.Conn, why string) {
	s.log.Debug("doq protocol error; closing the connection", "remote", conn.RemoteAddr().String(), "why", why)
	conn.CloseWithError(DoQProtocolError, why)
}
