package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/incident"
	"github.com/probity-dev/probity/internal/score"
	"github.com/probity-dev/probity/internal/store"
)

// The dashboard (internal/web) reads and acts through the methods below, for
// the API key its session holds: the API's own handlers, called in-process,
// and a few reads the JSON API has no route for. What a page shows is what
// the API answers, and a form does exactly what the API's route does.

// Authenticate resolves an API key as a Bearer request would: unknown and
// revoked keys are errors that status maps to 401.
func (s *Server) Authenticate(ctx context.Context, secret string) (*probity.APIKey, error) {
	if !strings.HasPrefix(secret, probity.KeyPrefix) || len(secret) != probity.KeyLen {
		return nil, clientError(errUnauthenticated, "not an API key: keys start with %s and are %d characters long", probity.KeyPrefix, probity.KeyLen)
	}
	return s.KeyByHash(ctx, probity.HashKey(secret))
}

// KeyByHash resolves a key by its hash, as every API request does (with
// the same short cache), so that a key revoked since is refused.
func (s *Server) KeyByHash(ctx context.Context, hash []byte) (*probity.APIKey, error) {
	key, err := s.auth.lookup(ctx, hash)
	if err != nil {
		return nil, err
	}
	if key == nil {
		return nil, clientError(errUnauthenticated, "unknown API key")
	}
	if key.RevokedAt != nil {
		return nil, clientError(errUnauthenticated, "this API key was revoked")
	}
	return key, nil
}

// Do calls the API route pattern (as the route table writes it, such as
// "POST /v1/agents/{id}/suspend") for key: the route's scope and the key's
// rate limit apply, path fills the pattern's wildcards, query is the query
// string and body, when not nil, is sent as JSON. A JSON answer is decoded
// into out; out may be a *[]byte for the raw body. The handler's error is
// returned as it is (ProblemOf describes it).
func (s *Server) Do(ctx context.Context, key *probity.APIKey, pattern string, path map[string]string, query url.Values, body, out any) error {
	var rt *route
	for i := range s.routes {
		if s.routes[i].pattern == pattern {
			rt = &s.routes[i]
			break
		}
	}
	if rt == nil {
		return fmt.Errorf("no API route %q", pattern)
	}
	if rt.scope != "" && !key.Allows(rt.scope) && (rt.orScope == "" || !key.Allows(rt.orScope)) {
		return clientError(probity.ErrForbidden, "this key lacks the %q scope", rt.scope)
	}
	if wait, ok := s.limits.allow(key.ID); !ok {
		return &rateLimited{retryAfter: wait}
	}
	method, target, _ := strings.Cut(pattern, " ")
	for k, v := range path {
		target = strings.Replace(target, "{"+k+"}", url.PathEscape(v), 1)
	}
	var reqBody bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&reqBody).Encode(body); err != nil {
			return fmt.Errorf("encoding %s: %w", pattern, err)
		}
	}
	ctx = store.WithOp(ctx, pattern)
	r, err := http.NewRequestWithContext(ctx, method, target, &reqBody)
	if err != nil {
		return err
	}
	r.URL.RawQuery = query.Encode()
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range path {
		r.SetPathValue(k, v)
	}
	maxBody := rt.maxBody
	if maxBody == 0 {
		maxBody = s.cfg.MaxBody
	}
	w := &bufferWriter{header: http.Header{}}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	s.active.Add(1)
	defer s.active.Done()
	if err := rt.h(w, r, &call{key: key, org: key.OrgID}); err != nil {
		return err
	}
	if w.code >= 400 {
		var e struct{ Error apiError }
		json.Unmarshal(w.body.Bytes(), &e)
		return fmt.Errorf("%s answered %d: %s", pattern, w.code, e.Error.Message)
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*o = w.body.Bytes()
		return nil
	default:
		if err := json.Unmarshal(w.body.Bytes(), out); err != nil {
			return fmt.Errorf("decoding the answer of %s: %w", pattern, err)
		}
		return nil
	}
}

// bufferWriter keeps a handler's answer for Do.
type bufferWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *bufferWriter) Header() http.Header { return w.header }

func (w *bufferWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *bufferWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(b)
}

// Problem is an error as the API answers it.
type Problem struct {
	Status  int
	Code    string
	Message string
	Field   string
}

// ProblemOf describes err as the API would answer it: 500 with a generic
// message for a fault, the message and the field at fault for bad input.
func ProblemOf(err error) Problem {
	code, e := status(err)
	return Problem{Status: code, Code: e.Code, Message: e.Message, Field: e.Field}
}

// IsUnauthenticated reports whether err means the key is unknown or revoked.
func IsUnauthenticated(err error) bool { return errors.Is(err, errUnauthenticated) }

// FleetRow is one agent of the fleet: its inventory row (risk,
// verification, gap) and its latest stored score snapshot, if any.
type FleetRow struct {
	probity.InventoryItem
	Score *FleetScore // nil before the agent's first snapshot
	// OpenIncidents counts the agent's active (open or acknowledged)
	// incidents by severity, now.
	OpenIncidents score.Incidents
}

// FleetScore is the part of a stored score the fleet shows.
type FleetScore struct {
	CompositeScore    int            `json:"compositeScore"`
	CertificationTier string         `json:"certificationTier"`
	ScoreVelocity     score.Velocity `json:"scoreVelocity"`
	SecurityPosture   struct {
		Badges []string `json:"badges"`
	} `json:"securityPosture"`
	ComputedAt time.Time `json:"computedAt"`
}

// Fleet returns every agent of key's org as GET /v1/inventory computes it,
// widest gap first, each with its latest stored score and its active
// incidents. Scores are the snapshots the server records (on new evidence
// within seconds, every agent hourly), not computed afresh: a page of a
// thousand agents reads a thousand rows, not a thousand agents' evidence.
func (s *Server) Fleet(ctx context.Context, key *probity.APIKey) ([]FleetRow, error) {
	var rows []FleetRow
	q := url.Values{"limit": {fmt.Sprint(maxPage)}}
	for {
		var page list[probity.InventoryItem]
		if err := s.Do(ctx, key, "GET /v1/inventory", nil, q, nil, &page); err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			rows = append(rows, FleetRow{InventoryItem: it})
		}
		if page.NextCursor == "" {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	err := s.store.View(store.WithOp(ctx, "web fleet scores"), func(tx store.Tx) error {
		byAgent := make(map[string]*FleetRow, len(rows))
		for i := range rows {
			byAgent[rows[i].AgentID] = &rows[i]
		}
		for f := (store.IncidentFilter{Page: store.Page{Limit: maxPage}, Status: store.IncidentActive}); ; {
			active, err := tx.ListIncidents(ctx, key.OrgID, f)
			if err != nil {
				return err
			}
			for _, in := range active {
				if row := byAgent[in.AgentID]; row != nil {
					switch in.Severity {
					case incident.Critical:
						row.OpenIncidents.Critical++
					case incident.High:
						row.OpenIncidents.High++
					case incident.Medium:
						row.OpenIncidents.Medium++
					}
				}
			}
			if len(active) < f.Limit {
				break
			}
			f.After = strconv.FormatInt(active[len(active)-1].LedgerIndex, 10)
		}
		for i := range rows {
			snap, err := tx.LatestScore(ctx, key.OrgID, rows[i].AgentID)
			if errors.Is(err, probity.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			sc := new(FleetScore)
			if err := json.Unmarshal(snap.Score, sc); err != nil {
				return fmt.Errorf("%w: the score snapshot of %s at %s: %v", store.ErrLedgerDamaged, snap.AgentID, snap.ComputedAt, err)
			}
			rows[i].Score = sc
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// ScorePoint is one stored score snapshot, with its dimensions.
type ScorePoint struct {
	Time       time.Time
	Composite  int
	Tier       string
	Dimensions score.Dimensions
}

// maxSeries bounds the snapshots one chart reads.
const maxSeries = 10000

// ScoreSeries returns the agent's stored score snapshots with from <= time
// < to, oldest first (at most maxSeries): GET /v1/agents/{id}/score/history
// with the dimensions of each snapshot, for the score chart.
func (s *Server) ScoreSeries(ctx context.Context, key *probity.APIKey, agentID string, from, to time.Time) ([]ScorePoint, error) {
	if !key.Allows(probity.ScopeRead) {
		return nil, clientError(probity.ErrForbidden, "this key lacks the %q scope", probity.ScopeRead)
	}
	var out []ScorePoint
	err := s.store.View(store.WithOp(ctx, "web score series"), func(tx store.Tx) error {
		if _, err := tx.GetAgent(ctx, key.OrgID, agentID); err != nil {
			return err
		}
		snaps, err := tx.ListScores(ctx, key.OrgID, agentID, from, to, maxSeries)
		if err != nil {
			return err
		}
		out = make([]ScorePoint, 0, len(snaps))
		for _, sn := range snaps {
			var sc struct {
				Dimensions score.Dimensions `json:"dimensions"`
			}
			if err := json.Unmarshal(sn.Score, &sc); err != nil {
				return fmt.Errorf("%w: the score snapshot of %s at %s: %v", store.ErrLedgerDamaged, agentID, sn.ComputedAt, err)
			}
			out = append(out, ScorePoint{Time: sn.ComputedAt, Composite: sn.Composite, Tier: sn.Tier, Dimensions: sc.Dimensions})
		}
		return nil
	})
	return out, err
}

// RecordRef is where a record is: its agent, session and ledger leaf.
type RecordRef struct {
	AgentID     string
	SessionID   string
	LedgerIndex int64
}

// RecordRef finds a record of key's org by id, so that evidence (a
// violation's or an incident's record ids) can be followed to its session.
func (s *Server) RecordRef(ctx context.Context, key *probity.APIKey, id string) (RecordRef, error) {
	if !key.Allows(probity.ScopeRead) {
		return RecordRef{}, clientError(probity.ErrForbidden, "this key lacks the %q scope", probity.ScopeRead)
	}
	if err := probity.CheckText("id", id, 200); err != nil || id == "" {
		return RecordRef{}, probity.Invalid("id", "must be a record id of 1 to 200 printable characters")
	}
	var ref RecordRef
	err := s.store.View(store.WithOp(ctx, "web record"), func(tx store.Tx) error {
		row, err := tx.GetRecord(ctx, key.OrgID, id)
		if errors.Is(err, probity.ErrNotFound) {
			return clientError(probity.ErrNotFound, "no record %q", id)
		} else if err != nil {
			return err
		}
		ref = RecordRef{AgentID: row.AgentID, SessionID: row.SessionID, LedgerIndex: row.LedgerIndex}
		return nil
	})
	return ref, err
}

// Score is the agent's trust score now with its explanation, as GET
// /v1/agents/{id}/score?explain=1 computes it; like the gate and
// attestations, it reuses a score computed in the last minute when no new
// evidence arrived for the agent since.
func (s *Server) Score(ctx context.Context, key *probity.APIKey, agentID string) (score.Score, error) {
	if !key.Allows(probity.ScopeRead) {
		return score.Score{}, clientError(probity.ErrForbidden, "this key lacks the %q scope", probity.ScopeRead)
	}
	if !probity.ValidID(agentID) {
		return score.Score{}, probity.Invalid("id", probity.IDRule)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	if sc, ok := s.cachedScoreOf(key.OrgID, agentID, now); ok && sc.Explain != nil {
		return sc, nil
	}
	var sc score.Score
	err := s.store.View(store.WithOp(ctx, "web score"), func(tx store.Tx) error {
		var err error
		sc, _, err = s.computeScore(ctx, tx, key.OrgID, agentID, now)
		return err
	})
	return sc, err
}
