package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/notify"
	"github.com/probity-dev/probity/internal/store"
)

// Sinks: where events go (webhook, syslog, Splunk HEC), and the log of
// their deliveries. Events are queued by emit in the transaction that
// makes them; the delivery worker (notify.Dispatcher) sends them.

// sinkView is a sink as the API shows it: never its secret or token, but
// a webhook's secret once, in the answer that creates it.
type sinkView struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Kind   string `json:"kind"`
	Format string `json:"format"`
	notify.Settings
	MinSeverity string    `json:"minSeverity"`
	EventTypes  []string  `json:"eventTypes"`
	CreatedAt   time.Time `json:"createdAt"`
	CreatedBy   string    `json:"createdBy,omitempty"`
	Secret      string    `json:"secret,omitempty"`
}

func viewOfSink(sk store.Sink) (sinkView, error) {
	set, err := notify.SettingsOf(sk)
	if err != nil {
		return sinkView{}, err
	}
	types := sk.EventTypes
	if types == nil {
		types = []string{}
	}
	return sinkView{ID: sk.ID, Name: sk.Name, Kind: sk.Kind, Format: sk.Format, Settings: set, MinSeverity: sk.MinSeverity,
		EventTypes: types, CreatedAt: sk.CreatedAt, CreatedBy: sk.CreatedBy}, nil
}

func (s *Server) createSink(w http.ResponseWriter, r *http.Request, c *call) error {
	var spec notify.Spec
	if err := decodeJSON(r, &spec); err != nil {
		return err
	}
	var b [8]byte
	rand.Read(b[:])
	sk, secret, err := spec.Sink("snk_" + hex.EncodeToString(b[:]))
	if err != nil {
		return err
	}
	sk.CreatedAt, sk.CreatedBy = s.now().UTC().Truncate(time.Microsecond), c.actor()
	v, err := viewOfSink(sk)
	if err != nil {
		return err
	}
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		have, err := tx.ListSinks(r.Context(), c.org, store.Page{Limit: notify.MaxSinks})
		if err != nil {
			return err
		}
		if len(have) >= notify.MaxSinks {
			return clientError(probity.ErrConflict, "this org has %d sinks, the most it may have; delete one first", notify.MaxSinks)
		}
		if err := tx.InsertSink(r.Context(), c.org, sk); err != nil {
			return err
		}
		return s.audit(r, tx, c, sk.CreatedAt, "sink.create", "sink:"+sk.ID, v)
	})
	if err != nil {
		return err
	}
	v.Secret = secret
	w.Header().Set("Location", "/v1/sinks/"+sk.ID)
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) listSinks(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	var sinks []store.Sink
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		sinks, err = tx.ListSinks(r.Context(), c.org, peek(p))
		return err
	})
	if err != nil {
		return err
	}
	views := make([]sinkView, len(sinks))
	for i, sk := range sinks {
		if views[i], err = viewOfSink(sk); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, paged(views, p, func(v sinkView) string { return v.ID }))
	return nil
}

func (s *Server) getSink(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var sk store.Sink
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		sk, err = tx.GetSink(r.Context(), c.org, id)
		return err
	})
	if err != nil {
		return err
	}
	v, err := viewOfSink(sk)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// deleteSink removes a sink with its deliveries, pending ones included.
func (s *Server) deleteSink(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		if err := tx.DeleteSink(r.Context(), c.org, id); err != nil {
			return err
		}
		return s.audit(r, tx, c, s.now(), "sink.delete", "sink:"+id, nil)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deliveryView is one delivery with its log of tries.
type deliveryView struct {
	ID            string          `json:"id"`
	SinkID        string          `json:"sinkId"`
	EventID       string          `json:"eventId"`
	EventType     string          `json:"eventType"`
	Severity      string          `json:"severity"`
	AgentID       string          `json:"agentId,omitempty"`
	EventTime     time.Time       `json:"eventTime"`
	Status        string          `json:"status"`
	Attempts      int             `json:"attempts"` // since it was queued or last replayed
	NextAttemptAt *time.Time      `json:"nextAttemptAt,omitempty"`
	LastAttemptAt *time.Time      `json:"lastAttemptAt,omitempty"`
	LastCode      int             `json:"lastStatusCode,omitempty"`
	LastError     string          `json:"lastError,omitempty"`
	CreatedAt     time.Time       `json:"createdAt"`
	SentAt        *time.Time      `json:"sentAt,omitempty"`
	Log           []attemptView   `json:"log"`
	Event         json.RawMessage `json:"event"`
}

type attemptView struct {
	Seq        int       `json:"seq"`
	Time       time.Time `json:"time"`
	DurationMs float64   `json:"durationMs"`
	StatusCode int       `json:"statusCode,omitempty"`
	Error      string    `json:"error,omitempty"`
}

func timeRef(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func viewOfDelivery(d store.Delivery, log []store.DeliveryAttempt) deliveryView {
	v := deliveryView{ID: d.ID, SinkID: d.SinkID, EventID: d.EventID, EventType: d.EventType, Severity: d.Severity, AgentID: d.AgentID,
		EventTime: d.EventTime, Status: d.Status, Attempts: d.Attempts, LastAttemptAt: timeRef(d.LastAttempt), LastCode: d.LastCode,
		LastError: d.LastError, CreatedAt: d.CreatedAt, SentAt: timeRef(d.SentAt), Log: []attemptView{}, Event: d.Body}
	if d.Status == store.DeliveryPending {
		v.NextAttemptAt = timeRef(d.NextAttempt)
	}
	for _, a := range log {
		v.Log = append(v.Log, attemptView{Seq: a.Seq, Time: a.Time, DurationMs: float64(a.Duration.Microseconds()) / 1000, StatusCode: a.Code, Error: a.Error})
	}
	return v
}

// listDeliveries answers a sink's deliveries, newest first, optionally of
// one status (pending, sent or dead).
func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains([]string{store.DeliveryPending, store.DeliverySent, store.DeliveryDead}, status) {
		return probity.Invalid("status", "want pending, sent or dead")
	}
	var ds []store.Delivery
	var log []store.DeliveryAttempt
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		if _, err := tx.GetSink(r.Context(), c.org, id); err != nil {
			return err
		}
		if ds, err = tx.ListDeliveries(r.Context(), c.org, store.DeliveryFilter{Page: peek(p), SinkID: id, Status: status}); err != nil {
			return err
		}
		ids := make([]string, len(ds))
		for i, d := range ds {
			ids[i] = d.ID
		}
		log, err = tx.DeliveryAttempts(r.Context(), c.org, ids)
		return err
	})
	if err != nil {
		return err
	}
	byDelivery := map[string][]store.DeliveryAttempt{}
	for _, a := range log {
		byDelivery[a.DeliveryID] = append(byDelivery[a.DeliveryID], a)
	}
	views := make([]deliveryView, len(ds))
	for i, d := range ds {
		views[i] = viewOfDelivery(d, byDelivery[d.ID])
	}
	writeJSON(w, http.StatusOK, paged(views, p, func(v deliveryView) string { return v.ID }))
	return nil
}

type replayRequest struct {
	DeliveryIDs []string `json:"deliveryIds"`
	Dead        bool     `json:"dead"`
}

// maxReplayIDs bounds the deliveries one replay names.
const maxReplayIDs = 1000

// replayDeliveries queues deliveries again, due now with a fresh count of
// tries: the ones named (dead or sent), or with "dead": true every dead
// letter of the sink. Receivers see the same Probity-Delivery id again.
func (s *Server) replayDeliveries(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req replayRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	switch {
	case req.Dead && len(req.DeliveryIDs) > 0:
		return probity.Invalid("dead", "name deliveries or ask for every dead letter, not both")
	case !req.Dead && len(req.DeliveryIDs) == 0:
		return probity.Invalid("deliveryIds", `is required: the deliveries to send again, or "dead": true for every dead letter`)
	case len(req.DeliveryIDs) > maxReplayIDs:
		return probity.Invalid("deliveryIds", "at most %d at a time", maxReplayIDs)
	}
	for i, d := range req.DeliveryIDs {
		if !probity.ValidID(d) {
			return probity.Invalid(fmt.Sprintf("deliveryIds[%d]", i), probity.IDRule)
		}
		if slices.Contains(req.DeliveryIDs[:i], d) {
			return probity.Invalid(fmt.Sprintf("deliveryIds[%d]", i), "%s is named twice", d)
		}
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	n := 0
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		if _, err := tx.GetSink(r.Context(), c.org, id); err != nil {
			return err
		}
		for _, did := range req.DeliveryIDs {
			d, err := tx.GetDelivery(r.Context(), c.org, did)
			if errors.Is(err, probity.ErrNotFound) || (err == nil && d.SinkID != id) {
				return clientError(probity.ErrNotFound, "sink %s has no delivery %s", id, did)
			} else if err != nil {
				return err
			}
			if d.Status == store.DeliveryPending {
				return clientError(probity.ErrConflict, "delivery %s is pending already", did)
			}
		}
		if n, err = tx.ReplayDeliveries(r.Context(), c.org, id, req.DeliveryIDs, now); err != nil {
			return err
		}
		return s.audit(r, tx, c, now, "sink.replay", "sink:"+id, map[string]any{"deliveryIds": req.DeliveryIDs, "dead": req.Dead, "replayed": n})
	})
	if err != nil {
		return err
	}
	if n > 0 && s.outboxWake != nil {
		s.outboxWake()
	}
	writeJSON(w, http.StatusOK, map[string]int{"replayed": n})
	return nil
}
