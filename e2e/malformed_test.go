package e2e_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const malformedID = 0xBEEF

// rawHeader is a DNS header with RD set and the given counts.
func rawHeader(qd, an, ns, ar uint16) []byte {
	h := make([]byte, 12)
	binary.BigEndian.PutUint16(h[0:], malformedID)
	binary.BigEndian.PutUint16(h[2:], 0x0100) // QUERY, RD
	binary.BigEndian.PutUint16(h[4:], qd)
	binary.BigEndian.PutUint16(h[6:], an)
	binary.BigEndian.PutUint16(h[8:], ns)
	binary.BigEndian.PutUint16(h[10:], ar)
	return h
}

// wireName is name in uncompressed wire form.
func wireName(labels ...string) []byte {
	var b []byte
	for _, l := range labels {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

// typeClass is QTYPE SRV, QCLASS IN.
var typeClass = []byte{0, 33, 0, 1}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// malformedPackets are queries a server must answer FORMERR or drop.
func malformedPackets() []struct {
	name string
	msg  []byte
} {
	rets := wireName("_rets", "_tcp", "ports", "local")
	long := strings.Repeat("a", 63)
	return []struct {
		name string
		msg  []byte
	}{
		{"truncated header", rawHeader(1, 0, 0, 0)[:5]},
		{"QDCOUNT 0", rawHeader(0, 0, 0, 0)},
		{"QDCOUNT 2", cat(rawHeader(2, 0, 0, 0), rets, typeClass, rets, typeClass)},
		// "a" then a pointer back to offset 12, the "a" itself.
		{"compression pointer loop", cat(rawHeader(1, 0, 0, 0), []byte{1, 'a', 0xC0, 12}, typeClass)},
		{"compression pointer to itself", cat(rawHeader(1, 0, 0, 0), []byte{0xC0, 12}, typeClass)},
		{"compression pointer past the end", cat(rawHeader(1, 0, 0, 0), []byte{0xC0, 200}, typeClass)},
		// 5 labels of 63 bytes: 320 bytes on the wire, over 255.
		{"name longer than 255 bytes", cat(rawHeader(1, 0, 0, 0), wireName(long, long, long, long, long), typeClass)},
		{"reserved label type 0x40", cat(rawHeader(1, 0, 0, 0), []byte{0x41, 'a', 0}, typeClass)},
		{"header only with QDCOUNT 1", rawHeader(1, 0, 0, 0)},
		{"question without type and class", cat(rawHeader(1, 0, 0, 0), rets)},
		{"question without class", cat(rawHeader(1, 0, 0, 0), rets, typeClass[:2])},
		{"label runs past the end", cat(rawHeader(1, 0, 0, 0), []byte{20, 'a', 'b'})},
	}
}

// rawExchange sends msg as one UDP datagram or one TCP message and
// returns the reply, or nil and why there was none.
func rawExchange(t *testing.T, network, addr string, msg []byte) ([]byte, string) {
	t.Helper()
	conn, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	defer conn.Close()
	// No reply within a second is "dropped".
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	out := msg
	if network == "tcp" {
		out = binary.BigEndian.AppendUint16(nil, uint16(len(msg)))
		out = append(out, msg...)
	}
	if _, err := conn.Write(out); err != nil {
		t.Fatalf("write %s: %v", network, err)
	}
	none := func(err error) ([]byte, string) {
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, "no reply within 1s"
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, "connection closed without a reply"
		}
		return nil, "no reply: " + err.Error()
	}
	if network == "udp" {
		buf := make([]byte, 65535)
		n, err := conn.Read(buf)
		if err != nil {
			return none(err)
		}
		return buf[:n], ""
	}
	var lb [2]byte
	if _, err := io.ReadFull(conn, lb[:]); err != nil {
		return none(err)
	}
	buf := make([]byte, binary.BigEndian.Uint16(lb[:]))
	if _, err := io.ReadFull(conn, buf); err != nil {
		t.Fatalf("tcp: reply cut short: %v", err)
	}
	return buf, ""
}

// TestMalformedPackets sends broken queries over raw UDP and TCP sockets:
// each must get FORMERR with the query's ID, or no reply at all, and the
// server must keep answering normal queries afterwards.
func TestMalformedPackets(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	t.Run("packets", func(t *testing.T) {
		for _, network := range []string{"udp", "tcp"} {
			for _, p := range malformedPackets() {
				t.Run(network+"/"+p.name, func(t *testing.T) {
					t.Parallel()
					raw, why := rawExchange(t, network, srv.Addr, p.msg)
					if raw == nil {
						t.Logf("%s %s: dropped (%s)", network, p.name, why)
						return
					}
					var m dns.Msg
					if err := m.Unpack(raw); err != nil {
						t.Fatalf("reply %x does not parse: %v", raw, err)
					}
					if m.Id != malformedID || !m.Response || m.Rcode != dns.RcodeFormatError {
						t.Errorf("reply id %#x qr=%v rcode %s, want id %#x, qr, FORMERR\n%v", m.Id, m.Response, dns.RcodeToString[m.Rcode], malformedID, &m)
						return
					}
					if len(m.Answer) != 0 {
						t.Errorf("FORMERR with answers: %v", m.Answer)
					}
					t.Logf("%s %s: FORMERR, id echoed", network, p.name)
				})
			}
		}
	})
	// Still serving, on both transports.
	for _, network := range []string{"udp", "tcp"} {
		m := query(t, network, srv.Addr, "_rets._tcp.ports.local.", dns.TypeSRV)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			t.Fatalf("after the malformed packets, %s: rcode %s answer %v", network, dns.RcodeToString[m.Rcode], m.Answer)
		}
		if s, ok := m.Answer[0].(*dns.SRV); !ok || s.Port != 6103 {
			t.Errorf("after the malformed packets, %s: %v, want SRV 6103", network, m.Answer[0])
		}
	}
}
