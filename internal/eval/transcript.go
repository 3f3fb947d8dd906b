package eval

import (
	"encoding/json"
	"strings"
)

// Transcript is what a target produced for one case: every message, every
// tool call with its arguments, every tool result, the total latency of the
// model calls and the model version the endpoint reported.
type Transcript struct {
	Messages    []Message    `json:"messages"`
	ToolCalls   []ToolCall   `json:"toolCalls,omitzero"`   // all calls, in order
	ToolResults []ToolResult `json:"toolResults,omitzero"` // all results, in order
	// Output is the content of every assistant message, joined with "\n":
	// what text checks read.
	Output       string  `json:"output"`
	LatencyMs    float64 `json:"latencyMs"`
	ModelVersion string  `json:"modelVersion,omitempty"`
}

// Message is one chat message, in the OpenAI shape.
type Message struct {
	Role       string     `json:"role"` // system, user, assistant, tool
	Content    string     `json:"content"`
	ToolCalls  []ToolCall `json:"toolCalls,omitzero"`
	ToolCallID string     `json:"toolCallId,omitempty"`
}

// ToolCall is one call the model made. Arguments are the JSON the model
// sent (not necessarily valid JSON: it is the model's answer).
type ToolCall struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// ToolResult is the harness's answer to one call.
type ToolResult struct {
	CallID  string `json:"callId"`
	Name    string `json:"name"`
	Content string `json:"content"`
}

// JoinOutput sets t.Output from the assistant messages.
func (t *Transcript) JoinOutput() {
	var parts []string
	for _, m := range t.Messages {
		if m.Role == "assistant" && m.Content != "" {
			parts = append(parts, m.Content)
		}
	}
	t.Output = strings.Join(parts, "\n")
}
