package api

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/notify"
	"github.com/probity-dev/probity/internal/score"
	"github.com/probity-dev/probity/internal/store"
)

// TestScoreEvents pins what a score change tells the sinks: which events,
// and how severe, by how far the composite falls and which tier it leaves.
func TestScoreEvents(t *testing.T) {
	ctx := context.Background()
	s, db := newSQLiteServer(t)
	sk, _, err := notify.Spec{Kind: notify.KindWebhook, URL: "http://127.0.0.1:9"}.Sink("snk_all")
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateOrg(ctx, probity.Org{ID: "o", CreatedAt: store.Now()}); err != nil {
			return err
		}
		return tx.InsertSink(ctx, "o", sk)
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	type want struct{ typ, sev string }
	for i, tc := range []struct {
		name       string
		prev       *score.Score
		composite  int
		tier       string
		wantEvents []want
	}{
		{"the first score", nil, 812, "gold", []want{{notify.ScoreChanged, notify.SeverityInfo}}},
		{"a rise within a tier", &score.Score{CompositeScore: 805, CertificationTier: "gold"}, 812, "gold", []want{{notify.ScoreChanged, notify.SeverityInfo}}},
		{"a small fall", &score.Score{CompositeScore: 830, CertificationTier: "gold"}, 812, "gold", []want{{notify.ScoreChanged, notify.SeverityLow}}},
		{"a fall of 20 points", &score.Score{CompositeScore: 832, CertificationTier: "gold"}, 812, "gold", []want{{notify.ScoreChanged, notify.SeverityMedium}}},
		{"a fall of 100 points", &score.Score{CompositeScore: 912, CertificationTier: "platinum"}, 812, "gold",
			[]want{{notify.ScoreChanged, notify.SeverityHigh}, {notify.ScoreTierChanged, notify.SeverityMedium}}},
		{"below the reliance threshold", &score.Score{CompositeScore: 705, CertificationTier: "silver"}, 695, "bronze",
			[]want{{notify.ScoreChanged, notify.SeverityLow}, {notify.ScoreTierChanged, notify.SeverityHigh}}},
		{"up a tier", &score.Score{CompositeScore: 795, CertificationTier: "silver"}, 801, "gold",
			[]want{{notify.ScoreChanged, notify.SeverityInfo}, {notify.ScoreTierChanged, notify.SeverityInfo}}},
		{"badges only", &score.Score{CompositeScore: 812, CertificationTier: "gold"}, 812, "gold", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agent := "a" + string(rune('0'+i))
			sc := score.Score{AgentID: agent, CompositeScore: tc.composite, CertificationTier: tc.tier, ComputedAt: at.Add(time.Hour)}
			var got []want
			err := db.Update(ctx, func(tx store.Tx) error {
				if tc.prev != nil {
					b, _ := json.Marshal(tc.prev)
					if err := tx.InsertScore(ctx, "o", store.ScoreSnapshot{AgentID: agent, ComputedAt: at, Composite: tc.prev.CompositeScore,
						Tier: tc.prev.CertificationTier, Score: b}); err != nil {
						return err
					}
				}
				return s.emitScore(ctx, tx, "o", sc)
			})
			if err != nil {
				t.Fatal(err)
			}
			err = db.View(ctx, func(tx store.Tx) error {
				ds, err := tx.ListDeliveries(ctx, "o", store.DeliveryFilter{SinkID: "snk_all", Page: store.Page{Limit: 100}})
				for _, d := range ds {
					var ev notify.Event
					json.Unmarshal(d.Body, &ev)
					if ev.AgentID == agent {
						got = append(got, want{ev.Type, ev.Severity})
					}
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(got, func(a, b want) int { return strings.Compare(a.typ, b.typ) })
			if !slices.Equal(got, tc.wantEvents) {
				t.Errorf("got %v, want %v", got, tc.wantEvents)
			}
		})
	}
}
