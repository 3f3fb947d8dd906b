package api

import (
	linked "container/list"
	"fmt"
	"testing"

	"github.com/probity-dev/probity/internal/pact"
)

func TestSessionCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := sessionCache{max: 3, ll: linked.New(), m: map[sessionKey]*linked.Element{}}
	key := func(i int) sessionKey { return sessionKey{"o", "a", fmt.Sprint(i), "d"} }
	for i := range 3 {
		c.put(key(i), &pact.Session{})
	}
	c.get(key(0)) // 1 is now the least recently used
	c.put(key(3), &pact.Session{})
	for i, want := range []bool{true, false, true, true} {
		if got := c.get(key(i)) != nil; got != want {
			t.Errorf("session %d held: got %v, want %v", i, got, want)
		}
	}
	if c.ll.Len() != 3 || len(c.m) != 3 {
		t.Errorf("size: got %d entries, %d keys, want 3", c.ll.Len(), len(c.m))
	}
}
