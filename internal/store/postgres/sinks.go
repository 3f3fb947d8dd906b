package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

const sinkCols = `id, name, kind, format, config, secret, min_severity, event_types, created_at, created_by`

func scanSink(row pgx.Row, lead ...any) (store.Sink, error) {
	var sk store.Sink
	var config, types string
	if err := row.Scan(append(lead, &sk.ID, &sk.Name, &sk.Kind, &sk.Format, &config, &sk.Secret, &sk.MinSeverity, &types, &sk.CreatedAt, &sk.CreatedBy)...); err != nil {
		return sk, err
	}
	sk.Config, sk.CreatedAt = []byte(config), sk.CreatedAt.UTC()
	if err := json.Unmarshal([]byte(types), &sk.EventTypes); err != nil {
		return sk, fmt.Errorf("%w: event types of sink %s: %v", store.ErrLedgerDamaged, sk.ID, err)
	}
	return sk, nil
}

func (t *txn) InsertSink(ctx context.Context, orgID string, sk store.Sink) error {
	types := sk.EventTypes
	if types == nil {
		types = []string{}
	}
	list, err := json.Marshal(types)
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(ctx, `INSERT INTO sinks (org_id, `+sinkCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		orgID, sk.ID, sk.Name, sk.Kind, sk.Format, string(sk.Config), sk.Secret, sk.MinSeverity, string(list), sk.CreatedAt, sk.CreatedBy)
	return classify(err, "storing sink "+sk.ID)
}

func (t *txn) GetSink(ctx context.Context, orgID, id string) (store.Sink, error) {
	sk, err := scanSink(t.tx.QueryRow(ctx, `SELECT `+sinkCols+` FROM sinks WHERE org_id = $1 AND id = $2`, orgID, id))
	return sk, classify(err, "reading sink "+id)
}

func (t *txn) ListSinks(ctx context.Context, orgID string, p store.Page) ([]store.Sink, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+sinkCols+` FROM sinks WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3`, orgID, p.After, p.Limit)
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
	tag, err := t.tx.Exec(ctx, `DELETE FROM sinks WHERE org_id = $1 AND id = $2`, orgID, id)
	if err != nil {
		return classify(err, "deleting sink "+id)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("sink %q: %w", id, probity.ErrNotFound)
	}
	if _, err := t.tx.Exec(ctx, `DELETE FROM delivery_attempts a USING deliveries d
		WHERE d.org_id = $1 AND d.sink_id = $2 AND a.org_id = d.org_id AND a.delivery_id = d.id`, orgID, id); err != nil {
		return classify(err, "deleting the delivery log of sink "+id)
	}
	_, err = t.tx.Exec(ctx, `DELETE FROM deliveries WHERE org_id = $1 AND sink_id = $2`, orgID, id)
	return classify(err, "deleting the deliveries of sink "+id)
}

const deliveryCols = `id, sink_id, event_id, event_type, severity, agent_id, event_time, body, status, attempts, tries,
	next_attempt, last_attempt, last_code, last_error, created_at, sent_at`

func scanDelivery(row pgx.Row, lead ...any) (store.Delivery, error) {
	var d store.Delivery
	var body string
	var last, sent *time.Time
	err := row.Scan(append(lead, &d.ID, &d.SinkID, &d.EventID, &d.EventType, &d.Severity, &d.AgentID, &d.EventTime, &body, &d.Status,
		&d.Attempts, &d.Tries, &d.NextAttempt, &last, &d.LastCode, &d.LastError, &d.CreatedAt, &sent)...)
	if err != nil {
		return d, err
	}
	d.Body = []byte(body)
	d.EventTime, d.NextAttempt, d.CreatedAt = d.EventTime.UTC(), d.NextAttempt.UTC(), d.CreatedAt.UTC()
	if last != nil {
		d.LastAttempt = last.UTC()
	}
	if sent != nil {
		d.SentAt = sent.UTC()
	}
	return d, nil
}

func (t *txn) InsertDeliveries(ctx context.Context, orgID string, ds []store.Delivery) error {
	if len(ds) == 1 {
		d := ds[0]
		_, err := t.tx.Exec(ctx, `INSERT INTO deliveries (org_id, `+deliveryCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
			orgID, d.ID, d.SinkID, d.EventID, d.EventType, d.Severity, d.AgentID, d.EventTime, string(d.Body), d.Status,
			d.Attempts, d.Tries, d.NextAttempt, nullTime(d.LastAttempt), d.LastCode, d.LastError, d.CreatedAt, nullTime(d.SentAt))
		return classify(err, "queueing delivery "+d.ID)
	}
	_, err := t.tx.CopyFrom(ctx, pgx.Identifier{"deliveries"},
		[]string{"org_id", "id", "sink_id", "event_id", "event_type", "severity", "agent_id", "event_time", "body", "status", "attempts", "tries",
			"next_attempt", "last_attempt", "last_code", "last_error", "created_at", "sent_at"},
		pgx.CopyFromSlice(len(ds), func(i int) ([]any, error) {
			d := ds[i]
			return []any{orgID, d.ID, d.SinkID, d.EventID, d.EventType, d.Severity, d.AgentID, d.EventTime, string(d.Body), d.Status,
				d.Attempts, d.Tries, d.NextAttempt, nullTime(d.LastAttempt), d.LastCode, d.LastError, d.CreatedAt, nullTime(d.SentAt)}, nil
		}))
	return classify(err, "queueing deliveries")
}

func (t *txn) GetDelivery(ctx context.Context, orgID, id string) (store.Delivery, error) {
	d, err := scanDelivery(t.tx.QueryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE org_id = $1 AND id = $2`, orgID, id))
	return d, classify(err, "reading delivery "+id)
}

func (t *txn) ListDeliveries(ctx context.Context, orgID string, f store.DeliveryFilter) ([]store.Delivery, error) {
	after := f.After
	if after == "" {
		after = "\U0010FFFF" // above every id
	}
	// One statement per shape, so that each has its index: (org, sink, id)
	// or (org, sink, status, id).
	q, args := `SELECT `+deliveryCols+` FROM deliveries WHERE org_id = $1 AND sink_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4`,
		[]any{orgID, f.SinkID, after, f.Limit}
	if f.Status != "" {
		q, args = `SELECT `+deliveryCols+` FROM deliveries WHERE org_id = $1 AND sink_id = $2 AND status = $3 AND id < $4 ORDER BY id DESC LIMIT $5`,
			[]any{orgID, f.SinkID, f.Status, after, f.Limit}
	}
	rows, err := t.tx.Query(ctx, q, args...)
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
	rows, err := t.tx.Query(ctx, `SELECT delivery_id, seq, at, duration_us, code, error FROM delivery_attempts
		WHERE org_id = $1 AND delivery_id = ANY($2) ORDER BY delivery_id, seq`, orgID, ids)
	if err != nil {
		return nil, classify(err, "reading delivery attempts")
	}
	defer rows.Close()
	var out []store.DeliveryAttempt
	for rows.Next() {
		var a store.DeliveryAttempt
		var us int64
		if err := rows.Scan(&a.DeliveryID, &a.Seq, &a.Time, &us, &a.Code, &a.Error); err != nil {
			return nil, classify(err, "reading delivery attempts")
		}
		a.Time, a.Duration = a.Time.UTC(), time.Duration(us)*time.Microsecond
		out = append(out, a)
	}
	return out, classify(rows.Err(), "reading delivery attempts")
}

// ClaimDeliveries reads each sink's due deliveries through the (org, sink,
// next attempt, id) index in one LATERAL query, locking them with SKIP
// LOCKED so that replicas claiming at once take different ones, and a
// long backlog of one sink costs the others nothing.
func (t *txn) ClaimDeliveries(ctx context.Context, claim string, now time.Time, lease time.Duration, limit int, skip []store.SinkRef) ([]store.ClaimedDelivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	skipOrgs, skipSinks := make([]string, len(skip)), make([]string, len(skip))
	for i, r := range skip {
		skipOrgs[i], skipSinks[i] = r.OrgID, r.SinkID
	}
	rows, err := t.tx.Query(ctx, `SELECT s.org_id, s.id, s.name, s.kind, s.format, s.config, s.secret, s.min_severity, s.event_types,
			s.created_at, s.created_by, d.`+deliveryColsD+`
		FROM sinks s CROSS JOIN LATERAL (
			SELECT * FROM deliveries
			WHERE org_id = s.org_id AND sink_id = s.id AND status = 'pending' AND next_attempt <= $1
			ORDER BY next_attempt, id LIMIT $2 FOR UPDATE SKIP LOCKED) d
		WHERE (s.org_id, s.id) NOT IN (SELECT * FROM unnest($3::text[], $4::text[]))
		ORDER BY d.next_attempt, d.org_id, d.id LIMIT $2`, now, limit, skipOrgs, skipSinks)
	if err != nil {
		return nil, classify(err, "claiming deliveries")
	}
	var out []store.ClaimedDelivery
	for rows.Next() {
		var c store.ClaimedDelivery
		var sk store.Sink
		var config, types string
		if c.Delivery, err = scanDelivery(rows, &c.OrgID, &sk.ID, &sk.Name, &sk.Kind, &sk.Format, &config, &sk.Secret, &sk.MinSeverity, &types,
			&sk.CreatedAt, &sk.CreatedBy); err != nil {
			rows.Close()
			return nil, classify(err, "claiming deliveries")
		}
		sk.Config, sk.CreatedAt = []byte(config), sk.CreatedAt.UTC()
		if err := json.Unmarshal([]byte(types), &sk.EventTypes); err != nil {
			rows.Close()
			return nil, fmt.Errorf("%w: event types of sink %s: %v", store.ErrLedgerDamaged, sk.ID, err)
		}
		c.Sink = sk
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, classify(err, "claiming deliveries")
	}
	// One statement per row, each a primary-key lookup: the plan cannot go
	// wrong with the table's statistics, as a join can.
	until := now.Add(lease)
	b := &pgx.Batch{}
	for i := range out {
		out[i].Claim, out[i].NextAttempt = claim, until
		b.Queue(`UPDATE deliveries SET claim = $1, next_attempt = $2 WHERE org_id = $3 AND id = $4`, claim, until, out[i].OrgID, out[i].ID)
	}
	if err := t.tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, classify(err, "claiming deliveries")
	}
	return out, nil
}

// deliveryColsD is deliveryCols qualified by the alias d.
const deliveryColsD = `id, d.sink_id, d.event_id, d.event_type, d.severity, d.agent_id, d.event_time, d.body, d.status, d.attempts, d.tries,
	d.next_attempt, d.last_attempt, d.last_code, d.last_error, d.created_at, d.sent_at`

// FinishDeliveries sends one update per result, each a primary-key lookup,
// in one round trip, then logs the attempts of the rows whose claim still
// held in one insert. Only a pending delivery carries a claim, so the
// updates do not name the status: with it, the planner may prefer the
// partial index of pending deliveries and walk all of an org's.
func (t *txn) FinishDeliveries(ctx context.Context, rs []store.DeliveryResult) error {
	if len(rs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, r := range rs {
		if r.Claim == "" {
			return fmt.Errorf("finishing delivery %s: no claim", r.ID)
		}
		a := r.Attempt
		switch r.Outcome {
		case store.OutcomeReleased:
			b.Queue(`UPDATE deliveries SET claim = '', next_attempt = $1 WHERE org_id = $2 AND id = $3 AND claim = $4`,
				r.Next, r.OrgID, r.ID, r.Claim)
		case store.OutcomeSent:
			b.Queue(`UPDATE deliveries SET claim = '', status = 'sent', attempts = attempts + 1, tries = $1, last_attempt = $2, last_code = $3,
				last_error = '', sent_at = $4 WHERE org_id = $5 AND id = $6 AND claim = $7`,
				a.Seq, a.Time, a.Code, a.Time.Add(a.Duration), r.OrgID, r.ID, r.Claim)
		case store.OutcomeRetry, store.OutcomeDead:
			status := store.DeliveryPending
			if r.Outcome == store.OutcomeDead {
				status = store.DeliveryDead
			}
			b.Queue(`UPDATE deliveries SET claim = '', status = $1, attempts = attempts + 1, tries = $2, next_attempt = $3, last_attempt = $4,
				last_code = $5, last_error = $6 WHERE org_id = $7 AND id = $8 AND claim = $9`,
				status, a.Seq, r.Next, a.Time, a.Code, a.Error, r.OrgID, r.ID, r.Claim)
		default:
			return fmt.Errorf("finishing delivery %s: unknown outcome %q", r.ID, r.Outcome)
		}
	}
	br := t.tx.SendBatch(ctx, b)
	var orgs, ids, errs []string
	var seqs, codes []int32
	var ats []time.Time
	var durs []int64
	for _, r := range rs {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return classify(err, "finishing delivery "+r.ID)
		}
		if r.Outcome == store.OutcomeReleased || tag.RowsAffected() == 0 {
			continue // not tried, or another claimer has it now
		}
		a := r.Attempt
		orgs, ids, errs = append(orgs, r.OrgID), append(ids, r.ID), append(errs, a.Error)
		seqs, codes, ats, durs = append(seqs, int32(a.Seq)), append(codes, int32(a.Code)), append(ats, a.Time), append(durs, a.Duration.Microseconds())
	}
	if err := br.Close(); err != nil {
		return classify(err, "finishing deliveries")
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO delivery_attempts (org_id, delivery_id, seq, at, duration_us, code, error)
		SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::bigint[], $6::int[], $7::text[])`,
		orgs, ids, seqs, ats, durs, codes, errs)
	return classify(err, "logging delivery attempts")
}

func (t *txn) ReplayDeliveries(ctx context.Context, orgID, sinkID string, ids []string, now time.Time) (int, error) {
	var err error
	var n int64
	if len(ids) == 0 {
		tag, e := t.tx.Exec(ctx, `UPDATE deliveries SET status = 'pending', attempts = 0, claim = '', next_attempt = $1
			WHERE org_id = $2 AND sink_id = $3 AND status = 'dead'`, now, orgID, sinkID)
		n, err = tag.RowsAffected(), e
	} else {
		tag, e := t.tx.Exec(ctx, `UPDATE deliveries SET status = 'pending', attempts = 0, claim = '', next_attempt = $1
			WHERE org_id = $2 AND sink_id = $3 AND status IN ('sent', 'dead') AND id = ANY($4)`, now, orgID, sinkID, ids)
		n, err = tag.RowsAffected(), e
	}
	if err != nil {
		return 0, classify(err, "replaying deliveries")
	}
	return int(n), nil
}

func (t *txn) OutboxBacklog(ctx context.Context) (int64, error) {
	var n int64
	err := t.tx.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE status = 'pending'`).Scan(&n)
	return n, classify(err, "counting the outbox")
}

func (t *txn) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	if _, err := t.tx.Exec(ctx, `DELETE FROM delivery_attempts a USING deliveries d
		WHERE d.status = 'sent' AND d.sent_at < $1 AND a.org_id = d.org_id AND a.delivery_id = d.id`, before); err != nil {
		return 0, classify(err, "pruning the delivery log")
	}
	tag, err := t.tx.Exec(ctx, `DELETE FROM deliveries WHERE status = 'sent' AND sent_at < $1`, before)
	if err != nil {
		return 0, classify(err, "pruning deliveries")
	}
	return tag.RowsAffected(), nil
}
