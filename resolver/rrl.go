package resolver

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// RRLConfig is response rate limiting for UDP (the scheme of NSD and Knot):
// each source prefix may get Rate responses a second; beyond that, every
// Slip-th response is sent as an empty TC=1 reply (a real client behind a
// spoofed flood retries over TCP) and the rest are dropped. TCP needs a
// handshake, so it cannot be spoofed, and is not limited this way.
type RRLConfig struct {
	Rate       uint32 // responses per second per prefix; 0: off
	Slip       uint32 // 0: drop every limited response
	IPv4Prefix int
	IPv6Prefix int
	Exempt     []netip.Prefix
}

// rrlTableSize is the number of buckets. Sources are hashed onto them; two
// prefixes that share a bucket share its budget, as in BIND's table, which
// errs on the side of limiting and keeps memory fixed under a flood of
// spoofed sources.
const rrlTableSize = 1 << 14

type rrlBucket struct {
	mu     sync.Mutex
	second int64
	count  uint32
	slip   uint32
}

// rrl is the limiter's state.
type rrl struct {
	cfg     RRLConfig
	seed    maphash.Seed
	buckets []rrlBucket
	limited atomic.Uint64 // dropped
	slipped atomic.Uint64 // sent truncated
}

func newRRL(cfg RRLConfig) *rrl {
	if cfg.Rate == 0 {
		return nil
	}
	return &rrl{cfg: cfg, seed: maphash.MakeSeed(), buckets: make([]rrlBucket, rrlTableSize)}
}

// rrlVerdict is what to do with a response.
type rrlVerdict uint8

const (
	rrlSend rrlVerdict = iota
	rrlSlip
	rrlDrop
)

// check counts one response to addr at now and says what to do with it.
func (r *rrl) check(addr netip.Addr, now time.Time) rrlVerdict {
	addr = addr.Unmap()
	for _, p := range r.cfg.Exempt {
		if p.Contains(addr) {
			return rrlSend
		}
	}
	bits := r.cfg.IPv4Prefix
	if addr.Is6() {
		bits = r.cfg.IPv6Prefix
	}
	pfx, err := addr.Prefix(bits)
	if err != nil {
		return rrlSend
	}
	a16 := pfx.Addr().As16()
	b := &r.buckets[maphash.Bytes(r.seed, a16[:])%rrlTableSize]
	sec := now.Unix()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.second != sec {
		b.second, b.count = sec, 0
	}
	b.count++
	if b.count <= r.cfg.Rate {
		return rrlSend
	}
	if r.cfg.Slip > 0 {
		b.slip++
		if b.slip%r.cfg.Slip == 0 {
			return rrlSlip // counted by the caller once the reply is made
		}
	}
	r.limited.Add(1)
	return rrlDrop
}

// slipReply is the empty truncated reply to a query: its header and
// question, QR and TC set, nothing else. nil when the question cannot be
// read.
func slipReply(in, out []byte) []byte {
	q, ok := parseWire(in)
	if !ok {
		return nil
	}
	out = append(out[:0], in[:12+len(q.qname)+4]...)
	flags := binary.BigEndian.Uint16(out[2:])
	flags = flagQR | flags&(0xF<<11) | flags&(flagRD|flagCD) | 1<<9 // TC
	binary.BigEndian.PutUint16(out[2:], flags)
	binary.BigEndian.PutUint16(out[4:], 1)
	binary.BigEndian.PutUint16(out[6:], 0)
	binary.BigEndian.PutUint16(out[8:], 0)
	binary.BigEndian.PutUint16(out[10:], 0)
	return out
}
