package resolver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/tlscert"
	"github.com/svcdns/svcdns/internal/zonetest"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// labTLS is the configuration of a lab certificate for ns1.ports.local,
// and the pool that trusts it.
func labTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	certFile, keyFile, _, err := tlscert.EnsureSelfSigned(t.TempDir(), []string{"ns1.ports.local"}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	store, err := tlscert.Open(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(store.Leaf())
	return &tls.Config{GetCertificate: store.GetCertificate}, roots
}

// dohServer serves the excerpt over DoH on loopback with a lab
// certificate and the limits given.
func dohServer(t *testing.T, lim ConnLimits) (s *Server, h *Handler, addr string, roots *x509.CertPool) {
	t.Helper()
	cfg, roots := labTLS(t)
	h = NewHandler(zonetest.Excerpt(t), 0, nil)
	s = NewServer(h, DefaultLimits, nil)
	if err := s.ListenHTTPS([]string{"127.0.0.1:0"}, cfg, lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, h, s.EncryptedAddrs()[0].Addr.String(), roots
}

// TestDoHOverHTTP2 asks over one HTTP/2 connection of Go's own client
// (golang.org/x/net/http2, an independent implementation) many queries at
// once, by POST, GET and HEAD, and checks each reply against the answer
// path's, with the headers RFC 8484 asks for; then the error statuses.
func TestDoHOverHTTP2(t *testing.T) {
	_, h, addr, roots := dohServer(t, ConnLimits{})
	tr := &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "ns1.ports.local"}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "https://" + addr + DoHPath
	names := []struct {
		name  string
		qtype uint16
	}{
		{"_rets._tcp.ports.local.", dns.TypeSRV},
		{"_bmc_ctd_ldap._tcp.ports.local.", dns.TypeSRV},
		{"_nosuch._tcp.ports.local.", dns.TypeSRV},
		{"_services._dns-sd._udp.ports.local.", dns.TypePTR},
		{"ports.local.", dns.TypeSOA},
	}
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := names[i%len(names)]
			q := packQuery(t, n.name, n.qtype, 1232, nil)
			want := h.AnswerWire(q, true, nil)
			var req *http.Request
			switch method := []string{http.MethodPost, http.MethodGet, http.MethodHead}[i%3]; method {
			case http.MethodPost:
				req, _ = http.NewRequest(method, url, bytes.NewReader(q))
				req.Header.Set("Content-Type", dohType)
			default:
				req, _ = http.NewRequest(method, url+"?dns="+base64.RawURLEncoding.EncodeToString(q), nil)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Errorf("%s %s: %v", req.Method, n.name, err)
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
				t.Errorf("%s %s: %s %s, %v", req.Method, n.name, resp.Proto, resp.Status, err)
				return
			}
			ttl, _ := minTTL(want)
			if ct, cc, cl := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), resp.Header.Get("Content-Length"); ct != dohType ||
				cc != "max-age="+strconv.Itoa(int(ttl)) || cl != strconv.Itoa(len(want)) {
				t.Errorf("%s %s: Content-Type %q, Cache-Control %q, Content-Length %q; want %s, max-age=%d, %d",
					req.Method, n.name, ct, cc, cl, dohType, ttl, len(want))
			}
			if req.Method == http.MethodHead {
				want = nil
			}
			if !bytes.Equal(body, want) {
				t.Errorf("%s %s: reply differs from the answer path's\n got %x\nwant %x", req.Method, n.name, body, want)
			}
		}()
	}
	wg.Wait()

	q := packQuery(t, "_rets._tcp.ports.local.", dns.TypeSRV, 1232, nil)
	for _, tc := range []struct {
		name, method, path, ctype string
		body                      []byte
		status                    int
	}{
		{"other path", "GET", "/", "", nil, http.StatusNotFound},
		{"PUT", "PUT", DoHPath, dohType, q, http.StatusMethodNotAllowed},
		{"wrong type", "POST", DoHPath, "text/plain", q, http.StatusUnsupportedMediaType},
		{"no parameter", "GET", DoHPath, "", nil, http.StatusBadRequest},
		{"short body", "POST", DoHPath, dohType, q[:5], http.StatusBadRequest},
		{"too large", "POST", DoHPath, dohType, make([]byte, 70000), http.StatusRequestEntityTooLarge},
		{"a response", "POST", DoHPath, dohType, h.AnswerWire(q, true, nil), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != nil {
				body = bytes.NewReader(tc.body)
			}
			req, _ := http.NewRequest(tc.method, "https://"+addr+tc.path, body)
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || len(b) == 0 {
				t.Errorf("status %d with %q, want %d with a reason", resp.StatusCode, b, tc.status)
			}
			if tc.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET, HEAD, POST" {
				t.Errorf("405 with Allow %q", resp.Header.Get("Allow"))
			}
		})
	}
}

// h2Client speaks HTTP/2 frame by frame, to send what a well-behaved
// client would not.
type h2Client struct {
	t   *testing.T
	c   *tls.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer
}

func dialH2(t *testing.T, addr string, roots *x509.CertPool, settings ...http2.Setting) *h2Client {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "ns1.ports.local", NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q, want h2", p)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	h := &h2Client{t: t, c: c, fr: http2.NewFramer(c, c)}
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.enc = hpack.NewEncoder(&h.hb)
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	if err := h.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	return h
}

// request sends a request's HEADERS; fields are name, value pairs after
// the pseudo-header fields of method and target.
func (h *h2Client) request(id uint32, method, target string, endStream bool, fields ...string) {
	h.t.Helper()
	h.hb.Reset()
	all := append([]string{":method", method, ":scheme", "https", ":authority", "ns1.ports.local", ":path", target}, fields...)
	for i := 0; i+1 < len(all); i += 2 {
		h.enc.WriteField(hpack.HeaderField{Name: all[i], Value: all[i+1]})
	}
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.hb.Bytes(), EndStream: endStream, EndHeaders: true}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *h2Client) get(id uint32, q []byte) {
	h.t.Helper()
	h.request(id, "GET", DoHPath+"?dns="+base64.RawURLEncoding.EncodeToString(q), true)
}

// next returns the server's next frame that is not its SETTINGS (which it
// acknowledges) or a SETTINGS ACK; nil when the connection ended.
func (h *h2Client) next() http2.Frame {
	h.t.Helper()
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			h.t.Fatalf("reading a frame: %v", err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok {
			if !sf.IsAck() {
				h.fr.WriteSettingsAck()
			}
			continue
		}
		return f
	}
}

// response reads the frames of stream id's reply: its status and body.
// Frames of other streams are kept in others.
func (h *h2Client) response(id uint32, others map[uint32][]byte) (status int, body []byte) {
	h.t.Helper()
	for {
		f := h.next()
		switch f := f.(type) {
		case nil:
			h.t.Fatalf("stream %d: connection ended", id)
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				status, _ = strconv.Atoi(f.PseudoValue("status"))
				if f.StreamEnded() {
					return status, body
				}
			}
		case *http2.DataFrame:
			if f.StreamID != id {
				others[f.StreamID] = append(others[f.StreamID], f.Data()...)
				continue
			}
			body = append(body, f.Data()...)
			if f.StreamEnded() {
				return status, body
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				h.t.Fatalf("stream %d reset: %v", id, f.ErrCode)
			}
		case *http2.GoAwayFrame:
			h.t.Fatalf("GOAWAY %v: %s", f.ErrCode, f.DebugData())
		}
	}
}

// expect reads frames until one satisfies ok, failing on the end of the
// connection.
func (h *h2Client) expect(what string, ok func(http2.Frame) bool) http2.Frame {
	h.t.Helper()
	for {
		f := h.next()
		if f == nil {
			h.t.Fatalf("connection ended before %s", what)
		}
		if ok(f) {
			return f
		}
	}
}

func isRST(id uint32, code http2.ErrCode) func(http2.Frame) bool {
	return func(f http2.Frame) bool {
		r, ok := f.(*http2.RSTStreamFrame)
		return ok && r.StreamID == id && r.ErrCode == code
	}
}

// TestDoHHTTP2Frames drives the HTTP/2 server frame by frame: flow control
// holding a reply back, the stream limit, malformed requests, oversized
// bodies, PING, and connection errors. After each stream error the
// connection still answers.
func TestDoHHTTP2Frames(t *testing.T) {
	_, h, addr, roots := dohServer(t, ConnLimits{MaxStreams: 2})
	q := packQuery(t, "_services._dns-sd._udp.ports.local.", dns.TypePTR, 1232, nil)
	want := h.AnswerWire(q, true, nil)
	if len(want) < 100 {
		t.Fatalf("a %d-octet reply is too short to test flow control", len(want))
	}
	// answered checks that a GET on stream id gets the right reply.
	answered := func(c *h2Client, id uint32) {
		t.Helper()
		c.get(id, q)
		if st, b := c.response(id, nil); st != 200 || !bytes.Equal(b, want) {
			t.Errorf("stream %d: status %d, %d octets; want 200 and the %d-octet answer", id, st, len(b), len(want))
		}
	}

	t.Run("flow control", func(t *testing.T) {
		c := dialH2(t, addr, roots, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 16})
		c.get(1, q)
		var body []byte
		for len(body) < 48 {
			f := c.expect("DATA", func(f http2.Frame) bool { _, ok := f.(*http2.DataFrame); return ok }).(*http2.DataFrame)
			if len(f.Data()) > 16 || f.StreamEnded() {
				t.Fatalf("DATA of %d octets (end %v) within a 16-octet window", len(f.Data()), f.StreamEnded())
			}
			body = append(body, f.Data()...)
			if len(body)%16 == 0 {
				c.fr.WriteWindowUpdate(1, 16)
			}
		}
		c.fr.WriteWindowUpdate(1, 1<<20)
		others := map[uint32][]byte{}
		if _, rest := c.response(1, others); !bytes.Equal(append(body, rest...), want) {
			t.Errorf("reassembled reply differs from the answer")
		}
		// A SETTINGS that widens every stream's window releases a held
		// reply too.
		c.get(3, q)
		c.expect("DATA", func(f http2.Frame) bool { _, ok := f.(*http2.DataFrame); return ok })
		c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535})
		if _, rest := c.response(3, others); len(rest) != len(want)-16 {
			t.Errorf("after SETTINGS: %d more octets, want %d", len(rest), len(want)-16)
		}
	})

	t.Run("stream limit", func(t *testing.T) {
		c := dialH2(t, addr, roots)
		post := []string{"content-type", dohType}
		c.request(1, "POST", DoHPath, false, post...)
		c.request(3, "POST", DoHPath, false, post...)
		c.request(5, "POST", DoHPath, false, post...)
		c.expect("RST_STREAM REFUSED_STREAM on the third", isRST(5, http2.ErrCodeRefusedStream))
		c.fr.WriteData(3, true, q)
		c.fr.WriteData(1, true, q)
		others := map[uint32][]byte{}
		if st, b := c.response(3, others); st != 200 || !bytes.Equal(b, want) {
			t.Errorf("stream 3: %d, %d octets", st, len(b))
		}
		if st, b := c.response(1, others); st != 200 || !bytes.Equal(append(others[1], b...), want) {
			t.Errorf("stream 1: %d, %d octets", st, len(b))
		}
		answered(c, 7)
	})

	t.Run("stream errors", func(t *testing.T) {
		c := dialH2(t, addr, roots)
		// Content-Length that the body does not match (RFC 9113 §8.1.1).
		c.request(1, "POST", DoHPath, false, "content-type", dohType, "content-length", "5")
		c.fr.WriteData(1, true, q)
		c.expect("RST_STREAM PROTOCOL_ERROR", isRST(1, http2.ErrCodeProtocol))
		// A connection-specific header field (§8.2.2).
		c.request(3, "GET", DoHPath+"?dns="+base64.RawURLEncoding.EncodeToString(q), true, "connection", "keep-alive")
		c.expect("RST_STREAM PROTOCOL_ERROR", isRST(3, http2.ErrCodeProtocol))
		// No :path.
		c.hb.Reset()
		c.enc.WriteField(hpack.HeaderField{Name: ":method", Value: "GET"})
		c.enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: "https"})
		c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: c.hb.Bytes(), EndStream: true, EndHeaders: true})
		c.expect("RST_STREAM PROTOCOL_ERROR", isRST(5, http2.ErrCodeProtocol))
		// DATA after the request ended.
		c.get(7, q)
		c.response(7, nil)
		c.fr.WriteData(7, true, []byte("late"))
		c.expect("RST_STREAM STREAM_CLOSED", isRST(7, http2.ErrCodeStreamClosed))
		// A body over 65535 octets: 413 at once, then RST_STREAM NO_ERROR.
		c.request(9, "POST", DoHPath, false, "content-type", dohType)
		for range 4 {
			c.fr.WriteData(9, false, make([]byte, 16384))
		}
		c.fr.WriteData(9, false, []byte{0})
		if st, _ := c.response(9, nil); st != http.StatusRequestEntityTooLarge {
			t.Errorf("65537-octet body: status %d, want 413", st)
		}
		c.expect("RST_STREAM NO_ERROR", isRST(9, http2.ErrCodeNo))
		// PING is answered with its payload.
		c.fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
		c.expect("PING ACK", func(f http2.Frame) bool {
			p, ok := f.(*http2.PingFrame)
			return ok && p.IsAck() && p.Data == [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
		})
		answered(c, 11)
	})

	for _, tc := range []struct {
		name string
		send func(c *h2Client)
		code http2.ErrCode
	}{
		{"even stream ID", func(c *h2Client) { c.get(2, q) }, http2.ErrCodeProtocol},
		{"DATA on an idle stream", func(c *h2Client) { c.fr.WriteData(9, true, q) }, http2.ErrCodeProtocol},
		{"stream ID going back", func(c *h2Client) { c.get(5, q); c.get(3, q) }, http2.ErrCodeStreamClosed},
		{"PUSH_PROMISE", func(c *h2Client) {
			c.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: []byte{0x82}, EndHeaders: true})
		}, http2.ErrCodeProtocol},
		{"frame over 16384 octets", func(c *h2Client) {
			c.request(1, "POST", DoHPath, false, "content-type", dohType)
			c.fr.WriteData(1, true, make([]byte, 20000))
		}, http2.ErrCodeFrameSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialH2(t, addr, roots)
			tc.send(c)
			f := c.expect("GOAWAY", func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }).(*http2.GoAwayFrame)
			if f.ErrCode != tc.code {
				t.Errorf("GOAWAY %v (%s), want %v", f.ErrCode, f.DebugData(), tc.code)
			}
			if f := c.next(); f != nil {
				t.Errorf("after GOAWAY: %v, want the connection closed", f)
			}
		})
	}

	t.Run("no preface", func(t *testing.T) {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "ns1.ports.local", NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("GET /dns-query HTTP/1.1\r\nHost: x\r\n\r\n"))
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Contains(got, []byte("no client preface")) {
			t.Errorf("read %q, %v; want SETTINGS, then GOAWAY and the end", got, err)
		}
	})
}

// serveCounted accepts one connection on loopback and runs serve on it
// through a countingConn, which it also sends on counted (nil if the
// accept failed).
func serveCounted(t *testing.T, serve func(net.Conn)) (addr string, counted <-chan *countingConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan *countingConn, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			t.Error(err)
			ch <- nil
			return
		}
		defer raw.Close()
		cc := &countingConn{Conn: raw}
		ch <- cc
		serve(cc)
	}()
	return ln.Addr().String(), ch
}

// countingConn records each write to the socket.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, append([]byte(nil), p...))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *countingConn) take() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.writes
	c.writes = nil
	return w
}

// TestDoHRepliesBatched sends 40 queries in one write and checks how the
// replies leave: each in a TLS record of its own (dnsperf takes one reply
// per record read, see h2.go), and all of them in a few writes to the
// socket, not one each.
func TestDoHRepliesBatched(t *testing.T) {
	s, h, _, _ := dohServer(t, ConnLimits{})
	cfg, roots := labTLS(t)
	hs := newH2Server(s, DefaultConnLimits)
	addr, served := serveCounted(t, func(cc net.Conn) {
		tc := tls.Server(newAckingConn(cc), serverTLS(cfg, "h2"))
		if err := tc.Handshake(); err != nil {
			t.Error(err)
			return
		}
		hs.serve(tc)
		tc.Close()
	})
	c := dialH2(t, addr, roots)
	cc := <-served
	if cc == nil {
		t.FailNow()
	}
	q := packQuery(t, "_rets._tcp.ports.local.", dns.TypeSRV, 1232, nil)
	want := h.AnswerWire(q, true, nil)
	c.get(1, q)
	c.response(1, nil)
	time.Sleep(50 * time.Millisecond) // the first reply's writes are done
	cc.take()

	// 40 GETs, HPACK-indexed after the first, in one write.
	var batch bytes.Buffer
	fr := http2.NewFramer(&batch, nil)
	for i := range 40 {
		c.hb.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "ns1.ports.local"}, {":path", DoHPath + "?dns=" + base64.RawURLEncoding.EncodeToString(q)}} {
			c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(3 + 2*i), BlockFragment: c.hb.Bytes(), EndStream: true, EndHeaders: true})
	}
	if _, err := c.c.Write(batch.Bytes()); err != nil {
		t.Fatal(err)
	}
	others := map[uint32][]byte{}
	for i := range 40 {
		id := uint32(3 + 2*i)
		st, b := c.response(id, others)
		if st != 200 || !bytes.Equal(append(others[id], b...), want) {
			t.Fatalf("stream %d: status %d, %d octets", id, st, len(b))
		}
	}
	writes := cc.take()
	records := 0
	for _, w := range writes {
		for off := 0; off+5 <= len(w); off += 5 + (int(w[off+3])<<8 | int(w[off+4])) {
			if w[off] == 23 { // application data
				records++
			}
		}
	}
	if records < 40 {
		t.Errorf("40 replies in %d TLS records, want one record each", records)
	}
	// The client's write may reach the server in several reads; each
	// read is answered by one write.
	if len(writes) > 10 {
		t.Errorf("40 replies in %d writes to the socket, want them gathered", len(writes))
	}
	t.Logf("40 replies: %d TLS records in %d writes", records, len(writes))
}

// TestDoHShutdown checks that a server shutting down sends GOAWAY with
// NO_ERROR on its open HTTP/2 connections and closes them.
func TestDoHShutdown(t *testing.T) {
	s, _, addr, roots := dohServer(t, ConnLimits{})
	c := dialH2(t, addr, roots)
	q := packQuery(t, "_rets._tcp.ports.local.", dns.TypeSRV, 1232, nil)
	c.get(1, q)
	c.response(1, nil)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	f := c.expect("GOAWAY", func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }).(*http2.GoAwayFrame)
	if f.ErrCode != http2.ErrCodeNo || f.LastStreamID != 1 {
		t.Errorf("GOAWAY %v, last stream %d; want NO_ERROR, 1", f.ErrCode, f.LastStreamID)
	}
	if f := c.next(); f != nil {
		t.Errorf("after GOAWAY: %v", f)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestDoHIdle checks that an HTTP/2 connection idle for the transport's
// idle time gets GOAWAY with NO_ERROR and is closed.
func TestDoHIdle(t *testing.T) {
	_, _, addr, roots := dohServer(t, ConnLimits{Idle: 300 * time.Millisecond})
	c := dialH2(t, addr, roots)
	c.get(1, packQuery(t, "_rets._tcp.ports.local.", dns.TypeSRV, 1232, nil))
	c.response(1, nil)
	f := c.expect("GOAWAY", func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }).(*http2.GoAwayFrame)
	if f.ErrCode != http2.ErrCodeNo || string(f.DebugData()) != "idle timeout" {
		t.Errorf("GOAWAY %v %q, want NO_ERROR, idle timeout", f.ErrCode, f.DebugData())
	}
	if f := c.next(); f != nil {
		t.Errorf("after GOAWAY: %v", f)
	}
}

// FuzzHTTP2Conn feeds arbitrary bytes after the client preface to an
// HTTP/2 connection of the DoH server: it must not panic, and what it
// writes must parse as whole HTTP/2 frames with valid HPACK.
func FuzzHTTP2Conn(f *testing.F) {
	q := packQuery(f, "_rets._tcp.ports.local.", dns.TypeSRV, 1232, nil)
	seed := func(write func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer)) []byte {
		var b, hb bytes.Buffer
		fr := http2.NewFramer(&b, nil)
		write(fr, hpack.NewEncoder(&hb), &hb)
		return b.Bytes()
	}
	headers := func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer, id uint32, end bool, fields ...string) {
		hb.Reset()
		for i := 0; i+1 < len(fields); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndStream: end, EndHeaders: true})
	}
	f.Add(seed(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
		headers(fr, enc, hb, 1, true, ":method", "GET", ":scheme", "https", ":path", DoHPath+"?dns="+base64.RawURLEncoding.EncodeToString(q))
		fr.WriteWindowUpdate(1, 100)
		fr.WritePing(false, [8]byte{1})
	}))
	f.Add(seed(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		headers(fr, enc, hb, 1, false, ":method", "POST", ":scheme", "https", ":path", DoHPath, "content-type", dohType, "content-length", strconv.Itoa(len(q)))
		fr.WriteData(1, false, q[:5])
		fr.WriteData(1, true, q[5:])
		headers(fr, enc, hb, 3, false, ":method", "POST", ":scheme", "https", ":path", DoHPath, "content-type", dohType)
		fr.WriteRSTStream(3, http2.ErrCodeCancel)
		fr.WriteData(3, true, q)
	}))
	f.Add([]byte("\x00\x00\x00\x04\x00\x00\x00\x00\x00garbage"))
	h := NewHandler(zonetest.Excerpt(f), 0, nil)
	hs := newH2Server(NewServer(h, DefaultLimits, nil), DefaultConnLimits.withDefaults())
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		rw := struct {
			io.Reader
			io.Writer
		}{io.MultiReader(bytes.NewReader([]byte(http2.ClientPreface)), bytes.NewReader(in)), &out}
		newH2Conn(hs, rw, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443}).run()
		fr := http2.NewFramer(nil, &out)
		fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		for {
			if _, err := fr.ReadFrame(); err == io.EOF {
				return
			} else if err != nil {
				t.Fatalf("the server wrote what is not HTTP/2: %v", err)
			}
		}
	})
}
