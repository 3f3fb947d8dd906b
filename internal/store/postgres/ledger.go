package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/ledger"
)

func (t *txn) LinkAudit(ctx context.Context, orgID string, seq, idx int64) error {
	_, err := t.tx.Exec(ctx, `UPDATE audit SET ledger_index = $1 WHERE org_id = $2 AND seq = $3`, idx, orgID, seq)
	return classify(err, "linking audit entry to the ledger")
}

func (t *txn) SetLedgerKey(ctx context.Context, orgID string, k store.LedgerKey) error {
	tag, err := t.tx.Exec(ctx, `UPDATE orgs SET ledger_origin = $1, ledger_signer = $2, ledger_verifier = $3 WHERE id = $4 AND ledger_origin = ''`,
		k.Origin, k.Signer, k.Verifier, orgID)
	if err != nil {
		return classify(err, "storing ledger key")
	}
	if tag.RowsAffected() == 0 {
		_, err := t.GetOrg(ctx, orgID) // missing org, or a key already set: keep it
		return err
	}
	return nil
}

func (t *txn) LedgerKey(ctx context.Context, orgID string) (store.LedgerKey, error) {
	var k store.LedgerKey
	err := t.tx.QueryRow(ctx, `SELECT ledger_origin, ledger_signer, ledger_verifier FROM orgs WHERE id = $1`, orgID).
		Scan(&k.Origin, &k.Signer, &k.Verifier)
	if err == nil && k.Origin == "" {
		err = pgx.ErrNoRows
	}
	return k, classify(err, "reading ledger key of org "+orgID)
}

// LockLedger locks the org row, the same lock ReserveLedger takes.
func (t *txn) LockLedger(ctx context.Context, orgID string) error {
	var one int
	err := t.tx.QueryRow(ctx, `SELECT 1 FROM orgs WHERE id = $1 FOR NO KEY UPDATE`, orgID).Scan(&one)
	return classify(err, "locking ledger of org "+orgID)
}

// ReserveLedger's UPDATE takes the org row's lock until the transaction
// ends: appends to one org's ledger are serialized across every replica.
func (t *txn) ReserveLedger(ctx context.Context, orgID string, n int) (int64, error) {
	var size int64
	err := t.tx.QueryRow(ctx, `UPDATE orgs SET ledger_size = ledger_size + $1 WHERE id = $2 RETURNING ledger_size`, n, orgID).Scan(&size)
	return size - int64(n), classify(err, "growing ledger of org "+orgID)
}

func (t *txn) LedgerSize(ctx context.Context, orgID string) (int64, error) {
	var size int64
	err := t.tx.QueryRow(ctx, `SELECT ledger_size FROM orgs WHERE id = $1`, orgID).Scan(&size)
	return size, classify(err, "reading ledger size of org "+orgID)
}

func (t *txn) PutLedger(ctx context.Context, orgID string, start int64, entries [][]byte, hashes []ledger.StoredHash) error {
	_, err := t.tx.CopyFrom(ctx, pgx.Identifier{"ledger_entries"}, []string{"org_id", "idx", "data"},
		pgx.CopyFromSlice(len(entries), func(i int) ([]any, error) { return []any{orgID, start + int64(i), entries[i]}, nil }))
	if err != nil {
		return classify(err, "writing ledger entries")
	}
	_, err = t.tx.CopyFrom(ctx, pgx.Identifier{"ledger_hashes"}, []string{"org_id", "idx", "hash"},
		pgx.CopyFromSlice(len(hashes), func(i int) ([]any, error) { return []any{orgID, hashes[i].Index, hashes[i].Hash[:]}, nil }))
	return classify(err, "writing ledger hashes")
}

func (t *txn) LedgerHashes(ctx context.Context, orgID string, indexes []int64) ([]tlog.Hash, error) {
	rows, err := t.tx.Query(ctx, `SELECT idx, hash FROM ledger_hashes WHERE org_id = $1 AND idx = ANY($2)`, orgID, indexes)
	if err != nil {
		return nil, classify(err, "reading ledger hashes")
	}
	defer rows.Close()
	byIdx := make(map[int64][]byte, len(indexes))
	for rows.Next() {
		var idx int64
		var h []byte
		if err := rows.Scan(&idx, &h); err != nil {
			return nil, classify(err, "reading ledger hashes")
		}
		byIdx[idx] = h
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err, "reading ledger hashes")
	}
	out := make([]tlog.Hash, len(indexes))
	for i, ix := range indexes {
		h, ok := byIdx[ix]
		if !ok {
			return nil, fmt.Errorf("%w: stored hash %d is missing", store.ErrLedgerDamaged, ix)
		}
		if len(h) != tlog.HashSize {
			return nil, fmt.Errorf("%w: stored hash %d has %d bytes, want %d", store.ErrLedgerDamaged, ix, len(h), tlog.HashSize)
		}
		copy(out[i][:], h)
	}
	return out, nil
}

func (t *txn) LedgerEntries(ctx context.Context, orgID string, from int64, n int) ([][]byte, error) {
	rows, err := t.tx.Query(ctx, `SELECT idx, data FROM ledger_entries WHERE org_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3`, orgID, from, n)
	if err != nil {
		return nil, classify(err, "reading ledger entries")
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var idx int64
		var data []byte
		if err := rows.Scan(&idx, &data); err != nil {
			return nil, classify(err, "reading ledger entries")
		}
		if idx != from+int64(len(out)) {
			return nil, fmt.Errorf("%w: entry %d is missing", store.ErrLedgerDamaged, from+int64(len(out)))
		}
		out = append(out, data)
	}
	return out, classify(rows.Err(), "reading ledger entries")
}

func (t *txn) SaveCheckpoint(ctx context.Context, orgID string, size int64, note []byte) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO ledger_checkpoints (org_id, size, note, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (org_id, size) DO NOTHING`, orgID, size, string(note), store.Now())
	return classify(err, "saving checkpoint")
}

func (t *txn) LatestCheckpoint(ctx context.Context, orgID string) (int64, []byte, error) {
	var size int64
	var note string
	err := t.tx.QueryRow(ctx, `SELECT size, note FROM ledger_checkpoints WHERE org_id = $1 ORDER BY size DESC LIMIT 1`, orgID).Scan(&size, &note)
	return size, []byte(note), classify(err, "reading latest checkpoint")
}

func (t *txn) RecordIDs(ctx context.Context, orgID string, ids []string) (map[string]bool, error) {
	rows, err := t.tx.Query(ctx, `SELECT id FROM records WHERE org_id = $1 AND id = ANY($2)`, orgID, ids)
	if err != nil {
		return nil, classify(err, "looking up record ids")
	}
	defer rows.Close()
	found := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, classify(err, "looking up record ids")
		}
		found[id] = true
	}
	return found, classify(rows.Err(), "looking up record ids")
}

func (t *txn) InsertRecords(ctx context.Context, orgID string, recs []store.RecordRow) error {
	_, err := t.tx.CopyFrom(ctx, pgx.Identifier{"records"},
		[]string{"org_id", "id", "agent_id", "session_id", "type", "time", "ledger_index", "latency_ms", "failed", "taint", "influenced"},
		pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
			r := recs[i]
			var taint *string
			if r.Taint != "" {
				taint = &r.Taint
			}
			return []any{orgID, r.ID, r.AgentID, r.SessionID, r.Type, r.Time, r.LedgerIndex, r.LatencyMs, r.Failed, taint, r.Influenced}, nil
		}))
	if err != nil {
		return classify(err, "indexing records")
	}
	days := store.DayCounts(recs)
	if len(days) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, d := range days {
		b.Queue(`INSERT INTO record_days (org_id, agent_id, day, type, n, last) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (org_id, agent_id, day, type) DO UPDATE SET n = record_days.n + excluded.n, last = greatest(record_days.last, excluded.last)`,
			orgID, d.AgentID, d.Day, d.Type, d.Count, d.Last)
	}
	return classify(t.tx.SendBatch(ctx, b).Close(), "counting records by day")
}

func (t *txn) RecordDays(ctx context.Context, orgID, agentID string, from, to time.Time) ([]store.RecordDay, error) {
	rows, err := t.tx.Query(ctx, `SELECT day, type, n, last FROM record_days
		WHERE org_id = $1 AND agent_id = $2 AND day >= $3 AND day <= $4 ORDER BY day, type`,
		orgID, agentID, from.UTC().Truncate(24*time.Hour), to)
	if err != nil {
		return nil, classify(err, "reading record counts")
	}
	defer rows.Close()
	var out []store.RecordDay
	for rows.Next() {
		var d store.RecordDay
		if err := rows.Scan(&d.Day, &d.Type, &d.Count, &d.Last); err != nil {
			return nil, classify(err, "reading record counts")
		}
		d.Day, d.Last = d.Day.UTC(), d.Last.UTC()
		out = append(out, d)
	}
	return out, classify(rows.Err(), "reading record counts")
}

const recordCols = `r.id, r.agent_id, r.session_id, r.type, r.time, r.ledger_index, e.data, r.latency_ms, r.failed, r.taint, r.influenced`

func scanRecord(row pgx.Row) (store.RecordRow, error) {
	var r store.RecordRow
	var taint *string
	err := row.Scan(&r.ID, &r.AgentID, &r.SessionID, &r.Type, &r.Time, &r.LedgerIndex, &r.Entry, &r.LatencyMs, &r.Failed, &taint, &r.Influenced)
	r.Time = r.Time.UTC()
	if taint != nil {
		r.Taint = *taint
	}
	if err == nil && r.Entry == nil {
		err = fmt.Errorf("%w: entry %d of record %q is missing", store.ErrLedgerDamaged, r.LedgerIndex, r.ID)
	}
	return r, err
}

var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
)

// sessionArg is the session parameter, present only when filtering by one.
func sessionArg(id string) []any {
	if id == "" {
		return nil
	}
	return []any{id}
}

func (t *txn) ListRecords(ctx context.Context, orgID string, f store.RecordFilter) ([]store.RecordRow, error) {
	from, to := minTime, maxTime
	if !f.From.IsZero() {
		from = f.From
	}
	if !f.To.IsZero() {
		to = f.To
	}
	afterTime, afterIdx := minTime, int64(-1)
	if !f.AfterTime.IsZero() {
		afterTime, afterIdx = f.AfterTime, f.AfterIndex
		if afterTime.After(from) {
			from = afterTime // start the index scan at the cursor
		}
	}
	// With a session, the query names it outright so that the planner uses
	// the (org, agent, session, time) index: session replays depend on it.
	session := ""
	if f.SessionID != "" {
		session = " AND r.session_id = $9"
	}
	if f.Tainted {
		session += " AND r.taint IS NOT NULL" // the partial index records_tainted
	}
	rows, err := t.tx.Query(ctx, `SELECT `+recordCols+` FROM records r
		LEFT JOIN ledger_entries e ON e.org_id = r.org_id AND e.idx = r.ledger_index
		WHERE r.org_id = $1 AND r.agent_id = $2 AND r.time >= $3 AND r.time < $4
		  AND (r.time, r.ledger_index) > ($5, $6)`+session+`
		  AND ($7 = '' OR r.type = $7)
		ORDER BY r.time, r.ledger_index LIMIT $8`,
		append([]any{orgID, f.AgentID, from, to, afterTime, afterIdx, f.Type, f.Limit}, sessionArg(f.SessionID)...)...)
	if err != nil {
		return nil, classify(err, "listing records")
	}
	defer rows.Close()
	var out []store.RecordRow
	size := 0
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, classify(err, "listing records")
		}
		out = append(out, r)
		if size += len(r.Entry); f.MaxBytes > 0 && size >= f.MaxBytes {
			break
		}
	}
	return out, classify(rows.Err(), "listing records")
}

func (t *txn) GetRecord(ctx context.Context, orgID, id string) (store.RecordRow, error) {
	r, err := scanRecord(t.tx.QueryRow(ctx, `SELECT `+recordCols+` FROM records r
		LEFT JOIN ledger_entries e ON e.org_id = r.org_id AND e.idx = r.ledger_index
		WHERE r.org_id = $1 AND r.id = $2`, orgID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("record %q: %w", id, probity.ErrNotFound)
	}
	return r, classify(err, "reading record")
}

func (t *txn) TaintedSessions(ctx context.Context, orgID, agentID string, sessionIDs []string) (map[string]bool, error) {
	rows, err := t.tx.Query(ctx, `SELECT DISTINCT session_id FROM records
		WHERE org_id = $1 AND agent_id = $2 AND taint IS NOT NULL AND session_id = ANY($3)`, orgID, agentID, sessionIDs)
	if err != nil {
		return nil, classify(err, "looking up tainted sessions")
	}
	defer rows.Close()
	found := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, classify(err, "looking up tainted sessions")
		}
		found[id] = true
	}
	return found, classify(rows.Err(), "looking up tainted sessions")
}

func (t *txn) RecordSamples(ctx context.Context, orgID, agentID string, from, to time.Time, limit int) ([]store.RecordSample, error) {
	rows, err := t.tx.Query(ctx, `SELECT id, type, time, latency_ms, failed FROM records
		WHERE org_id = $1 AND agent_id = $2 AND time > $3 AND time <= $4
		ORDER BY time DESC, ledger_index DESC LIMIT $5`, orgID, agentID, from, to, limit)
	if err != nil {
		return nil, classify(err, "reading record samples")
	}
	defer rows.Close()
	var out []store.RecordSample
	for rows.Next() {
		var s store.RecordSample
		if err := rows.Scan(&s.ID, &s.Type, &s.Time, &s.LatencyMs, &s.Failed); err != nil {
			return nil, classify(err, "reading record samples")
		}
		s.Time = s.Time.UTC()
		out = append(out, s)
	}
	return out, classify(rows.Err(), "reading record samples")
}

func (t *txn) LastRecordTime(ctx context.Context, orgID, agentID string) (time.Time, error) {
	var at *time.Time
	err := t.tx.QueryRow(ctx, `SELECT max(time) FROM records WHERE org_id = $1 AND agent_id = $2`, orgID, agentID).Scan(&at)
	if err != nil || at == nil {
		return time.Time{}, classify(err, "reading latest record time")
	}
	return at.UTC(), nil
}
