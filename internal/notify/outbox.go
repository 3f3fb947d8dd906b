package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/probity-dev/probity/internal/store"
)

// MaxSinks is how many sinks an org may have.
const MaxSinks = 50

// Queue puts events in the outbox in tx, so that an event is durable
// exactly when what it reports is: one delivery per event and sink that
// takes it (severe enough, of a type it names). An event no sink takes is
// not kept. Empty ids and times are filled in, from now. It returns how
// many deliveries it queued.
func Queue(ctx context.Context, tx store.Tx, org string, now time.Time, evs ...Event) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	sinks, err := tx.ListSinks(ctx, org, store.Page{Limit: MaxSinks + 1})
	if err != nil || len(sinks) == 0 {
		return 0, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	var ds []store.Delivery
	for _, ev := range evs {
		if !slices.Contains(Types, ev.Type) || !slices.Contains(Severities, ev.Severity) {
			return 0, fmt.Errorf("queueing an event of type %q and severity %q: not a known type and severity", ev.Type, ev.Severity)
		}
		if ev.ID == "" {
			ev.ID = NewID("evt_", now)
		}
		if ev.Time.IsZero() {
			ev.Time = now
		}
		ev.Time = ev.Time.UTC().Truncate(time.Microsecond)
		ev.Org = org
		var body []byte
		for _, sk := range sinks {
			if !Matches(sk, ev) {
				continue
			}
			if body == nil {
				if body, err = json.Marshal(ev); err != nil {
					return 0, fmt.Errorf("encoding event %s: %w", ev.ID, err)
				}
			}
			ds = append(ds, store.Delivery{ID: NewID("dl_", now), SinkID: sk.ID, EventID: ev.ID, EventType: ev.Type, Severity: ev.Severity,
				AgentID: ev.AgentID, EventTime: ev.Time, Body: body, Status: store.DeliveryPending, NextAttempt: now, CreatedAt: now})
		}
	}
	if len(ds) == 0 {
		return 0, nil
	}
	return len(ds), tx.InsertDeliveries(ctx, org, ds)
}

// NewID is prefix, the time in milliseconds (hex, fixed width) and 64
// random bits: ids that sort by time.
func NewID(prefix string, now time.Time) string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s%012x%s", prefix, now.UnixMilli(), hex.EncodeToString(b[:]))
}
