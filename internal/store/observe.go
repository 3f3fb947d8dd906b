package store

import (
	"context"
	"time"
)

type opKey struct{}

// WithOp names the operation that the transactions run under ctx belong to
// (for example the HTTP route), for the latency metrics of Observed.
func WithOp(ctx context.Context, op string) context.Context {
	return context.WithValue(ctx, opKey{}, op)
}

func opOf(ctx context.Context) string {
	if op, ok := ctx.Value(opKey{}).(string); ok {
		return op
	}
	return "other"
}

// Observer is told how long each transaction took: kind is "view" or
// "update", op the name given with WithOp.
type Observer func(kind, op string, d time.Duration, err error)

// Observed wraps s so that every transaction is reported to obs.
func Observed(s Store, obs Observer) Store { return observed{s, obs} }

type observed struct {
	Store
	obs Observer
}

func (o observed) View(ctx context.Context, fn func(Tx) error) error {
	start := time.Now()
	err := o.Store.View(ctx, fn)
	o.obs("view", opOf(ctx), time.Since(start), err)
	return err
}

func (o observed) Update(ctx context.Context, fn func(Tx) error) error {
	start := time.Now()
	err := o.Store.Update(ctx, fn)
	o.obs("update", opOf(ctx), time.Since(start), err)
	return err
}
