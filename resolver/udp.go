package resolver

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"runtime/debug"
	"syscall"
	"unsafe"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// udpBatch is how many datagrams one recvmmsg/sendmmsg call moves: under
// load, system calls dominate the cost of an answer from the cache, and
// batching divides them.
const udpBatch = 32

// maxUDPQuery is the largest query datagram read; a longer one arrives
// cut and is answered FORMERR.
const maxUDPQuery = 4096

// mmsghdr is struct mmsghdr of recvmmsg(2)/sendmmsg(2); Go lays it out as
// C does on 32- and 64-bit Linux.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// udpBatchBufs holds everything one socket's loop reads into and writes
// from, allocated once: the packet buffers, the sender addresses (kept in
// kernel form and handed straight back to sendmmsg) and the message
// headers that point at them. Nothing is allocated per packet.
type udpBatchBufs struct {
	rd, wr   [udpBatch]mmsghdr
	rdv, wrv [udpBatch]unix.Iovec
	from     [udpBatch]unix.RawSockaddrInet6 // large enough for IPv4 too
	in, out  [udpBatch][]byte

	// send is sendmmsg of wr[sendFrom:sendTo], made once: a function
	// literal made per batch would escape to the heap through
	// RawConn.Write, with the variables it captures.
	send             func(fd uintptr) bool
	sendFrom, sendTo int
	sent             int
	sendErr          syscall.Errno
}

func newUDPBatchBufs() *udpBatchBufs {
	b := new(udpBatchBufs)
	for i := range udpBatch {
		b.in[i] = make([]byte, maxUDPQuery)
		b.out[i] = make([]byte, 0, maxUDPQuery)
		b.rdv[i].Base = &b.in[i][0]
		b.rd[i].hdr.Iov = &b.rdv[i]
		b.rd[i].hdr.SetIovlen(1)
		b.rd[i].hdr.Name = (*byte)(unsafe.Pointer(&b.from[i]))
		b.wr[i].hdr.Iov = &b.wrv[i]
		b.wr[i].hdr.SetIovlen(1)
	}
	b.send = func(fd uintptr) bool {
		b.sent, b.sendErr = mmsg(unix.SYS_SENDMMSG, fd, b.wr[b.sendFrom:b.sendTo])
		return b.sendErr != unix.EAGAIN
	}
	return b
}

// mmsg runs recvmmsg or sendmmsg on fd; n is the number of messages moved.
func mmsg(trap, fd uintptr, hs []mmsghdr) (n int, errno syscall.Errno) {
	r, _, e := unix.Syscall6(trap, fd, uintptr(unsafe.Pointer(&hs[0])), uintptr(len(hs)), 0, 0, 0)
	return int(r), e
}

// serveUDP answers every datagram on conn until it is closed. One
// goroutine owns one socket (SO_REUSEPORT gives each core its own) and
// reads and writes in batches through recvmmsg/sendmmsg, waiting in Go's
// poller when the socket is empty.
func (s *Server) serveUDP(conn *net.UDPConn, shard byte) {
	defer s.wg.Done()
	rc, err := conn.SyscallConn()
	if err != nil {
		s.log.Error("udp socket", "err", err)
		return
	}
	b := newUDPBatchBufs()
	var (
		n     int
		errno syscall.Errno
	)
	recv := func(fd uintptr) bool {
		for i := range udpBatch {
			b.rd[i].hdr.Namelen = unix.SizeofSockaddrInet6
			b.rdv[i].SetLen(maxUDPQuery)
		}
		n, errno = mmsg(unix.SYS_RECVMMSG, fd, b.rd[:])
		return errno != unix.EAGAIN
	}
	for {
		if err := rc.Read(recv); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("udp read", "err", err)
			continue
		}
		if errno != 0 {
			s.log.Debug("udp read", "err", errno)
			continue
		}
		s.transports[trUDP].query(shard, uint64(n))
		w := s.answerBatch(shard, b, n)
		s.sendBatch(rc, b, w)
	}
}

// answerBatch answers the first n datagrams read into b and sets up the
// replies to send; it returns how many there are. DNS cookies and
// response rate limiting (guardedAnswer) apply to each.
func (s *Server) answerBatch(shard byte, b *udpBatchBufs, n int) int {
	g := s.clock()
	w := 0
	for i := range n {
		in := b.in[i][:b.rd[i].n]
		resp := s.guardedAnswer(shard, in, sockaddrIP(&b.from[i]), false, b.out[w], &g)
		if s.queryLog {
			s.logQuery(sockaddrUDP(&b.from[i]), "udp", in, resp)
		}
		if len(resp) == 0 {
			continue
		}
		b.out[w] = resp
		b.wrv[w].Base = &resp[0]
		b.wrv[w].SetLen(len(resp))
		b.wr[w].hdr.Name = b.rd[i].hdr.Name
		b.wr[w].hdr.Namelen = b.rd[i].hdr.Namelen
		w++
	}
	return w
}

// sendBatch sends the first w replies set up in b. A reply the kernel
// refuses (an unreachable client) is skipped, so that it holds up no other.
// It allocates nothing.
func (s *Server) sendBatch(rc syscall.RawConn, b *udpBatchBufs, w int) {
	for b.sendFrom, b.sendTo = 0, w; b.sendFrom < w; {
		if err := rc.Write(b.send); err != nil {
			return // closed
		}
		k := b.sent
		if b.sendErr != 0 || k <= 0 {
			s.log.Debug("udp write", "remote", sockaddrUDP((*unix.RawSockaddrInet6)(unsafe.Pointer(b.wr[b.sendFrom].hdr.Name))).String(), "err", b.sendErr)
			k = 1
		}
		b.sendFrom += k
	}
}

// sockaddrIP reads the address out of a sockaddr_in or sockaddr_in6.
func sockaddrIP(sa *unix.RawSockaddrInet6) netip.Addr {
	if sa.Family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrFrom4(sa4.Addr)
	}
	return netip.AddrFrom16(sa.Addr)
}

// sockaddrUDP is the sockaddr as a *net.UDPAddr, for logs.
func sockaddrUDP(sa *unix.RawSockaddrInet6) *net.UDPAddr {
	// Port is in network byte order in both forms, at the same offset.
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(sockaddrIP(sa), port))
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

// answerIXFR runs the UDP transfer handler on an IXFR request, with the
// same protection as answer.
func (s *Server) answerIXFR(src netip.Addr, in, out []byte) (resp []byte) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic answering an IXFR; dropped", "panic", r, "stack", string(debug.Stack()))
			resp = nil
		}
	}()
	return s.udpTransfer(src.Unmap(), in, out)
}

// isIXFRRequest reports whether a datagram is a query for IXFR: one
// question and, as RFC 1995 §3 has it, one record (the client's SOA) in
// the authority section. Plain queries have none there, so they cost two
// byte comparisons.
func isIXFRRequest(b []byte) bool {
	if len(b) < 12 || b[8] != 0 || b[9] != 1 || b[2]&0x80 != 0 {
		return false
	}
	q, ok := parseTransferQuestion(b)
	return ok && q == dns.TypeIXFR
}

// answer runs the handler, counting into the worker's stats shard, and
// turns a panic into a dropped query, so that no packet can take the
// server down.
func (s *Server) answer(shard byte, in []byte, tcp bool, out []byte) (resp []byte) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic answering a query; dropped", "panic", r, "stack", string(debug.Stack()))
			resp = nil
		}
	}()
	return s.handler.answerOn(shard, in, tcp, out)
}
