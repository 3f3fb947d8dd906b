package testbed

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/probity-dev/probity/internal/detect"
)

// The tests drive the agents the way the eval harness does (docs/evals.md,
// "The conversation"): system prompt, user turns and tools go out over
// HTTP; each tool call is answered with the tool's canned result.

type testTool struct {
	name, desc string
	params     map[string]any // JSON schema
	returns    string
}

func (tt testTool) wire() map[string]any {
	params := tt.params
	if params == nil {
		params = map[string]any{"type": "object", "properties": map[string]any{}}
	}
	return map[string]any{"type": "function", "function": map[string]any{"name": tt.name, "description": tt.desc, "parameters": params}}
}

func schema(required []string, props ...string) map[string]any {
	p := map[string]any{}
	for _, name := range props {
		p[name] = map[string]any{"type": "string"}
	}
	return map[string]any{"type": "object", "properties": p, "required": required}
}

var (
	fetchTool = func(returns string) testTool {
		return testTool{"fetch_url", "Fetch a web page and return its text.", schema([]string{"url"}, "url"), returns}
	}
	emailTool  = testTool{"send_email", "Send an e-mail.", schema([]string{"to", "body"}, "to", "subject", "body"), `{"status":"sent"}`}
	lookupTool = testTool{"lookup_order", "Look up an order by its id.", schema([]string{"order_id"}, "order_id"), `{"order_id":"AB-123456","status":"shipped","eta":"2026-02-03"}`}
	refundTool = testTool{"issue_refund", "Refund an order.", schema([]string{"order_id"}, "order_id"), `{"status":"refunded"}`}
)

type wireMsg struct {
	Role       string         `json:"role"`
	Content    *string        `json:"content"`
	ToolCalls  []wireToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type wireToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type wireResp struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Created int64  `json:"created"`
	Choices []struct {
		Index        int     `json:"index"`
		Message      wireMsg `json:"message"`
		FinishReason string  `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

func str(s string) *string { return &s }

// post sends body to the chat endpoint and returns the status, headers and body.
func post(t testing.TB, base string, body any, header ...string) (int, http.Header, []byte) {
	t.Helper()
	b, ok := body.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

// transcript is one conversation: every message, and the calls made.
type transcript struct {
	messages []wireMsg
	calls    []call
	output   string // every assistant content, joined by newlines
	version  string
}

func (tr *transcript) called(name string, argContains ...string) bool {
	for _, c := range tr.calls {
		if c.name != name {
			continue
		}
		b, _ := json.Marshal(c.args)
		ok := true
		for _, s := range argContains {
			ok = ok && strings.Contains(string(b), s)
		}
		if ok {
			return true
		}
	}
	return false
}

// converse runs a case: system prompt, user turns in order, tools answered
// with their returns (8 model calls per user turn at most).
func converse(t testing.TB, base, model, system string, turns []string, tools []testTool) *transcript {
	t.Helper()
	tr := &transcript{}
	if system != "" {
		tr.messages = append(tr.messages, wireMsg{Role: "system", Content: str(system)})
	}
	var wireTools []map[string]any
	for _, tt := range tools {
		wireTools = append(wireTools, tt.wire())
	}
	var outs []string
	for _, u := range turns {
		tr.messages = append(tr.messages, wireMsg{Role: "user", Content: str(u)})
		for range 8 {
			body := map[string]any{"model": model, "messages": tr.messages, "temperature": 0}
			if len(wireTools) > 0 {
				body["tools"] = wireTools
			}
			status, h, b := post(t, base, body)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, b)
			}
			tr.version = h.Get("X-Model-Version")
			var r wireResp
			if err := json.Unmarshal(b, &r); err != nil || len(r.Choices) != 1 {
				t.Fatalf("bad response %s: %v", b, err)
			}
			m := r.Choices[0].Message
			tr.messages = append(tr.messages, m)
			if len(m.ToolCalls) == 0 {
				if r.Choices[0].FinishReason != "stop" || m.Content == nil {
					t.Fatalf("final answer: finish_reason %q, content %v", r.Choices[0].FinishReason, m.Content)
				}
				outs = append(outs, *m.Content)
				break
			}
			if r.Choices[0].FinishReason != "tool_calls" {
				t.Fatalf("tool calls with finish_reason %q", r.Choices[0].FinishReason)
			}
			for _, tc := range m.ToolCalls {
				var args map[string]any
				if err := json.Unmarshal([]byte(tc.Function.Arguments), &args); err != nil {
					t.Fatalf("arguments of %s are not a JSON object: %q", tc.Function.Name, tc.Function.Arguments)
				}
				tr.calls = append(tr.calls, call{name: tc.Function.Name, args: args})
				res := `{"error":"unknown tool"}`
				for _, tt := range tools {
					if tt.name == tc.Function.Name {
						res = tt.returns
					}
				}
				tr.messages = append(tr.messages, wireMsg{Role: "tool", ToolCallID: tc.ID, Content: str(res)})
			}
		}
	}
	tr.output = strings.Join(outs, "\n")
	return tr
}

var refusals, _ = detect.New(detect.Options{})

func isRefusal(s string) bool { return refusals.Refusal(s) }
