package otlp

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/record"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// Conventions, as recorded in the otlp.convention attribute.
const (
	GenAI         = "gen_ai"
	OpenInference = "openinference"
	OpenLLMetry   = "openllmetry"
)

// maxReasons is how many rejection reasons the message spells out.
const maxReasons = 3

// Limits on the work one export costs. Past them, Map keeps going on what it
// has: attributes past MaxAttributes are not read (the record's
// otlp.truncated attribute says so), message parts past MaxParts are left
// out of the content, and spans past MaxSpans are rejected. With them, and
// Decode's limit on elements, the work Map does is linear in the size of the
// request and bounded, which is why it takes no context.
const (
	// MaxAttributes is how many attributes of a span, of its scope and of
	// its resource are read: the first ones, as the OpenTelemetry SDKs keep
	// by default (OTEL_ATTRIBUTE_COUNT_LIMIT).
	MaxAttributes = 128
	// MaxParts is how many parts of one chat message become its text.
	MaxParts = 1000
	// MaxSpans is how many spans of one export are mapped.
	MaxSpans = 20_000
)

// Map turns an export request into behavioral records, validated at now.
//
// Spans that are not about an agent are skipped: they yield nothing and are
// not rejected. A span that is about an agent but cannot be recorded (no
// usable agent id, bad ids or times, a record that fails validation) is
// rejected whole, none of its records kept; rejected counts those spans and
// message explains the first few, for the OTLP partialSuccess. Spans past
// MaxSpans are rejected too. Whether the agent is registered is for the
// caller to check.
//
// Record ids are derived from the trace and span ids, so a retried export
// yields the same ids and the store deduplicates it.
func Map(req *coltracepb.ExportTraceServiceRequest, now time.Time) (recs []record.Record, rejected int64, message string) {
	var (
		reasons []string
		total   int
	)
	for _, rs := range req.GetResourceSpans() {
		var resource *attrIndex // built for the first scope with spans
		for _, ss := range rs.GetScopeSpans() {
			spans := ss.GetSpans()
			if n := MaxSpans - total; len(spans) > n {
				spans = spans[:max(n, 0)]
			}
			total += len(ss.GetSpans())
			if len(spans) == 0 {
				continue
			}
			if resource == nil {
				resource = newAttrIndex(rs.GetResource().GetAttributes(), "resource.attributes")
			}
			in := newInherited(newAttrIndex(ss.GetScope().GetAttributes(), "scope.attributes"), resource)
			for _, sp := range spans {
				s := newSpan(sp, in)
				out, reason := s.records(now)
				if reason != "" {
					rejected++
					if len(reasons) < maxReasons {
						reasons = append(reasons, s.label()+": "+reason)
					}
					continue
				}
				recs = append(recs, out...)
			}
		}
	}
	if more := rejected - int64(len(reasons)); more > 0 {
		reasons = append(reasons, fmt.Sprintf("and %d more", more))
	}
	if total > MaxSpans {
		over := int64(total - MaxSpans)
		rejected += over
		reasons = append(reasons, fmt.Sprintf("%d spans past the first %d of the export: send at most %d spans at a time", over, MaxSpans, MaxSpans))
	}
	if rejected > 0 {
		message = fmt.Sprintf("%d of %d spans rejected: %s", rejected, total, strings.Join(reasons, "; "))
	}
	return recs, rejected, message
}

// attrIndex is the attributes of a resource or scope, read once for all its
// spans.
type attrIndex struct {
	vals    map[string]*commonpb.AnyValue // the first set value of each key
	dropped string                        // what otlp.truncated says when attributes were not read
}

func newAttrIndex(attrs []*commonpb.KeyValue, what string) *attrIndex {
	x := &attrIndex{}
	if len(attrs) > MaxAttributes {
		attrs, x.dropped = attrs[:MaxAttributes], what
	}
	x.vals = make(map[string]*commonpb.AnyValue, len(attrs))
	for _, kv := range attrs {
		if v := kv.GetValue(); v.GetValue() != nil {
			if _, seen := x.vals[kv.GetKey()]; !seen {
				x.vals[kv.GetKey()] = v
			}
		}
	}
	return x
}

// inherited is what the spans of one scope inherit: the scope's attributes
// over its resource's, and the copied ones among them already as JSON.
type inherited struct {
	scope, resource *attrIndex
	copied          map[string]json.RawMessage
	dropped         []string
}

func newInherited(scope, resource *attrIndex) *inherited {
	in := &inherited{scope: scope, resource: resource, copied: map[string]json.RawMessage{}}
	for _, key := range copied {
		if v := in.get(key); v != nil {
			if j := marshal(native(v)); len(j) <= record.MaxAttrLen {
				in.copied[key] = j
			}
		}
	}
	for _, d := range []string{scope.dropped, resource.dropped} {
		if d != "" {
			in.dropped = append(in.dropped, d)
		}
	}
	return in
}

func (in *inherited) get(key string) *commonpb.AnyValue {
	if v := in.scope.vals[key]; v != nil {
		return v
	}
	return in.resource.vals[key]
}

// span is a span with what it inherits from its scope and resource, which
// counts where the span does not say otherwise.
type span struct {
	*tracepb.Span
	attrs     []*commonpb.KeyValue // the span's own, at most MaxAttributes
	in        *inherited
	dropped   []string // what the limits kept from every record of the span
	trace, id string   // hex, set once checked
}

func newSpan(sp *tracepb.Span, in *inherited) *span {
	s := &span{Span: sp, attrs: sp.GetAttributes(), in: in, dropped: in.dropped}
	if len(s.attrs) > MaxAttributes {
		s.attrs = s.attrs[:MaxAttributes]
		s.dropped = append([]string{"span.attributes"}, in.dropped...)
	}
	return s
}

// get looks key up on the span, then its scope, then its resource.
func (s *span) get(key string) *commonpb.AnyValue {
	if v := find(s.attrs, key); v != nil {
		return v
	}
	return s.in.get(key)
}

// str is get as text; "" when absent or not a scalar.
func (s *span) str(key string) string {
	v, _ := scalar(s.get(key))
	return v
}

// own looks the first of keys up on the span alone: what an operation did is
// never inherited from its resource.
func (s *span) own(keys ...string) *commonpb.AnyValue {
	for _, k := range keys {
		if v := find(s.attrs, k); v != nil {
			return v
		}
	}
	return nil
}

func (s *span) ownStr(keys ...string) string {
	v, _ := scalar(s.own(keys...))
	return v
}

// event looks key up on the span's first event called name.
func (s *span) event(name, key string) *commonpb.AnyValue {
	for _, e := range s.GetEvents() {
		if e.GetName() == name {
			return find(e.GetAttributes(), key)
		}
	}
	return nil
}

func (s *span) label() string {
	if s.trace == "" {
		return fmt.Sprintf("span %q", truncate(s.GetName(), 80))
	}
	return fmt.Sprintf("span %s/%s %q", s.trace, s.id, truncate(s.GetName(), 80))
}

// What a span is about.
type kind int

const (
	notAgent  kind = iota // no AI convention: skipped
	nothing               // an AI operation with no record type (embeddings, workflows…): skipped
	tool                  // tool_call, tool_result
	llm                   // user_input, model_output
	agent                 // session_start, session_end
	retrieval             // data_access
)

// classify reads the operation from the first convention the span speaks:
// GenAI, then OpenInference, then OpenLLMetry.
func (s *span) classify() (kind, string) {
	if op := s.ownStr("gen_ai.operation.name"); op != "" {
		switch op {
		case "execute_tool":
			return tool, GenAI
		case "chat", "text_completion", "generate_content":
			return llm, GenAI
		case "invoke_agent":
			return agent, GenAI
		case "retrieval":
			return retrieval, GenAI
		}
		return nothing, GenAI
	}
	if k := s.ownStr("openinference.span.kind"); k != "" {
		switch strings.ToUpper(k) {
		case "TOOL":
			return tool, OpenInference
		case "LLM":
			return llm, OpenInference
		case "AGENT":
			return agent, OpenInference
		case "RETRIEVER":
			return retrieval, OpenInference
		}
		return nothing, OpenInference
	}
	if k := s.ownStr("traceloop.span.kind"); k != "" {
		switch strings.ToLower(k) {
		case "tool":
			return tool, OpenLLMetry
		case "agent":
			return agent, OpenLLMetry
		}
		return nothing, OpenLLMetry
	}
	if t := s.ownStr("llm.request.type"); t != "" { // OpenLLMetry's LLM instrumentations
		if t == "chat" || t == "completion" {
			return llm, OpenLLMetry
		}
		return nothing, OpenLLMetry
	}
	// GenAI spans from before gen_ai.operation.name.
	if s.own("gen_ai.tool.name") != nil {
		return tool, GenAI
	}
	if s.own("gen_ai.request.model", "gen_ai.response.model", "gen_ai.system", "gen_ai.provider.name",
		"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.prompt", "gen_ai.completion") != nil {
		return llm, GenAI
	}
	return notAgent, ""
}

// The attributes that name a span's agent, in order: the first present
// decides, and it must be a valid id as it is. Ids and names are treated
// alike: falling through from an unusable name to, say, service.name would
// put one agent's records on another.
var agentKeys = []string{
	"probity.agent.id",
	"gen_ai.agent.id",
	"gen_ai.agent.name",
	"agent.name", // OpenInference
	"traceloop.association.properties.agent_id",
}

func (s *span) agent(k kind, conv string) (string, string) {
	key, id := "", ""
	for _, ak := range agentKeys {
		if v := s.str(ak); v != "" {
			key, id = ak, v
			break
		}
	}
	if key == "" && conv == OpenLLMetry && k == agent {
		key, id = "traceloop.entity.name", s.ownStr("traceloop.entity.name")
	}
	if id == "" {
		key, id = "service.name", s.str("service.name")
	}
	if id == "" {
		return "", "no agent: set probity.agent.id (span or resource), gen_ai.agent.id or service.name"
	}
	if !probity.ValidID(id) {
		return "", fmt.Sprintf("%s %q is not a valid agent id (1-64 of a-z 0-9 . _ -): set probity.agent.id", key, truncate(id, 80))
	}
	return id, ""
}

// The attributes that carry the session (conversation), in order.
var sessionKeys = []string{
	"gen_ai.conversation.id",
	"session.id", // OpenInference
	"traceloop.association.properties.session_id",
}

// copied are the attributes kept on every record of a span, when present.
var copied = []string{
	"gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system",
	"gen_ai.agent.id", "gen_ai.agent.name", "gen_ai.agent.version",
	"gen_ai.tool.call.id", "gen_ai.tool.type",
	"gen_ai.request.model", "gen_ai.response.model", "gen_ai.response.id", "gen_ai.response.finish_reasons",
	"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.data_source.id",
	"openinference.span.kind", "agent.name", "tool_call.id", "llm.provider", "llm.system",
	"llm.token_count.prompt", "llm.token_count.completion", "user.id",
	"traceloop.span.kind", "traceloop.entity.name", "traceloop.workflow.name",
	"error.type", "enduser.id", "service.name", "service.version",
}

// records maps one span. It returns the records, or a reason to reject the
// span; a skipped span has neither.
func (s *span) records(now time.Time) ([]record.Record, string) {
	k, conv := s.classify()
	if k == notAgent || k == nothing {
		return nil, ""
	}
	tid, sid := s.GetTraceId(), s.GetSpanId()
	if len(tid) != 16 || len(sid) != 8 || allZero(tid) || allZero(sid) {
		return nil, "trace id must be 16 bytes and span id 8 bytes, not all zero"
	}
	s.trace, s.id = hex.EncodeToString(tid), hex.EncodeToString(sid)
	agentID, reason := s.agent(k, conv)
	if reason != "" {
		return nil, reason
	}

	start, end := unixNano(s.GetStartTimeUnixNano()), unixNano(s.GetEndTimeUnixNano())
	var latency *float64
	if d := end.Sub(start); s.GetEndTimeUnixNano() != 0 && d >= 0 {
		if d <= 7*24*time.Hour {
			ms := float64(d) / float64(time.Millisecond)
			latency = &ms
		}
	} else {
		end = start
	}
	failed := s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR
	outcome := "success"
	if failed {
		outcome = "failure"
		if et := strings.ToLower(s.ownStr("error.type")); strings.Contains(et, "timeout") || strings.Contains(et, "deadline_exceeded") {
			outcome = "timeout"
		}
	}

	session := s.trace
	for _, key := range sessionKeys {
		if v := s.str(key); v != "" {
			session = v
			break
		}
	}
	modelVersion := s.ownStr("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
	attrs := s.attributes(conv)

	// Each record gets its own model and attributes: records are values.
	rec := func(suffix, typ string, t time.Time) record.Record {
		r := record.Record{
			ID:         "otlp:" + s.trace + ":" + s.id + ":" + suffix,
			AgentID:    agentID,
			SessionID:  session,
			Time:       t,
			Type:       typ,
			Attributes: maps.Clone(attrs),
		}
		if modelVersion != "" {
			r.Model = &record.Model{Version: modelVersion}
		}
		return r
	}
	var out []record.Record
	partsCut := map[string]bool{} // by record type: content that lost message parts
	switch k {
	case tool:
		name := s.ownStr("gen_ai.tool.name", "tool.name", "tool_call.function.name")
		if name == "" && conv == OpenLLMetry {
			name = s.ownStr("traceloop.entity.name")
		}
		if rest, ok := strings.CutPrefix(s.GetName(), "execute_tool "); name == "" && ok {
			name = strings.TrimSpace(rest) // the span name the GenAI conventions prescribe
		}
		call := rec("call", record.ToolCall, start)
		call.Tool = &record.Tool{Name: name}
		if v := s.own("gen_ai.tool.call.arguments", "tool_call.function.arguments", "input.value"); v != nil {
			call.Tool.Arguments = jsonValue(v)
		} else if v := s.own("traceloop.entity.input"); v != nil {
			call.Tool.Arguments = traceloopInput(v)
		}
		out = append(out, call)
		var result json.RawMessage
		if v := s.own("gen_ai.tool.call.result", "output.value"); v != nil {
			result = jsonValue(v)
		} else if v := s.own("traceloop.entity.output"); v != nil {
			result = dumpedJSON(v)
		}
		if result != nil || failed {
			res := rec("result", record.ToolResult, end)
			res.Tool = &record.Tool{Name: name, Result: result}
			out = append(out, res)
		}
	case llm:
		text, cut := s.input()
		if text != "" {
			in := rec("input", record.UserInput, start)
			in.Content = text
			out = append(out, in)
		}
		partsCut[record.UserInput] = cut
		text, ok, cut := s.output()
		if ok || !failed {
			o := rec("output", record.ModelOutput, end)
			o.Content = text
			out = append(out, o)
		}
		partsCut[record.ModelOutput] = cut
	case agent:
		out = append(out, rec("start", record.SessionStart, start), rec("end", record.SessionEnd, end))
	case retrieval:
		acc := rec("access", record.DataAccess, start)
		if v := s.own("gen_ai.retrieval.query.text", "input.value"); v != nil {
			_, acc.Content = readContent(v)
		}
		if v := s.ownStr("gen_ai.data_source.id"); v != "" {
			acc.Data = &record.Data{Resource: v}
		}
		out = append(out, acc)
	}
	if n := len(out); n > 0 {
		out[n-1].LatencyMs = latency
		out[n-1].Outcome = outcome
	}
	if failed {
		e := rec("error", record.Error, end)
		e.Content = s.errorText()
		e.Outcome = outcome
		out = append(out, e)
	}

	for i := range out {
		fit(&out[i], s.dropped, partsCut[out[i].Type])
		if errs := out[i].Validate(now); len(errs) > 0 {
			msgs := make([]string, 0, 2)
			for _, e := range errs[:min(2, len(errs))] {
				msgs = append(msgs, e.Error())
			}
			return nil, out[i].Type + " " + strings.Join(msgs, ", ")
		}
	}
	return out, ""
}

// input is what the user said to the model in this call: the trailing user
// messages of the input, or the whole prompt when it is plain text; cut is
// true when message parts past MaxParts were left out.
func (s *span) input() (text string, cut bool) {
	v := s.own("gen_ai.input.messages")
	if v == nil {
		if msgs := flatMessages(s.attrs, "llm.input_messages.", "message.role", "message.content",
			"message.contents.", "message_content.text"); msgs != nil {
			return joinText(userTurn(msgs))
		}
		if v = s.own("gen_ai.prompt"); v == nil {
			v = s.event("gen_ai.content.prompt", "gen_ai.prompt")
		}
		if v == nil {
			if msgs := flatMessages(s.attrs, "gen_ai.prompt.", "role", "content", "", ""); msgs != nil {
				return joinText(userTurn(msgs))
			}
			v = s.own("input.value")
		}
	}
	if v == nil {
		return "", false
	}
	msgs, text := readContent(v)
	if msgs != nil {
		return joinText(userTurn(msgs))
	}
	return text, false
}

// output is the text the model produced; ok is false when the span records
// none, cut is true when message parts past MaxParts were left out.
func (s *span) output() (text string, ok, cut bool) {
	v := s.own("gen_ai.output.messages")
	if v == nil {
		if msgs := flatMessages(s.attrs, "llm.output_messages.", "message.role", "message.content",
			"message.contents.", "message_content.text"); msgs != nil {
			text, cut := joinText(msgs)
			return text, true, cut
		}
		if v = s.own("gen_ai.completion"); v == nil {
			v = s.event("gen_ai.content.completion", "gen_ai.completion")
		}
		if v == nil {
			if msgs := flatMessages(s.attrs, "gen_ai.completion.", "role", "content", "", ""); msgs != nil {
				text, cut := joinText(msgs)
				return text, true, cut
			}
			v = s.own("output.value")
		}
	}
	if v == nil {
		return "", false, false
	}
	msgs, text := readContent(v)
	if msgs != nil {
		text, cut := joinText(msgs)
		return text, true, cut
	}
	return text, true, false
}

// readContent reads v as chat messages, or else as text (a structured value
// that is not messages is its JSON).
func readContent(v *commonpb.AnyValue) ([]message, string) {
	x := decoded(v)
	if msgs, ok := messages(x); ok {
		return msgs, ""
	}
	if s, ok := x.(string); ok {
		return nil, s
	}
	return nil, string(marshal(x))
}

// traceloopInput unwraps OpenLLMetry's {"args":[],"kwargs":{…}} to the
// keyword arguments when there are no positional ones, so that a tool's
// arguments read as an object of named values.
func traceloopInput(v *commonpb.AnyValue) json.RawMessage {
	if m, ok := decoded(v).(map[string]any); ok && len(m) == 2 {
		args, aok := m["args"].([]any)
		kwargs, kok := m["kwargs"].(map[string]any)
		if aok && kok && len(args) == 0 {
			return marshal(kwargs)
		}
	}
	return dumpedJSON(v)
}

// dumpedJSON reads an OpenLLMetry entity value, which is always the
// json.dumps of a Python value: any JSON, a bare string or number included,
// is kept as JSON.
func dumpedJSON(v *commonpb.AnyValue) json.RawMessage {
	if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok && json.Valid([]byte(s.StringValue)) {
		return json.RawMessage(s.StringValue)
	}
	return jsonValue(v)
}

// errorText says why a span failed: its status message, else the message of
// its exception event, else its error type.
func (s *span) errorText() string {
	if m := s.GetStatus().GetMessage(); m != "" {
		return m
	}
	if m, _ := scalar(s.event("exception", "exception.message")); m != "" {
		return m
	}
	if t := s.ownStr("error.type"); t != "" {
		return t
	}
	if t, _ := scalar(s.event("exception", "exception.type")); t != "" {
		return t
	}
	return "span ended with status ERROR"
}

func (s *span) attributes(conv string) map[string]json.RawMessage {
	attrs := make(map[string]json.RawMessage, 7+len(s.in.copied)) // with otlp.truncated
	attrs["otlp.convention"] = marshal(conv)
	attrs["otlp.trace_id"] = marshal(s.trace)
	attrs["otlp.span_id"] = marshal(s.id)
	attrs["otlp.span_name"] = marshal(truncate(s.GetName(), record.MaxShortLen))
	if p := s.GetParentSpanId(); len(p) > 0 {
		attrs["otlp.parent_span_id"] = marshal(hex.EncodeToString(p))
	}
	for _, key := range copied {
		if v := find(s.attrs, key); v != nil {
			if j := marshal(native(v)); len(j) <= record.MaxAttrLen {
				attrs[key] = j
			}
		} else if j, ok := s.in.copied[key]; ok {
			attrs[key] = j // marshalled once for the scope
		}
	}
	return attrs
}

// fit cuts content, arguments and results that exceed the record limits, so
// that an oversized value costs its tail, not the evidence that the call
// happened; the attribute otlp.truncated lists what was cut, after the
// attributes that were not read (dropped) and with the content when it lost
// message parts (partsCut).
func fit(r *record.Record, dropped []string, partsCut bool) {
	cut := slices.Clone(dropped)
	if len(r.Content) > record.MaxContentLen {
		r.Content = truncate(r.Content, record.MaxContentLen)
		partsCut = true
	}
	if partsCut {
		cut = append(cut, "content")
	}
	if r.Tool != nil {
		var ok bool
		if r.Tool.Arguments, ok = fitJSON(r.Tool.Arguments, record.MaxContentLen); !ok {
			cut = append(cut, "tool.arguments")
		}
		if r.Tool.Result, ok = fitJSON(r.Tool.Result, record.MaxContentLen); !ok {
			cut = append(cut, "tool.result")
		}
	}
	if len(cut) > 0 {
		r.Attributes["otlp.truncated"] = marshal(cut)
	}
}

func unixNano(ns uint64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	if ns > math.MaxInt64 {
		ns = math.MaxInt64
	}
	return time.Unix(0, int64(ns)).UTC()
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
