package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/record"
	"github.com/probity-dev/probity/internal/store"
)

// Limits of one ingest batch.
const (
	maxBatchEvents = 10000
	maxBatchBytes  = 10 << 20
)

// eventError is one invalid event of a batch.
type eventError struct {
	Index   int    `json:"index"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// batchError rejects a whole batch, listing every invalid event.
type batchError struct {
	total int
	errs  []eventError
}

func (e *batchError) Error() string {
	bad := map[int]bool{}
	for _, ee := range e.errs {
		bad[ee.Index] = true
	}
	msg := fmt.Sprintf("%d of %d events are invalid; nothing was stored", len(bad), e.total)
	if len(e.errs) > maxDetails {
		msg += fmt.Sprintf(" (the first %d of %d problems are listed)", maxDetails, len(e.errs))
	}
	return msg
}

// maxDetails bounds the problems listed in one answer.
const maxDetails = 100

// details returns the problems to list, in event order, at most maxDetails.
func (e *batchError) details() []eventError {
	slices.SortStableFunc(e.errs, func(a, b eventError) int { return a.Index - b.Index })
	return e.errs[:min(len(e.errs), maxDetails)]
}

func (e *batchError) Unwrap() error { return probity.ErrInvalid }

type ingestResult struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	// Conflicts counts events whose id was already taken by a record with
	// other content: they are not stored, the first record stands.
	Conflicts   int             `json:"conflicts"`
	ConflictIDs []string        `json:"conflictIds,omitempty"` // the first few
	Violations  []violationView `json:"violations"`
}

const maxConflictIDs = 10

// postEvents stores a batch of records, all or nothing, each with its ledger
// leaf, and answers only after the transaction has committed.
func (s *Server) postEvents(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := readJSON(r)
	if err != nil {
		return err
	}
	recs, berr, err := decodeBatch(body, s.now())
	if err != nil {
		return err
	}
	res, err := s.ingest(r.Context(), c.org, recs, berr)
	if err != nil {
		return err
	}
	if res.Conflicts > 0 {
		s.log.WarnContext(r.Context(), "record ids reused with other content; the first records stand",
			"org", c.org, "key", c.key.ID, "conflicts", res.Conflicts, "ids", res.ConflictIDs)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// decodeBatch decodes {"events":[…]} in one streaming pass that stops with
// 413 at event 10,001, so a body of millions of tiny events costs nothing,
// then decodes each event strictly, collecting every problem.
func decodeBatch(body []byte, now time.Time) ([]record.Record, *batchError, error) {
	recs, be, err := streamBatch(body, now)
	if err != nil && !errors.As(err, new(*json.SyntaxError)) && !json.Valid(body) {
		// A malformed body is reported as malformed, whatever the
		// streaming pass tripped on first.
		var skip struct{}
		return nil, nil, jsonError(json.Unmarshal(body, &skip))
	}
	return recs, be, err
}

func streamBatch(body []byte, now time.Time) ([]record.Record, *batchError, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := expectDelim(dec, '{', "the body must be a JSON object"); err != nil {
		return nil, nil, err
	}
	var raw []json.RawMessage
	seen := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, jsonError(err)
		}
		if key, _ := tok.(string); key != "events" {
			return nil, nil, probity.Invalid(fmt.Sprint(tok), "unknown field")
		}
		if seen {
			return nil, nil, probity.Invalid("events", "appears twice")
		}
		seen = true
		if err := expectDelim(dec, '[', "must be an array of records"); err != nil {
			return nil, nil, err
		}
		for dec.More() {
			if len(raw) == maxBatchEvents {
				return nil, nil, clientError(errTooLarge, "a batch is at most %d events; send smaller batches", maxBatchEvents)
			}
			var ev json.RawMessage
			if err := dec.Decode(&ev); err != nil {
				return nil, nil, jsonError(err)
			}
			raw = append(raw, ev)
		}
		if _, err := dec.Token(); err != nil { // the closing ]
			return nil, nil, jsonError(err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing }
		return nil, nil, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, probity.Invalid("", "unexpected data after the JSON value")
	}
	if len(raw) == 0 {
		return nil, nil, probity.Invalid("events", "is required: a non-empty array of records")
	}
	recs, be := decodeEvents(raw, now)
	return recs, be, nil
}

// expectDelim reads the next token and checks that it is delim.
func expectDelim(dec *json.Decoder, delim json.Delim, msg string) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != delim {
		field := ""
		if delim == '[' {
			field = "events"
		}
		return probity.Invalid(field, "%s", msg)
	}
	return nil
}

// decodeEvents decodes and validates every event, collecting all problems.
func decodeEvents(raw []json.RawMessage, now time.Time) ([]record.Record, *batchError) {
	recs := make([]record.Record, len(raw))
	be := &batchError{total: len(raw)}
	for i, ev := range raw {
		if err := unmarshalStrict(ev, &recs[i]); err != nil {
			var fe *probity.FieldError
			if errors.As(err, &fe) {
				be.errs = append(be.errs, eventError{i, fe.Field, fe.Message})
			} else {
				be.errs = append(be.errs, eventError{Index: i, Message: err.Error()})
			}
			continue
		}
		for _, fe := range recs[i].Validate(now) {
			be.errs = append(be.errs, eventError{i, fe.Field, fe.Message})
		}
	}
	if len(be.errs) == 0 {
		return recs, nil
	}
	return recs, be
}

// ingest stores recs for org in one transaction: unknown agents make the
// batch invalid, known ids are duplicates, the rest become ledger leaves and
// record rows. berr carries decoding problems found before.
func (s *Server) ingest(ctx context.Context, org string, recs []record.Record, berr *batchError) (ingestResult, error) {
	if berr == nil {
		berr = &batchError{total: len(recs)}
	}
	// Leaves are made before the write transaction, so that encoding one
	// batch overlaps committing another.
	var leaves [][]byte
	if len(berr.errs) == 0 {
		leaves = make([][]byte, len(recs))
		for i := range recs {
			leaf, err := RecordLeaf(&recs[i])
			if err != nil {
				return ingestResult{}, probity.Invalid(fmt.Sprintf("events[%d]", i), "%v", err)
			}
			leaves[i] = leaf
		}
	}
	// Agents are checked before the write transaction, in a read one: a
	// rejected batch never holds the writer. Agents are never deleted, so a
	// check made here still holds at commit.
	if err := s.checkAgents(ctx, org, recs, berr); err != nil {
		return ingestResult{}, err
	}
	if len(berr.errs) > 0 {
		return ingestResult{}, berr
	}
	found := s.checker.scanResults(recs)
	res := ingestResult{Violations: []violationView{}}
	// Sessions advance in commit order: the org's checked ingests run one
	// at a time from reading session state to keeping it.
	unlock, err := s.checker.lockOrg(ctx, org)
	if err != nil {
		return ingestResult{}, err
	}
	defer unlock()
	var sessions, touched map[sessionKey]*sessionState
	var stored []*record.Record // the records the batch added
	err = s.store.Update(ctx, func(tx store.Tx) error {
		res.Violations = res.Violations[:0]
		if err := tx.LockLedger(ctx, org); err != nil {
			return err
		}
		start, err := tx.LedgerSize(ctx, org)
		if err != nil {
			return err
		}
		ids := make([]string, 0, len(recs))
		for i := range recs {
			ids = append(ids, recs[i].ID)
		}
		existing, err := tx.RecordIDs(ctx, org, ids)
		if err != nil {
			return err
		}
		entries := make([][]byte, 0, len(recs))
		rows := make([]store.RecordRow, 0, len(recs))
		accepted := make([]*record.Record, 0, len(recs))
		seen := make(map[string]int, len(recs)) // id → index of its first event
		for i := range recs {
			rec := &recs[i]
			var stored []byte
			if first, dup := seen[rec.ID]; dup {
				stored = leaves[first]
			} else if existing[rec.ID] {
				row, err := tx.GetRecord(ctx, org, rec.ID)
				if err != nil {
					return err
				}
				stored = row.Entry
			}
			if stored != nil {
				// A retry repeats the same record; the same id with other
				// content is a conflict: the first record stands.
				if bytes.Equal(stored, leaves[i]) {
					res.Duplicates++
				} else {
					res.Conflicts++
					if len(res.ConflictIDs) < maxConflictIDs {
						res.ConflictIDs = append(res.ConflictIDs, rec.ID)
					}
				}
				continue
			}
			seen[rec.ID] = i
			accepted = append(accepted, rec)
			entries = append(entries, leaves[i])
			rows = append(rows, store.RecordRow{ID: rec.ID, AgentID: rec.AgentID, SessionID: rec.SessionID,
				Type: rec.Type, Time: rec.Time.UTC().Truncate(time.Microsecond),
				LatencyMs: rec.LatencyMs, Failed: rec.Type == record.Error || rec.Outcome == "failure" || rec.Outcome == "timeout"})
		}
		// Records are checked before they are stored, so that a session
		// rebuilt from the store holds only earlier batches.
		chk, err := s.checker.check(ctx, tx, org, accepted, found)
		if err != nil {
			return err
		}
		for i, m := range chk.marks {
			rows[i].Taint, rows[i].Influenced = m.taint, m.influenced
		}
		touched = chk.sessions
		found := chk.findings
		// Violations follow the batch's records in the ledger; a violation's
		// id is its ledger index.
		vs := make([]store.Violation, len(found))
		for j, f := range found {
			idx := start + int64(len(entries))
			vs[j] = store.Violation{ID: "v_" + strconv.FormatInt(idx, 10), AgentID: f.rec.AgentID, PactID: f.pactID, PactVersion: f.version,
				Clause: f.Clause, Kind: f.Kind, Severity: f.Severity, Confirmed: f.Confirmed, RecordIDs: f.RecordIDs, Explanation: f.Explanation,
				Time: f.rec.Time.UTC().Truncate(time.Microsecond), LedgerIndex: idx}
			leaf, err := ViolationLeaf(vs[j])
			if err != nil {
				return err
			}
			entries = append(entries, leaf)
		}
		first, err := store.AppendLedger(ctx, tx, org, entries)
		if err != nil {
			return err
		}
		if len(entries) > 0 && first != start {
			return fmt.Errorf("%w: the ledger grew from %d to %d under its lock", store.ErrLedgerDamaged, start, first)
		}
		for i := range rows {
			rows[i].LedgerIndex = first + int64(i)
		}
		if len(rows) > 0 {
			if err := tx.InsertRecords(ctx, org, rows); err != nil {
				return err
			}
		}
		if len(vs) > 0 {
			if err := tx.InsertViolations(ctx, org, vs); err != nil {
				return err
			}
			if err := s.emit(ctx, tx, org, violationEvents(vs)...); err != nil {
				return err
			}
		}
		for _, v := range vs {
			res.Violations = append(res.Violations, viewOfViolation(v))
		}
		res.Accepted = len(rows)
		sessions = chk.sessions
		stored = accepted
		return nil
	})
	if err != nil {
		// The commit may have happened even so (a lost acknowledgement):
		// forget the sessions the batch touched, so that they are rebuilt
		// from what the store holds rather than resumed from a guess.
		s.checker.forget(touched)
		return ingestResult{}, err
	}
	s.checker.keep(sessions)
	s.afterIngest(org, stored, res.Violations)
	if res.Accepted > 0 {
		seen := map[string]bool{}
		for i := range recs {
			if a := recs[i].AgentID; !seen[a] {
				seen[a] = true
				s.markDirty(org, a)
			}
		}
	}
	return res, nil
}

// maxBatchAgents bounds the distinct agents one batch may name.
const maxBatchAgents = 1000

// checkAgents adds an error for every record whose agent the org has not
// registered.
func (s *Server) checkAgents(ctx context.Context, org string, recs []record.Record, berr *batchError) error {
	known := map[string]bool{}
	for i := range recs {
		if probity.ValidID(recs[i].AgentID) {
			known[recs[i].AgentID] = false
		}
	}
	if len(known) > maxBatchAgents {
		return probity.Invalid("events", "a batch may name at most %d agents, this one names %d", maxBatchAgents, len(known))
	}
	err := s.store.View(ctx, func(tx store.Tx) error {
		for id := range known {
			_, err := tx.GetAgent(ctx, org, id)
			if err != nil && !errors.Is(err, probity.ErrNotFound) {
				return err
			}
			known[id] = err == nil
			if err == nil {
				// Compile the agent's pact now, if it is not compiled yet, so
				// that the write transaction does not wait for a compiler.
				if _, err := s.checker.activePact(ctx, tx, org, id); err != nil && !errors.Is(err, errPactBroken) {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := range recs {
		if ok, checked := known[recs[i].AgentID]; checked && !ok {
			berr.errs = append(berr.errs, eventError{i, "agentId", fmt.Sprintf("unknown agent %q: register it first (POST /v1/agents)", recs[i].AgentID)})
		}
	}
	return nil
}

// RecordLeaf is the ledger entry of a record: {"kind":"record","record":…}
// around the record's canonical bytes.
func RecordLeaf(rec *record.Record) ([]byte, error) {
	canon, err := rec.Canonical()
	if err != nil {
		return nil, err
	}
	leaf := make([]byte, 0, len(canon)+30)
	leaf = append(leaf, `{"kind":"record","record":`...)
	leaf = append(leaf, canon...)
	return append(leaf, '}'), nil
}

// storedRecord is a record as the API shows it: its fields and its leaf.
type storedRecord struct {
	record.Record
	LedgerIndex int64 `json:"ledgerIndex"`
	// InjectionFlagged marks a tool result the injection detector flagged,
	// InjectionInfluenced a tool call that carried a token traced from one.
	InjectionFlagged    bool `json:"injectionFlagged,omitempty"`
	InjectionInfluenced bool `json:"injectionInfluenced,omitempty"`
}

// recordOf decodes a record's leaf.
func recordOf(row store.RecordRow) (storedRecord, error) {
	var leaf struct {
		Record record.Record `json:"record"`
	}
	if err := json.Unmarshal(row.Entry, &leaf); err != nil {
		return storedRecord{}, fmt.Errorf("%w: entry %d does not decode as a record: %v", store.ErrLedgerDamaged, row.LedgerIndex, err)
	}
	return storedRecord{leaf.Record, row.LedgerIndex, row.Taint != "", row.Influenced}, nil
}

// maxPageBytes bounds the records (or ledger entries) one answer carries,
// so that a page of the largest records does not take gigabytes: a page
// ends early, with a cursor, once it holds this many bytes.
const maxPageBytes = 4 << 20

// Record times lie between 2000 and 9999 (record.Validate), and so do the
// times in a records cursor, in Unix microseconds.
var (
	minCursorTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxCursorTime = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
)

// listRecords pages an agent's records in time order, filtered by a time
// range (from inclusive, to exclusive, RFC 3339), session and type.
func (s *Server) listRecords(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	session, err := queryText(r, "session")
	if err != nil {
		return err
	}
	f := store.RecordFilter{AgentID: id, SessionID: session, Type: q.Get("type")}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(p.name); v != "" {
			if *p.t, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return probity.Invalid(p.name, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
			}
		}
	}
	if f.Type != "" && !slices.Contains(record.Types, f.Type) {
		return probity.Invalid("type", "must be one of %v", record.Types)
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	if p.After != "" {
		ts, idx, ok := strings.Cut(p.After, "/")
		us, err1 := strconv.ParseInt(ts, 10, 64)
		n, err2 := strconv.ParseInt(idx, 10, 64)
		if !ok || err1 != nil || err2 != nil || us < minCursorTime || us > maxCursorTime || n < 0 {
			return probity.Invalid("cursor", "not a cursor this list returned")
		}
		f.AfterTime, f.AfterIndex = time.UnixMicro(us).UTC(), n
	}
	f.Limit = p.Limit + 1
	f.MaxBytes = maxPageBytes
	var rows []store.RecordRow
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		if _, err := tx.GetAgent(r.Context(), c.org, id); err != nil {
			return err
		}
		rows, err = tx.ListRecords(r.Context(), c.org, f)
		return err
	})
	if err != nil {
		return err
	}
	// A page ends at the limit, or where the store stopped at maxPageBytes;
	// either way a cursor says where to go on.
	n, size := len(rows), 0
	for _, row := range rows {
		size += len(row.Entry)
	}
	more := size >= maxPageBytes
	if n > p.Limit {
		n, more = p.Limit, true
	}
	out := list[storedRecord]{Items: []storedRecord{}}
	if more {
		last := rows[n-1]
		out.NextCursor = base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d/%d", last.Time.UnixMicro(), last.LedgerIndex))
	}
	for _, row := range rows[:n] {
		rec, err := recordOf(row)
		if err != nil {
			return err
		}
		out.Items = append(out.Items, rec)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
