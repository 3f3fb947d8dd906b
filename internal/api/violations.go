package api

import (
	linked "container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/detect"
	"github.com/probity-dev/probity/internal/pact"
	"github.com/probity-dev/probity/internal/record"
	"github.com/probity-dev/probity/internal/store"
)

// Bounds of the checker's memory.
const (
	maxSessions      = 10000  // sessions whose state is kept between batches
	maxCompiledPacts = 1000   // compiled pact versions, by digest
	maxReplay        = 100000 // stored records replayed to rebuild one session
	replayPage       = 1000
)

// violationView is a violation as the API shows it; the ledger leaf holds
// the same fields but ledgerIndex.
type violationView struct {
	ID          string    `json:"id"`
	AgentID     string    `json:"agentId"`
	PactID      string    `json:"pactId"`
	PactVersion int       `json:"pactVersion"`
	Clause      string    `json:"clause"`
	Kind        string    `json:"kind"`
	Severity    string    `json:"severity"`
	RecordIDs   []string  `json:"recordIds"`
	Explanation string    `json:"explanation"`
	Time        time.Time `json:"time"`
	LedgerIndex int64     `json:"ledgerIndex"`
}

func viewOfViolation(v store.Violation) violationView {
	return violationView{v.ID, v.AgentID, v.PactID, v.PactVersion, v.Clause, v.Kind, v.Severity, v.RecordIDs, v.Explanation, v.Time, v.LedgerIndex}
}

// ViolationLeaf is the ledger entry of a violation:
// {"kind":"violation","violation":{…}} with every field but ledgerIndex.
func ViolationLeaf(v store.Violation) ([]byte, error) {
	type body struct {
		ID          string    `json:"id"`
		AgentID     string    `json:"agentId"`
		PactID      string    `json:"pactId"`
		PactVersion int       `json:"pactVersion"`
		Clause      string    `json:"clause"`
		Kind        string    `json:"kind"`
		Severity    string    `json:"severity"`
		RecordIDs   []string  `json:"recordIds"`
		Explanation string    `json:"explanation"`
		Time        time.Time `json:"time"`
	}
	b, err := json.Marshal(struct {
		Kind      string `json:"kind"`
		Violation body   `json:"violation"`
	}{"violation", body{v.ID, v.AgentID, v.PactID, v.PactVersion, v.Clause, v.Kind, v.Severity, v.RecordIDs, v.Explanation, v.Time}})
	if err != nil {
		return nil, fmt.Errorf("encoding violation leaf: %w", err)
	}
	return b, nil
}

// checker checks ingested records against their agents' active pacts. It
// keeps each compiled pact version (compiled once, by digest) and the state
// of recently active sessions; a session it does not hold is rebuilt by
// replaying its stored records, so a restart loses nothing.
//
// Session state is only right if every batch of an org goes through one
// checker in commit order: ingest holds the org's lock (lockOrg) from before
// its transaction until the advanced sessions are kept.
type checker struct {
	detect pact.Detector

	mu       sync.Mutex
	pacts    map[string]*pact.Pact
	orgs     map[string]*sync.Mutex
	sessions sessionCache
}

func newChecker(d *detect.Detector) *checker {
	return &checker{
		detect:   detector(d),
		pacts:    map[string]*pact.Pact{},
		orgs:     map[string]*sync.Mutex{},
		sessions: sessionCache{max: maxSessions, ll: linked.New(), m: map[sessionKey]*linked.Element{}},
	}
}

// detector adapts internal/detect to what a pact's outputs clauses ask.
func detector(d *detect.Detector) pact.Detector {
	return func(text string, kinds []string) []string {
		ks := make([]detect.Kind, len(kinds))
		for i, k := range kinds {
			ks[i] = detect.Kind(k)
		}
		var out []string
		for _, f := range d.Scan(text, ks...) {
			if k := string(f.Kind); !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
		return out
	}
}

// lockOrg serializes the checked ingests of one org and returns the unlock.
func (c *checker) lockOrg(org string) func() {
	c.mu.Lock()
	m, ok := c.orgs[org]
	if !ok {
		m = &sync.Mutex{}
		c.orgs[org] = m
	}
	c.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// compiled returns the compiled form of a stored pact version.
func (c *checker) compiled(v store.PactVersion) (*pact.Pact, error) {
	c.mu.Lock()
	p, ok := c.pacts[v.Digest]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := pact.Compile(v.Canonical)
	if err != nil {
		return nil, fmt.Errorf("compiling stored pact %s version %d: %w", v.PactID, v.Version, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pacts) >= maxCompiledPacts {
		clear(c.pacts)
	}
	c.pacts[v.Digest] = p
	return p, nil
}

// finding is one violation found in a batch, before it has an id.
type finding struct {
	pact.Violation
	rec     *record.Record
	pactID  string
	version int
}

// activePact is an agent's pact as one batch sees it; p is nil when the
// agent has none.
type activePact struct {
	p       *pact.Pact
	id      string
	version int
}

// check checks recs (a batch's accepted records, in order) in tx and
// returns what they break and the sessions they advanced, which the caller
// keeps only once the transaction has committed.
func (c *checker) check(ctx context.Context, tx store.Tx, org string, recs []*record.Record) ([]finding, map[sessionKey]*pact.Session, error) {
	agents := map[string]activePact{}
	sessions := map[sessionKey]*pact.Session{}
	var out []finding
	for _, rec := range recs {
		ap, ok := agents[rec.AgentID]
		if !ok {
			var err error
			if ap, err = c.activePact(ctx, tx, org, rec.AgentID); err != nil {
				return nil, nil, err
			}
			agents[rec.AgentID] = ap
		}
		if ap.p == nil {
			continue
		}
		var sess *pact.Session
		if rec.SessionID != "" {
			// Keyed by pact version, not digest: a pact reverted to earlier
			// text is a new version, and its sessions must be rebuilt, not
			// resumed from a state that missed what came in between.
			key := sessionKey{org, rec.AgentID, rec.SessionID, fmt.Sprintf("%s@%d", ap.id, ap.version)}
			if sess = sessions[key]; sess == nil {
				var err error
				if sess, err = c.session(ctx, tx, key, ap.p); err != nil {
					return nil, nil, err
				}
				sessions[key] = sess
			}
		}
		for _, v := range ap.p.Check(rec, sess, c.detect) {
			out = append(out, finding{v, rec, ap.id, ap.version})
		}
	}
	return out, sessions, nil
}

func (c *checker) activePact(ctx context.Context, tx store.Tx, org, agent string) (activePact, error) {
	id, err := tx.PactOfAgent(ctx, org, agent)
	if errors.Is(err, probity.ErrNotFound) {
		return activePact{}, nil
	} else if err != nil {
		return activePact{}, err
	}
	v, err := tx.LatestPactVersion(ctx, org, id)
	if err != nil {
		return activePact{}, err
	}
	p, err := c.compiled(v)
	if err != nil {
		return activePact{}, err
	}
	return activePact{p, id, v.Version}, nil
}

// session returns a copy of the session's state before this batch: the
// cached one, or one rebuilt by observing its stored records in time order.
func (c *checker) session(ctx context.Context, tx store.Tx, key sessionKey, p *pact.Pact) (*pact.Session, error) {
	c.mu.Lock()
	s := c.sessions.get(key)
	c.mu.Unlock()
	if s != nil {
		return s.Clone(), nil
	}
	s = p.NewSession()
	// Only tool calls move a session, so only they are replayed; pages are
	// bounded in bytes as well as rows.
	f := store.RecordFilter{AgentID: key.agent, SessionID: key.session, Type: record.ToolCall, Limit: replayPage, MaxBytes: maxPageBytes}
	for n := 0; n < maxReplay; {
		rows, err := tx.ListRecords(ctx, key.org, f)
		if err != nil {
			return nil, fmt.Errorf("replaying session %s: %w", key.session, err)
		}
		for _, row := range rows {
			rec, err := recordOf(row)
			if err != nil {
				return nil, err
			}
			s.Observe(&rec.Record)
		}
		n += len(rows)
		if len(rows) == 0 || (len(rows) < f.Limit && pageBytes(rows) < f.MaxBytes) {
			break
		}
		last := rows[len(rows)-1]
		f.AfterTime, f.AfterIndex = last.Time, last.LedgerIndex
	}
	return s, nil
}

// keep stores the sessions a committed batch advanced.
func (c *checker) keep(sessions map[sessionKey]*pact.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, s := range sessions {
		c.sessions.put(k, s)
	}
}

// sessionKey names one session's state under one pact version.
type sessionKey struct{ org, agent, session, pactVersion string }

// sessionCache is a least-recently-used map of session states.
type sessionCache struct {
	max int
	ll  *linked.List // of *sessionEntry, most recent first
	m   map[sessionKey]*linked.Element
}

type sessionEntry struct {
	key  sessionKey
	sess *pact.Session
}

func (c *sessionCache) get(k sessionKey) *pact.Session {
	e, ok := c.m[k]
	if !ok {
		return nil
	}
	c.ll.MoveToFront(e)
	return e.Value.(*sessionEntry).sess
}

func (c *sessionCache) put(k sessionKey, s *pact.Session) {
	if e, ok := c.m[k]; ok {
		e.Value.(*sessionEntry).sess = s
		c.ll.MoveToFront(e)
		return
	}
	c.m[k] = c.ll.PushFront(&sessionEntry{k, s})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.m, last.Value.(*sessionEntry).key)
	}
}

// listViolations pages the org's violations in ledger order, filtered by
// agent, clause, severity and time (from inclusive, to exclusive).
func (s *Server) listViolations(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	var f store.ViolationFilter
	if a := q.Get("agent"); a != "" {
		if !probity.ValidID(a) {
			return probity.Invalid("agent", probity.IDRule)
		}
		f.AgentID = a
	}
	var err error
	if f.Clause, err = queryText(r, "clause"); err != nil {
		return err
	}
	if f.Severity = q.Get("severity"); f.Severity != "" && !slices.Contains(pact.Severities, f.Severity) {
		return probity.Invalid("severity", "must be one of %v", pact.Severities)
	}
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
	p, err := page(r)
	if err != nil {
		return err
	}
	if p.After != "" {
		if n, err := strconv.ParseInt(p.After, 10, 64); err != nil || n < 0 {
			return probity.Invalid("cursor", "not a cursor this list returned")
		}
	}
	f.Page = peek(p)
	var vs []store.Violation
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		vs, err = tx.ListViolations(r.Context(), c.org, f)
		return err
	})
	if err != nil {
		return err
	}
	views := make([]violationView, 0, len(vs))
	for _, v := range vs {
		views = append(views, viewOfViolation(v))
	}
	writeJSON(w, http.StatusOK, paged(views, p, func(v violationView) string { return strconv.FormatInt(v.LedgerIndex, 10) }))
	return nil
}

func pageBytes(rows []store.RecordRow) int {
	n := 0
	for _, r := range rows {
		n += len(r.Entry)
	}
	return n
}
