package resolver

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// serveTCP accepts connections until ln is closed, at most
// Limits.TCPConns at once: beyond that a new connection is closed at once
// and the others, and UDP, keep being served.
func (s *Server) serveTCP(ln net.Listener) {
	defer s.wg.Done()
	// Connections take stats shards in turn, so that ones served on
	// different cores mostly write different counters.
	var shard byte
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("tcp accept", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		select {
		case s.tcpSlots <- struct{}{}:
		default:
			s.log.Debug("tcp connection limit reached; closing", "remote", c.RemoteAddr().String())
			c.Close()
			continue
		}
		if !s.trackConn(c, true) {
			<-s.tcpSlots
			s.log.Debug("tcp per-source limit reached; closing", "remote", c.RemoteAddr().String())
			c.Close()
			continue
		}
		s.wg.Add(1)
		shard++
		go func(shard byte) {
			defer s.wg.Done()
			defer func() { <-s.tcpSlots }()
			defer s.trackConn(c, false)
			defer c.Close()
			s.serveConn(c, shard)
		}(shard)
	}
}

// trackConn adds or removes an open connection; adding fails when its
// source already holds Limits.TCPPerSource connections.
func (s *Server) trackConn(c net.Conn, add bool) bool {
	src := netip.Addr{}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		src = ap.Addr().Unmap()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.perSource[src] >= s.limits.TCPPerSource {
			return false
		}
		s.perSource[src]++
		s.conns[c] = struct{}{}
		return true
	}
	if s.perSource[src]--; s.perSource[src] <= 0 {
		delete(s.perSource, src)
	}
	delete(s.conns, c)
	return true
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 65535+2); return &b }}

// connBufs is what one connection reads and writes through; pooled, so
// that a stream of short connections (a resolver's TCP retries after
// TC=1) does not leave the heap full of dead buffers that stay resident.
type connBufs struct {
	r  *bufio.Reader
	w  *bufio.Writer
	in []byte
}

var connPool = sync.Pool{New: func() any {
	return &connBufs{r: bufio.NewReaderSize(nil, 4096), w: bufio.NewWriterSize(nil, 16384), in: make([]byte, 65535)}
}}

// serveConn answers the queries of one connection in order (RFC 7766
// §6.2.1.1: pipelined queries are read without waiting for the replies to
// the earlier ones), flushing replies when no query is waiting. It closes
// after Limits.TCPIdle without a query (§6.2.3) or Limits.TCPQueries
// queries.
func (s *Server) serveConn(c net.Conn, shard byte) {
	cb := connPool.Get().(*connBufs)
	cb.r.Reset(c)
	cb.w.Reset(c)
	defer func() {
		cb.r.Reset(nil)
		cb.w.Reset(nil)
		connPool.Put(cb)
	}()
	r, w, in := cb.r, cb.w, cb.in
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	for n := 0; s.limits.TCPQueries == 0 || n < s.limits.TCPQueries; n++ {
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
			c.SetReadDeadline(time.Now().Add(s.limits.TCPIdle))
		}
		var lb [2]byte
		if _, err := io.ReadFull(r, lb[:]); err != nil {
			return
		}
		// Once a message has begun, the rest must follow promptly.
		c.SetReadDeadline(time.Now().Add(s.limits.ReadTimeout))
		size := int(binary.BigEndian.Uint16(lb[:]))
		if _, err := io.ReadFull(r, in[:size]); err != nil {
			return
		}
		if s.transfer != nil && isTransfer(in[:size]) {
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
		resp := s.answer(shard, in[:size], true, out[2:])
		if s.queryLog {
			s.logQuery(c.RemoteAddr(), "tcp", in[:size], resp)
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
