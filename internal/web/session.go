package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/api"
	"github.com/probity-dev/probity/internal/store"
)

// Cookies the dashboard sets. Both are HttpOnly and SameSite=Strict, and
// Secure when the request came over TLS.
const (
	sessionCookie = "probity_session"
	signinCookie  = "probity_signin" // the sign-in form's token, before a session exists
)

// session is one signed-in browser. The cookie holds only its random id;
// the store keeps the id's SHA-256 with the key's hash, which is how the
// key is resolved again on every request. Sessions live in the store, so a
// restart signs nobody out and replicas share them.
type session struct {
	idHash  []byte
	keyHash []byte
	csrf    string // the synchronizer token every form carries
	flash   string // a message for the next page
	seen    time.Time
	ss      *sessions
	ctx     context.Context
}

// checkCSRF compares a form's token with the session's in constant time.
func (s *session) checkCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.csrf)) == 1
}

func (s *session) setFlash(msg string) {
	s.flash = msg
	s.ss.save(s)
}

func (s *session) takeFlash() string {
	f := s.flash
	if f != "" {
		s.flash = ""
		s.ss.save(s)
	}
	return f
}

// sessions keeps the dashboard's sessions in the store.
type sessions struct {
	idle, max time.Duration
	now       func() time.Time
	store     func() store.Store
	log       *slog.Logger

	mu        sync.Mutex
	lastPrune time.Time
}

func newSessions(idle, max time.Duration, now func() time.Time, st func() store.Store, log *slog.Logger) *sessions {
	if idle <= 0 {
		idle = 8 * time.Hour
	}
	if max <= 0 {
		max = 7 * 24 * time.Hour
	}
	return &sessions{idle: idle, max: max, now: now, store: st, log: log}
}

// randomToken returns 32 random bytes in base64url.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// seenEvery is how stale a session's last-seen time may get before a
// request writes it: most requests only read their session.
const seenEvery = time.Minute

// start makes a session for the key and sets its cookie.
func (ss *sessions) start(w http.ResponseWriter, r *http.Request, key *probity.APIKey) error {
	now := ss.now().UTC()
	id := randomToken()
	ws := store.WebSession{IDHash: hashID(id), KeyHash: key.Hash, CSRF: randomToken(), Created: now, Seen: now}
	ss.prune(r.Context(), now)
	if err := ss.store().Update(r.Context(), func(tx store.Tx) error { return tx.CreateWebSession(r.Context(), ws) }); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true,
		Secure: secure(r), SameSite: http.SameSiteStrictMode})
	return nil
}

// prune deletes expired sessions, at most every ten minutes.
func (ss *sessions) prune(ctx context.Context, now time.Time) {
	ss.mu.Lock()
	due := now.Sub(ss.lastPrune) > 10*time.Minute
	if due {
		ss.lastPrune = now
	}
	ss.mu.Unlock()
	if !due {
		return
	}
	err := ss.store().Update(ctx, func(tx store.Tx) error {
		_, err := tx.PruneWebSessions(ctx, now.Add(-ss.idle), now.Add(-ss.max))
		return err
	})
	if err != nil {
		ss.log.WarnContext(ctx, "pruning dashboard sessions", "err", err)
	}
}

// get returns the request's live session, nil if it has none.
func (ss *sessions) get(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, nil
	}
	ctx := r.Context()
	var ws store.WebSession
	err = ss.store().View(ctx, func(tx store.Tx) error {
		var err error
		ws, err = tx.GetWebSession(ctx, hashID(c.Value))
		return err
	})
	if errors.Is(err, probity.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	s := &session{idHash: ws.IDHash, keyHash: ws.KeyHash, csrf: ws.CSRF, flash: ws.Flash, seen: ws.Seen, ss: ss, ctx: ctx}
	now := ss.now().UTC()
	if now.Sub(ws.Seen) > ss.idle || now.Sub(ws.Created) > ss.max {
		ss.delete(ctx, s.idHash)
		return nil, nil
	}
	if now.Sub(ws.Seen) > seenEvery {
		s.seen = now
		ss.save(s)
	}
	return s, nil
}

// save writes the session's flash and last-seen time; a failure only
// costs a notice or a minute of idle time, so it is logged.
func (ss *sessions) save(s *session) {
	ws := store.WebSession{IDHash: s.idHash, Flash: s.flash, Seen: s.seen}
	if err := ss.store().Update(s.ctx, func(tx store.Tx) error { return tx.UpdateWebSession(s.ctx, ws) }); err != nil {
		ss.log.WarnContext(s.ctx, "saving a dashboard session", "err", err)
	}
}

func (ss *sessions) delete(ctx context.Context, idHash []byte) {
	if err := ss.store().Update(ctx, func(tx store.Tx) error { return tx.DeleteWebSession(ctx, idHash) }); err != nil {
		ss.log.WarnContext(ctx, "ending a dashboard session", "err", err)
	}
}

// end forgets the session and clears its cookie.
func (ss *sessions) end(w http.ResponseWriter, r *http.Request, s *session) {
	ss.delete(r.Context(), s.idHash)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: secure(r), SameSite: http.SameSiteStrictMode})
}

// signinPage is the data of the sign-in page.
type signinPage struct {
	layout
	Token   string
	Next    string
	Message string // why the visitor is here (a session ended)
	Error   string
}

// signinForm shows the sign-in form with a fresh token, also set as a
// cookie: a POST must carry both, so another site cannot sign a visitor
// in with a key of its own.
func (d *Dashboard) signinForm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	d.showSignin(w, r, http.StatusOK, localPath(r.URL.Query().Get("next")), takeFlash(w, r), "")
}

// flashCookie carries a notice to the sign-in page (a session ended, a
// sign-out) in a cookie, not the URL: a link from elsewhere cannot put
// words on the page.
const flashCookie = "probity_notice"

func setFlash(w http.ResponseWriter, r *http.Request, msg string) {
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:200], "")
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: url.QueryEscape(msg), Path: "/signin", MaxAge: 60, HttpOnly: true,
		Secure: secure(r), SameSite: http.SameSiteStrictMode})
}

// takeFlash returns the notice setFlash left, and clears it.
func takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/signin", MaxAge: -1, HttpOnly: true, Secure: secure(r),
		SameSite: http.SameSiteStrictMode})
	msg, err := url.QueryUnescape(c.Value)
	if err != nil {
		return ""
	}
	return msg
}

func (d *Dashboard) showSignin(w http.ResponseWriter, r *http.Request, status int, next, msg, errMsg string) {
	token := randomToken()
	http.SetCookie(w, &http.Cookie{Name: signinCookie, Value: token, Path: "/signin", MaxAge: 3600, HttpOnly: true,
		Secure: secure(r), SameSite: http.SameSiteStrictMode})
	p := signinPage{layout: d.frame(nil, "Sign in", ""), Token: token, Next: next, Message: msg, Error: errMsg}
	if err := d.render(w, r, status, "signin.html", p); err != nil {
		d.fail(w, r, nil, err)
	}
}

// signin checks the form's token and the key, then starts a session. Any
// key with the read scope may sign in; only admin keys see write buttons.
func (d *Dashboard) signin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		d.fail(w, r, nil, probity.Invalid("", "the form does not parse: %v", err))
		return
	}
	c, err := r.Cookie(signinCookie)
	token := r.PostForm.Get("token")
	if err != nil || token == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(token)) != 1 {
		d.fail(w, r, nil, &pageError{http.StatusForbidden, "the sign-in form expired or came from another site: reload the sign-in page and try again"})
		return
	}
	next := localPath(r.PostForm.Get("next"))
	secret := strings.TrimSpace(r.PostForm.Get("key"))
	if secret == "" {
		d.showSignin(w, r, http.StatusBadRequest, next, "", "key: is required: paste an API key (pb_…)")
		return
	}
	key, err := d.api.Authenticate(r.Context(), secret)
	if err != nil {
		p := api.ProblemOf(err)
		if p.Status >= 500 {
			d.fail(w, r, nil, err)
			return
		}
		d.showSignin(w, r, p.Status, next, "", "key: "+p.Message)
		return
	}
	if !key.Allows(probity.ScopeRead) {
		d.showSignin(w, r, http.StatusForbidden, next, "", "key: this key lacks the read scope the dashboard needs")
		return
	}
	if old, _ := d.sessions.get(r); old != nil {
		d.sessions.end(w, r, old)
	}
	if err := d.sessions.start(w, r, key); err != nil {
		d.fail(w, r, nil, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: signinCookie, Value: "", Path: "/signin", MaxAge: -1, HttpOnly: true,
		Secure: secure(r), SameSite: http.SameSiteStrictMode})
	if next == "" {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *Dashboard) signout(w http.ResponseWriter, r *http.Request, v *viewer) error {
	d.sessions.end(w, r, v.session)
	setFlash(w, r, "You signed out.")
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
	return nil
}

// localPath returns p if it is a path on this site, else "": a redirect
// after sign-in never leaves the dashboard.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n\t") || len(p) > 2000 {
		return ""
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return ""
	}
	return p
}

// secure says whether cookies get the Secure attribute: when the request
// came over TLS, to Probity or to a proxy in front of it that says so. A
// forged X-Forwarded-Proto can only make the browser withhold the cookie
// over plain HTTP, never expose it.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}
