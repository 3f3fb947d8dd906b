package record

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestCanonical(t *testing.T) {
	lat := 12.5
	r := Record{ID: "e1", AgentID: "a", SessionID: "s", Time: time.Date(2026, 6, 1, 14, 0, 0, 5, time.FixedZone("x", 2*3600)),
		Type: ToolCall, Tool: &Tool{Name: "t", Arguments: json.RawMessage(`{ "b": 1,  "a": "<x>" }`)}, LatencyMs: &lat,
		Attributes: map[string]json.RawMessage{"z": json.RawMessage(` 1 `), "a": json.RawMessage(`"v"`)}}
	got, err := r.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"e1","agentId":"a","sessionId":"s","time":"2026-06-01T12:00:00.000000005Z","type":"tool_call",` +
		`"tool":{"name":"t","arguments":{"b":1,"a":"<x>"}},"latencyMs":12.5,"attributes":{"a":"v","z":1}}`
	if string(got) != want {
		t.Errorf("canonical bytes:\n got %s\nwant %s", got, want)
	}
	var back Record
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := back.Canonical()
	if string(again) != string(got) {
		t.Errorf("canonical bytes are not stable through a round trip:\n%s\n%s", got, again)
	}
	bad := r
	bad.Tool = &Tool{Name: "t", Arguments: json.RawMessage(`{`)}
	if _, err := bad.Canonical(); err == nil {
		t.Error("malformed arguments gave canonical bytes")
	}
}

func TestValidate(t *testing.T) {
	ok := func() Record {
		return Record{ID: "e", AgentID: "a", Time: now, Type: UserInput, Content: "hi"}
	}
	if v := ok(); len(v.Validate(now)) != 0 {
		t.Fatalf("valid record: %v", v.Validate(now))
	}
	neg := -1.0
	for _, tc := range []struct {
		field string
		mut   func(*Record)
	}{
		{"id", func(r *Record) { r.ID = "" }},
		{"id", func(r *Record) { r.ID = strings.Repeat("x", 201) }},
		{"id", func(r *Record) { r.ID = "a\x1bb" }},
		{"agentId", func(r *Record) { r.AgentID = "Bad" }},
		{"time", func(r *Record) { r.Time = time.Time{} }},
		{"time", func(r *Record) { r.Time = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"time", func(r *Record) { r.Time = now.Add(25 * time.Hour) }},
		{"type", func(r *Record) { r.Type = "nap" }},
		{"content", func(r *Record) { r.Content = strings.Repeat("x", MaxContentLen+1) }},
		{"content", func(r *Record) { r.Content = "\xff" }},
		{"tool.name", func(r *Record) { r.Type = ToolCall }},
		{"latencyMs", func(r *Record) { r.LatencyMs = &neg }},
		{"outcome", func(r *Record) { r.Outcome = "meh" }},
		{"sessionId", func(r *Record) { r.SessionID = "s\u202e" }},
		{"tool.arguments", func(r *Record) { r.Tool = &Tool{Name: "t", Arguments: json.RawMessage("{\"a\":\"\xff\xfe\"}")} }},
		{"tool.result", func(r *Record) { r.Tool = &Tool{Name: "t", Result: json.RawMessage("\"\xff\"")} }},
		{"attributes", func(r *Record) { r.Attributes = map[string]json.RawMessage{"\u001b[2J": json.RawMessage(`1`)} }},
		{"attributes.k", func(r *Record) { r.Attributes = map[string]json.RawMessage{"k": json.RawMessage("\"\xff\"")} }},
	} {
		r := ok()
		tc.mut(&r)
		errs := r.Validate(now)
		if len(errs) != 1 || errs[0].Field != tc.field {
			t.Errorf("%s: got %v, want one error on %s", tc.field, errs, tc.field)
		}
	}
	r := ok()
	r.ID, r.Type = "", "nap"
	var fields []string
	for _, e := range r.Validate(now) {
		fields = append(fields, e.Field)
	}
	if !reflect.DeepEqual(fields, []string{"id", "type"}) {
		t.Errorf("every problem is reported: got %v, want [id type]", fields)
	}
}
