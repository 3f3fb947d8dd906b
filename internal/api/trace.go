package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/probity-dev/probity/internal/detect"
	"github.com/probity-dev/probity/internal/pact"
	"github.com/probity-dev/probity/internal/record"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/internal/taint"
)

// Injection tracing (DESIGN.md section 7). A tool result the injection
// detector flags is a source: its distinctive tokens (taint.Extract), less
// those the session's user input or earlier tool calls already carried, are
// stored with the record and kept in the session's trail. A later tool call
// of the session whose arguments carry one of them (taint.Carried), and
// whose user input does not mention it, is injection-influenced: the record
// is marked and an injection_influenced violation names the call, the
// source and the token; it is confirmed, and critical, when the call also
// breaks the pact.

// Bounds of tracing.
const (
	maxSources    = 32      // the newest flagged results a trail keeps
	maxKnownBytes = 1 << 20 // stored user input read to exclude tokens the user gave
	maxScanBytes  = 1 << 20 // text of a tool result scanned for injection
)

// ClauseInjection is the clause of injection_influenced violations: it
// holds for every agent, with or without a pact.
const ClauseInjection = "injection.influenced"

// Severities of injection_influenced violations.
const (
	severityInfluenced = pact.Major
	severityConfirmed  = pact.Critical
)

// source is one flagged tool result and the tokens traced from it.
type source struct {
	recordID string
	at       time.Time
	rules    []string // the injection rules that flagged it
	tokens   []taint.Token
}

// trail is the sources of one session, oldest first.
type trail struct{ sources []source }

func (t *trail) clone() *trail {
	return &trail{sources: slices.Clone(t.sources)} // sources are never modified in place
}

func (t *trail) add(s source) {
	t.sources = append(t.sources, s)
	if len(t.sources) > maxSources {
		t.sources = slices.Delete(t.sources, 0, len(t.sources)-maxSources)
	}
}

func (t *trail) size() int {
	n := 24
	for _, s := range t.sources {
		n += 64 + len(s.recordID)
		for _, r := range s.rules {
			n += 16 + len(r)
		}
		for _, k := range s.tokens {
			n += 32 + len(k.Value)
		}
	}
	return n
}

// taintJSON is what a flagged record stores: its rules and tokens.
type taintJSON struct {
	Rules  []string      `json:"rules"`
	Tokens []taint.Token `json:"tokens"`
}

// loadTrail rebuilds a session's trail from its stored flagged records.
func loadTrail(ctx context.Context, tx store.Tx, key sessionKey) (*trail, error) {
	t := &trail{}
	f := store.RecordFilter{AgentID: key.agent, SessionID: key.session, Tainted: true, Limit: replayPage, MaxBytes: maxPageBytes}
	for n := 0; n < maxReplay; {
		rows, err := tx.ListRecords(ctx, key.org, f)
		if err != nil {
			return nil, fmt.Errorf("reading the injection sources of session %s: %w", key.session, err)
		}
		for _, row := range rows {
			var tj taintJSON
			if err := json.Unmarshal([]byte(row.Taint), &tj); err != nil {
				return nil, fmt.Errorf("%w: the injection tokens of record %q do not decode: %v", store.ErrLedgerDamaged, row.ID, err)
			}
			if len(tj.Tokens) > 0 {
				t.add(source{row.ID, row.Time, tj.Rules, tj.Tokens})
			}
		}
		n += len(rows)
		if len(rows) == 0 || (len(rows) < f.Limit && pageBytes(rows) < f.MaxBytes) {
			break
		}
		last := rows[len(rows)-1]
		f.AfterTime, f.AfterIndex = last.Time, last.LedgerIndex
	}
	return t, nil
}

// batchText is what a session's user has said, for excluding tokens the
// user gave: the stored user input, read once per batch when a token first
// needs it (rare), and the user input earlier in this batch.
type batchText struct {
	stored []string
	loaded bool
	local  []*record.Record
	// seen memoizes userGave: for each token, whether the user gave it as
	// of the first n local messages.
	seen map[taint.Token]given
}

type given struct {
	gave bool
	n    int
}

// userGave returns the tokens of toks that the session's user input
// mentions. Each message is matched once against all tokens, so the cost
// is linear in what the user said (at most about maxKnownBytes of stored
// input is read).
func userGave(ctx context.Context, tx store.Tx, key sessionKey, bt *batchText, toks []taint.Token) (map[taint.Token]bool, error) {
	if !bt.loaded {
		f := store.RecordFilter{AgentID: key.agent, SessionID: key.session, Type: record.UserInput, Limit: replayPage, MaxBytes: maxPageBytes}
		for size := 0; size < maxKnownBytes; {
			rows, err := tx.ListRecords(ctx, key.org, f)
			if err != nil {
				return nil, fmt.Errorf("reading the user input of session %s: %w", key.session, err)
			}
			for _, row := range rows {
				rec, err := recordOf(row)
				if err != nil {
					return nil, err
				}
				bt.stored = append(bt.stored, rec.Content)
				size += len(rec.Content)
			}
			if len(rows) == 0 || (len(rows) < f.Limit && pageBytes(rows) < f.MaxBytes) {
				break
			}
			last := rows[len(rows)-1]
			f.AfterTime, f.AfterIndex = last.Time, last.LedgerIndex
		}
		bt.loaded = true
	}
	if bt.seen == nil {
		bt.seen = map[taint.Token]given{}
	}
	gave := map[taint.Token]bool{}
	// Tokens never checked are matched against the stored input first;
	// then each token only against the local messages it has not seen.
	var fresh []taint.Token
	for _, t := range toks {
		if _, ok := bt.seen[t]; !ok {
			fresh = append(fresh, t)
		}
	}
	for _, text := range bt.stored {
		if len(fresh) == 0 {
			break
		}
		for _, t := range taint.Carried([]byte(text), fresh) {
			bt.seen[t] = given{gave: true}
		}
		fresh = slices.DeleteFunc(fresh, func(t taint.Token) bool { return bt.seen[t].gave })
	}
	for _, t := range fresh {
		bt.seen[t] = given{}
	}
	// Local messages: tokens that have seen the same prefix are matched
	// together, one pass per message.
	byStart := map[int][]taint.Token{}
	for _, t := range toks {
		if g := bt.seen[t]; !g.gave && g.n < len(bt.local) {
			byStart[g.n] = append(byStart[g.n], t)
		}
	}
	for n, ts := range byStart {
		for i := n; i < len(bt.local) && len(ts) > 0; i++ {
			if c := bt.local[i].Content; c != "" {
				for _, t := range taint.Carried([]byte(c), ts) {
					bt.seen[t] = given{gave: true}
				}
				ts = slices.DeleteFunc(ts, func(t taint.Token) bool { return bt.seen[t].gave })
			}
		}
		for _, t := range ts {
			bt.seen[t] = given{n: len(bt.local)}
		}
	}
	for _, t := range toks {
		if bt.seen[t].gave {
			gave[t] = true
		}
	}
	return gave, nil
}

// resultText is the text a tool result shows the model: its content and
// the strings of its result, at most maxScanBytes.
func resultText(r *record.Record) string {
	s := r.Content
	if r.Tool != nil && len(r.Tool.Result) > 0 {
		if s != "" {
			s += "\n"
		}
		s += jsonText(r.Tool.Result)
	}
	if len(s) > maxScanBytes {
		s = s[:maxScanBytes]
	}
	return s
}

// jsonText returns the string and number values of a JSON document, one
// per line, so that escapes (\u200b, \n) are seen as the model sees them;
// a value that is not JSON is returned as it is.
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var b strings.Builder
	for {
		tok, err := dec.Token()
		if err != nil {
			break // io.EOF, or a value that is not JSON: the bytes as they are
		}
		switch v := tok.(type) {
		case string:
			b.WriteString(v)
			b.WriteByte('\n')
		case json.Number:
			b.WriteString(v.String())
			b.WriteByte('\n')
		}
	}
	if b.Len() == 0 && !json.Valid(raw) {
		return string(raw)
	}
	return b.String()
}

// injectionRules returns the distinct injection rules that flag text and
// the text near their findings.
func injectionRules(d *detect.Detector, text string) (rules []string, near string) {
	var b strings.Builder
	end := 0
	for _, f := range d.Scan(text, detect.Injection) {
		if !slices.Contains(rules, f.Rule) {
			rules = append(rules, f.Rule)
		}
		from, to := max(f.Start-nearBytes, end), min(f.End+nearBytes, len(text))
		if from < to {
			b.WriteString(text[from:to])
			b.WriteByte('\n')
			end = to
		}
	}
	return rules, b.String()
}

// nearBytes is how far either side of an injection finding its tokens are
// looked for first: a page with many links would otherwise fill the
// token budget with those before the attacker's.
const nearBytes = 2048

// sourceTokens returns the tokens of a flagged text: those near the
// findings first, then the rest, at most taint.MaxTokens.
func sourceTokens(text, near string) []taint.Token {
	out := taint.Extract(near)
	for _, t := range taint.Extract(text) {
		if len(out) == taint.MaxTokens {
			break
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// flagged holds the tool results of a batch the injection detector
// flagged; a result not in it is clean.
type flagged map[*record.Record]flag

type flag struct {
	rules  []string
	tokens []taint.Token
}

// scanResults runs the injection detector over a batch's tool results
// that belong to a session and extracts the tokens of those it flags. It
// is pure and runs before the write transaction, so that scanning one
// batch overlaps committing another.
func (c *checker) scanResults(recs []record.Record) flagged {
	out := flagged{}
	for i := range recs {
		r := &recs[i]
		if r.Type != record.ToolResult || r.SessionID == "" {
			continue
		}
		text := resultText(r)
		if rules, near := injectionRules(c.d, text); len(rules) > 0 {
			out[r] = flag{rules, sourceTokens(text, near)}
		}
	}
	return out
}

// mark is what checking found out about one record, stored beside it.
type mark struct {
	taint      string // a flagged tool result: its taintJSON
	influenced bool
}

// traceResult flags rec, a tool result the scan flagged, and adds the
// tokens the user did not give to the session's trail.
func (c *checker) traceResult(ctx context.Context, tx store.Tx, key sessionKey, st *sessionState, bt *batchText, rec *record.Record, found flagged) (mark, error) {
	f, ok := found[rec]
	if !ok {
		return mark{}, nil
	}
	if err := c.needTrail(ctx, tx, key, st); err != nil {
		return mark{}, err
	}
	tokens := f.tokens
	if len(tokens) > 0 {
		gave, err := userGave(ctx, tx, key, bt, tokens)
		if err != nil {
			return mark{}, err
		}
		tokens = slices.DeleteFunc(slices.Clone(tokens), func(t taint.Token) bool { return gave[t] })
	}
	if tokens == nil {
		tokens = []taint.Token{}
	}
	if len(tokens) > 0 {
		st.trail.add(source{rec.ID, rec.Time, f.rules, tokens})
	}
	b, err := json.Marshal(taintJSON{f.rules, tokens})
	if err != nil {
		return mark{}, fmt.Errorf("encoding the injection tokens of %q: %w", rec.ID, err)
	}
	return mark{taint: string(b)}, nil
}

func (c *checker) needTrail(ctx context.Context, tx store.Tx, key sessionKey, st *sessionState) error {
	if st.trail != nil {
		return nil
	}
	t, err := loadTrail(ctx, tx, key)
	if err != nil {
		return err
	}
	st.trail = t
	return nil
}

// traceCall reports rec, a tool call, when its arguments carry a token of
// the session's trail, from a result no later than the call, that the
// user's input does not mention. broken are the violations the call itself
// raised.
func (c *checker) traceCall(ctx context.Context, tx store.Tx, key sessionKey, st *sessionState, bt *batchText, rec *record.Record, broken []pact.Violation) (*pact.Violation, error) {
	if err := c.needTrail(ctx, tx, key, st); err != nil {
		return nil, err
	}
	if len(st.trail.sources) == 0 || rec.Tool == nil || len(rec.Tool.Arguments) == 0 {
		return nil, nil
	}
	// One pass over the arguments for the tokens of every source; a token
	// belongs to the newest source that has it.
	from := map[taint.Token]*source{}
	var toks []taint.Token
	for i := len(st.trail.sources) - 1; i >= 0; i-- {
		s := &st.trail.sources[i]
		if s.at.After(rec.Time) {
			continue // a result after the call cannot have caused it
		}
		for _, t := range s.tokens {
			if from[t] == nil {
				from[t] = s
				toks = append(toks, t)
			}
		}
	}
	carried := taint.Carried(rec.Tool.Arguments, toks)
	if len(carried) == 0 {
		return nil, nil
	}
	gave, err := userGave(ctx, tx, key, bt, carried)
	if err != nil {
		return nil, err
	}
	carried = slices.DeleteFunc(carried, func(t taint.Token) bool { return gave[t] })
	if len(carried) == 0 {
		return nil, nil
	}
	// The strongest token explains the call (Extract's order: addresses,
	// URLs, accounts, text, domains).
	h := carried[0]
	strong := false
	ids := []string{rec.ID}
	for _, t := range carried {
		strong = strong || t.Kind != taint.Domain
		if id := from[t].recordID; !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	src := from[h]
	v := &pact.Violation{Clause: ClauseInjection, Kind: pact.KindInjectionInfluenced, Severity: severityInfluenced, RecordIDs: ids,
		Explanation: fmt.Sprintf("call of %q carries the %s %s, which came from tool result %q that the injection detector flagged (%s), and which the session's user input does not mention",
			rec.Tool.Name, h.Kind, quoteShort(h.Value), src.recordID, strings.Join(src.rules, ", "))}
	if len(carried) > 1 {
		v.Explanation += fmt.Sprintf(" (%d traced tokens in all)", len(carried))
	}
	var clauses []string
	for _, b := range broken {
		if b.Kind != pact.KindEvaluationError && !slices.Contains(clauses, b.Clause) {
			clauses = append(clauses, b.Clause)
		}
	}
	switch {
	case len(clauses) > 0 && strong:
		v.Confirmed, v.Severity = true, severityConfirmed
		v.Explanation += fmt.Sprintf("; the call also breaks %s, so the influence is confirmed", strings.Join(clauses, ", "))
	case len(clauses) > 0:
		// A domain alone is weak evidence (an ordinary page names popular
		// sites): it does not confirm, whatever else the call breaks.
		v.Explanation += fmt.Sprintf("; the call also breaks %s, but a domain alone does not confirm the influence", strings.Join(clauses, ", "))
	}
	return v, nil
}

// quoteShort quotes s, cut to 80 bytes: tokens are attacker-chosen.
func quoteShort(s string) string {
	if len(s) > 80 {
		i := 80
		for i > 0 && !utf8RuneStart(s[i]) {
			i--
		}
		return fmt.Sprintf("%q…", s[:i])
	}
	return fmt.Sprintf("%q", s)
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
