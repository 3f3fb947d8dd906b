package api

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

// decodeJSON reads exactly one JSON value from the body into v, rejecting
// unknown fields, wrong types and trailing data, and naming the field at
// fault. The body is already capped by the route.
func decodeJSON(r *http.Request, v any) error {
	body, err := readJSON(r)
	if err != nil {
		return err
	}
	return unmarshalStrict(body, v)
}

// readJSON checks the content type and reads the whole (capped) body.
func readJSON(r *http.Request) ([]byte, error) {
	if err := checkJSONType(r); err != nil {
		return nil, err
	}
	return readBody(r.Body)
}

// readBody reads a body capped by http.MaxBytesReader, turning the cap
// into a 413.
func readBody(body io.Reader) ([]byte, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, clientError(errTooLarge, "request body is larger than %d bytes; send less at a time", mbe.Limit)
		}
		return nil, probity.Invalid("", "reading body: %v", err)
	}
	return b, nil
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
		if path := unknownPath(b, reflect.TypeOf(v)); path != "" {
			return probity.Invalid(path, "unknown field")
		}
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return probity.Invalid("", "unexpected data after the JSON value")
	}
	return nil
}

// unknownPath finds the first field in the JSON document b that type t has no
// place for, as a dotted path ("model.flavour", "items[2].x"); encoding/json
// names only the last segment. It runs on the error path only.
func unknownPath(b []byte, t reflect.Type) string {
	var doc any
	if json.Unmarshal(b, &doc) != nil {
		return ""
	}
	return walkUnknown(doc, t, "")
}

func walkUnknown(v any, t reflect.Type, path string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		fields := map[string]reflect.Type{}
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case name == "-":
				continue
			case f.Anonymous && name == "":
				for g := range f.Type.Fields() {
					gn, _, _ := strings.Cut(g.Tag.Get("json"), ",")
					fields[strings.ToLower(cmp.Or(gn, g.Name))] = g.Type
				}
				continue
			}
			fields[strings.ToLower(cmp.Or(name, f.Name))] = f.Type
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			sub := k
			if path != "" {
				sub = path + "." + k
			}
			ft, ok := fields[strings.ToLower(k)]
			if !ok {
				return sub
			}
			if p := walkUnknown(obj[k], ft, sub); p != "" {
				return p
			}
		}
	case reflect.Slice, reflect.Array:
		arr, _ := v.([]any)
		for i, el := range arr {
			if p := walkUnknown(el, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	case reflect.Map:
		obj, _ := v.(map[string]any)
		for k, el := range obj {
			if p := walkUnknown(el, t.Elem(), path+"."+k); p != "" {
				return p
			}
		}
	}
	return ""
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
		if err != nil || len(b) == 0 || probity.CheckText("cursor", string(b), 200) != nil {
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

// peek asks the store for one row more than the page holds, so that paged
// can tell whether another page follows.
func peek(p store.Page) store.Page { return store.Page{After: p.After, Limit: p.Limit + 1} }

// paged returns a page of items fetched with peek, with a cursor only when
// more items follow.
func paged[T any](items []T, p store.Page, key func(T) string) list[T] {
	out := list[T]{Items: items}
	if len(items) > p.Limit {
		out.Items = items[:p.Limit]
		out.NextCursor = cursor(key(out.Items[p.Limit-1]))
	}
	if out.Items == nil {
		out.Items = []T{}
	}
	return out
}

func cursor(after string) string { return base64.RawURLEncoding.EncodeToString([]byte(after)) }

func pathID(r *http.Request, field string) (string, error) {
	id := r.PathValue("id")
	if !probity.ValidID(id) {
		return "", probity.Invalid(field, probity.IDRule)
	}
	return id, nil
}

// queryText reads an optional free-text filter: printable UTF-8 of at most
// 200 bytes, so that no store is handed bytes it cannot compare.
func queryText(r *http.Request, name string) (string, error) {
	v := r.URL.Query().Get(name)
	if err := probity.CheckText(name, v, 200); err != nil {
		return "", err
	}
	if strings.ContainsAny(v, "\t\n") {
		return "", probity.Invalid(name, "contains a control character")
	}
	return v, nil
}
