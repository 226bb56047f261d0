package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Limits bound what clients can hold (RFC 7766 §6.2.3).
type Limits struct {
	// TCPConns caps open TCP connections; more are closed on accept.
	TCPConns int
	// TCPIdle closes a TCP connection with no query for this long.
	TCPIdle time.Duration
	// TCPQueries caps the queries served on one TCP connection (0: none).
	TCPQueries int
	// ReadTimeout bounds reading the rest of a TCP message once begun;
	// WriteTimeout bounds each write.
	ReadTimeout, WriteTimeout time.Duration
	// TCPPerSource caps the open TCP connections of one source address
	// (0: TCPConns).
	TCPPerSource int
	// UDPSockets is the number of SO_REUSEPORT sockets per UDP address,
	// each served by its own goroutine (0: one per CPU).
	UDPSockets int
	// RRL limits UDP responses per client prefix, class and name.
	RRL RRLConfig
}

// DefaultLimits are the limits used where none are configured.
var DefaultLimits = Limits{TCPConns: 1000, TCPIdle: 10 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}

// TransferFunc serves a zone transfer request (AXFR/IXFR) on a TCP
// connection; an error closes the connection.
type TransferFunc func(c net.Conn, query []byte) error

// Server runs UDP and TCP listeners on each address for one Handler.
type Server struct {
	handler  *Handler
	limits   Limits
	log      *slog.Logger
	transfer TransferFunc
	queryLog bool
	rrl      *rrl
	wg       sync.WaitGroup

	// udpTransfer answers IXFR over UDP (RFC 1995 §2).
	udpTransfer UDPTransferFunc

	transports [numTransports]transportStats
	tcp        *stream // the TCP transport; TLS has its own (tls.go)
	xfr        XoTPolicy

	mu       sync.Mutex
	closers  []func() error
	addrs    []net.Addr
	encAddrs []TransportAddr
	conns    map[net.Conn]struct{}

	// DNS cookies (guard.go): the secrets in force, swapped on reload,
	// and the counters, one shard per UDP worker and one for TCP.
	cookies     atomic.Pointer[cookieJar]
	cookieStats []cookieShard
}

// NewServer returns a server for h; log may be nil.
func NewServer(h *Handler, limits Limits, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if limits.TCPConns <= 0 {
		limits.TCPConns = DefaultLimits.TCPConns
	}
	if limits.UDPSockets <= 0 {
		limits.UDPSockets = runtime.GOMAXPROCS(0)
	}
	if limits.TCPPerSource <= 0 || limits.TCPPerSource > limits.TCPConns {
		limits.TCPPerSource = limits.TCPConns
	}
	s := &Server{handler: h, limits: limits, log: log, conns: map[net.Conn]struct{}{},
		rrl: newRRL(limits.RRL, limits.UDPSockets, log), cookieStats: make([]cookieShard, limits.UDPSockets+1)}
	s.tcp = &stream{transport: trTCP, idle: limits.TCPIdle, maxQueries: limits.TCPQueries,
		pool: newConnPool(limits.TCPConns, limits.TCPPerSource, &s.transports[trTCP])}
	return s
}

// TCPConns is the number of open TCP connections.
func (s *Server) TCPConns() int { return s.tcp.pool.open() }

// SetQueryLog turns logging of every query on or off; call it before
// Listen.
func (s *Server) SetQueryLog(on bool) { s.queryLog = on }

// SetTransfer installs the zone transfer handler; without one, AXFR and
// IXFR are answered REFUSED like any other query the zone refuses.
func (s *Server) SetTransfer(f TransferFunc) { s.transfer = f }

// SetUDPTransfer installs the handler of IXFR over UDP (RFC 1995 §2);
// without one such a request is REFUSED like any other query the zone
// refuses. Call it before Listen.
func (s *Server) SetUDPTransfer(f UDPTransferFunc) { s.udpTransfer = f }

// udpBuffer is the socket buffer asked for each UDP socket: bursts from a
// resolver farm queue there instead of being dropped. Above
// net.core.rmem_max it needs CAP_NET_ADMIN (SO_RCVBUFFORCE); without it
// the kernel's maximum is used.
const udpBuffer = 4 << 20

func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		if serr != nil {
			return
		}
		for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[0], udpBuffer) != nil {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[1], udpBuffer)
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// Listen binds UDP and TCP on every address ("127.0.0.1:1053"; port 0
// picks a free port, the same for UDP and TCP) and starts serving. It
// returns once all sockets are bound, or the first bind error.
func (s *Server) Listen(addrs []string) error {
	for _, a := range addrs {
		if err := s.listenOne(a); err != nil {
			s.Shutdown(context.Background())
			return err
		}
	}
	return nil
}

func (s *Server) listenOne(addr string) error {
	// TCP is bound first, without SO_REUSEPORT: it holds the port, so a
	// second server on the same address fails here ("address already in
	// use") instead of silently sharing the UDP sockets below. It also
	// lets port 0 be mirrored onto UDP.
	var plain net.ListenConfig
	tl, err := plain.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return fmt.Errorf("resolver: %w", err) // net.OpError names the address
	}
	s.mu.Lock()
	s.closers = append(s.closers, tl.Close)
	s.addrs = append(s.addrs, tl.Addr())
	s.mu.Unlock()
	lc := net.ListenConfig{Control: reusePort}
	var udp []*net.UDPConn
	for range s.limits.UDPSockets {
		pc, err := lc.ListenPacket(context.Background(), "udp", tl.Addr().String())
		if err != nil {
			for _, u := range udp {
				u.Close()
			}
			return fmt.Errorf("resolver: %w", err)
		}
		udp = append(udp, pc.(*net.UDPConn))
	}
	s.mu.Lock()
	for _, u := range udp {
		s.closers = append(s.closers, u.Close)
	}
	s.addrs = append(s.addrs, udp[0].LocalAddr())
	s.mu.Unlock()
	for i, u := range udp {
		s.wg.Add(1)
		go s.serveUDP(u, byte(i))
	}
	s.wg.Add(1)
	go s.serveStream(tl, s.tcp)
	s.log.Info("listening", "udp", udp[0].LocalAddr().String(), "tcp", tl.Addr().String(), "udp_sockets", len(udp))
	return nil
}

// Addrs returns the bound addresses: for each Listen address, its TCP
// listener then its UDP socket.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]net.Addr(nil), s.addrs...)
}

// Shutdown closes every listener, lets the TCP connections finish the
// query they are on until ctx ends, then closes them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	closers := s.closers
	s.closers = nil
	s.mu.Unlock()
	var errs []error
	for _, c := range closers {
		if err := c(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	// Idle connections are closed now; busy ones get until ctx ends.
	s.mu.Lock()
	for c := range s.conns {
		c.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-done
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}
