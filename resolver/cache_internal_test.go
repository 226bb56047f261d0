package resolver

import (
	"fmt"
	"testing"
)

// entry makes a key and a reply of the shapes the cache takes: the key is
// a question and keySuffix bytes, the reply repeats the question after a
// 12-byte header and carries n bytes more.
func entry(name string, n int) (key, wire []byte) {
	q := append([]byte(name), 0, 16, 0, 1) // TXT IN
	key = append(append([]byte(nil), q...), 0, 2, 0)
	wire = append(make([]byte, 12), q...)
	return key, append(wire, make([]byte, n)...)
}

// TestReplyCacheMatchesWholeKey checks that an entry answers only its own
// key: same question with other flags or limit, or another question under
// the same hash, is a miss; a reply not repeating its key's question is
// not stored.
func TestReplyCacheMatchesWholeKey(t *testing.T) {
	c := newReplyCache(1024, 1<<20)
	key, wire := entry("\x03abc", 40)
	_, h := c.get(key)
	c.put(h, key, wire)
	if w, _ := c.get(key); string(w) != string(wire) {
		t.Fatalf("stored reply not found: %q", w)
	}
	for _, other := range [][]byte{
		append(key[:len(key)-1:len(key)-1], 1),                    // another size limit
		append(append([]byte(nil), key[:len(key)-3]...), 1, 2, 0), // EDNS flags
	} {
		if e, ok := c.shards[h%cacheShards].lru.Peek(h); !ok || e.matches(other) {
			t.Errorf("entry for %q matches %q", key, other)
		}
	}
	other, _ := entry("\x03abd", 40)
	if e, _ := c.shards[h%cacheShards].lru.Peek(h); e.matches(other) {
		t.Errorf("entry for %q matches %q", key, other)
	}
	k2, w2 := entry("\x03xyz", 40)
	copy(w2[12:], "\x03xyw") // the reply is to another question
	_, h2 := c.get(k2)
	c.put(h2, k2, w2)
	if c.len() != 1 {
		t.Errorf("a reply to another question was stored: %d entries", c.len())
	}
}

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
			for i := range tc.entries {
				key, wire := entry(fmt.Sprintf("key-%d", i), 280)
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
			key, wire := entry(fmt.Sprintf("key-%d", tc.entries-1), 280)
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
	var hot [][]byte
	for _, name := range []string{"hot-1", "hot-2", "hot-3"} {
		k, wire := entry(name, 5)
		_, h := c.get(k)
		c.put(h, k, wire)
		hot = append(hot, k)
	}
	for i := range 100000 {
		key, wire := entry(fmt.Sprintf("cold-%d", i), 5)
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
