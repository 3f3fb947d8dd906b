package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

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
	maxKnownBytes = 1 << 20 // user input and call arguments read to exclude tokens
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
			t.add(source{row.ID, tj.Rules, tj.Tokens})
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

// batchText is what one batch has said so far in a session, for excluding
// tokens before the store holds it. Text is made only when a token needs
// it, which is rare.
type batchText struct{ user, calls []*record.Record }

// known returns the text a token must not appear in to count: the
// session's user input and, when calls is set, its tool-call arguments,
// both stored and earlier in this batch, at most about maxKnownBytes of
// each, lower-cased.
func knownText(ctx context.Context, tx store.Tx, key sessionKey, local *batchText, calls bool) (string, error) {
	var b strings.Builder
	read := func(typ string, text func(*record.Record) string) error {
		f := store.RecordFilter{AgentID: key.agent, SessionID: key.session, Type: typ, Limit: replayPage, MaxBytes: maxPageBytes}
		start := b.Len()
		for b.Len()-start < maxKnownBytes {
			rows, err := tx.ListRecords(ctx, key.org, f)
			if err != nil {
				return fmt.Errorf("reading the %s records of session %s: %w", typ, key.session, err)
			}
			for _, row := range rows {
				rec, err := recordOf(row)
				if err != nil {
					return err
				}
				b.WriteString(text(&rec.Record))
				b.WriteByte('\n')
			}
			if len(rows) == 0 || (len(rows) < f.Limit && pageBytes(rows) < f.MaxBytes) {
				break
			}
			last := rows[len(rows)-1]
			f.AfterTime, f.AfterIndex = last.Time, last.LedgerIndex
		}
		return nil
	}
	if err := read(record.UserInput, func(r *record.Record) string { return r.Content }); err != nil {
		return "", err
	}
	for _, r := range local.user {
		b.WriteString(r.Content)
		b.WriteByte('\n')
	}
	if calls {
		if err := read(record.ToolCall, callText); err != nil {
			return "", err
		}
		for _, r := range local.calls {
			b.WriteString(callText(r))
			b.WriteByte('\n')
		}
	}
	return b.String(), nil
}

// callText is the text of a tool call's arguments.
func callText(r *record.Record) string {
	if r.Tool == nil {
		return ""
	}
	return jsonText(r.Tool.Arguments)
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
	text, near string
	rules      []string
}

// scanResults runs the injection detector over a batch's tool results
// that belong to a session. It is pure and runs before the write
// transaction, so that scanning one batch overlaps committing another.
func (c *checker) scanResults(recs []record.Record) flagged {
	out := flagged{}
	for i := range recs {
		r := &recs[i]
		if r.Type != record.ToolResult || r.SessionID == "" {
			continue
		}
		text := resultText(r)
		if rules, near := injectionRules(c.d, text); len(rules) > 0 {
			out[r] = flag{text, near, rules}
		}
	}
	return out
}

// mark is what checking found out about one record, stored beside it.
type mark struct {
	taint      string // a flagged tool result: its taintJSON
	influenced bool
}

// traceResult flags rec, a tool result, when it carries injection markers,
// and adds its tokens to the session's trail.
func (c *checker) traceResult(ctx context.Context, tx store.Tx, key sessionKey, st *sessionState, local *batchText, rec *record.Record, found flagged) (mark, error) {
	f, ok := found[rec]
	if !ok {
		return mark{}, nil
	}
	text, rules, near := f.text, f.rules, f.near
	if err := c.needTrail(ctx, tx, key, st); err != nil {
		return mark{}, err
	}
	tokens := sourceTokens(text, near)
	if len(tokens) > 0 {
		known, err := knownText(ctx, tx, key, local, true)
		if err != nil {
			return mark{}, err
		}
		tokens = slices.DeleteFunc(tokens, func(t taint.Token) bool { return taint.Mentions(known, t) })
	}
	if tokens == nil {
		tokens = []taint.Token{}
	}
	st.trail.add(source{rec.ID, rules, tokens})
	b, err := json.Marshal(taintJSON{rules, tokens})
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
// the session's trail that the user's input does not mention. broken are
// the violations the call itself raised.
func (c *checker) traceCall(ctx context.Context, tx store.Tx, key sessionKey, st *sessionState, local *batchText, rec *record.Record, broken []pact.Violation) (*pact.Violation, error) {
	if err := c.needTrail(ctx, tx, key, st); err != nil {
		return nil, err
	}
	if len(st.trail.sources) == 0 || rec.Tool == nil || len(rec.Tool.Arguments) == 0 {
		return nil, nil
	}
	type hit struct {
		src *source
		tok taint.Token
	}
	var hits []hit
	for i := len(st.trail.sources) - 1; i >= 0; i-- { // newest source first
		s := &st.trail.sources[i]
		for _, t := range taint.Carried(rec.Tool.Arguments, s.tokens) {
			hits = append(hits, hit{s, t})
		}
	}
	if len(hits) == 0 {
		return nil, nil
	}
	known, err := knownText(ctx, tx, key, local, false)
	if err != nil {
		return nil, err
	}
	hits = slices.DeleteFunc(hits, func(h hit) bool { return taint.Mentions(known, h.tok) })
	if len(hits) == 0 {
		return nil, nil
	}
	h := hits[0]
	ids := []string{rec.ID}
	for _, x := range hits {
		if !slices.Contains(ids, x.src.recordID) {
			ids = append(ids, x.src.recordID)
		}
	}
	v := &pact.Violation{Clause: ClauseInjection, Kind: pact.KindInjectionInfluenced, Severity: severityInfluenced, RecordIDs: ids,
		Explanation: fmt.Sprintf("call of %q carries the %s %s, which first came from tool result %q that the injection detector flagged (%s), and which the session's user input does not mention",
			rec.Tool.Name, h.tok.Kind, quoteShort(h.tok.Value), h.src.recordID, strings.Join(h.src.rules, ", "))}
	if len(hits) > 1 {
		v.Explanation += fmt.Sprintf(" (%d traced tokens in all)", len(hits))
	}
	var clauses []string
	for _, b := range broken {
		if b.Kind != pact.KindEvaluationError && !slices.Contains(clauses, b.Clause) {
			clauses = append(clauses, b.Clause)
		}
	}
	if len(clauses) > 0 {
		v.Confirmed, v.Severity = true, severityConfirmed
		v.Explanation += fmt.Sprintf("; the call also breaks %s, so the influence is confirmed", strings.Join(clauses, ", "))
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
