package resolver

import (
	"fmt"
	"testing"
)

func TestReplyCacheBounds(t *testing.T) {
	for _, tc := range []struct {
		name         string
		size, budget int
		entries      int
	}{
		{"by bytes", 1 << 16, 64 * 1024, 5000},
		{"by count", 640, 1 << 30, 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newReplyCache(tc.size, tc.budget)
			wire := make([]byte, 300)
			for i := range tc.entries {
				key := []byte(fmt.Sprintf("key-%d", i))
				_, h := c.get(key)
				c.put(h, key, wire)
			}
			// Per-shard budgets may each run one entry over while the
			// shard holds a single entry; never more.
			if got, limit := c.size(), tc.budget+cacheShards*(300+entryOverhead+32); got > limit {
				t.Errorf("cache holds %d bytes, budget %d", got, tc.budget)
			}
			if c.len() > tc.size {
				t.Errorf("cache holds %d entries, limit %d", c.len(), tc.size)
			}
			// The most recent entry is still there and exact.
			key := []byte(fmt.Sprintf("key-%d", tc.entries-1))
			if w, _ := c.get(key); w == nil || string(w) != string(wire) {
				t.Errorf("newest entry evicted")
			}
			total := 0
			for i := range c.shards {
				for _, k := range c.shards[i].lru.Keys() {
					e, _ := c.shards[i].lru.Peek(k)
					total += e.cost()
				}
			}
			if total != c.size() {
				t.Errorf("byte count %d drifted from the entries' %d", c.size(), total)
			}
		})
	}
}

// TestReplyCacheKeepsHotEntries checks that promoting entries lazily (not
// on every hit) still keeps a reply hit all along while many others pass
// through and are evicted.
func TestReplyCacheKeepsHotEntries(t *testing.T) {
	c := newReplyCache(cacheShards*64, 1<<30)
	wire := []byte("reply")
	hot := [][]byte{[]byte("hot-1"), []byte("hot-2"), []byte("hot-3")}
	for _, k := range hot {
		_, h := c.get(k)
		c.put(h, k, wire)
	}
	for i := range 100000 {
		key := []byte(fmt.Sprintf("cold-%d", i))
		_, h := c.get(key)
		c.put(h, key, wire)
		for _, k := range hot {
			if w, _ := c.get(k); w == nil {
				t.Fatalf("%s evicted after %d other entries", k, i+1)
			}
		}
	}
	if c.len() > cacheShards*64 {
		t.Errorf("cache holds %d entries, limit %d", c.len(), cacheShards*64)
	}
}
