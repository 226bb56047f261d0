package dnssec

import (
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// DefaultCacheSize is how many RRsets' signatures the cache keeps by
// default: the zone of the full registry has about 75,000 RRsets, and an
// entry costs about 300 bytes.
const DefaultCacheSize = 100000

// cacheShards spreads the cache over independently locked LRUs.
const cacheShards = 16

// cacheKey is a SHA-256 over everything a signature depends on: the
// signing keys and the signing epoch (which fix the RRSIG fields), the
// zone version, and the RRset's full content in canonical form. A
// weaker key (CoreDNS #3953 keyed by name and type; #4448 by a hash of
// the records' text) served signatures over content the zone no longer
// had.
type cacheKey [sha256.Size]byte

// Cache holds signatures made online, shared by the signers of successive
// zone versions (their entries never match one another's keys, and age
// out), with the counters that /metrics reports. While one RRset is being
// signed, other queries for it wait for that signature rather than make
// their own: the in-flight table sits under the same lock as the LRU, so
// there is no moment between a miss and joining the signing in which a
// second signer could start (golang.org/x/sync/singleflight, kept beside
// the cache, would leave one).
type Cache struct {
	shards [cacheShards]cacheShard
	stats  Stats
}

type cacheShard struct {
	mu     sync.Mutex
	lru    *simplelru.LRU[cacheKey, Sigs]
	flight map[cacheKey]*signing
	_      [32]byte // keep shards on separate cache lines
}

// signing is one RRset being signed; done is closed when sigs or err is set.
type signing struct {
	done chan struct{}
	sigs Sigs
	err  error
}

// NewCache returns a cache of at most size RRsets' signatures; size 0
// keeps none (every signature is made when asked for), but concurrent
// requests for one RRset still share one signing.
func NewCache(size int) *Cache {
	c := &Cache{}
	per := size / cacheShards
	if size > 0 {
		per = max(per, 1)
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.flight = map[cacheKey]*signing{}
		if per > 0 {
			s.lru, _ = simplelru.NewLRU[cacheKey, Sigs](per, nil)
		}
	}
	return c
}

// Stats returns the cache's counters.
func (c *Cache) Stats() *Stats { return &c.stats }

// get returns the signatures stored under k, or makes them with sign: at
// most one sign call runs per key at a time.
func (c *Cache) get(k cacheKey, sign func() (Sigs, error)) (Sigs, error) {
	s := &c.shards[k[0]%cacheShards]
	s.mu.Lock()
	if s.lru != nil {
		if sigs, ok := s.lru.Get(k); ok {
			s.mu.Unlock()
			c.stats.hits.Add(1)
			return sigs, nil
		}
	}
	if f, ok := s.flight[k]; ok {
		s.mu.Unlock()
		c.stats.waits.Add(1)
		<-f.done
		return f.sigs, f.err
	}
	f := &signing{done: make(chan struct{})}
	s.flight[k] = f
	s.mu.Unlock()
	c.stats.misses.Add(1)

	func() {
		// Waiters are released even if sign panics: they get errAbandoned.
		defer func() {
			s.mu.Lock()
			delete(s.flight, k)
			if f.err == nil && s.lru != nil {
				s.lru.Add(k, f.sigs)
			}
			s.mu.Unlock()
			close(f.done)
		}()
		f.err = errAbandoned
		f.sigs, f.err = sign()
	}()
	return f.sigs, f.err
}

var errAbandoned = errors.New("dnssec: the signing this query waited for failed")

// Len is the number of RRsets whose signatures are held.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		if s.lru != nil {
			n += s.lru.Len()
		}
		s.mu.Unlock()
	}
	return n
}

// Stats counts signing work, for /metrics.
type Stats struct {
	signatures atomic.Uint64
	hits       atomic.Uint64
	misses     atomic.Uint64
	waits      atomic.Uint64
}

// Signatures is how many RRSIGs were made (online and for signed zones).
func (s *Stats) Signatures() uint64 { return s.signatures.Load() }

// Hits is how many RRsets' signatures came from the cache.
func (s *Stats) Hits() uint64 { return s.hits.Load() }

// Misses is how many RRsets were signed because the cache lacked them.
func (s *Stats) Misses() uint64 { return s.misses.Load() }

// Waits is how many requests waited for a signing of the same RRset that
// was already under way instead of signing it again.
func (s *Stats) Waits() uint64 { return s.waits.Load() }
