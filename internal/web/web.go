// Package web is Probity's dashboard: server-rendered pages over the API
// for a person signed in with an API key. Pages are html/template, static
// files are embedded, charts are SVG drawn on the server, and nothing is
// fetched from another host; pages read without JavaScript, which only
// refreshes live progress.
//
// The dashboard is itself a downstream system of untrusted model output:
// every piece of agent-produced text reaches a page through html/template's
// contextual escaping and never as trusted markup, and every answer carries
// a Content-Security-Policy that allows no inline script.
//
// It reads and acts only through the API server (api.Server.Do and the few
// reads the JSON API has no route for), for the session's key: its scopes
// apply, and a key revoked since sign-in ends the session at its next
// request.
package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/api"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options are a Dashboard's dependencies and limits.
type Options struct {
	API    *api.Server
	Logger *slog.Logger
	Now    func() time.Time // defaults to time.Now
	// SessionIdle ends a session unused this long, SessionMax any session
	// this old (defaults 8 hours and 7 days). Sessions are kept in the
	// API's store; expired ones are pruned as new ones start.
	SessionIdle, SessionMax time.Duration
}

// Dashboard serves the dashboard's pages. Build it with New.
type Dashboard struct {
	api      *api.Server
	log      *slog.Logger
	now      func() time.Time
	sessions *sessions
	pages    map[string]*template.Template
	mux      *http.ServeMux
}

// New builds a Dashboard, parsing every template once.
func New(o Options) (*Dashboard, error) {
	if o.API == nil {
		return nil, errors.New("web: an API server is required")
	}
	d := &Dashboard{api: o.API, log: o.Logger, now: o.Now}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	d.sessions = newSessions(o.SessionIdle, o.SessionMax, d.now, o.API.Store, d.log)
	var err error
	if d.pages, err = parsePages(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	d.mux = http.NewServeMux()
	d.mux.Handle("GET /static/", http.StripPrefix("/static/", staticFiles(static)))
	d.mux.HandleFunc("GET /signin", d.signinForm)
	d.mux.HandleFunc("POST /signin", d.signin)
	d.mux.Handle("POST /signout", d.page(d.signout))
	d.mux.Handle("GET /{$}", d.page(d.fleet))
	d.mux.Handle("GET /agents/{id}", d.page(d.agent))
	d.mux.Handle("GET /agents/{id}/session", d.page(d.session))
	d.mux.Handle("GET /agents/{id}/attestation", d.page(d.attestation))
	d.mux.Handle("POST /agents/{id}/suspend", d.page(d.suspend))
	d.mux.Handle("POST /agents/{id}/reactivate", d.page(d.reactivate))
	d.mux.Handle("GET /records/{id}", d.page(d.recordByID))
	d.mux.Handle("GET /incidents", d.page(d.incidents))
	d.mux.Handle("GET /incidents/{id}", d.page(d.incident))
	d.mux.Handle("POST /incidents/{id}/acknowledge", d.page(d.acknowledge))
	d.mux.Handle("POST /incidents/{id}/resolve", d.page(d.resolve))
	d.mux.Handle("GET /evals", d.page(d.evals))
	d.mux.Handle("GET /evals/{id}", d.page(d.evalRun))
	d.mux.Handle("GET /evals/{id}/progress", d.page(d.evalProgress))
	d.mux.Handle("GET /ledger", d.page(d.ledger))
	d.mux.Handle("GET /reports", d.page(d.reports))
	d.mux.Handle("GET /reports/board", d.page(d.boardReport))
	d.mux.HandleFunc("/", d.notFound)
	return d, nil
}

// ServeHTTP sets the security headers every answer carries, then routes.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	d.mux.ServeHTTP(w, r)
}

// staticFiles serves the embedded files, cacheable for an hour.
func staticFiles(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// viewer is who a page is for: the session's key, checked again for this
// request.
type viewer struct {
	key     *probity.APIKey
	session *session
	r       *http.Request
}

// CanAdmin says whether write buttons are shown: only admin keys may use them.
func (v *viewer) CanAdmin() bool { return v.key.Allows(probity.ScopeAdmin) }

// handler is a page handler: it writes the page or returns an error, which
// becomes an error page.
type handler func(w http.ResponseWriter, r *http.Request, v *viewer) error

// page wraps h: without a live session, GETs and POSTs alike go to the
// sign-in page; the session's key is resolved again (a revoked key ends the
// session); a POST without the session's CSRF token is refused.
func (d *Dashboard) page(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		s, err := d.sessions.get(r)
		if err != nil {
			d.fail(w, r, nil, err)
			return
		}
		if s == nil {
			d.toSignin(w, r, "")
			return
		}
		key, err := d.api.KeyByHash(r.Context(), s.keyHash)
		if err != nil {
			if api.IsUnauthenticated(err) {
				d.sessions.end(w, r, s)
				d.toSignin(w, r, "Your session ended: "+api.ProblemOf(err).Message+".")
				return
			}
			d.fail(w, r, nil, err)
			return
		}
		v := &viewer{key: key, session: s, r: r}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				d.fail(w, r, v, probity.Invalid("", "the form does not parse: %v", err))
				return
			}
			if !s.checkCSRF(r.PostForm.Get("csrf")) {
				d.fail(w, r, v, errCSRF)
				return
			}
		}
		if err := h(w, r, v); err != nil {
			d.fail(w, r, v, err)
		}
	})
}

// pageError is an error the dashboard itself answers, with its status.
type pageError struct {
	status int
	msg    string
}

func (e *pageError) Error() string { return e.msg }

// maxForm bounds a form's body: reasons and root causes are at most 4,000
// bytes.
const maxForm = 64 << 10

// errCSRF refuses a form that does not carry the session's token.
var errCSRF = &pageError{http.StatusForbidden, "the form's security token is missing or wrong: reload the page and try again"}

// toSignin sends a request without a session to the sign-in page, with
// where it was going.
func (d *Dashboard) toSignin(w http.ResponseWriter, r *http.Request, msg string) {
	q := url.Values{}
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		q.Set("next", r.URL.RequestURI())
	}
	if msg != "" {
		setFlash(w, r, msg)
	}
	target := "/signin"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// layout is what every page's frame shows.
type layout struct {
	Title   string
	Nav     string // which menu entry is current
	Viewer  *viewer
	CSRF    string
	Flash   string
	KeyName string
}

func (d *Dashboard) frame(v *viewer, title, nav string) layout {
	l := layout{Title: title, Nav: nav, Viewer: v}
	if v != nil {
		l.CSRF = v.session.csrf
		l.Flash = v.session.takeFlash()
		l.KeyName = v.key.ID
		if v.key.Name != "" {
			l.KeyName = v.key.Name + " (" + v.key.ID + ")"
		}
	}
	return l
}

// render writes page name with data, buffered so that a template error
// becomes an error page rather than half a page.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) error {
	t, ok := d.pages[name]
	if !ok {
		return fmt.Errorf("no page template %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("rendering %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	return nil
}

// errorPage is the data of the error page.
type errorPage struct {
	layout
	Status  int
	Message string
	Field   string
	Back    string // the page a refused form came from
}

// fail answers err as an error page with the status the API would give it,
// naming the field at fault; a fault is logged and shown without detail.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	p := api.ProblemOf(err)
	var pe *pageError
	if errors.As(err, &pe) {
		p = api.Problem{Status: pe.status, Message: pe.msg}
	}
	if p.Status >= 500 {
		d.log.ErrorContext(r.Context(), "dashboard page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if p.Status == 499 {
		return // the client went away
	}
	page := errorPage{layout: d.frame(v, http.StatusText(p.Status), ""), Status: p.Status, Message: p.Message, Field: p.Field}
	if r.Method == http.MethodPost {
		// A form's page is its action without the last segment
		// (/agents/x/suspend came from /agents/x).
		if i := strings.LastIndex(r.URL.Path, "/"); i > 0 {
			page.Back = localPath(r.URL.Path[:i])
		}
	}
	if err := d.render(w, r, p.Status, "error.html", page); err != nil {
		d.log.ErrorContext(r.Context(), "rendering the error page", "err", err)
		http.Error(w, p.Message, p.Status)
	}
}

func (d *Dashboard) notFound(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	var v *viewer
	if s, _ := d.sessions.get(r); s != nil {
		if key, err := d.api.KeyByHash(r.Context(), s.keyHash); err == nil {
			v = &viewer{key: key, session: s, r: r}
		}
	}
	d.fail(w, r, v, &pageError{http.StatusNotFound, "there is no page " + r.URL.Path})
}
