package resolver

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/miekg/dns"
	"github.com/svcdns/svcdns/internal/zonetest"
	"golang.org/x/sys/unix"
)

// Sending a batch of replies allocates nothing, and every reply arrives.
func TestSendBatchAllocatesNothing(t *testing.T) {
	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	send, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	rc, err := send.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	// Three replies to recv's address, set up as answerBatch sets them
	// up, with the address in kernel form as recvmmsg leaves it.
	b := newUDPBatchBufs()
	const w = 3
	for i := range w {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&b.from[i]))
		sa.Family = unix.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], uint16(recv.LocalAddr().(*net.UDPAddr).Port))
		sa.Addr = [4]byte{127, 0, 0, 1}
		b.out[i] = append(b.out[i][:0], byte('a'+i))
		b.wrv[i].Base = &b.out[i][0]
		b.wrv[i].SetLen(1)
		b.wr[i].hdr.Name = (*byte)(unsafe.Pointer(&b.from[i]))
		b.wr[i].hdr.Namelen = unix.SizeofSockaddrInet4
	}
	s := &Server{log: slog.New(slog.DiscardHandler)}
	const runs = 50
	if n := testing.AllocsPerRun(runs, func() { s.sendBatch(rc, b, w) }); n != 0 {
		t.Errorf("sendBatch: %.1f allocations a batch, want 0", n)
	}
	// AllocsPerRun runs the function once more to warm up.
	recv.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	for i := range (runs + 1) * w {
		n, err := recv.Read(buf)
		if err != nil {
			t.Fatalf("reply %d of %d: %v", i+1, (runs+1)*w, err)
		}
		if want := byte('a' + i%w); n != 1 || buf[0] != want {
			t.Fatalf("reply %d is %q, want %q", i+1, buf[:n], want)
		}
	}
}

// The queries of a TCP connection, once it is up, allocate nothing on the
// server: its buffers come from pools, and the answer path allocates
// nothing. The process's allocations over 2,000 pipelined queries and
// their replies are counted; the client's side allocates nothing either.
func TestTCPQueriesAllocateNothing(t *testing.T) {
	s := NewServer(NewHandler(zonetest.Excerpt(t), 0, nil), DefaultLimits, nil)
	if err := s.Listen([]string{"127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	var addr string
	for _, a := range s.Addrs() {
		if a.Network() == "tcp" {
			addr = a.String()
		}
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	m := new(dns.Msg)
	m.SetQuestion("_rets._tcp.ports.local.", dns.TypeSRV)
	q, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	framed := binary.BigEndian.AppendUint16(nil, uint16(len(q)))
	framed = append(framed, q...)
	// One query first, to learn the reply's size and bring the
	// connection's buffers in from the pools.
	if _, err := c.Write(framed); err != nil {
		t.Fatal(err)
	}
	var lb [2]byte
	if _, err := io.ReadFull(c, lb[:]); err != nil {
		t.Fatal(err)
	}
	reply := 2 + int(binary.BigEndian.Uint16(lb[:]))
	if _, err := io.ReadFull(c, make([]byte, reply-2)); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	queries := bytes.Repeat(framed, n)
	replies := make([]byte, n*reply)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := c.Write(queries); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, replies); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// A few allocations of the runtime's own (timers, the poller) may
	// fall in the window; one a query is what this test is for.
	if got := after.Mallocs - before.Mallocs; got > n/20 {
		t.Errorf("%d allocations for %d TCP queries and replies, want next to none", got, n)
	}
	if !bytes.Equal(replies[2:reply], replies[len(replies)-reply+2:]) {
		t.Errorf("the last reply differs from the first")
	}
}
