package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/api"
)

// Cookies the dashboard sets. Both are HttpOnly and SameSite=Strict, and
// Secure when the request came over TLS.
const (
	sessionCookie = "probity_session"
	signinCookie  = "probity_signin" // the sign-in form's token, before a session exists
)

// session is one signed-in browser. The cookie holds only its random id;
// the key is kept as its hash, which is how it is resolved again on every
// request. Sessions live in this process: a restart signs everyone out, and
// replicas behind a load balancer need sticky sessions.
type session struct {
	id      string
	keyHash []byte
	csrf    string // the synchronizer token every form carries

	mu      sync.Mutex
	created time.Time
	seen    time.Time
	flash   string // a message for the next page
}

// checkCSRF compares a form's token with the session's in constant time.
func (s *session) checkCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.csrf)) == 1
}

func (s *session) setFlash(msg string) {
	s.mu.Lock()
	s.flash = msg
	s.mu.Unlock()
}

func (s *session) takeFlash() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.flash
	s.flash = ""
	return f
}

// sessions holds the live sessions by id.
type sessions struct {
	idle, max time.Duration
	limit     int
	now       func() time.Time

	mu sync.Mutex
	m  map[string]*session
}

func newSessions(idle, max time.Duration, limit int, now func() time.Time) *sessions {
	if idle <= 0 {
		idle = 8 * time.Hour
	}
	if max <= 0 {
		max = 7 * 24 * time.Hour
	}
	if limit <= 0 {
		limit = 10000
	}
	return &sessions{idle: idle, max: max, limit: limit, now: now, m: map[string]*session{}}
}

// randomToken returns 32 random bytes in base64url.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// start makes a session for the key and sets its cookie.
func (ss *sessions) start(w http.ResponseWriter, r *http.Request, key *probity.APIKey) *session {
	now := ss.now()
	s := &session{id: randomToken(), keyHash: key.Hash, csrf: randomToken(), created: now, seen: now}
	ss.mu.Lock()
	if len(ss.m) >= ss.limit {
		ss.evictLocked(now)
	}
	ss.m[s.id] = s
	ss.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.id, Path: "/", HttpOnly: true,
		Secure: secure(r), SameSite: http.SameSiteStrictMode})
	return s
}

// evictLocked drops expired sessions and, if still full, the least
// recently used one.
func (ss *sessions) evictLocked(now time.Time) {
	var oldest *session
	var oldestSeen time.Time
	for id, s := range ss.m {
		s.mu.Lock()
		seen, created := s.seen, s.created
		s.mu.Unlock()
		if now.Sub(seen) > ss.idle || now.Sub(created) > ss.max {
			delete(ss.m, id)
			continue
		}
		if oldest == nil || seen.Before(oldestSeen) {
			oldest, oldestSeen = s, seen
		}
	}
	if len(ss.m) >= ss.limit && oldest != nil {
		delete(ss.m, oldest.id)
	}
}

// get returns the request's live session, nil if it has none.
func (ss *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[c.Value]
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.seen) > ss.idle || now.Sub(s.created) > ss.max {
		delete(ss.m, s.id)
		return nil
	}
	s.seen = now
	return s
}

// end forgets the session and clears its cookie.
func (ss *sessions) end(w http.ResponseWriter, r *http.Request, s *session) {
	ss.mu.Lock()
	delete(ss.m, s.id)
	ss.mu.Unlock()
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
	if old := d.sessions.get(r); old != nil {
		d.sessions.end(w, r, old)
	}
	d.sessions.start(w, r, key)
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
