package resolver

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// cacheShards spreads the response cache over independently locked LRUs,
// so that workers on different cores rarely meet on one lock.
const cacheShards = 64

// DefaultCacheSize is the most packed replies kept per snapshot, and
// DefaultCacheBytes the most bytes they may take (keys, replies and
// bookkeeping, estimated): whichever bound is reached first evicts the
// least recently used reply. Both are split evenly over the shards; the
// count leaves room for shards that hash more than their share, so with
// typical replies of 150-300 bytes the byte budget is what binds.
const (
	DefaultCacheSize  = 1 << 17
	DefaultCacheBytes = 32 << 20
)

// entryOverhead estimates the bytes an entry costs beyond its key and
// reply: the LRU's list element and map slot.
const entryOverhead = 120

// cachedReply is one cache entry in a single allocation: a 4-byte
// promotion stamp, the 2-byte key length, the key, then the packed reply.
// Only the stamp changes once stored, and only under the shard's lock.
type cachedReply []byte

const entryHeader = 6

func newCachedReply(key, wire []byte) cachedReply {
	e := make(cachedReply, entryHeader, entryHeader+len(key)+len(wire))
	binary.LittleEndian.PutUint16(e[4:], uint16(len(key)))
	return append(append(e, key...), wire...)
}

func (e cachedReply) keyLen() int  { return int(binary.LittleEndian.Uint16(e[4:])) }
func (e cachedReply) key() []byte  { return e[entryHeader : entryHeader+e.keyLen()] }
func (e cachedReply) wire() []byte { return e[entryHeader+e.keyLen():] }
func (e cachedReply) cost() int    { return len(e) + entryOverhead }

func (e cachedReply) stamp() uint32        { return binary.LittleEndian.Uint32(e) }
func (e cachedReply) setStamp(tick uint32) { binary.LittleEndian.PutUint32(e, tick) }

// replyCache maps query keys to packed replies for one zone snapshot; a
// new snapshot gets a new cache, so no entry outlives the zone it came from.
type replyCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu     sync.Mutex
	lru    *simplelru.LRU[uint64, cachedReply]
	bytes  int
	budget int
	// tick counts lookups; an entry is moved to the front of the LRU only
	// when it was last moved more than promoteAfter lookups ago, so a hit
	// on a popular reply seldom writes to the list (each move touches
	// three list elements, mostly cold in the CPU's cache). An entry hit
	// in that time is still in the newest part of the list.
	tick         uint32
	promoteAfter uint32
	_            [16]byte // keep shards on separate cache lines
}

func newReplyCache(size, bytes int) *replyCache {
	c := &replyCache{seed: maphash.MakeSeed()}
	per := max(size/cacheShards, 1)
	for i := range c.shards {
		s := &c.shards[i]
		s.budget = max(bytes/cacheShards, 1)
		s.promoteAfter = uint32(per / 8)
		s.lru, _ = simplelru.NewLRU[uint64, cachedReply](per, func(_ uint64, e cachedReply) { s.bytes -= e.cost() })
	}
	return c
}

// get returns the packed reply stored for key, or nil, and key's hash for
// put. The reply must not be modified.
func (c *replyCache) get(key []byte) ([]byte, uint64) {
	h := maphash.Bytes(c.seed, key)
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	s.tick++
	e, ok := s.lru.Peek(h)
	if ok && s.tick-e.stamp() > s.promoteAfter {
		s.lru.Get(h)
		e.setStamp(s.tick)
	}
	s.mu.Unlock()
	// The hash picks the entry; the stored key makes the match exact.
	if ok && bytes.Equal(e.key(), key) {
		return e.wire(), h
	}
	return nil, h
}

// put stores a copy of the reply wire to the query key under key's hash h.
func (c *replyCache) put(h uint64, key, wire []byte) {
	e := newCachedReply(key, wire)
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	e.setStamp(s.tick)
	if old, ok := s.lru.Peek(h); ok {
		s.bytes -= old.cost() // replaced below without an eviction call
	}
	s.lru.Add(h, e)
	s.bytes += e.cost()
	for s.bytes > s.budget && s.lru.Len() > 1 {
		s.lru.RemoveOldest()
	}
	s.mu.Unlock()
}

// size is the estimated bytes held, for metrics and tests.
func (c *replyCache) size() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += s.bytes
		s.mu.Unlock()
	}
	return n
}

// len is the number of entries, for metrics and tests.
func (c *replyCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += s.lru.Len()
		s.mu.Unlock()
	}
	return n
}
