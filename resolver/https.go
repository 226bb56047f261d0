package resolver

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/sys/unix"
)

// DoHPath is the URI path of DNS over HTTPS queries, the one RFC 8484 §3
// uses in its examples and every client defaults to.
const DoHPath = "/dns-query"

// dohType is the media type of DNS messages over HTTPS (RFC 8484 §6).
const dohType = "application/dns-message"

// maxDoHMessage is the largest query accepted: a DNS message's 16-bit
// length limit (RFC 8484 §6).
const maxDoHMessage = 65535

// dohError is a request that cannot be answered, with its HTTP status.
type dohError struct {
	status int
	why    string
}

func (e *dohError) Error() string { return e.why }

// decodeDoHRequest returns the DNS query a DoH request carries (RFC 8484
// §4.1): for GET, the "dns" query parameter in unpadded base64url; for
// POST, the body, with Content-Type application/dns-message. Its errors
// are *dohError: 405 for another method, 415 for another content type,
// 413 for a body over 65535 octets, 400 for anything else that is not a
// DNS message (no or bad parameter, shorter than a header).
func decodeDoHRequest(method, contentType, rawQuery string, body io.Reader) ([]byte, error) {
	var msg []byte
	switch method {
	case http.MethodGet, http.MethodHead:
		v, err := queryParam(rawQuery, "dns")
		if err != nil {
			return nil, &dohError{http.StatusBadRequest, err.Error()}
		}
		// RFC 8484 §6: base64url without padding; padded input is
		// tolerated, as some clients send it.
		msg, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
		if err != nil {
			return nil, &dohError{http.StatusBadRequest, "dns parameter is not base64url: " + err.Error()}
		}
	case http.MethodPost:
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil || mt != dohType {
			return nil, &dohError{http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q, want %s", contentType, dohType)}
		}
		msg, err = io.ReadAll(io.LimitReader(body, maxDoHMessage+1))
		if err != nil {
			return nil, &dohError{http.StatusBadRequest, "reading the body: " + err.Error()}
		}
	default:
		return nil, &dohError{http.StatusMethodNotAllowed, "method " + method + ", want GET or POST"}
	}
	switch {
	case len(msg) > maxDoHMessage:
		return nil, &dohError{http.StatusRequestEntityTooLarge, "message over 65535 octets"}
	case len(msg) < 12:
		return nil, &dohError{http.StatusBadRequest, fmt.Sprintf("%d octets is not a DNS message", len(msg))}
	}
	return msg, nil
}

// queryParam returns the one value of key in a URL query, strictly: a
// query that does not parse, or has key more than once, is an error.
func queryParam(rawQuery, key string) (string, error) {
	var val string
	found := false
	for part := range strings.SplitSeq(rawQuery, "&") {
		k, v, _ := strings.Cut(part, "=")
		if k != key {
			continue
		}
		if found {
			return "", fmt.Errorf("%s parameter given twice", key)
		}
		// base64url needs no escaping, but a client may escape anyway.
		u, err := urlUnescape(v)
		if err != nil {
			return "", fmt.Errorf("%s parameter: %w", key, err)
		}
		val, found = u, true
	}
	if !found || val == "" {
		return "", fmt.Errorf("no %s parameter", key)
	}
	return val, nil
}

func urlUnescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errors.New("bad percent escape")
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", errors.New("bad percent escape")
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

// minTTL is the freshness lifetime of a packed reply for HTTP caches (RFC
// 8484 §5.1): the smallest TTL of its answer section, or for a negative
// reply the TTL of the SOA in its authority section, which the answer path
// already makes min(SOA TTL, MINIMUM) (RFC 2308 §5). ok is false when
// the reply has neither (an error), which is then not to be cached.
func minTTL(msg []byte) (ttl uint32, ok bool) {
	if len(msg) < 12 {
		return 0, false
	}
	off := 12
	for range binary.BigEndian.Uint16(msg[4:]) {
		if off = skipName(msg, off); off < 0 || off+4 > len(msg) {
			return 0, false
		}
		off += 4
	}
	an, ns := int(binary.BigEndian.Uint16(msg[6:])), int(binary.BigEndian.Uint16(msg[8:]))
	for i := range an + ns {
		if off = skipName(msg, off); off < 0 || off+10 > len(msg) {
			return 0, false
		}
		if i >= an && an > 0 {
			break // the answer decides when there is one
		}
		t := binary.BigEndian.Uint32(msg[off+4:])
		if i >= an && binary.BigEndian.Uint16(msg[off:]) != 6 {
			off += 10 + int(binary.BigEndian.Uint16(msg[off+8:]))
			continue // only the SOA gives a negative TTL
		}
		if !ok || t < ttl {
			ttl, ok = t, true
		}
		off += 10 + int(binary.BigEndian.Uint16(msg[off+8:]))
	}
	return ttl, ok
}

// dohHandler answers DNS over HTTPS (RFC 8484) on DoHPath through the one
// answer path, as over TCP: the whole reply, never truncated.
type dohHandler struct{ s *Server }

func (h dohHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.s
	if r.URL.Path != DoHPath {
		http.NotFound(w, r)
		return
	}
	body := http.MaxBytesReader(w, r.Body, maxDoHMessage+1)
	in, err := decodeDoHRequest(r.Method, r.Header.Get("Content-Type"), r.URL.RawQuery, body)
	if err != nil {
		var de *dohError
		if errors.As(err, &de) {
			if de.status == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", "GET, HEAD, POST")
			}
			http.Error(w, de.why, de.status)
			return
		}
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	shard := in[1]
	s.transports[trHTTPS].query(shard, 1)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	resp := s.answerStream(shard, in, sourceOf(remoteAddr(r)), (*bp)[:0])
	resp = padReply(in, resp)
	if s.queryLog {
		s.logQuery(remoteAddr(r), transportNames[trHTTPS], in, resp)
	}
	if resp == nil {
		// A response, or a message the server drops: nothing to answer.
		http.Error(w, "not a DNS query", http.StatusBadRequest)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", dohType)
	hd.Set("Content-Length", strconv.Itoa(len(resp)))
	if ttl, ok := minTTL(resp); ok {
		hd.Set("Cache-Control", "max-age="+strconv.FormatUint(uint64(ttl), 10))
	} else {
		hd.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(resp)
	}
}

func remoteAddr(r *http.Request) net.Addr {
	if a, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		return a
	}
	return &net.TCPAddr{}
}

// handshakeLog counts the TLS handshake errors net/http reports on its
// error log (it has no other hook for them) and passes every line to the
// server's debug log.
type handshakeLog struct{ s *Server }

func (l handshakeLog) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	if strings.Contains(line, "TLS handshake error") {
		l.s.transports[trHTTPS].handshakeFailed.Add(1)
	}
	l.s.log.Debug("https", "msg", line)
	return len(p), nil
}

// ListenHTTPS serves DNS over HTTPS (RFC 8484) on every address: GET and
// POST on /dns-query over HTTP/2 or HTTP/1.1 (ALPN "h2", "http/1.1"), with
// the transport's connection limits, the handshake time bounding the TLS
// handshake and the request header, and the idle time closing idle
// connections.
func (s *Server) ListenHTTPS(addrs []string, cfg *tls.Config, lim ConnLimits) error {
	lim = lim.withDefaults()
	pool := newConnPool(lim.MaxConns, lim.PerSource, &s.transports[trHTTPS])
	tcfg := serverTLS(cfg, "h2", "http/1.1")
	for _, a := range addrs {
		var lc net.ListenConfig
		ln, err := lc.Listen(context.Background(), "tcp", a)
		if err != nil {
			s.Shutdown(context.Background())
			return fmt.Errorf("resolver: listen https %s: %w", a, err)
		}
		hs := &http.Server{
			Handler:           dohHandler{s},
			TLSConfig:         tcfg,
			ReadHeaderTimeout: lim.Handshake,
			ReadTimeout:       lim.Handshake + s.limits.ReadTimeout,
			WriteTimeout:      s.limits.WriteTimeout + lim.Handshake,
			IdleTimeout:       lim.Idle,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          log.New(handshakeLog{s}, "", 0),
		}
		h2 := &http2.Server{MaxConcurrentStreams: uint32(lim.MaxStreams), IdleTimeout: lim.Idle}
		if err := http2.ConfigureServer(hs, h2); err != nil {
			ln.Close()
			s.Shutdown(context.Background())
			return fmt.Errorf("resolver: https %s: %w", a, err)
		}
		hs.TLSNextProto["h2"] = func(base *http.Server, c *tls.Conn, h http.Handler) {
			h2.ServeConn(recordPerReply{c}, &http2.ServeConnOpts{BaseConfig: base, Handler: h})
		}
		s.addListener(trHTTPS, ln.Addr(), func() error {
			// In-flight requests get a moment; answers take microseconds.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return hs.Shutdown(ctx)
		})
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := hs.ServeTLS(ackingListener{&limitedListener{Listener: ln, pool: pool, s: s}}, "", "")
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("https server stopped", "addr", ln.Addr().String(), "err", err)
			}
		}()
		s.log.Info("listening", "https", ln.Addr().String())
	}
	return nil
}

// Go's HTTP/2 server and dnsperf's DoH client (2.10, the same in 2.14's
// src/net_doh.c) stall each other in two ways; nghttp2, behind BIND,
// avoids both by the way it happens to write. The DoH listener corrects
// each: ackingConn for the first, recordPerReply for the second.

// ackingListener hands out its connections as ackingConns.
type ackingListener struct{ net.Listener }

func (l ackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newAckingConn(c), nil
}

// ackingConn is a TCP connection that has what it reads acknowledged at
// once. dnsperf leaves Nagle's algorithm on and writes a POST as two TLS
// records, HEADERS then DATA: the DATA, and every query after it, waits
// in the client's kernel until the HEADERS is acknowledged. The server
// cannot answer before the DATA, so when it has no earlier reply to carry
// the ACK, Linux delays the ACK (40 ms or more) and the connection stops.
// After each read from the socket that returns data, ackingConn re-arms
// quick-ACK mode (setQuickAck). It sits under TLS so that this costs one
// system call per read from the socket, not one per HTTP/2 frame.
type ackingConn struct {
	net.Conn
	raw syscall.RawConn // the TCP socket
}

// newAckingConn returns c as an ackingConn, or c itself when no TCP
// socket is found under it (the pool's wrapper is looked through).
func newAckingConn(c net.Conn) net.Conn {
	nc := c
	if rc, ok := nc.(*releasingConn); ok {
		nc = rc.Conn
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return c
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return &ackingConn{Conn: c, raw: raw}
}

func (c *ackingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.raw.Control(setQuickAck)
	}
	return n, err
}

// recordPerReply sends each HTTP/2 frame that ends a stream, with the
// frames before it, in a TLS record of its own. dnsperf takes one reply
// out of its buffer per read call; a second reply decoded in the same
// call has its body dropped (its data callback pauses the HTTP/2 parser,
// which counts the paused chunk as consumed). Go's HTTP/2 server packs
// the replies of several streams into one write when they are ready
// together. Only record boundaries change, never the bytes, so a frame
// cut across two writes by the server's buffer does no harm.
type recordPerReply struct{ *tls.Conn }

func (c recordPerReply) Write(p []byte) (int, error) { return splitReplies(p, c.Conn.Write) }

// setQuickAck puts the TCP socket fd in quick-ACK mode (TCP_QUICKACK,
// tcp(7)): what it has received and not yet acknowledged is acknowledged
// now, and so are the next segments, until the kernel's heuristics go
// back to delaying ACKs. An error is ignored: the setting only changes
// when ACKs leave.
func setQuickAck(fd uintptr) {
	unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
}

// splitReplies writes p with write, cutting after every DATA or HEADERS
// frame with END_STREAM (RFC 9113 §6.1, §6.2) that is not at its end.
func splitReplies(p []byte, write func([]byte) (int, error)) (int, error) {
	written := 0
	for off := 0; off+9 <= len(p); {
		end := off + 9 + (int(p[off])<<16 | int(p[off+1])<<8 | int(p[off+2]))
		if end > len(p) {
			break
		}
		if typ, flags := p[off+3], p[off+4]; typ <= 0x1 && flags&0x1 != 0 && end < len(p) {
			n, err := write(p[written:end])
			written += n
			if err != nil {
				return written, err
			}
		}
		off = end
	}
	n, err := write(p[written:])
	return written + n, err
}
