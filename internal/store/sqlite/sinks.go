package sqlite

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

// microsOrZero and timeOrZero store a zero time as 0.
func microsOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

func timeOrZero(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return fromMicros(us)
}

const sinkCols = `id, name, kind, format, config, secret, min_severity, event_types, created_at, created_by`

func scanSink(row interface{ Scan(...any) error }, lead ...any) (store.Sink, error) {
	var sk store.Sink
	var config, types string
	var created int64
	if err := row.Scan(append(lead, &sk.ID, &sk.Name, &sk.Kind, &sk.Format, &config, &sk.Secret, &sk.MinSeverity, &types, &created, &sk.CreatedBy)...); err != nil {
		return sk, err
	}
	sk.Config, sk.CreatedAt = []byte(config), fromMicros(created)
	if err := json.Unmarshal([]byte(types), &sk.EventTypes); err != nil {
		return sk, fmt.Errorf("%w: event types of sink %s: %v", store.ErrLedgerDamaged, sk.ID, err)
	}
	return sk, nil
}

func (t *txn) InsertSink(ctx context.Context, orgID string, sk store.Sink) error {
	types, err := json.Marshal(nonNil(sk.EventTypes))
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO sinks (org_id, `+sinkCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		orgID, sk.ID, sk.Name, sk.Kind, sk.Format, string(sk.Config), sk.Secret, sk.MinSeverity, string(types), micros(sk.CreatedAt), sk.CreatedBy)
	return classify(err, "storing sink "+sk.ID)
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

func (t *txn) GetSink(ctx context.Context, orgID, id string) (store.Sink, error) {
	sk, err := scanSink(t.queryRow(ctx, `SELECT `+sinkCols+` FROM sinks WHERE org_id = ? AND id = ?`, orgID, id))
	return sk, classify(err, "reading sink "+id)
}

func (t *txn) ListSinks(ctx context.Context, orgID string, p store.Page) ([]store.Sink, error) {
	rows, err := t.query(ctx, `SELECT `+sinkCols+` FROM sinks WHERE org_id = ? AND id > ? ORDER BY id LIMIT ?`, orgID, p.After, p.Limit)
	if err != nil {
		return nil, classify(err, "listing sinks")
	}
	defer rows.Close()
	var out []store.Sink
	for rows.Next() {
		sk, err := scanSink(rows)
		if err != nil {
			return nil, classify(err, "listing sinks")
		}
		out = append(out, sk)
	}
	return out, classify(rows.Err(), "listing sinks")
}

func (t *txn) DeleteSink(ctx context.Context, orgID, id string) error {
	res, err := t.exec(ctx, `DELETE FROM sinks WHERE org_id = ? AND id = ?`, orgID, id)
	if err != nil {
		return classify(err, "deleting sink "+id)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sink %q: %w", id, probity.ErrNotFound)
	}
	if _, err := t.exec(ctx, `DELETE FROM delivery_attempts WHERE org_id = ? AND delivery_id IN (SELECT id FROM deliveries WHERE org_id = ? AND sink_id = ?)`, orgID, orgID, id); err != nil {
		return classify(err, "deleting the delivery log of sink "+id)
	}
	_, err = t.exec(ctx, `DELETE FROM deliveries WHERE org_id = ? AND sink_id = ?`, orgID, id)
	return classify(err, "deleting the deliveries of sink "+id)
}

const deliveryCols = `id, sink_id, event_id, event_type, severity, agent_id, event_time, body, status, attempts, tries,
	next_attempt, last_attempt, last_code, last_error, created_at, sent_at`

func scanDelivery(row interface{ Scan(...any) error }, lead ...any) (store.Delivery, error) {
	var d store.Delivery
	var body string
	var evTime, next, last, created, sent int64
	err := row.Scan(append(lead, &d.ID, &d.SinkID, &d.EventID, &d.EventType, &d.Severity, &d.AgentID, &evTime, &body, &d.Status,
		&d.Attempts, &d.Tries, &next, &last, &d.LastCode, &d.LastError, &created, &sent)...)
	if err != nil {
		return d, err
	}
	d.Body = []byte(body)
	d.EventTime, d.NextAttempt, d.CreatedAt = fromMicros(evTime), fromMicros(next), fromMicros(created)
	d.LastAttempt, d.SentAt = timeOrZero(last), timeOrZero(sent)
	return d, nil
}

func (t *txn) InsertDeliveries(ctx context.Context, orgID string, ds []store.Delivery) error {
	for _, d := range ds {
		_, err := t.exec(ctx, `INSERT INTO deliveries (org_id, `+deliveryCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			orgID, d.ID, d.SinkID, d.EventID, d.EventType, d.Severity, d.AgentID, micros(d.EventTime), string(d.Body), d.Status,
			d.Attempts, d.Tries, micros(d.NextAttempt), microsOrZero(d.LastAttempt), d.LastCode, d.LastError, micros(d.CreatedAt), microsOrZero(d.SentAt))
		if err != nil {
			return classify(err, "queueing delivery "+d.ID)
		}
	}
	return nil
}

func (t *txn) GetDelivery(ctx context.Context, orgID, id string) (store.Delivery, error) {
	d, err := scanDelivery(t.queryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE org_id = ? AND id = ?`, orgID, id))
	return d, classify(err, "reading delivery "+id)
}

func (t *txn) ListDeliveries(ctx context.Context, orgID string, f store.DeliveryFilter) ([]store.Delivery, error) {
	after := f.After
	if after == "" {
		after = "\U0010FFFF" // above every id
	}
	q := `SELECT ` + deliveryCols + ` FROM deliveries WHERE org_id = ? AND sink_id = ? AND id < ? ORDER BY id DESC LIMIT ?`
	args := []any{orgID, f.SinkID, after, f.Limit}
	if f.Status != "" {
		q = `SELECT ` + deliveryCols + ` FROM deliveries WHERE org_id = ? AND sink_id = ? AND status = ? AND id < ? ORDER BY id DESC LIMIT ?`
		args = []any{orgID, f.SinkID, f.Status, after, f.Limit}
	}
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, classify(err, "listing deliveries")
	}
	defer rows.Close()
	var out []store.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, classify(err, "listing deliveries")
		}
		out = append(out, d)
	}
	return out, classify(rows.Err(), "listing deliveries")
}

func (t *txn) DeliveryAttempts(ctx context.Context, orgID string, ids []string) ([]store.DeliveryAttempt, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	rows, err := t.query(ctx, `SELECT delivery_id, seq, at, duration_us, code, error FROM delivery_attempts
		WHERE org_id = ? AND delivery_id IN (SELECT value FROM json_each(?)) ORDER BY delivery_id, seq`, orgID, string(list))
	if err != nil {
		return nil, classify(err, "reading delivery attempts")
	}
	defer rows.Close()
	var out []store.DeliveryAttempt
	for rows.Next() {
		var a store.DeliveryAttempt
		var at, us int64
		if err := rows.Scan(&a.DeliveryID, &a.Seq, &at, &us, &a.Code, &a.Error); err != nil {
			return nil, classify(err, "reading delivery attempts")
		}
		a.Time, a.Duration = fromMicros(at), time.Duration(us)*time.Microsecond
		out = append(out, a)
	}
	return out, classify(rows.Err(), "reading delivery attempts")
}

// ClaimDeliveries reads each sink's due deliveries through the (org, sink,
// next attempt) index, so that a long backlog of one sink costs the others
// nothing; SQLite has one writer, so no row locks are needed.
func (t *txn) ClaimDeliveries(ctx context.Context, claim string, now time.Time, lease time.Duration, limit int, skip []store.SinkRef) ([]store.ClaimedDelivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := t.query(ctx, `SELECT org_id, `+sinkCols+` FROM sinks ORDER BY org_id, id`)
	if err != nil {
		return nil, classify(err, "reading sinks")
	}
	var sinks []store.ClaimedDelivery // the org and the sink of each
	for rows.Next() {
		var c store.ClaimedDelivery
		if c.Sink, err = scanSink(rows, &c.OrgID); err != nil {
			rows.Close()
			return nil, classify(err, "reading sinks")
		}
		if !slices.Contains(skip, store.SinkRef{OrgID: c.OrgID, SinkID: c.Sink.ID}) {
			sinks = append(sinks, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, classify(err, "reading sinks")
	}
	var out []store.ClaimedDelivery
	for _, sk := range sinks {
		rows, err := t.query(ctx, `SELECT `+deliveryCols+` FROM deliveries INDEXED BY deliveries_due
			WHERE org_id = ? AND sink_id = ? AND status = 'pending' AND next_attempt <= ? ORDER BY next_attempt, id LIMIT ?`,
			sk.OrgID, sk.Sink.ID, micros(now), limit)
		if err != nil {
			return nil, classify(err, "claiming deliveries")
		}
		for rows.Next() {
			c := sk
			if c.Delivery, err = scanDelivery(rows); err != nil {
				rows.Close()
				return nil, classify(err, "claiming deliveries")
			}
			out = append(out, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, classify(err, "claiming deliveries")
		}
	}
	slices.SortFunc(out, func(a, b store.ClaimedDelivery) int {
		return cmp.Or(a.NextAttempt.Compare(b.NextAttempt), cmp.Compare(a.OrgID, b.OrgID), cmp.Compare(a.ID, b.ID))
	})
	out = out[:min(len(out), limit)]
	until := now.Add(lease)
	for i := range out {
		out[i].Claim, out[i].NextAttempt = claim, until
		if _, err := t.exec(ctx, `UPDATE deliveries SET claim = ?, next_attempt = ? WHERE org_id = ? AND id = ?`,
			claim, micros(until), out[i].OrgID, out[i].ID); err != nil {
			return nil, classify(err, "claiming delivery "+out[i].ID)
		}
	}
	return out, nil
}

func (t *txn) FinishDeliveries(ctx context.Context, rs []store.DeliveryResult) error {
	for _, r := range rs {
		if r.Claim == "" {
			return fmt.Errorf("finishing delivery %s: no claim", r.ID)
		}
		var q string
		var args []any
		a := r.Attempt
		switch r.Outcome {
		case store.OutcomeReleased:
			q, args = `UPDATE deliveries SET claim = '', next_attempt = ? WHERE org_id = ? AND id = ? AND claim = ?`,
				[]any{micros(r.Next), r.OrgID, r.ID, r.Claim}
		case store.OutcomeSent:
			q, args = `UPDATE deliveries SET claim = '', status = 'sent', attempts = attempts + 1, tries = ?, last_attempt = ?, last_code = ?,
				last_error = '', sent_at = ? WHERE org_id = ? AND id = ? AND claim = ?`,
				[]any{a.Seq, micros(a.Time), a.Code, micros(a.Time.Add(a.Duration)), r.OrgID, r.ID, r.Claim}
		case store.OutcomeRetry, store.OutcomeDead:
			status := store.DeliveryPending
			if r.Outcome == store.OutcomeDead {
				status = store.DeliveryDead
			}
			q, args = `UPDATE deliveries SET claim = '', status = ?, attempts = attempts + 1, tries = ?, next_attempt = ?, last_attempt = ?,
				last_code = ?, last_error = ? WHERE org_id = ? AND id = ? AND claim = ?`,
				[]any{status, a.Seq, micros(r.Next), micros(a.Time), a.Code, a.Error, r.OrgID, r.ID, r.Claim}
		default:
			return fmt.Errorf("finishing delivery %s: unknown outcome %q", r.ID, r.Outcome)
		}
		res, err := t.exec(ctx, q, args...)
		if err != nil {
			return classify(err, "finishing delivery "+r.ID)
		}
		if n, _ := res.RowsAffected(); n == 0 || r.Outcome == store.OutcomeReleased {
			continue // another claimer has it now
		}
		_, err = t.exec(ctx, `INSERT INTO delivery_attempts (org_id, delivery_id, seq, at, duration_us, code, error) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.OrgID, r.ID, a.Seq, micros(a.Time), a.Duration.Microseconds(), a.Code, a.Error)
		if err != nil {
			return classify(err, "logging an attempt of delivery "+r.ID)
		}
	}
	return nil
}

func (t *txn) ReplayDeliveries(ctx context.Context, orgID, sinkID string, ids []string, now time.Time) (int, error) {
	var q string
	args := []any{micros(now), orgID, sinkID}
	if len(ids) == 0 {
		q = `UPDATE deliveries SET status = 'pending', attempts = 0, claim = '', next_attempt = ? WHERE org_id = ? AND sink_id = ? AND status = 'dead'`
	} else {
		list, err := json.Marshal(ids)
		if err != nil {
			return 0, err
		}
		q = `UPDATE deliveries SET status = 'pending', attempts = 0, claim = '', next_attempt = ?
			WHERE org_id = ? AND sink_id = ? AND status IN ('sent', 'dead') AND id IN (SELECT value FROM json_each(?))`
		args = append(args, string(list))
	}
	res, err := t.exec(ctx, q, args...)
	if err != nil {
		return 0, classify(err, "replaying deliveries")
	}
	n, err := res.RowsAffected()
	return int(n), classify(err, "replaying deliveries")
}

func (t *txn) OutboxBacklog(ctx context.Context) (int64, error) {
	var n int64
	err := t.queryRow(ctx, `SELECT count(*) FROM deliveries WHERE status = 'pending'`).Scan(&n)
	return n, classify(err, "counting the outbox")
}

func (t *txn) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	if _, err := t.exec(ctx, `DELETE FROM delivery_attempts WHERE (org_id, delivery_id) IN
		(SELECT org_id, id FROM deliveries WHERE status = 'sent' AND sent_at < ?)`, micros(before)); err != nil {
		return 0, classify(err, "pruning the delivery log")
	}
	res, err := t.exec(ctx, `DELETE FROM deliveries WHERE status = 'sent' AND sent_at < ?`, micros(before))
	if err != nil {
		return 0, classify(err, "pruning deliveries")
	}
	n, err := res.RowsAffected()
	return n, classify(err, "pruning deliveries")
}
