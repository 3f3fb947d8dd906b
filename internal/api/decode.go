package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

// decodeJSON reads exactly one JSON value from the body into v, rejecting
// unknown fields, wrong types and trailing data, and naming the field at
// fault. The body is already capped by the route.
func decodeJSON(r *http.Request, v any) error {
	if err := checkJSONType(r); err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return clientError(errTooLarge, "request body is larger than %d bytes", mbe.Limit)
		}
		return probity.Invalid("", "reading body: %v", err)
	}
	return unmarshalStrict(body, v)
}

func checkJSONType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && mt != "application/merge-patch+json") {
		return clientError(errUnsupported, "Content-Type must be application/json, got %q", ct)
	}
	return nil
}

// unmarshalStrict decodes one JSON value from b into v, strictly.
func unmarshalStrict(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return probity.Invalid("", "request body is empty; a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return probity.Invalid("", "unexpected data after the JSON value")
	}
	return nil
}

// jsonError turns encoding/json's errors into field errors.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return probity.Invalid("", "malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return probity.Invalid("", "the body must be a JSON %s", jsonKind(typ.Type.Kind().String()))
		}
		return probity.Invalid(field, "must be %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return probity.Invalid("", "malformed JSON: unexpected end of input")
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return probity.Invalid(name, "unknown field")
	}
	return probity.Invalid("", "malformed JSON: %s", strings.TrimPrefix(msg, "json: "))
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "int", "int64", "int32", "uint", "uint64", "float64", "float32":
		return "a number"
	}
	return "a " + goKind
}

// page reads limit and cursor from the query string.
func page(r *http.Request) (store.Page, error) {
	var p store.Page
	q := r.URL.Query()
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPage {
			return p, probity.Invalid("limit", "must be a whole number from 1 to %d", maxPage)
		}
		p.Limit = n
	}
	p.Limit = store.Limit(p.Limit, defaultPage, maxPage)
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || len(b) == 0 {
			return p, probity.Invalid("cursor", "not a cursor this list returned")
		}
		p.After = string(b)
	}
	return p, nil
}

const (
	defaultPage = 100
	maxPage     = 1000
)

// list is the shape of every paged answer.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// paged returns items as a list, with a cursor when the page is full.
func paged[T any](items []T, p store.Page, key func(T) string) list[T] {
	out := list[T]{Items: items}
	if out.Items == nil {
		out.Items = []T{}
	}
	if len(items) == p.Limit && len(items) > 0 {
		out.NextCursor = cursor(key(items[len(items)-1]))
	}
	return out
}

func cursor(after string) string { return base64.RawURLEncoding.EncodeToString([]byte(after)) }

func pathID(r *http.Request, field string) (string, error) {
	id := r.PathValue("id")
	if !probity.ValidID(id) {
		return "", probity.Invalid(field, "must be 1-64 characters of a-z, 0-9, '.', '_' or '-'")
	}
	return id, nil
}
