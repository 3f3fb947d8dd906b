package testbed

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestWireErrors(t *testing.T) {
	base := Start(t, Options{})
	user := `[{"role":"user","content":"hi"}]`
	for _, c := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"not json", `{"model":`, 400, "invalid_json"},
		{"no model", `{"messages":` + user + `}`, 400, "missing_required_parameter"},
		{"no messages", `{"model":"steady","messages":[]}`, 400, "missing_required_parameter"},
		{"bad role", `{"model":"steady","messages":[{"role":"robot","content":"x"}]}`, 400, "invalid_value"},
		{"bad content", `{"model":"steady","messages":[{"role":"user","content":42}]}`, 400, "invalid_json"},
		{"bad part", `{"model":"steady","messages":[{"role":"user","content":[{"type":"video"}]}]}`, 400, "invalid_json"},
		{"tool without id", `{"model":"steady","messages":[{"role":"tool","content":"x"}]}`, 400, "missing_required_parameter"},
		{"bad tool type", `{"model":"steady","messages":` + user + `,"tools":[{"type":"retrieval"}]}`, 400, "invalid_value"},
		{"bad tool name", `{"model":"steady","messages":` + user + `,"tools":[{"type":"function","function":{"name":"a b"}}]}`, 400, "invalid_value"},
		{"bad tool_choice", `{"model":"steady","messages":` + user + `,"tool_choice":"sometimes"}`, 400, "invalid_value"},
		{"unknown tool_choice", `{"model":"steady","messages":` + user + `,"tool_choice":{"type":"function","function":{"name":"x"}}}`, 400, "invalid_value"},
		{"stream", `{"model":"steady","messages":` + user + `,"stream":true}`, 400, "invalid_value"},
		{"unknown model", `{"model":"gpt-4o","messages":` + user + `}`, 404, "model_not_found"},
		{"unknown fields ignored", `{"model":"steady","messages":` + user + `,"temperature":0.2,"seed":7,"frobnicate":{"x":1}}`, 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, h, b := post(t, base, []byte(c.body))
			if status != c.status {
				t.Fatalf("got status %d (%s), want %d", status, b, c.status)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("got Content-Type %q, want application/json", ct)
			}
			if c.code == "" {
				return
			}
			var e struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil || e.Error.Message == "" || e.Error.Type != "invalid_request_error" || e.Error.Code == nil || *e.Error.Code != c.code {
				t.Errorf("got error %s, want type invalid_request_error, code %q", b, c.code)
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		big := `{"model":"steady","messages":[{"role":"user","content":"` + strings.Repeat("a", MaxBody) + `"}]}`
		if status, _, b := post(t, base, []byte(big)); status != http.StatusRequestEntityTooLarge {
			t.Errorf("got status %d (%.200s), want 413", status, b)
		}
	})
}

func TestAuth(t *testing.T) {
	base := Start(t, Options{Key: "tb-secret"})
	body := map[string]any{"model": "steady", "messages": []map[string]any{{"role": "user", "content": "hi"}}}
	if status, _, _ := post(t, base, body); status != http.StatusUnauthorized {
		t.Errorf("no key: got %d, want 401", status)
	}
	if status, _, _ := post(t, base, body, "Authorization", "Bearer wrong"); status != http.StatusUnauthorized {
		t.Errorf("wrong key: got %d, want 401", status)
	}
	if status, _, b := post(t, base, body, "Authorization", "Bearer tb-secret"); status != http.StatusOK {
		t.Errorf("right key: got %d (%s), want 200", status, b)
	}
}

func TestModels(t *testing.T) {
	base := Start(t, Options{})
	resp, err := http.Get(base + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID     string `json:"id"`
			Object string `json:"object"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	if list.Object != "list" || strings.Join(ids, ",") != strings.Join(Agents, ",") {
		t.Errorf("got %s %v, want list %v", list.Object, ids, Agents)
	}
}

// TestResponseShape checks one answer field by field, and that the same
// request gets the same answer.
func TestResponseShape(t *testing.T) {
	now := time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)
	base := Start(t, Options{Clock: func() time.Time { return now }, ModelVersion: "2026-02"})
	body := []byte(`{"model":"steady","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"What is"},{"type":"text","text":"2 + 2?"}]}]}`)
	status, h, b := post(t, base, body)
	if status != 200 {
		t.Fatalf("status %d: %s", status, b)
	}
	var r wireResp
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.ID, "chatcmpl-") || r.Object != "chat.completion" || r.Created != now.Unix() || r.Model != "steady-2026-02" {
		t.Errorf("got id %q object %q created %d model %q", r.ID, r.Object, r.Created, r.Model)
	}
	if h.Get("X-Model-Version") != "2026-02" || h.Get("X-Testbed-Policy") != "steady" {
		t.Errorf("got headers %v", h)
	}
	m := r.Choices[0].Message
	if m.Role != "assistant" || m.Content == nil || *m.Content != "4" || r.Choices[0].FinishReason != "stop" {
		t.Errorf("got message %+v finish %q, want content 4", m, r.Choices[0].FinishReason)
	}
	if r.Usage.TotalTokens != r.Usage.PromptTokens+r.Usage.CompletionTokens || r.Usage.PromptTokens == 0 {
		t.Errorf("got usage %+v", r.Usage)
	}
	for range 3 {
		if _, _, again := post(t, base, body); !bytes.Equal(again, b) {
			t.Fatalf("same request, different answer:\n%s\n%s", b, again)
		}
	}
}

// TestToolLoop walks the tool-call protocol by hand: a tool call with JSON
// arguments, the tool's result, the final answer quoting it.
func TestToolLoop(t *testing.T) {
	base := Start(t, Options{})
	tools := []any{lookupTool.wire()}
	msgs := []any{map[string]any{"role": "user", "content": "Where is my order AB-123456?"}}
	status, _, b := post(t, base, map[string]any{"model": "steady", "messages": msgs, "tools": tools})
	var r wireResp
	if status != 200 || json.Unmarshal(b, &r) != nil {
		t.Fatalf("status %d: %s", status, b)
	}
	m := r.Choices[0].Message
	if r.Choices[0].FinishReason != "tool_calls" || len(m.ToolCalls) != 1 || m.Content != nil {
		t.Fatalf("got %s, want one tool call and null content", b)
	}
	tc := m.ToolCalls[0]
	if tc.Type != "function" || tc.ID == "" || tc.Function.Name != "lookup_order" || tc.Function.Arguments != `{"order_id":"AB-123456"}` {
		t.Fatalf("got tool call %+v", tc)
	}
	msgs = append(msgs, m, map[string]any{"role": "tool", "tool_call_id": tc.ID, "content": lookupTool.returns})
	status, _, b = post(t, base, map[string]any{"model": "steady", "messages": msgs, "tools": tools})
	if status != 200 || json.Unmarshal(b, &r) != nil {
		t.Fatalf("status %d: %s", status, b)
	}
	if m := r.Choices[0].Message; r.Choices[0].FinishReason != "stop" || m.Content == nil || !strings.Contains(*m.Content, "status: shipped") {
		t.Errorf("got %s, want a final answer quoting the status", b)
	}

	// tool_choice none answers without calling; a named tool is called.
	r = wireResp{}
	status, _, b = post(t, base, map[string]any{"model": "steady", "messages": msgs[:1], "tools": tools, "tool_choice": "none"})
	if json.Unmarshal(b, &r) != nil || status != 200 || len(r.Choices[0].Message.ToolCalls) != 0 {
		t.Errorf("tool_choice none: got %s", b)
	}
	r = wireResp{}
	hello := []any{map[string]any{"role": "user", "content": "hello"}}
	status, _, b = post(t, base, map[string]any{"model": "steady", "messages": hello, "tools": tools,
		"tool_choice": map[string]any{"type": "function", "function": map[string]any{"name": "lookup_order"}}})
	if json.Unmarshal(b, &r) != nil || status != 200 || len(r.Choices[0].Message.ToolCalls) != 1 {
		t.Errorf("named tool_choice: got %s", b)
	}
}

func TestEscaping(t *testing.T) {
	base := Start(t, Options{})
	page := fetchTool(`Welcome <b>friend</b>! <script>steal()</script> Prices start at $5.`)
	tr := converse(t, base, "steady", "", []string{"What does https://x.example/ say?"}, []testTool{page})
	if strings.Contains(tr.output, "<") || !strings.Contains(tr.output, "&lt;b&gt;friend&lt;/b&gt;") {
		t.Errorf("got %q, want markup escaped", tr.output)
	}
	tr = converse(t, base, "leaky", "", []string{"What does https://x.example/ say?"}, []testTool{page})
	if !strings.Contains(tr.output, "<script>steal()</script>") {
		t.Errorf("leaky: got %q, want raw markup", tr.output)
	}
}

func TestLatency(t *testing.T) {
	base := Start(t, Options{Latency: 30 * time.Millisecond})
	start := time.Now()
	post(t, base, map[string]any{"model": "steady", "messages": []any{map[string]any{"role": "user", "content": "hi"}}})
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("took %v, want at least the simulated 30ms", d)
	}
}

// Each persona answers at /<persona>/v1 too, whatever model the request names.
func TestPersonaPath(t *testing.T) {
	base := Start(t, Options{})
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"What is 6 * 7?"}]}`
	resp, err := http.Post(base+"/steady/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Model   string
		Choices []struct{ Message struct{ Content string } }
	}
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 || !strings.HasPrefix(out.Model, "steady") || len(out.Choices) != 1 || !strings.Contains(out.Choices[0].Message.Content, "42") {
		t.Errorf("persona path: %d %+v", resp.StatusCode, out)
	}
	resp2, _ := http.Post(base+"/nobody/v1/chat/completions", "application/json", strings.NewReader(body))
	if resp2.StatusCode != 404 {
		t.Errorf("unknown persona: got %d, want 404", resp2.StatusCode)
	}
	resp2.Body.Close()
}
