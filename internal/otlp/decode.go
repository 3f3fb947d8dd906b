// Package otlp turns OpenTelemetry traces, as an OTLP/HTTP exporter sends
// them, into behavioral records. It reads the three conventions agent
// frameworks emit: the OpenTelemetry GenAI semantic conventions
// (gen_ai.*), OpenInference (openinference.span.kind, tool.*, llm.*) and
// OpenLLMetry (traceloop.*). A span about a tool call becomes a tool_call and
// a tool_result, an LLM call a user_input and a model_output, an agent
// invocation a session_start and a session_end; spans that say nothing about
// an agent (plain HTTP, database) are skipped.
//
// The package is pure: Decode parses bytes, Map turns a request into records
// at a given time. docs/otlp.md has the full mapping and the reasons for it.
package otlp

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"

	"github.com/probity-dev/probity"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The content types of OTLP/HTTP.
const (
	ContentTypeProtobuf = "application/x-protobuf"
	ContentTypeJSON     = "application/json"
)

// ErrContentType is returned, wrapped, for a Content-Type that is not OTLP.
// It is an ErrInvalid; an HTTP handler may answer 415 for it.
var ErrContentType error = &probity.FieldError{
	Field:   "Content-Type",
	Message: "must be " + ContentTypeProtobuf + " or " + ContentTypeJSON + " (OTLP/HTTP)",
}

// MaxElements bounds the elements of one export: every field of every
// message, at every depth (spans, attributes, values, array items…). Decode
// counts them in the encoded body before it allocates anything, because a
// few bytes each (an empty array item is two) would otherwise decode to
// gigabytes of Go values.
const MaxElements = 2_000_000

// Decode parses an OTLP/HTTP trace export. The body must already be
// uncompressed. A body of more than MaxElements elements is rejected before
// it is decoded. JSON follows the OTLP JSON encoding: trace and span ids are
// hex (any case); an id that is not hex is read as base64, the generic
// protobuf JSON mapping some exporters send. Unknown fields are ignored, as
// the OTLP specification requires. An empty body is an empty request.
// Errors are ErrInvalid.
func Decode(contentType string, body []byte) (*coltracepb.ExportTraceServiceRequest, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = ""
	}
	req := new(coltracepb.ExportTraceServiceRequest)
	switch mt {
	case ContentTypeProtobuf:
		if n := countProto(body, req.ProtoReflect().Descriptor(), 0, 0); n > MaxElements {
			return nil, fmt.Errorf("decoding OTLP/protobuf: %w", tooMany())
		}
		if err := proto.Unmarshal(body, req); err != nil {
			return nil, fmt.Errorf("decoding OTLP/protobuf: %w", probity.Invalid("body", "%v", err))
		}
	case ContentTypeJSON:
		if len(bytes.TrimSpace(body)) == 0 {
			return req, nil
		}
		if countJSON(body) > MaxElements {
			return nil, fmt.Errorf("decoding OTLP/JSON: %w", tooMany())
		}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(hexIDsToBase64(body), req); err != nil {
			return nil, fmt.Errorf("decoding OTLP/JSON: %w", probity.Invalid("body", "%v", err))
		}
	default:
		return nil, fmt.Errorf("decoding OTLP body of type %q: %w", contentType, ErrContentType)
	}
	return req, nil
}

func tooMany() error {
	return probity.Invalid("body", "holds more than %d elements (spans, attributes, values, array items); send smaller exports", MaxElements)
}

// countProto counts the fields of the protobuf message b of type md, and of
// the messages in it, to n; it stops once the count is past MaxElements. It
// reads the wire format only, allocating nothing. Malformed input stops the
// count, for proto.Unmarshal to report; nesting deeper than protobuf's
// recursion limit counts as too many.
func countProto(b []byte, md protoreflect.MessageDescriptor, depth, n int) int {
	if depth > protowire.DefaultRecursionLimit {
		return MaxElements + 1
	}
	fields := md.Fields()
	for len(b) > 0 && n <= MaxElements {
		num, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return n
		}
		b = b[tagLen:]
		valLen := protowire.ConsumeFieldValue(num, typ, b)
		if valLen < 0 {
			return n
		}
		n++
		if typ == protowire.BytesType {
			if fd := fields.ByNumber(num); fd != nil && fd.Kind() == protoreflect.MessageKind {
				v, _ := protowire.ConsumeBytes(b)
				n = countProto(v, fd.Message(), depth+1, n)
			} else if fd != nil && fd.IsList() {
				n += valLen // a packed list: at most one element a byte
			}
		}
		b = b[valLen:]
	}
	return n
}

// countJSON counts the elements of the JSON document b, an upper bound of
// the values protojson would make of it: the objects and arrays it opens and
// the commas between their members and items. Text inside strings is not
// counted.
func countJSON(b []byte) int {
	n := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[', ',':
			n++
		case '"':
			end := stringEnd(b, i)
			if end < 0 {
				return n // malformed: protojson says so
			}
			i = end - 1
		}
	}
	return n
}

// hexIDsToBase64 rewrites the hex trace and span ids of an OTLP/JSON request
// as base64, which is what protojson reads for bytes fields. It scans the
// JSON once, string by string, and rewrites the string value of every object
// key named traceId, spanId or parentSpanId (or their proto names, which
// protojson also accepts) when that value is hex. In an OTLP trace request
// only the id fields of spans and links have those names. Malformed JSON is
// left for protojson to report.
func hexIDsToBase64(b []byte) []byte {
	var out []byte
	last := 0
	for i := 0; i < len(b); {
		if b[i] != '"' {
			i++
			continue
		}
		end := stringEnd(b, i)
		if end < 0 {
			break
		}
		j := skipSpace(b, end)
		if j < len(b) && b[j] == ':' && idKeys[string(b[i+1:end-1])] {
			k := skipSpace(b, j+1)
			if k < len(b) && b[k] == '"' {
				vend := stringEnd(b, k)
				if vend < 0 {
					break
				}
				if id, err := hex.DecodeString(string(b[k+1 : vend-1])); err == nil && len(id) > 0 {
					if out == nil {
						out = make([]byte, 0, len(b))
					}
					out = append(out, b[last:k+1]...)
					out = base64.StdEncoding.AppendEncode(out, id)
					out = append(out, '"')
					last = vend
				}
				end = vend
			}
		}
		i = end
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

var idKeys = map[string]bool{
	"traceId": true, "spanId": true, "parentSpanId": true,
	"trace_id": true, "span_id": true, "parent_span_id": true,
}

// stringEnd returns the index just past the JSON string that opens at
// b[start], or -1 if it does not close.
func stringEnd(b []byte, start int) int {
	for i := start + 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
