package api

import (
	linked "container/list"
	"fmt"
	"testing"

	"github.com/probity-dev/probity/internal/taint"
)

func TestSessionCacheEvictsLeastRecentlyUsed(t *testing.T) {
	key := func(i int) sessionKey { return sessionKey{"o", "a", fmt.Sprint(i)} }
	one := (&sessionState{}).size(key(0))
	c := sessionCache{max: 3 * one, ll: linked.New(), m: map[sessionKey]*linked.Element{}}
	for i := range 3 {
		c.put(key(i), &sessionState{})
	}
	c.get(key(0)) // 1 is now the least recently used
	c.put(key(3), &sessionState{})
	for i, want := range []bool{true, false, true, true} {
		if got := c.get(key(i)) != nil; got != want {
			t.Errorf("session %d held: got %v, want %v", i, got, want)
		}
	}
	if c.ll.Len() != 3 || len(c.m) != 3 || c.bytes != 3*one {
		t.Errorf("size: got %d entries, %d keys, %d bytes, want 3, 3, %d", c.ll.Len(), len(c.m), c.bytes, 3*one)
	}
}

// A session that grows is re-measured: a large trail pushes out others, and
// the cache never holds more bytes than its bound.
func TestSessionCacheBoundedInBytes(t *testing.T) {
	key := func(i int) sessionKey { return sessionKey{"o", "a", fmt.Sprint(i)} }
	one := (&sessionState{}).size(key(0))
	c := sessionCache{max: 100 * one, ll: linked.New(), m: map[sessionKey]*linked.Element{}}
	for i := range 100 {
		c.put(key(i), &sessionState{})
	}
	big := &sessionState{trail: &trail{}}
	for range 20 {
		big.trail.add(source{recordID: "r", tokens: []taint.Token{{Kind: taint.Text, Value: string(make([]byte, 200))}}})
	}
	if len(big.trail.sources) != 20 {
		t.Fatalf("trail: got %d sources, want 20", len(big.trail.sources))
	}
	c.put(key(0), big)
	if c.bytes > c.max {
		t.Errorf("bytes held: got %d, bound %d", c.bytes, c.max)
	}
	if c.get(key(0)) == nil {
		t.Errorf("the session just stored was evicted")
	}
	if c.get(key(1)) != nil {
		t.Errorf("the least recently used session was kept after a session grew")
	}
	for range 2 * maxSources {
		big.trail.add(source{recordID: "r"})
	}
	if len(big.trail.sources) != maxSources {
		t.Errorf("trail: got %d sources, want at most %d", len(big.trail.sources), maxSources)
	}
}
