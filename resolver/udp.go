package resolver

import (
	"errors"
	"net"
	"net/netip"
	"runtime/debug"
	"time"

	"github.com/miekg/dns"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// udpBatch is how many datagrams one recvmmsg/sendmmsg call moves: under
// load, system calls dominate the cost of an answer from the cache, and
// batching divides them.
const udpBatch = 32

// maxUDPQuery is the largest query datagram read; a longer one arrives
// cut and is answered FORMERR.
const maxUDPQuery = 4096

// batchConn is what ipv4.PacketConn and ipv6.PacketConn share.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

func newBatchConn(c *net.UDPConn) batchConn {
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		return ipv6.NewPacketConn(c)
	}
	return ipv4.NewPacketConn(c)
}

// serveUDP answers every datagram on conn until it is closed. One
// goroutine owns one socket (SO_REUSEPORT gives each core its own) and
// reads and writes in batches, with buffers reused for every packet.
func (s *Server) serveUDP(conn *net.UDPConn) {
	defer s.wg.Done()
	bc := newBatchConn(conn)
	rd := make([]ipv4.Message, udpBatch)
	wr := make([]ipv4.Message, udpBatch)
	outs := make([][]byte, udpBatch)
	for i := range rd {
		rd[i].Buffers = [][]byte{make([]byte, maxUDPQuery)}
		wr[i].Buffers = make([][]byte, 1)
		outs[i] = make([]byte, 0, maxUDPQuery)
	}
	for {
		n, err := bc.ReadBatch(rd, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("udp read", "err", err)
			continue
		}
		w := 0
		now := time.Now()
		for i := range n {
			m := &rd[i]
			resp := s.answer(m.Buffers[0][:m.N], false, outs[w])
			if s.queryLog {
				s.logQuery(m.Addr, "udp", m.Buffers[0][:m.N], resp)
			}
			if resp == nil {
				continue
			}
			// As NSD and Knot do: limit the responses, not the queries,
			// per source prefix.
			if s.rrl != nil {
				switch s.rrl.check(addrOf(m.Addr), now) {
				case rrlDrop:
					continue
				case rrlSlip:
					if resp = slipReply(m.Buffers[0][:m.N], outs[w]); resp == nil {
						continue
					}
					s.rrl.slipped.Add(1)
				}
			}
			wr[w].Buffers[0] = resp
			wr[w].Addr = m.Addr
			w++
		}
		for sent := 0; sent < w; {
			k, err := bc.WriteBatch(wr[sent:w], 0)
			if err != nil {
				// One unreachable client must not hold up the others.
				s.log.Debug("udp write", "remote", wr[sent].Addr.String(), "err", err)
				k = max(k, 1)
			}
			sent += k
		}
	}
}

func addrOf(a net.Addr) netip.Addr {
	if u, ok := a.(*net.UDPAddr); ok {
		ip, _ := netip.AddrFromSlice(u.IP)
		return ip
	}
	return netip.Addr{}
}

// logQuery logs one query and its outcome (query_log): off by default,
// as it costs far more than answering.
func (s *Server) logQuery(remote net.Addr, transport string, in, resp []byte) {
	q := "(unparsable)"
	if m := new(dns.Msg); m.Unpack(in) == nil && len(m.Question) == 1 {
		q = m.Question[0].Name + " " + dns.ClassToString[m.Question[0].Qclass] + " " + dns.TypeToString[m.Question[0].Qtype]
	}
	s.log.Info("query", "remote", remote.String(), "transport", transport, "question", q, "reply", statKinds[kindOf(resp)], "size", len(resp))
}

// answer runs the handler and turns a panic into a dropped query, so that
// no packet can take the server down.
func (s *Server) answer(in []byte, tcp bool, out []byte) (resp []byte) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic answering a query; dropped", "panic", r, "stack", string(debug.Stack()))
			resp = nil
		}
	}()
	return s.handler.AnswerWire(in, tcp, out)
}
