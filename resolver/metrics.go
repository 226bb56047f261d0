package resolver

import (
	"encoding/binary"
	"sync/atomic"
	"time"
)

// Query types counted on their own; others count as "other".
var statTypes = [...]struct {
	code uint16
	name string
}{{1, "A"}, {2, "NS"}, {5, "CNAME"}, {6, "SOA"}, {12, "PTR"}, {16, "TXT"}, {28, "AAAA"}, {33, "SRV"}, {255, "ANY"}, {251, "IXFR"}, {252, "AXFR"}}

// Kinds of reply, from the rcode, the TC bit and the answer count.
var statKinds = [...]string{"answer", "nodata", "nxdomain", "refused", "formerr", "notimp", "servfail", "badvers", "notauth", "other", "dropped", "truncated"}

const (
	kindAnswer = iota
	kindNoData
	kindNXDomain
	kindRefused
	kindFormErr
	kindNotImp
	kindServFail
	kindBadVers
	kindNotAuth
	kindOther
	kindDropped
	kindTruncated
	numKinds
)

// Latency buckets of the handler's work per query, in seconds; the wire
// path is well under the first.
var latencyBuckets = [...]float64{1e-6, 5e-6, 25e-6, 100e-6, 500e-6, 2.5e-3, 10e-3, 50e-3}

// Stats counts queries without locks or allocation: atomic counters that a
// Prometheus collector reads. The counters are spread over shards, picked
// by the query ID, so that workers on different cores rarely write the
// same cache line.
type Stats struct {
	shards [statShards]statShard
}

const statShards = 8

type statShard struct {
	queries   [len(statTypes) + 1][numKinds]atomic.Uint64
	compiled  atomic.Uint64 // answered on the wire path
	message   atomic.Uint64 // answered on dns.Msg values
	latency   [len(latencyBuckets) + 1]atomic.Uint64
	latencyNs atomic.Uint64
	_         [64]byte
}

func typeIndex(t uint16) int {
	if t < uint16(len(typeIndexes)) {
		return int(typeIndexes[t])
	}
	return len(statTypes)
}

// typeIndexes maps the QTYPEs below 256 to their index in statTypes.
var typeIndexes = func() (m [256]uint8) {
	for t := range m {
		m[t] = uint8(len(statTypes))
	}
	for i, s := range statTypes {
		m[s.code] = uint8(i)
	}
	return m
}()

// kindOf reads the kind of a packed reply from its header; nil is a
// dropped query. Extended rcodes (BADVERS) live in the OPT record and are
// counted by the slow path, which has the unpacked reply.
func kindOf(resp []byte) int {
	if len(resp) < 12 {
		return kindDropped
	}
	switch rcode := resp[3] & 0xF; rcode {
	case 0:
		// An answer too large for UDP goes out empty with TC=1: it is
		// not a NODATA, and counting it apart shows how often clients
		// must retry over TCP.
		if resp[2]&0x02 != 0 {
			return kindTruncated
		}
		if binary.BigEndian.Uint16(resp[6:]) > 0 {
			return kindAnswer
		}
		return kindNoData
	case 1:
		return kindFormErr
	case 2:
		return kindServFail
	case 3:
		return kindNXDomain
	case 4:
		return kindNotImp
	case 5:
		return kindRefused
	case 9:
		return kindNotAuth
	}
	return kindOther
}

// record counts one query, answered on the wire path or not; d < 0 means
// it was not timed.
func (st *Stats) record(shard byte, qtype uint16, kind int, wire bool, d time.Duration) {
	s := &st.shards[shard%statShards]
	s.queries[typeIndex(qtype)][kind].Add(1)
	if wire {
		s.compiled.Add(1)
	} else {
		s.message.Add(1)
	}
	if d < 0 {
		return // not timed
	}
	sec := d.Seconds()
	i := 0
	for i < len(latencyBuckets) && sec > latencyBuckets[i] {
		i++
	}
	s.latency[i].Add(1)
	s.latencyNs.Add(uint64(d))
}

// QueryCount is one (qtype, kind) counter value.
type QueryCount struct {
	Type, Kind string
	Count      uint64
}

// Queries returns every non-zero query counter.
func (s *Stats) Queries() []QueryCount {
	var out []QueryCount
	for t := range len(statTypes) + 1 {
		name := "other"
		if t < len(statTypes) {
			name = statTypes[t].name
		}
		for k := range numKinds {
			var n uint64
			for i := range s.shards {
				n += s.shards[i].queries[t][k].Load()
			}
			if n > 0 {
				out = append(out, QueryCount{name, statKinds[k], n})
			}
		}
	}
	return out
}

// Compiled counts the queries answered on the wire path, from the
// compiled zone; Message those answered on dns.Msg values (TSIG-signed,
// EDNS versions above 0, malformed and other unusual queries).
func (s *Stats) Compiled() uint64 {
	var n uint64
	for i := range s.shards {
		n += s.shards[i].compiled.Load()
	}
	return n
}

// Message: see Compiled.
func (s *Stats) Message() uint64 {
	var n uint64
	for i := range s.shards {
		n += s.shards[i].message.Load()
	}
	return n
}

// Latency returns the cumulative histogram of the handler's time per
// query, timed on one query in 16 (by query ID): upper bounds in seconds
// with their counts, the total count and the sum in seconds.
func (s *Stats) Latency() (bounds []float64, cumulative []uint64, count uint64, sum float64) {
	bucket := func(i int) uint64 {
		var n uint64
		for j := range s.shards {
			n += s.shards[j].latency[i].Load()
		}
		return n
	}
	var c, ns uint64
	for i, b := range latencyBuckets {
		c += bucket(i)
		bounds = append(bounds, b)
		cumulative = append(cumulative, c)
	}
	for j := range s.shards {
		ns += s.shards[j].latencyNs.Load()
	}
	count = c + bucket(len(latencyBuckets))
	return bounds, cumulative, count, float64(ns) / 1e9
}
