package resolver

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// The transports queries arrive on, as metrics and the query log name them.
const (
	trUDP = iota
	trTCP
	trTLS
	trHTTPS
	trQUIC
	numTransports
)

var transportNames = [numTransports]string{"udp", "tcp", "tls", "https", "quic"}

// ConnLimits bound what the clients of one connection-oriented transport
// can hold (RFC 7766 §6.2.3, RFC 7858 §3.4, RFC 9250 §5.5): connections in
// all and per source address, how long one may stay idle, and how long a
// TLS or QUIC handshake may take.
type ConnLimits struct {
	// MaxConns caps open connections; more are closed on accept.
	MaxConns int
	// PerSource caps the open connections of one source address (0:
	// MaxConns).
	PerSource int
	// Idle closes a connection with no query for this long.
	Idle time.Duration
	// Handshake bounds the TLS (or QUIC) handshake of a new connection.
	Handshake time.Duration
	// MaxStreams caps the queries a DoQ client may have open at once
	// (QUIC's MAX_STREAMS); an HTTP/2 client gets the same number of
	// concurrent streams. 0: 100.
	MaxStreams int
}

// DefaultConnLimits are the limits of an encrypted transport where none
// are configured.
var DefaultConnLimits = ConnLimits{MaxConns: 1000, PerSource: 100, Idle: 10 * time.Second, Handshake: 5 * time.Second, MaxStreams: 100}

func (l ConnLimits) withDefaults() ConnLimits {
	d := DefaultConnLimits
	if l.MaxConns <= 0 {
		l.MaxConns = d.MaxConns
	}
	if l.PerSource <= 0 || l.PerSource > l.MaxConns {
		l.PerSource = l.MaxConns
	}
	if l.Idle <= 0 {
		l.Idle = d.Idle
	}
	if l.Handshake <= 0 {
		l.Handshake = d.Handshake
	}
	if l.MaxStreams <= 0 {
		l.MaxStreams = d.MaxStreams
	}
	return l
}

// transportStats counts one transport's queries and connections. Queries
// are counted in shards, as the handler's counters are, so that workers on
// different cores rarely write the same cache line.
type transportStats struct {
	queries          [statShards]paddedCounter
	accepted         atomic.Uint64
	refusedTotal     atomic.Uint64 // over the transport's connection limit
	refusedSource    atomic.Uint64 // over the per-source limit
	handshakeFailed  atomic.Uint64
	handshakeStarted atomic.Uint64 // QUIC only: ClientHellos seen
	pool             *connPool     // nil for UDP
}

type paddedCounter struct {
	n atomic.Uint64
	_ [56]byte
}

func (t *transportStats) query(shard byte, n uint64) { t.queries[shard%statShards].n.Add(n) }

// TransportCount is one transport's counters.
type TransportCount struct {
	// Transport is udp, tcp, tls, https or quic.
	Transport string
	// Queries answered or dropped on this transport.
	Queries uint64
	// Open connections now; Accepted since start; RefusedTotal and
	// RefusedSource closed at once for the transport's connection limit
	// and its per-source limit. Zero for UDP.
	Open                                  int
	Accepted, RefusedTotal, RefusedSource uint64
	// HandshakeFailures are TLS or QUIC handshakes that did not complete.
	HandshakeFailures uint64
}

// TransportCounts returns the counters of every transport the server has
// listened on.
func (s *Server) TransportCounts() []TransportCount {
	var out []TransportCount
	for i := range s.transports {
		t := &s.transports[i]
		if i != trUDP && t.pool == nil {
			continue
		}
		c := TransportCount{Transport: transportNames[i], Accepted: t.accepted.Load(),
			RefusedTotal: t.refusedTotal.Load(), RefusedSource: t.refusedSource.Load(),
			HandshakeFailures: t.handshakeFailed.Load()}
		for j := range t.queries {
			c.Queries += t.queries[j].n.Load()
		}
		if t.pool != nil {
			c.Open = t.pool.open()
		}
		if i == trQUIC {
			// quic-go hands over only completed handshakes: the ones that
			// failed are the ClientHellos that never became a connection
			// (those still under way are counted too, for a moment).
			if started, done := t.handshakeStarted.Load(), c.Accepted+c.RefusedTotal+c.RefusedSource; started > done {
				c.HandshakeFailures = started - done
			}
		}
		out = append(out, c)
	}
	return out
}

// connPool admits the connections of one transport within its limits.
type connPool struct {
	slots     chan struct{}
	perSource int
	stats     *transportStats

	mu       sync.Mutex
	bySource map[netip.Addr]int
}

func newConnPool(max, perSource int, stats *transportStats) *connPool {
	p := &connPool{slots: make(chan struct{}, max), perSource: perSource, stats: stats, bySource: map[netip.Addr]int{}}
	stats.pool = p
	return p
}

func (p *connPool) open() int { return len(p.slots) }

// sourceOf is the address a connection's per-source count is kept under.
func sourceOf(a net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// admit takes a slot for a new connection from remote, or reports that a
// limit is reached; every admit that succeeds is paired with a release.
func (p *connPool) admit(remote net.Addr) (ok bool, why string) {
	select {
	case p.slots <- struct{}{}:
	default:
		p.stats.refusedTotal.Add(1)
		return false, "connection limit reached"
	}
	src := sourceOf(remote)
	p.mu.Lock()
	if p.bySource[src] >= p.perSource {
		p.mu.Unlock()
		<-p.slots
		p.stats.refusedSource.Add(1)
		return false, "per-source connection limit reached"
	}
	p.bySource[src]++
	p.mu.Unlock()
	p.stats.accepted.Add(1)
	return true, ""
}

func (p *connPool) release(remote net.Addr) {
	src := sourceOf(remote)
	p.mu.Lock()
	if p.bySource[src]--; p.bySource[src] <= 0 {
		delete(p.bySource, src)
	}
	p.mu.Unlock()
	<-p.slots
}

// trackConn adds or removes an open connection from the set that
// Shutdown wakes.
func (s *Server) trackConn(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
}

// limitedListener applies a connPool to a listener whose connections are
// served by someone else (net/http): a connection over a limit is closed
// at once, and a slot is released when its connection is closed.
type limitedListener struct {
	net.Listener
	pool *connPool
	s    *Server
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if ok, why := l.pool.admit(c.RemoteAddr()); !ok {
			l.s.log.Debug(why+"; closing", "transport", transportNames[trHTTPS], "remote", c.RemoteAddr().String())
			c.Close()
			continue
		}
		return &releasingConn{Conn: c, pool: l.pool}, nil
	}
}

type releasingConn struct {
	net.Conn
	pool *connPool
	once sync.Once
}

func (c *releasingConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.pool.release(c.Conn.RemoteAddr()) })
	return err
}
