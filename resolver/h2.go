package resolver

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The DoH listener serves its HTTP/2 connections (ALPN "h2") with a
// server made for DNS messages (RFC 9113 with RFC 8484 on top), and leaves
// HTTP/1.1 to net/http. Framing and HPACK come from golang.org/x/net/http2.
//
//   - Each request is answered on the connection's own goroutine as soon
//     as its last frame is read: answers take microseconds and never wait.
//     Go's general server runs a goroutine per stream, a writer goroutine
//     per connection, and an http.Request and header maps per query.
//   - Each reply's frames go out in a TLS record of their own. dnsperf
//     (2.10; the same in 2.14's src/net_doh.c) takes one reply out of each
//     read: a second reply decoded from the same record has its body
//     dropped, as its data callback pauses the HTTP/2 parser, which counts
//     the paused chunk as consumed.
//   - The records of every reply made from what was read leave in one
//     write, when the connection has nothing left to read (heldConn
//     holds them until then): one system call for many replies.

// HTTP/2 settings of the DoH server (RFC 9113 §6.5.2).
const (
	// h2StreamWindow is a stream's receive window: one octet over the
	// largest DNS message, so no stream ever needs a WINDOW_UPDATE, and a
	// body too large is seen as such (and refused with 413) before the
	// client waits for window.
	h2StreamWindow = 65536
	// h2ConnWindow is the connection's receive window: request bodies
	// the server holds at once. Credit returns when a request ends.
	h2ConnWindow = 1 << 20
	// h2MaxHeaderList bounds a request's header list.
	h2MaxHeaderList = 16 << 10
	// h2MaxFrame is the largest frame read (the default
	// SETTINGS_MAX_FRAME_SIZE, which the server does not raise).
	h2MaxFrame = 16384
	// h2MaxPending bounds the reply bytes one connection holds for
	// clients whose flow-control windows are closed; a reply over it is
	// refused with RST_STREAM ENHANCE_YOUR_CALM.
	h2MaxPending = 1 << 20
)

// h2Server serves the HTTP/2 connections of one DoH listener.
type h2Server struct {
	s   *Server
	lim ConnLimits

	mu      sync.Mutex
	conns   map[*heldConn]struct{}
	closing atomic.Bool
}

func newH2Server(s *Server, lim ConnLimits) *h2Server {
	return &h2Server{s: s, lim: lim, conns: map[*heldConn]struct{}{}}
}

// shutdown tells every connection to send GOAWAY and close: each is woken
// from its read and sees closing set.
func (h *h2Server) shutdown() {
	h.closing.Store(true)
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		c.wake()
	}
}

// serve runs one HTTP/2 connection, tc, whose handshake net/http has done,
// until it ends. Its errors go to the debug log.
func (h *h2Server) serve(tc *tls.Conn) {
	ac, ok := tc.NetConn().(*heldConn)
	if !ok {
		// ackingListener hands out every DoH connection as a heldConn.
		h.s.log.Error("https connection without a heldConn under TLS; closing", "remote", tc.RemoteAddr().String())
		return
	}
	h.mu.Lock()
	h.conns[ac] = struct{}{}
	h.mu.Unlock()
	ac.batch(h.lim.Idle, h.s.limits.WriteTimeout)
	if h.closing.Load() {
		ac.wake()
	}
	err := newH2Conn(h, tc, tc.RemoteAddr()).run()
	// What is left, then TLS's close_notify, goes out at once.
	ac.unbatch()
	h.mu.Lock()
	delete(h.conns, ac)
	h.mu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errClosing) {
		h.s.log.Debug("https connection ended", "remote", tc.RemoteAddr().String(), "err", err)
	}
}

// h2Conn is the state of one HTTP/2 connection: only its own goroutine
// touches it.
type h2Conn struct {
	h      *h2Server
	s      *Server
	rw     io.ReadWriter // the TLS connection: each Write makes a record
	br     *bufio.Reader
	fr     *http2.Framer
	enc    *hpack.Encoder
	hbuf   bytes.Buffer
	remote net.Addr
	client netip.Addr

	rec     []byte // frames of the TLS record being made
	streams map[uint32]*h2Stream
	free    []*h2Stream
	pending []*h2Stream // replies waiting for flow-control window, in order
	held    int         // bytes in pending
	last    uint32      // highest stream ID the client opened

	sendWindow int64 // connection send window
	peerWindow int64 // the client's SETTINGS_INITIAL_WINDOW_SIZE
	peerFrame  int   // the client's SETTINGS_MAX_FRAME_SIZE
	recvWindow int64 // connection receive window left
	credit     int64 // received bytes done with, not yet returned

	ccTTL uint32 // the last Cache-Control value, kept for the next reply
	cc    string
	text  []byte // an error reply's body
}

// h2Stream is a request being received, or a reply waiting for window.
type h2Stream struct {
	id            uint32
	method, path  string
	ctype         string
	contentLength int64 // -1: none given
	body          []byte
	recv          int64 // DATA bytes received, padding included
	sendWindow    int64
	rest          []byte // reply bytes not yet sent
	answered      bool
}

func newH2Conn(h *h2Server, rw io.ReadWriter, remote net.Addr) *h2Conn {
	c := &h2Conn{
		h: h, s: h.s, rw: rw,
		br:         bufio.NewReaderSize(rw, 2*h2MaxFrame),
		remote:     remote,
		streams:    map[uint32]*h2Stream{},
		sendWindow: 65535, peerWindow: 65535, peerFrame: 16384,
		recvWindow: h2ConnWindow,
	}
	c.client = sourceOf(c.remote)
	c.fr = http2.NewFramer(io.Discard, c.br)
	c.fr.SetMaxReadFrameSize(h2MaxFrame)
	c.fr.MaxHeaderListSize = h2MaxHeaderList
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.SetReuseFrames()
	c.enc = hpack.NewEncoder(&c.hbuf)
	return c
}

// errClosing ends a connection for the server's shutdown.
var errClosing = errors.New("server shutting down")

// connError is an HTTP/2 connection error (RFC 9113 §5.4.1): GOAWAY with
// code, then close.
type connError struct {
	code http2.ErrCode
	why  string
}

func (e *connError) Error() string { return fmt.Sprintf("http2 %v: %s", e.code, e.why) }

// run serves the connection: the server's preface, the client's, then
// frames until the client leaves, an error ends it or the server shuts
// down.
func (c *h2Conn) run() error {
	c.rec = appendSettings(c.rec, uint32(c.h.lim.MaxStreams))
	c.rec = appendFrame(c.rec, http2.FrameWindowUpdate, 0, 0, u32(h2ConnWindow-65535))
	if err := c.endRecord(); err != nil {
		return err
	}
	var preface [len(http2.ClientPreface)]byte
	if _, err := io.ReadFull(c.br, preface[:]); err != nil {
		return err
	}
	if string(preface[:]) != http2.ClientPreface {
		return c.goAway(&connError{http2.ErrCodeProtocol, "no client preface"})
	}
	for {
		if err := c.endRecord(); err != nil {
			return err
		}
		f, err := c.fr.ReadFrame()
		if c.h.closing.Load() {
			return c.goAway(&connError{http2.ErrCodeNo, errClosing.Error()})
		}
		if err != nil {
			var se http2.StreamError
			var ce http2.ConnectionError
			switch {
			case errors.As(err, &se):
				if se.StreamID > c.last && se.StreamID%2 == 1 {
					c.last = se.StreamID // a HEADERS that opened and failed it
				}
				c.reset(se.StreamID, se.Code)
				continue
			case errors.As(err, &ce):
				why := "bad frame"
				if d := c.fr.ErrorDetail(); d != nil {
					why = d.Error()
				}
				return c.goAway(&connError{http2.ErrCode(ce), why})
			case errors.Is(err, http2.ErrFrameTooLarge):
				return c.goAway(&connError{http2.ErrCodeFrameSize, "frame over 16384 octets"})
			case errors.Is(err, os.ErrDeadlineExceeded):
				return c.goAway(&connError{http2.ErrCodeNo, "idle timeout"})
			}
			return err
		}
		if err := c.handle(f); err != nil {
			var ce *connError
			if errors.As(err, &ce) {
				return c.goAway(ce)
			}
			return err
		}
	}
}

// goAway sends GOAWAY for ce and returns ce, or nil for a shutdown.
func (c *h2Conn) goAway(ce *connError) error {
	p := make([]byte, 8, 8+len(ce.why))
	copy(p, u32(c.last))
	copy(p[4:], u32(uint32(ce.code)))
	c.rec = appendFrame(c.rec, http2.FrameGoAway, 0, 0, append(p, ce.why...))
	c.endRecord()
	if ce.code == http2.ErrCodeNo {
		return nil
	}
	return ce
}

func (c *h2Conn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return c.onHeaders(f)
	case *http2.DataFrame:
		return c.onData(f)
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		err := f.ForeachSetting(func(st http2.Setting) error {
			if err := st.Valid(); err != nil {
				return &connError{http2.ErrCode(err.(http2.ConnectionError)), "bad setting " + st.String()}
			}
			switch st.ID {
			case http2.SettingInitialWindowSize:
				// RFC 9113 §6.9.2: the change applies to every stream.
				d := int64(st.Val) - c.peerWindow
				c.peerWindow = int64(st.Val)
				for _, s := range c.streams {
					s.sendWindow += d
				}
			case http2.SettingMaxFrameSize:
				c.peerFrame = int(st.Val)
			case http2.SettingHeaderTableSize:
				c.enc.SetMaxDynamicTableSizeLimit(st.Val)
			}
			return nil
		})
		if err != nil {
			return err
		}
		c.rec = appendFrame(c.rec, http2.FrameSettings, http2.FlagSettingsAck, 0, nil)
		return c.drain()
	case *http2.PingFrame:
		if !f.IsAck() {
			c.rec = appendFrame(c.rec, http2.FramePing, http2.FlagPingAck, 0, f.Data[:])
		}
	case *http2.WindowUpdateFrame:
		inc := int64(f.Increment)
		if f.StreamID == 0 {
			if c.sendWindow += inc; c.sendWindow > 1<<31-1 {
				return &connError{http2.ErrCodeFlowControl, "connection window over 2^31-1"}
			}
			return c.drain()
		}
		if s := c.streams[f.StreamID]; s != nil {
			if s.sendWindow += inc; s.sendWindow > 1<<31-1 {
				c.reset(f.StreamID, http2.ErrCodeFlowControl)
				return nil
			}
			return c.drain()
		}
		if f.StreamID > c.last {
			return &connError{http2.ErrCodeProtocol, "WINDOW_UPDATE on an idle stream"}
		}
	case *http2.RSTStreamFrame:
		if f.StreamID > c.last {
			return &connError{http2.ErrCodeProtocol, "RST_STREAM on an idle stream"}
		}
		c.drop(f.StreamID)
	case *http2.GoAwayFrame:
		// The client opens no more streams, and every reply it can have
		// has been sent or is in pending; what is left goes when the
		// client closes.
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			c.reset(f.StreamID, http2.ErrCodeProtocol) // RFC 9113 §5.3.1
		}
	case *http2.PushPromiseFrame:
		return &connError{http2.ErrCodeProtocol, "PUSH_PROMISE from a client"}
	}
	// Otherwise PRIORITY, PRIORITY_UPDATE and unknown types are ignored
	// (RFC 9113 §5.3.2, §5.5).
	return nil
}

// onHeaders opens a request, or ends one with trailers.
func (c *h2Conn) onHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return &connError{http2.ErrCodeProtocol, "even stream ID from a client"}
	}
	if s := c.streams[id]; s != nil {
		switch {
		case s.answered: // HEADERS after the request's end
			c.reset(id, http2.ErrCodeStreamClosed)
			return nil
		case !f.StreamEnded(): // trailers that do not end it
			c.reset(id, http2.ErrCodeProtocol)
			return nil
		}
		return c.endRequest(s)
	}
	if id <= c.last {
		return &connError{http2.ErrCodeStreamClosed, "HEADERS on a closed stream"}
	}
	c.last = id
	if f.Priority.StreamDep == id {
		c.rec = appendRST(c.rec, id, http2.ErrCodeProtocol) // RFC 9113 §5.3.1
		return nil
	}
	if len(c.streams) >= c.h.lim.MaxStreams {
		c.rec = appendRST(c.rec, id, http2.ErrCodeRefusedStream)
		return nil
	}
	s := c.newStream(id)
	scheme, malformed := false, false
	for _, hf := range f.Fields {
		switch hf.Name {
		case ":method":
			s.method = hf.Value
		case ":path":
			s.path = hf.Value
		case ":scheme":
			scheme = hf.Value != ""
		case ":protocol":
			malformed = true // extended CONNECT is not offered
		case "content-type":
			s.ctype = hf.Value
		case "content-length":
			n, err := strconv.ParseInt(hf.Value, 10, 64)
			if err != nil || n < 0 || (s.contentLength >= 0 && n != s.contentLength) {
				malformed = true
			}
			s.contentLength = n
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			malformed = true // RFC 9113 §8.2.2
		case "te":
			malformed = malformed || hf.Value != "trailers"
		}
	}
	if f.Truncated {
		err := c.finish(s, http.StatusRequestHeaderFieldsTooLarge, "header list over 16384 octets")
		if !f.StreamEnded() && c.streams[id] == nil {
			// Answered in full: the body, if the client sends it, is
			// not wanted (RFC 9113 §8.1).
			c.rec = appendRST(c.rec, id, http2.ErrCodeNo)
		}
		return err
	}
	if malformed || s.method == "" || (s.method != http.MethodConnect && (!scheme || s.path == "")) {
		// RFC 9113 §8.1.1: a malformed request is a stream error.
		c.free = append(c.free, s)
		c.rec = appendRST(c.rec, id, http2.ErrCodeProtocol)
		return nil
	}
	if f.StreamEnded() {
		return c.endRequest(s)
	}
	s.sendWindow = c.peerWindow
	c.streams[id] = s
	return nil
}

func (c *h2Conn) newStream(id uint32) *h2Stream {
	var s *h2Stream
	if n := len(c.free); n > 0 {
		s, c.free = c.free[n-1], c.free[:n-1]
		*s = h2Stream{body: s.body[:0], rest: s.rest[:0]}
	} else {
		s = new(h2Stream)
	}
	s.id, s.contentLength, s.sendWindow = id, -1, c.peerWindow
	return s
}

// onData takes a request body's bytes, within the flow-control windows.
func (c *h2Conn) onData(f *http2.DataFrame) error {
	n := int64(f.Length)
	if c.recvWindow -= n; c.recvWindow < 0 {
		return &connError{http2.ErrCodeFlowControl, "DATA over the connection window"}
	}
	s := c.streams[f.StreamID]
	if s == nil || s.answered {
		c.returnCredit(n)
		if f.StreamID > c.last {
			return &connError{http2.ErrCodeProtocol, "DATA on an idle stream"}
		}
		// Half-closed (remote) or closed (RFC 9113 §5.1). A client that
		// had DATA in flight when the server reset the stream is told
		// again, which it ignores.
		c.reset(f.StreamID, http2.ErrCodeStreamClosed)
		return nil
	}
	if s.recv += n; s.recv > h2StreamWindow {
		c.reset(s.id, http2.ErrCodeFlowControl)
		return nil
	}
	s.body = append(s.body, f.Data()...)
	if len(s.body) > maxDoHMessage {
		c.returnCredit(s.recv)
		s.recv = 0
		err := c.finish(s, http.StatusRequestEntityTooLarge, "message over 65535 octets")
		if !f.StreamEnded() && c.streams[s.id] == nil {
			c.rec = appendRST(c.rec, s.id, http2.ErrCodeNo) // the rest is not wanted
		}
		return err
	}
	if f.StreamEnded() {
		return c.endRequest(s)
	}
	return nil
}

// endRequest answers a request whose last frame has come.
func (c *h2Conn) endRequest(s *h2Stream) error {
	c.returnCredit(s.recv)
	s.recv = 0
	if s.contentLength >= 0 && s.contentLength != int64(len(s.body)) {
		c.reset(s.id, http2.ErrCodeProtocol) // RFC 9113 §8.1.1
		return nil
	}
	path, query, _ := strings.Cut(s.path, "?")
	if path != DoHPath {
		return c.finish(s, http.StatusNotFound, "not found: DNS over HTTPS is on "+DoHPath)
	}
	in, err := decodeDoH(s.method, s.ctype, query, s.body)
	if err != nil {
		de := err.(*dohError)
		return c.finish(s, de.status, de.why)
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	resp := c.s.answerDoH(in, c.remote, c.client, (*bp)[:0])
	if resp == nil {
		return c.finish(s, http.StatusBadRequest, "not a DNS query")
	}
	cc := "no-store"
	if ttl, ok := minTTL(resp); ok {
		if ttl != c.ccTTL || c.cc == "" {
			c.ccTTL, c.cc = ttl, "max-age="+strconv.FormatUint(uint64(ttl), 10)
		}
		cc = c.cc
	}
	c.hbuf.Reset()
	c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	c.enc.WriteField(hpack.HeaderField{Name: "content-type", Value: dohType})
	c.enc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(resp))})
	c.enc.WriteField(hpack.HeaderField{Name: "cache-control", Value: cc})
	return c.send(s, resp, s.method == http.MethodHead)
}

// finish answers a request with an error status and a text body.
func (c *h2Conn) finish(s *h2Stream, status int, why string) error {
	c.hbuf.Reset()
	c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: strconv.Itoa(status)})
	c.enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "text/plain; charset=utf-8"})
	c.enc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(why) + 1)})
	if status == http.StatusMethodNotAllowed {
		c.enc.WriteField(hpack.HeaderField{Name: "allow", Value: "GET, HEAD, POST"})
	}
	c.text = append(append(c.text[:0], why...), '\n')
	return c.send(s, c.text, s.method == http.MethodHead)
}

// send writes the encoded headers in c.hbuf and the body, as far as the
// flow-control windows allow; the rest waits in pending for
// WINDOW_UPDATE.
func (c *h2Conn) send(s *h2Stream, body []byte, headOnly bool) error {
	s.answered = true
	if headOnly || len(body) == 0 {
		c.rec = appendFrame(c.rec, http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, s.id, c.hbuf.Bytes())
		c.close(s)
		return c.endRecord()
	}
	c.rec = appendFrame(c.rec, http2.FrameHeaders, http2.FlagHeadersEndHeaders, s.id, c.hbuf.Bytes())
	rest, err := c.sendData(s, body)
	if err != nil || len(rest) == 0 {
		return err
	}
	if c.held+len(rest) > h2MaxPending {
		c.reset(s.id, http2.ErrCodeEnhanceYourCalm)
		return nil
	}
	s.rest = append(s.rest[:0], rest...)
	c.held += len(s.rest)
	c.streams[s.id] = s
	c.pending = append(c.pending, s)
	return nil
}

// sendData writes DATA frames of body up to the windows and the client's
// frame size, the last with END_STREAM, and returns what is left.
func (c *h2Conn) sendData(s *h2Stream, body []byte) ([]byte, error) {
	for len(body) > 0 {
		n := min(int64(len(body)), int64(c.peerFrame), c.sendWindow, s.sendWindow)
		if n <= 0 {
			return body, nil
		}
		var flags http2.Flags
		if n == int64(len(body)) {
			flags = http2.FlagDataEndStream
		}
		c.rec = appendFrame(c.rec, http2.FrameData, flags, s.id, body[:n])
		c.sendWindow -= n
		s.sendWindow -= n
		body = body[n:]
	}
	c.close(s)
	return nil, c.endRecord()
}

// drain sends what pending replies the windows now allow.
func (c *h2Conn) drain() error {
	kept := c.pending[:0]
	for _, s := range c.pending {
		if c.streams[s.id] != s {
			c.free = append(c.free, s) // reset meanwhile
			continue
		}
		rest, err := c.sendData(s, s.rest)
		if err != nil {
			return err
		}
		c.held -= len(s.rest) - len(rest)
		if s.rest = rest; len(rest) > 0 {
			kept = append(kept, s)
		}
	}
	clear(c.pending[len(kept):])
	c.pending = kept
	return nil
}

// close forgets a stream whose reply has been sent in full.
func (c *h2Conn) close(s *h2Stream) {
	if c.streams[s.id] == s {
		delete(c.streams, s.id)
	}
	c.free = append(c.free, s)
}

// reset sends RST_STREAM for a stream and forgets it.
func (c *h2Conn) reset(id uint32, code http2.ErrCode) {
	c.rec = appendRST(c.rec, id, code)
	c.drop(id)
}

// drop forgets a stream the client or the server reset.
func (c *h2Conn) drop(id uint32) {
	s := c.streams[id]
	if s == nil {
		return
	}
	delete(c.streams, id)
	c.returnCredit(s.recv)
	c.held -= len(s.rest)
	s.rest = s.rest[:0]
	// A stream in pending joins free when drain lets it go.
	if !s.answered {
		c.free = append(c.free, s)
	}
}

// returnCredit gives n received bytes back to the client's connection
// window, in WINDOW_UPDATEs of at least a sixteenth of it.
func (c *h2Conn) returnCredit(n int64) {
	if c.credit += n; c.credit >= h2ConnWindow/16 {
		c.rec = appendFrame(c.rec, http2.FrameWindowUpdate, 0, 0, u32(uint32(c.credit)))
		c.recvWindow += c.credit
		c.credit = 0
	}
}

// endRecord hands the frames made so far to TLS as one record. The
// connection below holds it until the server next waits to read.
func (c *h2Conn) endRecord() error {
	if len(c.rec) == 0 {
		return nil
	}
	_, err := c.rw.Write(c.rec)
	c.rec = c.rec[:0]
	return err
}

// appendFrame appends an HTTP/2 frame (RFC 9113 §4.1).
func appendFrame(b []byte, typ http2.FrameType, flags http2.Flags, id uint32, payload []byte) []byte {
	n := len(payload)
	b = append(b, byte(n>>16), byte(n>>8), byte(n), byte(typ), byte(flags),
		byte(id>>24)&0x7f, byte(id>>16), byte(id>>8), byte(id))
	return append(b, payload...)
}

func appendRST(b []byte, id uint32, code http2.ErrCode) []byte {
	return appendFrame(b, http2.FrameRSTStream, 0, id, u32(uint32(code)))
}

// appendSettings appends the server's SETTINGS: its stream limit, header
// list limit and stream window (RFC 9113 §6.5.2).
func appendSettings(b []byte, maxStreams uint32) []byte {
	var p []byte
	for _, s := range []http2.Setting{
		{ID: http2.SettingMaxConcurrentStreams, Val: maxStreams},
		{ID: http2.SettingInitialWindowSize, Val: h2StreamWindow},
		{ID: http2.SettingMaxHeaderListSize, Val: h2MaxHeaderList},
	} {
		p = append(p, byte(s.ID>>8), byte(s.ID))
		p = append(p, u32(s.Val)...)
	}
	return appendFrame(b, http2.FrameSettings, 0, 0, p)
}

func u32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
