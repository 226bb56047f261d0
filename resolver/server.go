package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Limits bound what one TCP client can hold (RFC 7766 §6.2.3).
type Limits struct {
	// TCPIdle closes a TCP connection with no query for this long.
	TCPIdle time.Duration
	// TCPQueries caps the queries served on one TCP connection (0: none).
	TCPQueries int
	// ReadTimeout and WriteTimeout bound each read and write.
	ReadTimeout, WriteTimeout time.Duration
}

// DefaultLimits are the limits used where none are configured.
var DefaultLimits = Limits{TCPIdle: 10 * time.Second, TCPQueries: 0, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}

// Server runs UDP and TCP listeners on each address for one Handler.
type Server struct {
	handler *Handler
	limits  Limits
	log     *slog.Logger

	mu      sync.Mutex
	servers []*dns.Server
	addrs   []net.Addr
}

// NewServer returns a server for h; log may be nil.
func NewServer(h *Handler, limits Limits, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{handler: h, limits: limits, log: log}
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
	var lc net.ListenConfig
	// Bind TCP first so that port 0 can be mirrored onto UDP.
	tl, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return fmt.Errorf("resolver: listen tcp %s: %w", addr, err)
	}
	pc, err := lc.ListenPacket(context.Background(), "udp", tl.Addr().String())
	if err != nil {
		tl.Close()
		return fmt.Errorf("resolver: listen udp %s: %w", addr, err)
	}
	tcp := &dns.Server{Listener: tl, Net: "tcp", Handler: s.handler, MsgAcceptFunc: acceptQuery,
		IdleTimeout: func() time.Duration { return s.limits.TCPIdle }, MaxTCPQueries: s.limits.TCPQueries,
		ReadTimeout: s.limits.ReadTimeout, WriteTimeout: s.limits.WriteTimeout}
	udp := &dns.Server{PacketConn: pc, Net: "udp", Handler: s.handler, MsgAcceptFunc: acceptQuery,
		ReadTimeout: s.limits.ReadTimeout, WriteTimeout: s.limits.WriteTimeout}
	s.mu.Lock()
	s.servers = append(s.servers, udp, tcp)
	s.addrs = append(s.addrs, pc.LocalAddr(), tl.Addr())
	s.mu.Unlock()
	for _, srv := range []*dns.Server{udp, tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() {
			if err := srv.ActivateAndServe(); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Error("listener stopped", "net", srv.Net, "addr", addr, "err", err)
			}
		}()
		<-started
	}
	s.log.Info("listening", "udp", pc.LocalAddr().String(), "tcp", tl.Addr().String())
	return nil
}

// Addrs returns the bound addresses (UDP and TCP for each Listen address).
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]net.Addr(nil), s.addrs...)
}

// Shutdown stops every listener, waiting for queries in flight until ctx
// ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		if err := srv.ShutdownContext(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// acceptQuery screens a message by its header before it is unpacked.
// Responses are dropped (no reflection); other opcodes than QUERY are
// NOTIMP; a QDCOUNT other than 1 is FORMERR; sections a query cannot
// have are FORMERR.
func acceptQuery(dh dns.Header) dns.MsgAcceptAction {
	const qr = 1 << 15
	if dh.Bits&qr != 0 {
		return dns.MsgIgnore
	}
	if opcode := int(dh.Bits>>11) & 0xF; opcode != dns.OpcodeQuery {
		return dns.MsgRejectNotImplemented
	}
	if dh.Qdcount != 1 || dh.Ancount > 0 || dh.Nscount > 1 || dh.Arcount > 2 {
		return dns.MsgReject
	}
	return dns.MsgAccept
}
