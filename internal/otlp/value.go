package otlp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
)

// find returns the value of key in attrs, or nil.
func find(attrs []*commonpb.KeyValue, key string) *commonpb.AnyValue {
	for _, kv := range attrs {
		if kv.GetKey() == key {
			if v := kv.GetValue(); v.GetValue() != nil {
				return v
			}
		}
	}
	return nil
}

// scalar returns a string, integer, double or boolean value as text, and
// false for anything else (arrays, maps, bytes, unset).
func scalar(v *commonpb.AnyValue) (string, bool) {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue, true
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10), true
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64), true
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue), true
	}
	return "", false
}

// native turns an OTLP value into the value encoding/json would decode from
// its JSON form: a kvlist is an object (a repeated key keeps its last value),
// bytes are base64, and NaN and the infinities, which JSON lacks, are strings.
func native(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		if math.IsNaN(x.DoubleValue) || math.IsInf(x.DoubleValue, 0) {
			return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
		}
		return x.DoubleValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_BytesValue:
		return base64.StdEncoding.EncodeToString(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		vals := x.ArrayValue.GetValues()
		a := make([]any, len(vals))
		for i, e := range vals {
			a[i] = native(e)
		}
		return a
	case *commonpb.AnyValue_KvlistValue:
		kvs := x.KvlistValue.GetValues()
		m := make(map[string]any, len(kvs))
		for _, kv := range kvs {
			m[kv.GetKey()] = native(kv.GetValue())
		}
		return m
	}
	return nil
}

// marshal is json.Marshal without HTML escaping, which would change text.
// Strings, integers and booleans, most of what it is given, skip reflection.
func marshal(v any) json.RawMessage {
	switch x := v.(type) {
	case string:
		if utf8.ValidString(x) {
			return appendString(make([]byte, 0, len(x)+2), x)
		}
	case int64:
		return strconv.AppendInt(nil, x, 10)
	case bool:
		return strconv.AppendBool(nil, x)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil // native values always encode
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// appendString appends s, valid UTF-8, as a JSON string.
func appendString(b []byte, s string) []byte {
	const digits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', digits[c>>4], digits[c&15])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// jsonValue is how a tool's arguments or result are recorded: a string that
// holds a JSON object or array is that JSON, any other string is a JSON
// string, and a structured value is its JSON form.
func jsonValue(v *commonpb.AnyValue) json.RawMessage {
	if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
		if isJSONContainer(s.StringValue) {
			return json.RawMessage(s.StringValue)
		}
		return marshal(s.StringValue)
	}
	return marshal(native(v))
}

func isJSONContainer(s string) bool {
	t := strings.TrimSpace(s)
	return t != "" && (t[0] == '{' || t[0] == '[') && json.Valid([]byte(t))
}

// decoded is v as a Go value, with a string holding a JSON object or array
// decoded.
func decoded(v *commonpb.AnyValue) any {
	if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
		if isJSONContainer(s.StringValue) {
			var x any
			if json.Unmarshal([]byte(s.StringValue), &x) == nil {
				return x
			}
		}
		return s.StringValue
	}
	return native(v)
}

// A message is one chat message reduced to what a record keeps.
type message struct {
	role string
	text string
	cut  bool // parts past MaxParts were left out of text
}

// messages reads x as chat messages: the GenAI shape
// [{"role","parts":[{"type":"text","content"}]}], the OpenAI shape
// [{"role","content"}] with string or part-list content, an object with a
// "messages" list (a request body) or a "choices" list (a response). ok is
// false for anything else.
func messages(x any) (msgs []message, ok bool) {
	if m, isObj := x.(map[string]any); isObj {
		x = m["messages"]
		if ch, isList := m["choices"].([]any); isList {
			x = choices(ch)
		}
	}
	a, isList := x.([]any)
	if !isList || len(a) == 0 {
		return nil, false
	}
	for _, e := range a {
		m, isObj := e.(map[string]any)
		if !isObj {
			return nil, false
		}
		role, _ := m["role"].(string)
		text, cut := messageText(m)
		msgs = append(msgs, message{role: role, text: text, cut: cut})
	}
	return msgs, true
}

// choices turns the choices of a chat or completion response into messages.
func choices(ch []any) []any {
	out := make([]any, 0, len(ch))
	for _, c := range ch {
		cm, _ := c.(map[string]any)
		if m, ok := cm["message"].(map[string]any); ok {
			out = append(out, m)
		} else if t, ok := cm["text"].(string); ok {
			out = append(out, map[string]any{"role": "assistant", "content": t})
		}
	}
	return out
}

// messageText joins the text parts of a message, at most MaxParts of them;
// cut is true when there were more.
func messageText(m map[string]any) (text string, cut bool) {
	var texts []string
	add := func(s string) {
		if s == "" {
			return
		}
		if len(texts) == MaxParts {
			cut = true
			return
		}
		texts = append(texts, s)
	}
	if parts, ok := m["parts"].([]any); ok {
		for _, p := range parts {
			pm, ok := p.(map[string]any)
			if !ok {
				continue
			}
			if t, _ := pm["type"].(string); t != "" && t != "text" {
				continue // tool calls, reasoning, media: recorded elsewhere or not text
			}
			if s, ok := pm["content"].(string); ok {
				add(s)
			} else if s, ok := pm["text"].(string); ok {
				add(s)
			}
		}
	}
	switch c := m["content"].(type) {
	case string:
		add(c)
	case []any:
		for _, p := range c {
			switch pv := p.(type) {
			case string:
				add(pv)
			case map[string]any:
				if t, _ := pv["type"].(string); t != "" && t != "text" {
					continue
				}
				if s, ok := pv["text"].(string); ok {
					add(s)
				}
			}
		}
	}
	return strings.Join(texts, "\n"), cut
}

// userTurn is the trailing run of user messages: what the user said in this
// turn. It is empty when the last message is not the user's (the call
// continues after a tool result), so one user turn is recorded once, not
// again by every model call it leads to.
func userTurn(msgs []message) []message {
	i := len(msgs)
	for i > 0 && isUser(msgs[i-1].role) {
		i--
	}
	return msgs[i:]
}

func isUser(role string) bool {
	return strings.EqualFold(role, "user") || strings.EqualFold(role, "human")
}

// joinText is the text of msgs, one message a line; cut is true when any of
// them lost parts.
func joinText(msgs []message) (text string, cut bool) {
	var texts []string
	for _, m := range msgs {
		if m.text != "" {
			texts = append(texts, m.text)
		}
		cut = cut || m.cut
	}
	return strings.Join(texts, "\n"), cut
}

// flatMessages collects messages flattened into attributes, as OpenLLMetry
// (gen_ai.prompt.0.role, gen_ai.prompt.0.content) and OpenInference
// (llm.input_messages.0.message.role, ….message.content and
// ….message.contents.0.message_content.text) write them.
func flatMessages(attrs []*commonpb.KeyValue, prefix, roleKey, contentKey, partsPrefix, partTextKey string) []message {
	type part struct {
		msg, part int
		text      string
	}
	var (
		byIndex = map[int]*message{}
		parts   []part
	)
	get := func(i int) *message {
		m := byIndex[i]
		if m == nil {
			m = &message{}
			byIndex[i] = m
		}
		return m
	}
	for _, kv := range attrs {
		rest, ok := strings.CutPrefix(kv.GetKey(), prefix)
		if !ok {
			continue
		}
		idx, tail, ok := strings.Cut(rest, ".")
		n, err := strconv.Atoi(idx)
		if !ok || err != nil || n < 0 || n > 1<<16 {
			continue
		}
		s, _ := kv.GetValue().GetValue().(*commonpb.AnyValue_StringValue)
		if s == nil {
			continue
		}
		switch {
		case tail == roleKey:
			get(n).role = s.StringValue
		case tail == contentKey:
			get(n).text = s.StringValue
		case partsPrefix != "" && strings.HasPrefix(tail, partsPrefix) && strings.HasSuffix(tail, "."+partTextKey):
			pidx := strings.TrimSuffix(strings.TrimPrefix(tail, partsPrefix), "."+partTextKey)
			p, err := strconv.Atoi(pidx)
			if err != nil || p < 0 {
				continue
			}
			get(n)
			parts = append(parts, part{n, p, s.StringValue})
		}
	}
	if len(byIndex) == 0 {
		return nil
	}
	slices.SortFunc(parts, func(a, b part) int {
		if a.msg != b.msg {
			return a.msg - b.msg
		}
		return a.part - b.part
	})
	// The parts of a message follow its content, one a line, joined once.
	for i := 0; i < len(parts); {
		m, j := byIndex[parts[i].msg], i
		var b strings.Builder
		b.WriteString(m.text)
		for ; j < len(parts) && parts[j].msg == parts[i].msg; j++ {
			if j-i == MaxParts {
				m.cut = true
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(parts[j].text)
		}
		m.text, i = b.String(), j
	}
	keys := make([]int, 0, len(byIndex))
	for k := range byIndex {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	msgs := make([]message, len(keys))
	for i, k := range keys {
		msgs[i] = *byIndex[k]
	}
	return msgs
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// fitJSON returns raw if it is at most n bytes, else the start of raw as a
// JSON string that fits, and false.
func fitJSON(raw json.RawMessage, n int) (json.RawMessage, bool) {
	if len(raw) <= n {
		return raw, true
	}
	s := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var u string
		if json.Unmarshal(raw, &u) == nil {
			s = u
		}
	}
	for cut := n - 2; cut > 0; {
		out := marshal(truncate(s, cut))
		if len(out) <= n {
			return out, false
		}
		cut -= len(out) - n + 8 // escapes make the JSON longer than the text
	}
	return json.RawMessage(`""`), false
}
