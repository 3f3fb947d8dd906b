package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

// authenticator resolves bearer keys, reusing a lookup for ttl so that the
// hot read path does not query the key table on every request. A key revoked
// through this server is dropped from the cache at once; one revoked through
// another replica or offline stops working within ttl.
type authenticator struct {
	store store.Store
	ttl   time.Duration

	mu    sync.Mutex
	cache map[string]cachedKey // by hash
}

type cachedKey struct {
	key     *probity.APIKey
	expires time.Time
}

const maxCachedKeys = 10000

func newAuthenticator(s store.Store, ttl time.Duration) *authenticator {
	return &authenticator{store: s, ttl: ttl, cache: map[string]cachedKey{}}
}

func (a *authenticator) authenticate(r *http.Request) (*probity.APIKey, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, clientError(errUnauthenticated, "missing Authorization header; send Authorization: Bearer <key>")
	}
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(secret, probity.KeyPrefix) || len(secret) > 200 {
		return nil, clientError(errUnauthenticated, "malformed Authorization header; send Authorization: Bearer pb_…")
	}
	if len(secret) != probity.KeyLen {
		return nil, clientError(errUnauthenticated, "unknown API key") // no key has another length: no lookup
	}
	hash := probity.HashKey(secret)
	key, err := a.lookup(r.Context(), hash)
	if err != nil {
		return nil, err
	}
	if key == nil {
		return nil, clientError(errUnauthenticated, "unknown API key")
	}
	if key.RevokedAt != nil {
		return nil, clientError(errUnauthenticated, "this API key was revoked")
	}
	return key, nil
}

func (a *authenticator) lookup(ctx context.Context, hash []byte) (*probity.APIKey, error) {
	now := time.Now()
	if a.ttl > 0 {
		a.mu.Lock()
		c, ok := a.cache[string(hash)]
		a.mu.Unlock()
		if ok && now.Before(c.expires) {
			return c.key, nil
		}
	}
	var found *probity.APIKey
	err := a.store.View(store.WithOp(ctx, "auth"), func(tx store.Tx) error {
		k, err := tx.KeyByHash(ctx, hash)
		if errors.Is(err, probity.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = &k
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Only real keys are cached: a flood of guessed keys can neither grow the
	// cache nor push real keys out of it.
	if a.ttl > 0 && found != nil {
		a.mu.Lock()
		if len(a.cache) >= maxCachedKeys {
			clear(a.cache)
		}
		a.cache[string(hash)] = cachedKey{found, now.Add(a.ttl)}
		a.mu.Unlock()
	}
	return found, nil
}

// forget drops a key from the cache, after it was revoked here.
func (a *authenticator) forget(keyID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for h, c := range a.cache {
		if c.key != nil && c.key.ID == keyID {
			delete(a.cache, h)
		}
	}
}

// limiter is a token bucket per key id.
type limiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: burst, buckets: map[string]*rate.Limiter{}}
}

// allow takes a token for key, or says how long until one is free.
func (l *limiter) allow(key string) (time.Duration, bool) {
	if l.rate == 0 {
		return 0, true
	}
	l.mu.Lock()
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets[key] = b
	}
	l.mu.Unlock()
	now := time.Now()
	res := b.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}
