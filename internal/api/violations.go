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
	maxSessionBytes  = 64 << 20 // session states kept between batches (estimated)
	maxCompiledPacts = 1000     // compiled pact versions, by digest
	maxCompiledBytes = 8 << 20  // their canonical bytes
	maxReplay        = 100000   // stored records replayed to rebuild one session
	replayPage       = 1000
)

// violationView is a violation as the API shows it; the ledger leaf holds
// the same fields but ledgerIndex.
type violationView struct {
	ID          string    `json:"id"`
	AgentID     string    `json:"agentId"`
	PactID      string    `json:"pactId,omitempty"`
	PactVersion int       `json:"pactVersion,omitempty"`
	Clause      string    `json:"clause"`
	Kind        string    `json:"kind"`
	Severity    string    `json:"severity"`
	Confirmed   bool      `json:"confirmed,omitempty"`
	RecordIDs   []string  `json:"recordIds"`
	Explanation string    `json:"explanation"`
	Time        time.Time `json:"time"`
	LedgerIndex int64     `json:"ledgerIndex"`
}

func viewOfViolation(v store.Violation) violationView {
	return violationView{v.ID, v.AgentID, v.PactID, v.PactVersion, v.Clause, v.Kind, v.Severity, v.Confirmed, v.RecordIDs, v.Explanation, v.Time, v.LedgerIndex}
}

// ViolationLeaf is the ledger entry of a violation:
// {"kind":"violation","violation":{…}} with every field but ledgerIndex.
func ViolationLeaf(v store.Violation) ([]byte, error) {
	type body struct {
		ID          string    `json:"id"`
		AgentID     string    `json:"agentId"`
		PactID      string    `json:"pactId,omitempty"`
		PactVersion int       `json:"pactVersion,omitempty"`
		Clause      string    `json:"clause"`
		Kind        string    `json:"kind"`
		Severity    string    `json:"severity"`
		Confirmed   bool      `json:"confirmed,omitempty"`
		RecordIDs   []string  `json:"recordIds"`
		Explanation string    `json:"explanation"`
		Time        time.Time `json:"time"`
	}
	b, err := json.Marshal(struct {
		Kind      string `json:"kind"`
		Violation body   `json:"violation"`
	}{"violation", body{v.ID, v.AgentID, v.PactID, v.PactVersion, v.Clause, v.Kind, v.Severity, v.Confirmed, v.RecordIDs, v.Explanation, v.Time}})
	if err != nil {
		return nil, fmt.Errorf("encoding violation leaf: %w", err)
	}
	return b, nil
}

// checker checks ingested records against their agents' active pacts and
// traces injected content through sessions (trace.go). It keeps each
// compiled pact version (compiled once, by digest) and the state of
// recently active sessions; a session it does not hold is rebuilt from the
// store, so a restart loses nothing.
//
// Session state is only right if every batch of an org goes through one
// checker in commit order: ingest holds the org's lock (lockOrg) from before
// its transaction until the advanced sessions are kept.
type checker struct {
	d      *detect.Detector
	detect pact.Detector

	mu        sync.Mutex
	pacts     map[string]*pact.Pact
	pactBytes int
	orgs      map[string]chan struct{}
	sessions  sessionCache
}

func newChecker(d *detect.Detector) *checker {
	return &checker{
		d:        d,
		detect:   detector(d),
		pacts:    map[string]*pact.Pact{},
		orgs:     map[string]chan struct{}{},
		sessions: sessionCache{max: maxSessionBytes, ll: linked.New(), m: map[sessionKey]*linked.Element{}},
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

// lockOrg serializes the checked ingests of one org and returns the
// unlock; a request cancelled while it waits gets ctx's error.
func (c *checker) lockOrg(ctx context.Context, org string) (func(), error) {
	c.mu.Lock()
	m, ok := c.orgs[org]
	if !ok {
		m = make(chan struct{}, 1)
		c.orgs[org] = m
	}
	c.mu.Unlock()
	select {
	case m <- struct{}{}:
		return func() { <-m }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// errPactBroken marks a stored pact version that no longer compiles (a
// later server is stricter than the one that stored it).
var errPactBroken = errors.New("stored pact does not compile")

// compiled returns the compiled form of a stored pact version. The cache
// is bounded in count and in canonical bytes (a compiled pact takes about
// 30 times its canonical size); when either bound is reached it is
// emptied, which only costs recompiling.
func (c *checker) compiled(v store.PactVersion) (*pact.Pact, error) {
	c.mu.Lock()
	p, ok := c.pacts[v.Digest]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := pact.Compile(v.Canonical)
	if err != nil {
		return nil, fmt.Errorf("%w: pact %s version %d: %w", errPactBroken, v.PactID, v.Version, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pacts) >= maxCompiledPacts || c.pactBytes+len(v.Canonical) > maxCompiledBytes {
		clear(c.pacts)
		c.pactBytes = 0
	}
	c.pacts[v.Digest] = p
	c.pactBytes += len(v.Canonical)
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

func (a activePact) key() string { return fmt.Sprintf("%s@%d", a.id, a.version) }

// checked is what checking a batch found: violations, what to store beside
// each record (by index in the batch), and the sessions it advanced, which
// the caller keeps only once the transaction has committed.
type checked struct {
	findings []finding
	marks    []mark
	sessions map[sessionKey]*sessionState
}

// check checks recs (a batch's accepted records, in order) in tx; found
// is what scanResults flagged among them.
func (c *checker) check(ctx context.Context, tx store.Tx, org string, recs []*record.Record, found flagged) (*checked, error) {
	agents := map[string]activePact{}
	out := &checked{marks: make([]mark, len(recs)), sessions: map[sessionKey]*sessionState{}}
	local := map[sessionKey]*batchText{}
	if err := c.prefetchTrails(ctx, tx, org, recs, out.sessions); err != nil {
		return nil, err
	}
	for i, rec := range recs {
		ap, ok := agents[rec.AgentID]
		if !ok {
			var err error
			ap, err = c.activePact(ctx, tx, org, rec.AgentID)
			if errors.Is(err, errPactBroken) {
				// The records are kept, unchecked, and the problem is
				// reported once per batch and agent rather than blocking
				// the agent's ingest until someone posts a new version.
				out.findings = append(out.findings, finding{pact.Violation{Clause: ap.id, Kind: pact.KindEvaluationError, Severity: pact.Major,
					RecordIDs: []string{rec.ID}, Explanation: fmt.Sprintf("records were not checked: %v; post a new version of the pact", err)}, rec, ap.id, ap.version})
				ap.p = nil
			} else if err != nil {
				return nil, err
			}
			agents[rec.AgentID] = ap
		}
		var st *sessionState
		key := sessionKey{org, rec.AgentID, rec.SessionID}
		if rec.SessionID != "" {
			var err error
			if st, err = c.state(ctx, tx, key, ap, out.sessions); err != nil {
				return nil, err
			}
		}
		var vs []pact.Violation
		if ap.p != nil {
			var ps *pact.Session
			if st != nil {
				ps = st.pact
			}
			vs = ap.p.Check(rec, ps, c.detect)
		}
		if st != nil {
			bt := local[key]
			if bt == nil {
				bt = &batchText{}
				local[key] = bt
			}
			var err error
			switch rec.Type {
			case record.ToolResult:
				out.marks[i], err = c.traceResult(ctx, tx, key, st, bt, rec, found)
			case record.ToolCall:
				var v *pact.Violation
				if v, err = c.traceCall(ctx, tx, key, st, bt, rec, vs); v != nil {
					out.marks[i].influenced = true
					vs = append(vs, *v)
				}
			case record.UserInput:
				bt.local = append(bt.local, rec)
			}
			if err != nil {
				return nil, err
			}
		}
		for _, v := range vs {
			out.findings = append(out.findings, finding{v, rec, ap.id, ap.version})
		}
	}
	return out, nil
}

// prefetchTrails makes the batch's working copy of every session it names
// and, for those whose trail is not known yet, finds in one read per agent
// which have flagged records at all: the others start with an empty trail,
// so a batch of new sessions costs no read per session.
func (c *checker) prefetchTrails(ctx context.Context, tx store.Tx, org string, recs []*record.Record, batch map[sessionKey]*sessionState) error {
	cold := map[string][]string{} // agent → sessions without a trail
	c.mu.Lock()
	for _, rec := range recs {
		key := sessionKey{org, rec.AgentID, rec.SessionID}
		if rec.SessionID == "" || batch[key] != nil {
			continue
		}
		st := &sessionState{}
		if cached := c.sessions.get(key); cached != nil {
			st = cached.clone()
		}
		batch[key] = st
		if st.trail == nil {
			cold[rec.AgentID] = append(cold[rec.AgentID], rec.SessionID)
		}
	}
	c.mu.Unlock()
	for agent, sessions := range cold {
		tainted, err := tx.TaintedSessions(ctx, org, agent, sessions)
		if err != nil {
			return err
		}
		for _, id := range sessions {
			if !tainted[id] {
				batch[sessionKey{org, agent, id}].trail = &trail{}
			}
		}
	}
	return nil
}

// state returns the batch's working copy of a session's state, made from
// the cached state or rebuilt from the store, with its pact part belonging
// to ap (replayed when the pact changed since).
func (c *checker) state(ctx context.Context, tx store.Tx, key sessionKey, ap activePact, batch map[sessionKey]*sessionState) (*sessionState, error) {
	st := batch[key]
	if st == nil {
		c.mu.Lock()
		cached := c.sessions.get(key)
		c.mu.Unlock()
		if cached != nil {
			st = cached.clone()
		} else {
			st = &sessionState{}
		}
		batch[key] = st
	}
	if ap.p == nil {
		st.pactKey, st.pact = "", nil
		return st, nil
	}
	// Keyed by pact version, not digest: a pact reverted to earlier text is
	// a new version, and its session must be rebuilt, not resumed from a
	// state that missed what came in between.
	if st.pactKey != ap.key() {
		ps, err := c.replay(ctx, tx, key, ap.p)
		if err != nil {
			return nil, err
		}
		st.pactKey, st.pact = ap.key(), ps
	}
	return st, nil
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
		return activePact{id: id, version: v.Version}, err
	}
	return activePact{p, id, v.Version}, nil
}

// replay rebuilds a session's pact state by observing its stored tool calls
// in time order.
func (c *checker) replay(ctx context.Context, tx store.Tx, key sessionKey, p *pact.Pact) (*pact.Session, error) {
	s := p.NewSession()
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
func (c *checker) keep(sessions map[sessionKey]*sessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, s := range sessions {
		c.sessions.put(k, s)
	}
}

// forget drops the cached state of the given sessions.
func (c *checker) forget(sessions map[sessionKey]*sessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range sessions {
		c.sessions.remove(k)
	}
}

// sessionKey names one session.
type sessionKey struct{ org, agent, session string }

// sessionState is what the checker keeps of one session: its state under
// the agent's pact version (pactKey, "id@version"), when it has one, and
// its injection trail, once a tool call or a flagged result needed it.
type sessionState struct {
	pactKey string
	pact    *pact.Session
	trail   *trail
}

func (s *sessionState) clone() *sessionState {
	c := &sessionState{pactKey: s.pactKey}
	if s.pact != nil {
		c.pact = s.pact.Clone()
	}
	if s.trail != nil {
		c.trail = s.trail.clone()
	}
	return c
}

func (s *sessionState) size(k sessionKey) int {
	n := 96 + len(k.org) + len(k.agent) + len(k.session) + len(s.pactKey)
	if s.pact != nil {
		n += s.pact.Size()
	}
	if s.trail != nil {
		n += s.trail.size()
	}
	return n
}

// sessionCache is a least-recently-used map of session states, bounded by
// their estimated size in bytes.
type sessionCache struct {
	max   int
	bytes int
	ll    *linked.List // of *sessionEntry, most recent first
	m     map[sessionKey]*linked.Element
}

type sessionEntry struct {
	key  sessionKey
	st   *sessionState
	size int
}

func (c *sessionCache) get(k sessionKey) *sessionState {
	e, ok := c.m[k]
	if !ok {
		return nil
	}
	c.ll.MoveToFront(e)
	return e.Value.(*sessionEntry).st
}

func (c *sessionCache) remove(k sessionKey) {
	if e, ok := c.m[k]; ok {
		c.ll.Remove(e)
		delete(c.m, k)
		c.bytes -= e.Value.(*sessionEntry).size
	}
}

func (c *sessionCache) put(k sessionKey, s *sessionState) {
	size := s.size(k)
	if e, ok := c.m[k]; ok {
		se := e.Value.(*sessionEntry)
		c.bytes += size - se.size
		se.st, se.size = s, size
		c.ll.MoveToFront(e)
	} else {
		c.m[k] = c.ll.PushFront(&sessionEntry{k, s, size})
		c.bytes += size
	}
	for c.bytes > c.max && c.ll.Len() > 0 {
		last := c.ll.Back()
		c.ll.Remove(last)
		se := last.Value.(*sessionEntry)
		delete(c.m, se.key)
		c.bytes -= se.size
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
	if f.Kind = q.Get("kind"); f.Kind != "" && !slices.Contains(violationKinds, f.Kind) {
		return probity.Invalid("kind", "must be one of %v", violationKinds)
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

// violationKinds lists every kind a violation may have.
var violationKinds = []string{pact.KindScopeTool, pact.KindScopeWhen, pact.KindDataClass, pact.KindEgress, pact.KindForbiddenSequence,
	pact.KindOutput, pact.KindEvaluationError, pact.KindCommitment, pact.KindInjectionInfluenced}

func pageBytes(rows []store.RecordRow) int {
	n := 0
	for _, r := range rows {
		n += len(r.Entry)
	}
	return n
}
