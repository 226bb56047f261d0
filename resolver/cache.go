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

// DefaultCacheSize is the number of packed replies kept per snapshot.
const DefaultCacheSize = 1 << 16

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
	shards [cacheShards]struct {
		mu  sync.Mutex
		lru *simplelru.LRU[uint64, *cachedReply]
		_   [40]byte // keep shards on separate cache lines
	}
}

func newReplyCache(size int) *replyCache {
	c := &replyCache{seed: maphash.MakeSeed()}
	per := max(size/cacheShards, 1)
	for i := range c.shards {
		c.shards[i].lru, _ = simplelru.NewLRU[uint64, *cachedReply](per, nil)
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
	s.lru.Add(h, e)
	s.mu.Unlock()
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
