package resolver

import (
	"bytes"
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
// least recently used reply.
const (
	DefaultCacheSize  = 1 << 16
	DefaultCacheBytes = 32 << 20
)

// entryOverhead estimates the bytes an entry costs beyond its key and
// reply: the LRU's list element and map slot, and the entry itself.
const entryOverhead = 160

// cachedReply is a packed reply and the key it answers; it is never
// modified once stored.
type cachedReply struct {
	key  []byte
	wire []byte
}

// replyCache maps query keys to packed replies for one zone snapshot; a
// new snapshot gets a new cache, so no entry outlives the zone it came from.
type replyCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu     sync.Mutex
	lru    *simplelru.LRU[uint64, *cachedReply]
	bytes  int
	budget int
	_      [24]byte // keep shards on separate cache lines
}

func (e *cachedReply) cost() int { return len(e.key) + len(e.wire) + entryOverhead }

func newReplyCache(size, bytes int) *replyCache {
	c := &replyCache{seed: maphash.MakeSeed()}
	per := max(size/cacheShards, 1)
	for i := range c.shards {
		s := &c.shards[i]
		s.budget = max(bytes/cacheShards, 1)
		s.lru, _ = simplelru.NewLRU[uint64, *cachedReply](per, func(_ uint64, e *cachedReply) { s.bytes -= e.cost() })
	}
	return c
}

func (c *replyCache) get(key []byte) (*cachedReply, uint64) {
	h := maphash.Bytes(c.seed, key)
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	e, ok := s.lru.Get(h)
	s.mu.Unlock()
	// The hash picks the entry; the stored key makes the match exact.
	if ok && bytes.Equal(e.key, key) {
		return e, h
	}
	return nil, h
}

func (c *replyCache) put(h uint64, e *cachedReply) {
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
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
