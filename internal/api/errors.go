package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

// Errors the HTTP layer itself raises, beside the domain sentinels.
var (
	errUnauthenticated = errors.New("unauthenticated")
	errTooLarge        = errors.New("request body too large")
	errUnsupported     = errors.New("unsupported media type")
	errUnprocessable   = errors.New("unprocessable")
)

// apiError carries what the client is told: a code, a message, a field.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// Details lists every problem: each invalid event of a batch
	// ([]eventError), each compile error of a pact ([]pactProblem).
	Details any `json:"details,omitempty"`
}

// rateLimited is returned when a key has used its budget.
type rateLimited struct{ retryAfter time.Duration }

func (e *rateLimited) Error() string { return "rate limit exceeded" }

type statusErr struct {
	sentinel error
	msg      string
}

func (e *statusErr) Error() string { return e.msg }
func (e *statusErr) Unwrap() error { return e.sentinel }

// clientError returns an error whose whole message is shown to the client.
func clientError(sentinel error, format string, args ...any) error {
	return &statusErr{sentinel, fmt.Sprintf(format, args...)}
}

// status is the one place where errors become HTTP statuses.
func status(err error) (int, apiError) {
	var fe *probity.FieldError
	var rl *rateLimited
	var mbe *http.MaxBytesError
	var se *statusErr
	var be *batchError
	var ce *compileError
	var sue *suiteError
	msg := err.Error()
	if errors.As(err, &se) {
		msg = se.msg
	}
	switch {
	case errors.As(err, &be):
		return http.StatusBadRequest, apiError{Code: "invalid_argument", Message: be.Error(), Details: be.details()}
	case errors.As(err, &ce):
		return http.StatusUnprocessableEntity, apiError{Code: "unprocessable", Message: ce.Error(), Details: ce.details()}
	case errors.As(err, &sue):
		return http.StatusUnprocessableEntity, apiError{Code: "unprocessable", Message: sue.Error(), Details: sue.details()}
	case errors.As(err, &fe):
		return http.StatusBadRequest, apiError{Code: "invalid_argument", Message: fe.Message, Field: fe.Field}
	case errors.As(err, &mbe), errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge, apiError{Code: "too_large", Message: msg}
	case errors.As(err, &rl):
		return http.StatusTooManyRequests, apiError{Code: "rate_limited", Message: msg}
	case errors.Is(err, probity.ErrInvalid):
		return http.StatusBadRequest, apiError{Code: "invalid_argument", Message: msg}
	case errors.Is(err, errUnauthenticated):
		return http.StatusUnauthorized, apiError{Code: "unauthenticated", Message: msg}
	case errors.Is(err, probity.ErrForbidden):
		return http.StatusForbidden, apiError{Code: "permission_denied", Message: msg}
	case errors.Is(err, probity.ErrNotFound):
		return http.StatusNotFound, apiError{Code: "not_found", Message: msg}
	case errors.Is(err, probity.ErrConflict):
		return http.StatusConflict, apiError{Code: "conflict", Message: msg}
	case errors.Is(err, errUnsupported):
		return http.StatusUnsupportedMediaType, apiError{Code: "unsupported_media_type", Message: msg}
	case errors.Is(err, errUnprocessable):
		return http.StatusUnprocessableEntity, apiError{Code: "unprocessable", Message: msg}
	case errors.Is(err, store.ErrLedgerDamaged):
		// A security fact the operator must see, not an internal detail.
		return http.StatusInternalServerError, apiError{Code: "ledger_damaged", Message: msg}
	case errors.Is(err, context.Canceled):
		return 499, apiError{Code: "canceled", Message: "request canceled"}
	}
	return http.StatusInternalServerError, apiError{Code: "internal", Message: "internal error"}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, body := status(err)
	if code >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var rl *rateLimited
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(int(max(1, (rl.retryAfter+time.Second-1)/time.Second))))
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="probity"`)
	}
	writeJSON(w, code, map[string]apiError{"error": body})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
