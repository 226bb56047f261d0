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

// entryOverhead estimates the bytes an entry costs beyond its reply: the
// LRU's list element and map slot.
const entryOverhead = 120

// A cache key (appendKey) is the question exactly as the reply repeats it
// after its header (lower-cased name, type, class), then keySuffix bytes
// the reply does not hold: the EDNS flags and the size limit.
const keySuffix = 3

// cachedReply is one cache entry in a single allocation: a 4-byte
// promotion stamp, the key's suffix, then the packed reply. The rest of
// the key is not stored twice: it is the reply's question. Only the stamp
// changes once stored, and only under the shard's lock.
type cachedReply []byte

const entryHeader = 4 + keySuffix

// newCachedReply stores wire under key; ok is false when wire does not
// repeat key's question, and then there is nothing to store.
func newCachedReply(key, wire []byte) (e cachedReply, ok bool) {
	q := key[:len(key)-keySuffix]
	if len(wire) < 12+len(q) || !bytes.Equal(wire[12:12+len(q)], q) {
		return nil, false
	}
	e = make(cachedReply, 4, entryHeader+len(wire))
	return append(append(e, key[len(q):]...), wire...), true
}

// matches says whether e is the entry for key.
func (e cachedReply) matches(key []byte) bool {
	q := key[:len(key)-keySuffix]
	w := e.wire()
	return bytes.Equal(e[4:entryHeader], key[len(q):]) && len(w) >= 12+len(q) && bytes.Equal(w[12:12+len(q)], q)
}

func (e cachedReply) wire() []byte { return e[entryHeader:] }
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
	// The hash picks the entry; comparing the key makes the match exact.
	if ok && e.matches(key) {
		return e.wire(), h
	}
	return nil, h
}

// put stores a copy of the reply wire to the query key under key's hash h.
func (c *replyCache) put(h uint64, key, wire []byte) {
	e, ok := newCachedReply(key, wire)
	if !ok {
		return
	}
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
