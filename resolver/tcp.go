package resolver

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// stream is a transport that carries DNS messages with a two-byte length
// prefix over a connection (RFC 1035 §4.2.2): TCP, and TLS (RFC 7858 §3.3),
// which is the same once the handshake is done. Both run serveConn.
type stream struct {
	transport  int // trTCP or trTLS
	pool       *connPool
	idle       time.Duration
	maxQueries int         // 0: no cap
	tls        *tls.Config // nil: plain TCP
	handshake  time.Duration
	// pad pads replies to padded queries (RFC 7830, RFC 8467): only on
	// an encrypted transport, where the size of a reply would otherwise
	// tell an observer what was asked.
	pad bool
}

// serveStream accepts connections until ln is closed, within the
// transport's limits: beyond them a new connection is closed at once and
// the others, and UDP, keep being served. A TLS connection does its
// handshake on its own goroutine, bounded in time, so that a slow or
// silent client holds up no other.
func (s *Server) serveStream(ln net.Listener, st *stream) {
	defer s.wg.Done()
	name := transportNames[st.transport]
	// Connections take stats shards in turn, so that ones served on
	// different cores mostly write different counters.
	var shard byte
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("accept", "transport", name, "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if ok, why := st.pool.admit(c.RemoteAddr()); !ok {
			s.log.Debug(why+"; closing", "transport", name, "remote", c.RemoteAddr().String())
			c.Close()
			continue
		}
		s.trackConn(c, true)
		s.wg.Add(1)
		shard++
		go func(shard byte) {
			defer s.wg.Done()
			defer st.pool.release(c.RemoteAddr())
			defer s.trackConn(c, false)
			defer c.Close()
			if st.tls != nil {
				s.serveTLS(c, shard, st)
				return
			}
			s.serveConn(c, shard, st)
		}(shard)
	}
}

// serveTLS runs a TLS connection: the bounded handshake, then serveConn
// over TLS. Under TLS, what is read is acknowledged at once, and replies
// are held until the connection waits to read: those made from one read
// leave in one write (heldConn).
func (s *Server) serveTLS(c net.Conn, shard byte, st *stream) {
	hc := newAckingConn(c)
	tc, err := s.handshake(hc, st)
	if err != nil {
		s.transports[st.transport].handshakeFailed.Add(1)
		s.log.Debug("tls handshake failed", "transport", transportNames[st.transport], "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	hc.batch(0, s.limits.WriteTimeout)
	defer hc.unbatch()
	s.serveConn(tc, shard, st)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 65535+2); return &b }}

// connBufs is what one connection reads and writes through; pooled, so
// that a stream of short connections (a resolver's TCP retries after
// TC=1) does not leave the heap full of dead buffers that stay resident.
type connBufs struct {
	r  *bufio.Reader
	w  *bufio.Writer
	in []byte
	// size holds a message's length prefix: an array on the stack would
	// escape to the heap through io.ReadFull, once a query.
	size [2]byte
}

var connBufPool = sync.Pool{New: func() any {
	return &connBufs{r: bufio.NewReaderSize(nil, 4096), w: bufio.NewWriterSize(nil, 16384), in: make([]byte, 65535)}
}}

// serveConn answers the queries of one connection in order (RFC 7766
// §6.2.1.1: pipelined queries are read without waiting for the replies to
// the earlier ones), flushing replies when no query is waiting. It closes
// after the transport's idle time without a query (§6.2.3) or after its
// query cap.
func (s *Server) serveConn(c net.Conn, shard byte, st *stream) {
	cb := connBufPool.Get().(*connBufs)
	cb.r.Reset(c)
	cb.w.Reset(c)
	defer func() {
		cb.r.Reset(nil)
		cb.w.Reset(nil)
		connBufPool.Put(cb)
	}()
	r, w, in := cb.r, cb.w, cb.in
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	stats := &s.transports[st.transport]
	client := sourceOf(c.RemoteAddr())
	for n := 0; st.maxQueries == 0 || n < st.maxQueries; n++ {
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
			c.SetReadDeadline(time.Now().Add(st.idle))
		}
		if _, err := io.ReadFull(r, cb.size[:]); err != nil {
			return
		}
		// Once a message has begun, the rest must follow promptly.
		c.SetReadDeadline(time.Now().Add(s.limits.ReadTimeout))
		size := int(binary.BigEndian.Uint16(cb.size[:]))
		if _, err := io.ReadFull(r, in[:size]); err != nil {
			return
		}
		stats.query(shard, 1)
		if s.transfer != nil && isTransfer(in[:size]) && s.transferAllowed(c, st) {
			if err := w.Flush(); err != nil {
				return
			}
			c.SetWriteDeadline(time.Now().Add(s.limits.WriteTimeout))
			if err := s.transfer(c, in[:size]); err != nil {
				s.log.Debug("transfer ended", "remote", c.RemoteAddr().String(), "err", err)
				return
			}
			continue
		}
		out := (*bp)[:2]
		resp := s.answerStream(shard, in[:size], client, out[2:])
		if st.pad {
			// Last, so that the padding counts every other option.
			resp = padReply(in[:size], resp)
		}
		if s.queryLog {
			s.logQuery(c.RemoteAddr(), transportNames[st.transport], in[:size], resp)
		}
		if resp == nil {
			continue
		}
		binary.BigEndian.PutUint16(out, uint16(len(resp)))
		c.SetWriteDeadline(time.Now().Add(s.limits.WriteTimeout))
		if _, err := w.Write(out[:2]); err != nil {
			return
		}
		if _, err := w.Write(resp); err != nil {
			return
		}
	}
	w.Flush()
}

// isTransfer reports whether a query asks for AXFR or IXFR.
func isTransfer(b []byte) bool {
	q, ok := parseTransferQuestion(b)
	return ok && (q == 252 || q == 251)
}

// parseTransferQuestion returns the QTYPE of a one-question message.
func parseTransferQuestion(b []byte) (uint16, bool) {
	if len(b) < 12 || binary.BigEndian.Uint16(b[4:]) != 1 {
		return 0, false
	}
	off := 12
	for off < len(b) {
		l := int(b[off])
		if l == 0 {
			off++
			if off+2 > len(b) {
				return 0, false
			}
			return binary.BigEndian.Uint16(b[off:]), true
		}
		if l > 63 {
			return 0, false
		}
		off += 1 + l
	}
	return 0, false
}
