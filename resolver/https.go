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
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

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
// §4.1), reading a POST's body as decodeDoH needs it.
func decodeDoHRequest(method, contentType, rawQuery string, body io.Reader) ([]byte, error) {
	var b []byte
	if method == http.MethodPost && isDoHType(contentType) {
		var err error
		if b, err = io.ReadAll(io.LimitReader(body, maxDoHMessage+1)); err != nil {
			return nil, &dohError{http.StatusBadRequest, "reading the body: " + err.Error()}
		}
	}
	return decodeDoH(method, contentType, rawQuery, b)
}

// decodeDoH returns the DNS query of a DoH request (RFC 8484 §4.1): for
// GET, the "dns" query parameter in unpadded base64url; for POST, the
// body, with Content-Type application/dns-message. Its errors are
// *dohError: 405 for another method, 415 for another content type, 413
// for a body over 65535 octets, 400 for anything else that is not a DNS
// message (no or bad parameter, shorter than a header).
func decodeDoH(method, contentType, rawQuery string, body []byte) ([]byte, error) {
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
		if !isDoHType(contentType) {
			return nil, &dohError{http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q, want %s", contentType, dohType)}
		}
		msg = body
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

// isDoHType reports whether a Content-Type is application/dns-message,
// with or without parameters.
func isDoHType(contentType string) bool {
	if contentType == dohType {
		return true // what every client sends: no parsing
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == dohType
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
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	remote := remoteAddr(r)
	resp := s.answerDoH(in, remote, sourceOf(remote), (*bp)[:0])
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

// answerDoH answers a DoH query through the stream answer path into out,
// padded, and counts and logs it as the https transport's. It returns nil
// when there is nothing to answer (a response, or a message the server
// drops). Both HTTP/1.1 (dohHandler) and HTTP/2 (h2Conn) answer with it.
func (s *Server) answerDoH(in []byte, remote net.Addr, client netip.Addr, out []byte) []byte {
	shard := in[1]
	s.transports[trHTTPS].query(shard, 1)
	resp := padReply(in, s.answerStream(shard, in, client, out))
	if s.queryLog {
		s.logQuery(remote, transportNames[trHTTPS], in, resp)
	}
	return resp
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
// connections. HTTP/2 connections are served by h2Server, HTTP/1.1 ones
// by net/http.
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
		h2 := newH2Server(s, lim)
		hs := &http.Server{
			Handler:           dohHandler{s},
			TLSConfig:         tcfg,
			ReadHeaderTimeout: lim.Handshake,
			ReadTimeout:       lim.Handshake + s.limits.ReadTimeout,
			WriteTimeout:      s.limits.WriteTimeout + lim.Handshake,
			IdleTimeout:       lim.Idle,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          log.New(handshakeLog{s}, "", 0),
			// Set, so that net/http leaves "h2" to h2Server.
			TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){
				"h2": func(_ *http.Server, c *tls.Conn, _ http.Handler) { h2.serve(c) },
			},
		}
		hs.RegisterOnShutdown(h2.shutdown)
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

// ackingListener hands out its connections as heldConns that acknowledge
// what they read at once.
type ackingListener struct{ net.Listener }

func (l ackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newAckingConn(c), nil
}

// heldConn is the TCP connection under the TLS of a DoH or DoT connection.
//
// Once the server has the connection (batch), it holds what TLS writes
// until the server is about to wait for the socket: the records of every
// reply made from what was read go out in one write. In DoH's batch mode
// the read deadline is the idle time, set before each wait; DoT's
// connection loop sets its own.
//
// A heldConn made by newAckingConn (every DoH and DoT connection) also has
// what it reads acknowledged at once. dnsperf (2.10; the same in 2.14's src/net_doh.c) leaves Nagle's
// algorithm on and writes a POST as two TLS records, HEADERS then DATA:
// the DATA, and every query after it, waits in the client's kernel until
// the HEADERS is acknowledged. The server cannot answer before the DATA,
// so when it has no earlier reply to carry the ACK, Linux delays the ACK
// (40 ms or more) and the connection stops. After each read from the
// socket that returns data, heldConn re-arms quick-ACK mode (setQuickAck).
// It sits under TLS so that this costs one system call per read from the
// socket, not one per HTTP/2 frame.
type heldConn struct {
	net.Conn
	raw syscall.RawConn // the TCP socket, for quick ACKs; nil: none

	mu       sync.Mutex // guards what follows, in batch mode
	batching bool
	closing  bool // wake was called: reads fail with errClosing
	out      []byte
	idle     time.Duration // 0: the read deadline is left alone
	wtimeout time.Duration
}

// newAckingConn returns c as a heldConn that acknowledges at once; without
// a TCP socket under it (the pool's wrapper is looked through), it
// acknowledges nothing itself.
func newAckingConn(c net.Conn) *heldConn {
	nc := c
	if rc, ok := nc.(*releasingConn); ok {
		nc = rc.Conn
	}
	ac := &heldConn{Conn: c}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			ac.raw = raw
		}
	}
	return ac
}

func (c *heldConn) Read(p []byte) (int, error) {
	if err := c.beforeRead(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if n > 0 && c.raw != nil {
		c.raw.Control(setQuickAck)
	}
	return n, err
}

// maxHeld is what a batching heldConn holds before it writes anyway.
const maxHeld = 64 << 10

func (c *heldConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.batching {
		return c.Conn.Write(p)
	}
	c.out = append(c.out, p...)
	if len(c.out) >= maxHeld {
		return len(p), c.flushLocked()
	}
	return len(p), nil
}

// batch starts holding writes, with idle (if not 0) as the deadline of
// each wait to read and wtimeout bounding each write.
func (c *heldConn) batch(idle, wtimeout time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching, c.idle, c.wtimeout = true, idle, wtimeout
}

// unbatch writes what is held and stops holding.
func (c *heldConn) unbatch() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.flushLocked()
	c.batching = false
	c.out = nil
	return err
}

// wake ends a read in progress and fails every later one with errClosing.
func (c *heldConn) wake() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closing = true
	c.Conn.SetReadDeadline(time.Now())
}

// beforeRead writes what is held and sets the idle deadline, in batch mode.
func (c *heldConn) beforeRead() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.batching {
		return nil
	}
	if c.closing {
		return errClosing
	}
	if err := c.flushLocked(); err != nil {
		return err
	}
	if c.idle == 0 {
		return nil
	}
	return c.Conn.SetReadDeadline(time.Now().Add(c.idle))
}

func (c *heldConn) flushLocked() error {
	if len(c.out) == 0 {
		return nil
	}
	c.Conn.SetWriteDeadline(time.Now().Add(c.wtimeout))
	_, err := c.Conn.Write(c.out)
	c.out = c.out[:0]
	return err
}

// setQuickAck puts the TCP socket fd in quick-ACK mode (TCP_QUICKACK,
// tcp(7)): what it has received and not yet acknowledged is acknowledged
// now, and so are the next segments, until the kernel's heuristics go
// back to delaying ACKs. An error is ignored: the setting only changes
// when ACKs leave.
func setQuickAck(fd uintptr) {
	unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
}
