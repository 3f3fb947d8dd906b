package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/pact"
	"github.com/probity-dev/probity/internal/store"
)

// maxPactBytes caps the body of POST /v1/pacts: one pact source.
const maxPactBytes = pact.MaxSourceLen

// pactTypes are the media types a pact may be posted as.
var pactTypes = []string{"application/yaml", "application/x-yaml", "text/yaml", "application/json"}

// compileError rejects a pact that does not compile, listing every problem
// with its position.
type compileError struct{ errs pact.Errors }

// pactProblem is one compile error as the client sees it.
type pactProblem struct {
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (e *compileError) Error() string {
	msg := fmt.Sprintf("the pact does not compile: %d problems; nothing was stored", len(e.errs))
	if len(e.errs) > maxDetails {
		msg += fmt.Sprintf(" (the first %d are listed)", maxDetails)
	}
	return msg
}

func (e *compileError) Unwrap() error { return errUnprocessable }

func (e *compileError) details() []pactProblem {
	out := make([]pactProblem, 0, min(len(e.errs), maxDetails))
	for _, pe := range e.errs[:min(len(e.errs), maxDetails)] {
		out = append(out, pactProblem{Line: pe.Line, Column: pe.Column, Field: pe.Field, Message: pe.Message})
	}
	return out
}

// pactView is a pact version as the API shows it. Source and Canonical are
// filled only when one version is asked for.
type pactView struct {
	ID          string          `json:"id"`
	Version     int             `json:"version"`
	Digest      string          `json:"digest"`
	Agents      []string        `json:"agents"`
	CreatedAt   time.Time       `json:"createdAt"`
	CreatedBy   string          `json:"createdBy,omitempty"`
	LedgerIndex int64           `json:"ledgerIndex"`
	Source      string          `json:"source,omitempty"`
	Canonical   json.RawMessage `json:"canonical,omitempty"`
}

// agentsOf reads the agents a stored version binds from its canonical form.
func agentsOf(canonical []byte) ([]string, error) {
	var p struct{ Agents []string }
	if err := json.Unmarshal(canonical, &p); err != nil {
		return nil, fmt.Errorf("reading stored pact: %w", err)
	}
	if p.Agents == nil {
		p.Agents = []string{}
	}
	return p.Agents, nil
}

func viewOf(v store.PactVersion, full bool) (pactView, error) {
	agents, err := agentsOf(v.Canonical)
	if err != nil {
		return pactView{}, err
	}
	pv := pactView{ID: v.PactID, Version: v.Version, Digest: v.Digest, Agents: agents,
		CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy, LedgerIndex: v.LedgerIndex}
	if full {
		pv.Source, pv.Canonical = string(v.Source), v.Canonical
	}
	return pv, nil
}

// pactLeaf is the ledger entry of a pact version; canonical is embedded
// byte for byte, so the leaf commits to exactly what Digest covers.
func pactLeaf(p *pact.Pact, version int) ([]byte, error) {
	agents := p.Agents
	if agents == nil {
		agents = []string{}
	}
	type body struct {
		ID        string          `json:"id"`
		Version   int             `json:"version"`
		Digest    string          `json:"digest"`
		Agents    []string        `json:"agents"`
		Canonical json.RawMessage `json:"canonical"`
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep the canonical bytes as they are
	err := enc.Encode(struct {
		Kind string `json:"kind"`
		Pact body   `json:"pact"`
	}{"pact", body{p.ID, version, p.Digest(), agents, p.Canonical()}})
	if err != nil {
		return nil, fmt.Errorf("encoding pact leaf: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func checkPactType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !slices.Contains(pactTypes, mt) {
		return clientError(errUnsupported, "Content-Type must be one of %s, got %q", strings.Join(pactTypes, ", "), ct)
	}
	return nil
}

// createPact stores a new version of the posted pact, or answers the latest
// version when its digest is the same.
func (s *Server) createPact(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := checkPactType(r); err != nil {
		return err
	}
	src, err := readBody(r.Body)
	if err != nil {
		return err
	}
	p, err := pact.Compile(src)
	var perrs pact.Errors
	if errors.As(err, &perrs) {
		return &compileError{perrs}
	} else if err != nil {
		return err
	}
	ctx := r.Context()
	var v store.PactVersion
	created := false
	err = s.store.Update(ctx, func(tx store.Tx) error {
		// Two posts of one pact must not both read version n and write n+1.
		if err := tx.LockLedger(ctx, c.org); err != nil {
			return err
		}
		for _, a := range p.Agents {
			if _, err := tx.GetAgent(ctx, c.org, a); errors.Is(err, probity.ErrNotFound) {
				return clientError(errUnprocessable, "agents: agent %s is not registered; create it with POST /v1/agents first", a)
			} else if err != nil {
				return err
			}
			other, err := tx.PactOfAgent(ctx, c.org, a)
			switch {
			case errors.Is(err, probity.ErrNotFound):
			case err != nil:
				return err
			case other != p.ID:
				return clientError(probity.ErrConflict, "agent %s is bound to pact %s; an agent has at most one active pact: remove it from %s first", a, other, other)
			}
		}
		latest, err := tx.LatestPactVersion(ctx, c.org, p.ID)
		switch {
		case errors.Is(err, probity.ErrNotFound):
		case err != nil:
			return err
		case latest.Digest == p.Digest():
			v = latest
			return nil
		}
		v = store.PactVersion{PactID: p.ID, Version: latest.Version + 1, Digest: p.Digest(),
			Canonical: p.Canonical(), Source: src, CreatedAt: s.now(), CreatedBy: c.actor()}
		leaf, err := pactLeaf(p, v.Version)
		if err != nil {
			return err
		}
		if v.LedgerIndex, err = store.AppendLedger(ctx, tx, c.org, [][]byte{leaf}); err != nil {
			return err
		}
		if err := tx.InsertPactVersion(ctx, c.org, v); err != nil {
			return err
		}
		if err := tx.BindAgents(ctx, c.org, p.ID, slices.Compact(slices.Sorted(slices.Values(p.Agents)))); err != nil {
			return err
		}
		action := "pact.version"
		if v.Version == 1 {
			action = "pact.create"
		}
		created = true
		return s.audit(r, tx, c, v.CreatedAt, action, "pact:"+p.ID,
			map[string]any{"version": v.Version, "digest": v.Digest, "agents": p.Agents, "ledgerIndex": v.LedgerIndex})
	})
	if err != nil {
		return err
	}
	pv, err := viewOf(v, false)
	if err != nil {
		return err
	}
	pv.CreatedBy = ""
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	w.Header().Set("Location", fmt.Sprintf("/v1/pacts/%s/versions/%d", v.PactID, v.Version))
	writeJSON(w, code, pv)
	return nil
}

func (s *Server) listPacts(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	var vs []store.PactVersion
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		vs, err = tx.ListPacts(r.Context(), c.org, peek(p))
		return err
	})
	if err != nil {
		return err
	}
	views := make([]pactView, 0, len(vs))
	for _, v := range vs {
		pv, err := viewOf(v, false)
		if err != nil {
			return err
		}
		views = append(views, pv)
	}
	writeJSON(w, http.StatusOK, paged(views, p, func(v pactView) string { return v.ID }))
	return nil
}

func (s *Server) getPact(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var v store.PactVersion
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		v, err = tx.LatestPactVersion(r.Context(), c.org, id)
		return err
	})
	return writePact(w, v, err)
}

func (s *Server) getPactVersion(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	n, err := versionNumber("n", r.PathValue("n"))
	if err != nil {
		return err
	}
	var v store.PactVersion
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		v, err = tx.GetPactVersion(r.Context(), c.org, id, n)
		return err
	})
	return writePact(w, v, err)
}

func writePact(w http.ResponseWriter, v store.PactVersion, err error) error {
	if err != nil {
		return err
	}
	pv, err := viewOf(v, true)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pv)
	return nil
}

func versionNumber(field, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, probity.Invalid(field, "must be a version number, 1 or more")
	}
	return n, nil
}

// pactDiff is the answer of GET /v1/pacts/{id}/diff.
type pactDiff struct {
	ID         string `json:"id"`
	From       int    `json:"from"`
	To         int    `json:"to"`
	FromDigest string `json:"fromDigest"`
	ToDigest   string `json:"toDigest"`
	Diff       string `json:"diff"`
}

// diffPact compares two versions of a pact: from defaults to the version
// before to, and to to the latest.
func (s *Server) diffPact(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var from, to int
	if q.Has("from") {
		if from, err = versionNumber("from", q.Get("from")); err != nil {
			return err
		}
	}
	if q.Has("to") {
		if to, err = versionNumber("to", q.Get("to")); err != nil {
			return err
		}
	}
	var a, b store.PactVersion
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		latest, err := tx.LatestPactVersion(r.Context(), c.org, id)
		if err != nil {
			return err
		}
		if to == 0 {
			to = latest.Version
		}
		if from == 0 {
			from = max(1, to-1)
		}
		if a, err = tx.GetPactVersion(r.Context(), c.org, id, from); err != nil {
			return err
		}
		b, err = tx.GetPactVersion(r.Context(), c.org, id, to)
		return err
	})
	if err != nil {
		return err
	}
	d := pactDiff{ID: id, From: from, To: to, FromDigest: a.Digest, ToDigest: b.Digest}
	pa, err := prettyJSON(a.Canonical)
	if err != nil {
		return err
	}
	pb, err := prettyJSON(b.Canonical)
	if err != nil {
		return err
	}
	d.Diff = lineDiff(pa, pb)
	writeJSON(w, http.StatusOK, d)
	return nil
}

func prettyJSON(b []byte) ([]string, error) {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return nil, fmt.Errorf("reading stored pact: %w", err)
	}
	return strings.Split(buf.String(), "\n"), nil
}

// Limits of lineDiff.
const (
	diffContext  = 3       // unchanged lines shown around a change
	maxDiffCells = 4 << 20 // LCS table cells; beyond, the changed middle is shown as removed then added
)

// lineDiff returns a readable diff of a and b: changed lines marked "- "
// and "+ ", up to diffContext unchanged lines around them marked "  ", and
// "@@ ... @@" where unchanged lines are left out. Equal inputs give "".
func lineDiff(a, b []string) string {
	// Common prefix and suffix need no table.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	type op struct {
		mark byte
		line string
	}
	var ops []op
	for _, l := range a[:pre] {
		ops = append(ops, op{' ', l})
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	if (len(ma)+1)*(len(mb)+1) > maxDiffCells {
		for _, l := range ma {
			ops = append(ops, op{'-', l})
		}
		for _, l := range mb {
			ops = append(ops, op{'+', l})
		}
	} else {
		// lcs[i][j] is the length of the longest common subsequence of
		// ma[i:] and mb[j:].
		lcs := make([][]int32, len(ma)+1)
		for i := range lcs {
			lcs[i] = make([]int32, len(mb)+1)
		}
		for i := len(ma) - 1; i >= 0; i-- {
			for j := len(mb) - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					lcs[i][j] = lcs[i+1][j+1] + 1
				} else {
					lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
				}
			}
		}
		i, j := 0, 0
		for i < len(ma) || j < len(mb) {
			switch {
			case i < len(ma) && j < len(mb) && ma[i] == mb[j]:
				ops = append(ops, op{' ', ma[i]})
				i, j = i+1, j+1
			case j < len(mb) && (i == len(ma) || lcs[i][j+1] >= lcs[i+1][j]):
				ops = append(ops, op{'+', mb[j]})
				j++
			default:
				ops = append(ops, op{'-', ma[i]})
				i++
			}
		}
	}
	for _, l := range a[len(a)-suf:] {
		ops = append(ops, op{' ', l})
	}
	// Keep the unchanged lines near a change.
	keep := make([]bool, len(ops))
	changed := false
	for k, o := range ops {
		if o.mark == ' ' {
			continue
		}
		changed = true
		for x := max(0, k-diffContext); x <= min(len(ops)-1, k+diffContext); x++ {
			keep[x] = true
		}
	}
	if !changed {
		return ""
	}
	var sb strings.Builder
	skipped := false
	for k, o := range ops {
		if !keep[k] {
			skipped = true
			continue
		}
		if skipped {
			sb.WriteString("@@ ... @@\n")
			skipped = false
		}
		sb.WriteByte(o.mark)
		sb.WriteByte(' ')
		sb.WriteString(o.line)
		sb.WriteByte('\n')
	}
	if skipped {
		sb.WriteString("@@ ... @@\n")
	}
	return sb.String()
}
