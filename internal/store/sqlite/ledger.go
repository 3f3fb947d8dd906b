package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/ledger"
)

func (t *txn) LinkAudit(ctx context.Context, orgID string, seq, idx int64) error {
	_, err := t.exec(ctx, `UPDATE audit SET ledger_index = ? WHERE org_id = ? AND seq = ?`, idx, orgID, seq)
	return classify(err, "linking audit entry to the ledger")
}

func (t *txn) SetLedgerKey(ctx context.Context, orgID string, k store.LedgerKey) error {
	res, err := t.exec(ctx, `UPDATE orgs SET ledger_origin = ?, ledger_signer = ?, ledger_verifier = ? WHERE id = ? AND ledger_origin = ''`,
		k.Origin, k.Signer, k.Verifier, orgID)
	if err != nil {
		return classify(err, "storing ledger key")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		_, err := t.GetOrg(ctx, orgID) // missing org, or a key already set: keep it
		return err
	}
	return nil
}

func (t *txn) LedgerKey(ctx context.Context, orgID string) (store.LedgerKey, error) {
	var k store.LedgerKey
	err := t.queryRow(ctx, `SELECT ledger_origin, ledger_signer, ledger_verifier FROM orgs WHERE id = ?`, orgID).
		Scan(&k.Origin, &k.Signer, &k.Verifier)
	if err == nil && k.Origin == "" {
		err = sql.ErrNoRows
	}
	return k, classify(err, "reading ledger key of org "+orgID)
}

// LockLedger has nothing to do: the one write connection already serializes
// every write transaction.
func (t *txn) LockLedger(ctx context.Context, orgID string) error { return nil }

// ReserveLedger needs no lock of its own: the write connection is the only
// writer, and the UPDATE happens inside its transaction.
func (t *txn) ReserveLedger(ctx context.Context, orgID string, n int) (int64, error) {
	var size int64
	err := t.queryRow(ctx, `UPDATE orgs SET ledger_size = ledger_size + ? WHERE id = ? RETURNING ledger_size`, n, orgID).Scan(&size)
	return size - int64(n), classify(err, "growing ledger of org "+orgID)
}

func (t *txn) LedgerSize(ctx context.Context, orgID string) (int64, error) {
	var size int64
	err := t.queryRow(ctx, `SELECT ledger_size FROM orgs WHERE id = ?`, orgID).Scan(&size)
	return size, classify(err, "reading ledger size of org "+orgID)
}

// insertChunk is how many rows one INSERT carries; SQLite allows 32766
// parameters per statement.
const insertChunk = 500

func (t *txn) PutLedger(ctx context.Context, orgID string, start int64, entries [][]byte, hashes []ledger.StoredHash) error {
	for i := 0; i < len(entries); i += insertChunk {
		part := entries[i:min(i+insertChunk, len(entries))]
		args := make([]any, 0, 3*len(part))
		for j, e := range part {
			args = append(args, orgID, start+int64(i+j), e)
		}
		if _, err := t.execVar(ctx, len(part) == insertChunk, multiInsert(`INSERT INTO ledger_entries (org_id, idx, data) VALUES `, "(?, ?, ?)", len(part)), args...); err != nil {
			return classify(err, "writing ledger entries")
		}
	}
	for i := 0; i < len(hashes); i += insertChunk {
		part := hashes[i:min(i+insertChunk, len(hashes))]
		args := make([]any, 0, 3*len(part))
		for _, h := range part {
			args = append(args, orgID, h.Index, h.Hash[:])
		}
		if _, err := t.execVar(ctx, len(part) == insertChunk, multiInsert(`INSERT INTO ledger_hashes (org_id, idx, hash) VALUES `, "(?, ?, ?)", len(part)), args...); err != nil {
			return classify(err, "writing ledger hashes")
		}
	}
	return nil
}

// multiInsert repeats one row's placeholders n times.
func multiInsert(head, row string, n int) string {
	var b strings.Builder
	b.Grow(len(head) + n*(len(row)+1))
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	return b.String()
}

func (t *txn) LedgerHashes(ctx context.Context, orgID string, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, ix := range indexes {
		var b []byte
		err := t.queryRow(ctx, `SELECT hash FROM ledger_hashes WHERE org_id = ? AND idx = ?`, orgID, ix).Scan(&b)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: stored hash %d is missing", store.ErrLedgerDamaged, ix)
		}
		if err != nil {
			return nil, classify(err, fmt.Sprintf("reading ledger hash %d", ix))
		}
		if len(b) != tlog.HashSize {
			return nil, fmt.Errorf("%w: stored hash %d has %d bytes, want %d", store.ErrLedgerDamaged, ix, len(b), tlog.HashSize)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

func (t *txn) LedgerEntries(ctx context.Context, orgID string, from int64, n int) ([][]byte, error) {
	rows, err := t.query(ctx, `SELECT idx, data FROM ledger_entries WHERE org_id = ? AND idx >= ? ORDER BY idx LIMIT ?`, orgID, from, n)
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
	_, err := t.exec(ctx, `INSERT INTO ledger_checkpoints (org_id, size, note, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (org_id, size) DO NOTHING`, orgID, size, string(note), store.Now().UnixMicro())
	return classify(err, "saving checkpoint")
}

func (t *txn) LatestCheckpoint(ctx context.Context, orgID string) (int64, []byte, error) {
	var size int64
	var note string
	err := t.queryRow(ctx, `SELECT size, note FROM ledger_checkpoints WHERE org_id = ? ORDER BY size DESC LIMIT 1`, orgID).Scan(&size, &note)
	return size, []byte(note), classify(err, "reading latest checkpoint")
}

func (t *txn) RecordIDs(ctx context.Context, orgID string, ids []string) (map[string]bool, error) {
	found := map[string]bool{}
	for i := 0; i < len(ids); i += insertChunk {
		part := ids[i:min(i+insertChunk, len(ids))]
		args := make([]any, 0, len(part)+1)
		args = append(args, orgID)
		for _, id := range part {
			args = append(args, id)
		}
		q := `SELECT id FROM records WHERE org_id = ? AND id IN (` + strings.TrimSuffix(strings.Repeat("?,", len(part)), ",") + `)`
		rows, err := t.queryVar(ctx, len(part) == insertChunk, q, args...)
		if err != nil {
			return nil, classify(err, "looking up record ids")
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, classify(err, "looking up record ids")
			}
			found[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, classify(err, "looking up record ids")
		}
	}
	return found, nil
}

func (t *txn) InsertRecords(ctx context.Context, orgID string, recs []store.RecordRow) error {
	for i := 0; i < len(recs); i += insertChunk {
		part := recs[i:min(i+insertChunk, len(recs))]
		args := make([]any, 0, 11*len(part))
		for _, r := range part {
			var taint any
			if r.Taint != "" {
				taint = r.Taint
			}
			args = append(args, orgID, r.ID, r.AgentID, r.SessionID, r.Type, micros(r.Time), r.LedgerIndex,
				r.LatencyMs, r.Failed, taint, r.Influenced)
		}
		q := multiInsert(`INSERT INTO records (org_id, id, agent_id, session_id, type, time, ledger_index, latency_ms, failed, taint, influenced) VALUES `,
			"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", len(part))
		if _, err := t.execVar(ctx, len(part) == insertChunk, q, args...); err != nil {
			return classify(err, "indexing records")
		}
	}
	for _, d := range store.DayCounts(recs) {
		_, err := t.exec(ctx, `INSERT INTO record_days (org_id, agent_id, day, type, n, last) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (org_id, agent_id, day, type) DO UPDATE SET n = n + excluded.n, last = max(last, excluded.last)`,
			orgID, d.AgentID, micros(d.Day), d.Type, d.Count, micros(d.Last))
		if err != nil {
			return classify(err, "counting records by day")
		}
	}
	return nil
}

func (t *txn) RecordDays(ctx context.Context, orgID, agentID string, from, to time.Time) ([]store.RecordDay, error) {
	rows, err := t.query(ctx, `SELECT day, type, n, last FROM record_days
		WHERE org_id = ? AND agent_id = ? AND day >= ? AND day <= ? ORDER BY day, type`,
		orgID, agentID, micros(from.UTC().Truncate(24*time.Hour)), micros(to))
	if err != nil {
		return nil, classify(err, "reading record counts")
	}
	defer rows.Close()
	var out []store.RecordDay
	for rows.Next() {
		var d store.RecordDay
		var day, last int64
		if err := rows.Scan(&day, &d.Type, &d.Count, &last); err != nil {
			return nil, classify(err, "reading record counts")
		}
		d.Day, d.Last = fromMicros(day), fromMicros(last)
		out = append(out, d)
	}
	return out, classify(rows.Err(), "reading record counts")
}

const recordCols = `r.id, r.agent_id, r.session_id, r.type, r.time, r.ledger_index, e.data, r.latency_ms, r.failed, r.taint, r.influenced`

// The records index joins its leaves with LEFT JOIN: a record whose leaf is
// gone is reported as damage, never silently left out.

func scanRecord(row interface{ Scan(...any) error }) (store.RecordRow, error) {
	var r store.RecordRow
	var us int64
	var taint sql.NullString
	err := row.Scan(&r.ID, &r.AgentID, &r.SessionID, &r.Type, &us, &r.LedgerIndex, &r.Entry, &r.LatencyMs, &r.Failed, &taint, &r.Influenced)
	r.Time, r.Taint = fromMicros(us), taint.String
	if err == nil && r.Entry == nil {
		err = fmt.Errorf("%w: entry %d of record %q is missing", store.ErrLedgerDamaged, r.LedgerIndex, r.ID)
	}
	return r, err
}

func (t *txn) ListRecords(ctx context.Context, orgID string, f store.RecordFilter) ([]store.RecordRow, error) {
	from, to := int64(-1<<62), int64(1<<62)
	if !f.From.IsZero() {
		from = micros(f.From)
	}
	if !f.To.IsZero() {
		to = micros(f.To)
	}
	afterTime, afterIdx := int64(-1<<62), int64(-1)
	if !f.AfterTime.IsZero() {
		afterTime, afterIdx = micros(f.AfterTime), f.AfterIndex
		// The index scan starts at the time bound: start it at the cursor,
		// or every page rescans from the beginning.
		from = max(from, afterTime)
	}
	// With a session, the query names it outright so that SQLite uses the
	// (org, agent, session, time) index: session replays at ingest depend on it.
	session, args := "", []any{orgID, f.AgentID}
	if f.SessionID != "" {
		session, args = " AND r.session_id = ?", append(args, f.SessionID)
	}
	if f.Tainted {
		session += " AND r.taint IS NOT NULL" // the partial index records_tainted
	}
	args = append(args, from, to, afterTime, afterIdx, f.Type, f.Type, f.Limit)
	rows, err := t.query(ctx, `SELECT `+recordCols+` FROM records r
		LEFT JOIN ledger_entries e ON e.org_id = r.org_id AND e.idx = r.ledger_index
		WHERE r.org_id = ? AND r.agent_id = ?`+session+` AND r.time >= ? AND r.time < ?
		  AND (r.time, r.ledger_index) > (?, ?)
		  AND (? = '' OR r.type = ?)
		ORDER BY r.time, r.ledger_index LIMIT ?`, args...)
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
	r, err := scanRecord(t.queryRow(ctx, `SELECT `+recordCols+` FROM records r
		LEFT JOIN ledger_entries e ON e.org_id = r.org_id AND e.idx = r.ledger_index
		WHERE r.org_id = ? AND r.id = ?`, orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("record %q: %w", id, probity.ErrNotFound)
	}
	return r, classify(err, "reading record")
}

func (t *txn) TaintedSessions(ctx context.Context, orgID, agentID string, sessionIDs []string) (map[string]bool, error) {
	found := map[string]bool{}
	for i := 0; i < len(sessionIDs); i += insertChunk {
		part := sessionIDs[i:min(i+insertChunk, len(sessionIDs))]
		args := make([]any, 0, len(part)+2)
		args = append(args, orgID, agentID)
		for _, id := range part {
			args = append(args, id)
		}
		q := `SELECT DISTINCT session_id FROM records WHERE org_id = ? AND agent_id = ? AND taint IS NOT NULL AND session_id IN (` +
			strings.TrimSuffix(strings.Repeat("?,", len(part)), ",") + `)`
		rows, err := t.queryVar(ctx, len(part) == insertChunk, q, args...)
		if err != nil {
			return nil, classify(err, "looking up tainted sessions")
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, classify(err, "looking up tainted sessions")
			}
			found[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, classify(err, "looking up tainted sessions")
		}
	}
	return found, nil
}

func (t *txn) RecordSamples(ctx context.Context, orgID, agentID string, from, to time.Time, limit int) ([]store.RecordSample, error) {
	rows, err := t.query(ctx, `SELECT id, type, time, latency_ms, failed FROM records
		WHERE org_id = ? AND agent_id = ? AND time > ? AND time <= ?
		ORDER BY time DESC, ledger_index DESC LIMIT ?`, orgID, agentID, micros(from), micros(to), limit)
	if err != nil {
		return nil, classify(err, "reading record samples")
	}
	defer rows.Close()
	var out []store.RecordSample
	for rows.Next() {
		var s store.RecordSample
		var us int64
		if err := rows.Scan(&s.ID, &s.Type, &us, &s.LatencyMs, &s.Failed); err != nil {
			return nil, classify(err, "reading record samples")
		}
		s.Time = fromMicros(us)
		out = append(out, s)
	}
	return out, classify(rows.Err(), "reading record samples")
}

func (t *txn) LastRecordTime(ctx context.Context, orgID, agentID string) (time.Time, error) {
	var us sql.NullInt64
	err := t.queryRow(ctx, `SELECT max(time) FROM records WHERE org_id = ? AND agent_id = ?`, orgID, agentID).Scan(&us)
	if err != nil || !us.Valid {
		return time.Time{}, classify(err, "reading latest record time")
	}
	return fromMicros(us.Int64), nil
}
