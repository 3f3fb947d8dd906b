// Package record defines a behavioral record: one event from an agent in
// production (a user input, a model output, a tool call and its result, a
// data access, a decision, an error, the start or end of a session). It
// validates records as clients send them and gives each its canonical bytes,
// which are what the ledger hashes.
package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/probity-dev/probity"
)

// Record types.
const (
	SessionStart = "session_start"
	SessionEnd   = "session_end"
	UserInput    = "user_input"
	ModelOutput  = "model_output"
	ToolCall     = "tool_call"
	ToolResult   = "tool_result"
	DataAccess   = "data_access"
	Decision     = "decision"
	Error        = "error"
)

// Types lists every record type.
var Types = []string{SessionStart, SessionEnd, UserInput, ModelOutput, ToolCall, ToolResult, DataAccess, Decision, Error}

// Outcomes a record may carry.
var Outcomes = []string{"success", "failure", "denied", "timeout"}

// Tool is the tool a tool_call or tool_result is about. Arguments and Result
// are any JSON value (an object, or a string when the agent had only text).
type Tool struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
}

// Data is what a data_access touched.
type Data struct {
	Class    string `json:"class,omitempty"`
	Resource string `json:"resource,omitempty"`
}

// Model is the model version that produced the record, when known.
type Model struct {
	Version string `json:"version,omitempty"`
}

// Record is one behavioral event. The field order here is the canonical order.
type Record struct {
	ID         string                     `json:"id"`
	AgentID    string                     `json:"agentId"`
	SessionID  string                     `json:"sessionId,omitempty"`
	Time       time.Time                  `json:"time"`
	Type       string                     `json:"type"`
	Content    string                     `json:"content,omitempty"`
	Tool       *Tool                      `json:"tool,omitempty"`
	Data       *Data                      `json:"data,omitempty"`
	LatencyMs  *float64                   `json:"latencyMs,omitempty"`
	Outcome    string                     `json:"outcome,omitempty"`
	Model      *Model                     `json:"model,omitempty"`
	Attributes map[string]json.RawMessage `json:"attributes,omitempty"`
}

// Limits on one record. A batch is capped separately by the API.
const (
	MaxIDLen      = 200
	MaxContentLen = 256 << 10 // content, arguments and result each
	MaxAttributes = 64
	MaxAttrLen    = 8 << 10
	MaxShortLen   = 500
)

// Earliest and latest accepted times: records from before 2000 or more than
// a day in the future are clock errors, not events.
var earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

const maxSkew = 24 * time.Hour

// Validate checks r as a client sent it, at now. It returns every problem
// found as FieldErrors with paths relative to the record ("tool.name").
func (r *Record) Validate(now time.Time) []*probity.FieldError {
	var errs []*probity.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, &probity.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	switch {
	case r.ID == "":
		bad("id", "is required: it is the idempotency key that makes retries safe")
	case len(r.ID) > MaxIDLen || !printable(r.ID):
		bad("id", "must be 1-%d printable characters", MaxIDLen)
	}
	if !probity.ValidID(r.AgentID) {
		bad("agentId", "%s", probity.IDRule)
	}
	if len(r.SessionID) > MaxIDLen || !printable(r.SessionID) {
		bad("sessionId", "must be at most %d printable characters", MaxIDLen)
	}
	switch {
	case r.Time.IsZero():
		bad("time", "is required (RFC 3339)")
	case r.Time.Before(earliest):
		bad("time", "is before 2000: check the clock that stamped it")
	case r.Time.After(now.Add(maxSkew)):
		bad("time", "is more than 24h in the future: check the clock that stamped it")
	}
	if !slices.Contains(Types, r.Type) {
		bad("type", "must be one of %v", Types)
	}
	if len(r.Content) > MaxContentLen {
		bad("content", "is longer than %d bytes", MaxContentLen)
	} else if !utf8.ValidString(r.Content) {
		bad("content", "is not valid UTF-8")
	}
	if (r.Type == ToolCall || r.Type == ToolResult) && (r.Tool == nil || r.Tool.Name == "") {
		bad("tool.name", "is required for a %s", r.Type)
	}
	if r.Tool != nil {
		if len(r.Tool.Name) > MaxShortLen || !printable(r.Tool.Name) {
			bad("tool.name", "must be at most %d printable characters", MaxShortLen)
		}
		if len(r.Tool.Arguments) > MaxContentLen {
			bad("tool.arguments", "is longer than %d bytes", MaxContentLen)
		} else if !utf8.Valid(r.Tool.Arguments) {
			bad("tool.arguments", "is not valid UTF-8")
		}
		if len(r.Tool.Result) > MaxContentLen {
			bad("tool.result", "is longer than %d bytes", MaxContentLen)
		} else if !utf8.Valid(r.Tool.Result) {
			bad("tool.result", "is not valid UTF-8")
		}
	}
	if r.Data != nil {
		if len(r.Data.Class) > MaxShortLen || !printable(r.Data.Class) {
			bad("data.class", "must be at most %d printable characters", MaxShortLen)
		}
		if len(r.Data.Resource) > MaxContentLen/64 || !printable(r.Data.Resource) {
			bad("data.resource", "must be at most %d printable characters", MaxContentLen/64)
		}
	}
	if r.LatencyMs != nil && (*r.LatencyMs < 0 || *r.LatencyMs > 7*24*3600*1000) {
		bad("latencyMs", "must be between 0 and one week")
	}
	if r.Outcome != "" && !slices.Contains(Outcomes, r.Outcome) {
		bad("outcome", "must be one of %v", Outcomes)
	}
	if r.Model != nil && (len(r.Model.Version) > MaxShortLen || !printable(r.Model.Version)) {
		bad("model.version", "must be at most %d printable characters", MaxShortLen)
	}
	if len(r.Attributes) > MaxAttributes {
		bad("attributes", "at most %d attributes", MaxAttributes)
	}
	for k, v := range r.Attributes {
		switch {
		case !printable(k):
			bad("attributes", "a key contains a control or bidirectional-override character, or is not UTF-8")
		case len(k) > MaxShortLen || len(v) > MaxAttrLen:
			bad("attributes."+k, "keys are at most %d bytes, values %d", MaxShortLen, MaxAttrLen)
		case !utf8.Valid(v):
			bad("attributes."+k, "is not valid UTF-8")
		}
	}
	return errs
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if probity.Unsafe(r) {
			return false
		}
	}
	return true
}

// Canonical returns the record's canonical bytes: compact JSON with the
// fields in declaration order, times in RFC 3339 UTC with nanoseconds, raw
// JSON values compacted, attributes sorted by key. The same record always
// yields the same bytes, and they decode back to an equal record.
func (r *Record) Canonical() ([]byte, error) {
	c := *r
	c.Time = c.Time.UTC()
	if c.Tool != nil {
		t := *c.Tool
		var err error
		if t.Arguments, err = compact(t.Arguments); err != nil {
			return nil, fmt.Errorf("tool.arguments: %w", err)
		}
		if t.Result, err = compact(t.Result); err != nil {
			return nil, fmt.Errorf("tool.result: %w", err)
		}
		c.Tool = &t
	}
	if len(c.Attributes) > 0 {
		attrs := make(map[string]json.RawMessage, len(c.Attributes))
		for k, v := range c.Attributes {
			cv, err := compact(v)
			if err != nil {
				return nil, fmt.Errorf("attributes.%s: %w", k, err)
			}
			attrs[k] = cv
		}
		c.Attributes = attrs // encoding/json writes map keys sorted
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func compact(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
