package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/probity-dev/probity/internal/store"
)

// message is one delivery as a transport sends it.
type message struct {
	deliveryID string
	event      Event
	body       []byte // the event, JSON, as queued
}

// attempt is what one try came to. A nil err means the receiver has it.
type attempt struct {
	code       int           // HTTP status, 0 for syslog or no answer
	err        error         // why it failed
	retryAfter time.Duration // the receiver asked to wait this long
}

// transport sends messages to one sink. Two kinds of destination exist
// today (HTTP and syslog), hence the interface.
type transport interface {
	send(ctx context.Context, m message) attempt
	close()
}

// env is what transports share: the product version, the host name, and
// the HTTP client for receivers with the system's roots.
type env struct {
	version  string
	hostname string
	client   *http.Client
}

func newHTTPClient(tlsConfig *tls.Config, conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       tlsConfig,
			TLSHandshakeTimeout:   10 * time.Second,
			MaxIdleConns:          4 * conns,
			MaxIdleConnsPerHost:   conns,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: time.Minute,
		},
		// A receiver that redirects is misconfigured: following it would
		// send the event, and its signature or token, somewhere unnamed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// tlsConfig is the client TLS of a sink, nil when it needs no more than the
// defaults.
func tlsConfig(c Settings, serverName string) (*tls.Config, error) {
	if c.CAPEM == "" && !c.InsecureSkipVerify && serverName == "" {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.CAPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(c.CAPEM)) {
			return nil, errors.New("caPem holds no PEM certificate")
		}
		t.RootCAs = pool
	}
	return t, nil
}

// newTransport builds the transport of sk.
func newTransport(sk store.Sink, e env, conns int) (transport, error) {
	c, err := SettingsOf(sk)
	if err != nil {
		return nil, err
	}
	switch sk.Kind {
	case KindWebhook, KindSplunkHEC:
		client := e.client
		if c.CAPEM != "" || c.InsecureSkipVerify {
			tc, err := tlsConfig(c, "")
			if err != nil {
				return nil, err
			}
			client = newHTTPClient(tc, conns)
		}
		h := &httpSink{kind: sk.Kind, format: sk.Format, url: c.URL, secret: sk.Secret, client: client, env: e, own: client != e.client}
		if sk.Kind == KindSplunkHEC {
			h.host, h.index, h.source, h.sourceType = c.Hostname, c.Index, c.Source, c.SourceType
			if h.host == "" {
				h.host = e.hostname
			}
			if h.source == "" {
				h.source = "probity"
			}
			if h.sourceType == "" {
				h.sourceType = "probity:" + sk.Format
			}
		}
		return h, nil
	case KindSyslog:
		host, _, _ := net.SplitHostPort(c.Address)
		var tc *tls.Config
		if c.Network == "tls" {
			if tc, err = tlsConfig(c, host); err != nil {
				return nil, err
			}
		}
		hostname := c.Hostname
		if hostname == "" {
			hostname = e.hostname
		}
		return &syslogSink{network: c.Network, address: c.Address, tls: tc, facility: c.Facility, hostname: hostname, version: e.version}, nil
	}
	return nil, fmt.Errorf("sink %s: unknown kind %q", sk.ID, sk.Kind)
}

// httpSink posts to a webhook or a Splunk HTTP Event Collector.
type httpSink struct {
	kind, format, url, secret string
	host, index               string // HEC
	source, sourceType        string // HEC
	client                    *http.Client
	env                       env
	own                       bool // client is this sink's: close its connections with it
}

// payload is the event in the sink's format.
func (h *httpSink) payload(m message) ([]byte, error) {
	if h.format == FormatOCSF {
		return OCSF(m.event, h.env.version)
	}
	return m.body, nil
}

func (h *httpSink) send(ctx context.Context, m message) attempt {
	body, err := h.payload(m)
	if err != nil {
		return attempt{err: fmt.Errorf("encoding: %w", err)}
	}
	if h.kind == KindSplunkHEC {
		// HEC's envelope: the time in seconds, where it came from, and the
		// event itself.
		body, err = json.Marshal(struct {
			Time       json.Number     `json:"time"`
			Host       string          `json:"host,omitempty"`
			Source     string          `json:"source"`
			SourceType string          `json:"sourcetype"`
			Index      string          `json:"index,omitempty"`
			Event      json.RawMessage `json:"event"`
		}{json.Number(strconv.FormatFloat(float64(m.event.Time.UnixMicro())/1e6, 'f', 6, 64)), h.host, h.source, h.sourceType, h.index, body})
		if err != nil {
			return attempt{err: fmt.Errorf("encoding: %w", err)}
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return attempt{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Probity/"+h.env.version)
	req.Header.Set("Probity-Event", m.event.Type)
	req.Header.Set("Probity-Delivery", m.deliveryID)
	if h.kind == KindSplunkHEC {
		req.Header.Set("Authorization", "Splunk "+h.secret)
	} else {
		req.Header.Set("Probity-Signature", Sign([]byte(h.secret), time.Now(), body))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return attempt{err: quiet(err)}
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	a := attempt{code: resp.StatusCode}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return a
	}
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		a.err = fmt.Errorf("HTTP %d: redirects are not followed; give the receiver's final URL", resp.StatusCode)
		return a
	}
	a.err = fmt.Errorf("HTTP %d%s", resp.StatusCode, printable(excerpt, 200))
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(ra); err == nil && s > 0 {
			a.retryAfter = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			a.retryAfter = time.Until(t)
		}
	}
	return a
}

func (h *httpSink) close() {
	if h.own {
		h.client.CloseIdleConnections()
	}
}

// quiet drops the request line from an HTTP client error: the URL is in
// the sink already, and errors end up in the delivery log.
func quiet(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && strings.HasPrefix(err.Error(), "Post ") {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// printable is ": " and the start of a receiver's answer, on one line, or
// nothing when it is empty.
func printable(b []byte, n int) string {
	s := strings.Map(func(r rune) rune {
		if unsafeRune(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(Truncate(bytes.TrimSpace(b), n)), ""))
	if s = strings.TrimSpace(s); s == "" {
		return ""
	}
	return ": " + s
}

// Message size limits: RFC 5426 asks UDP receivers for 2048 bytes; over
// TCP and TLS rsyslog's default maximum is 8 KiB.
const (
	maxUDP    = 2048
	maxStream = 8192
)

// syslogSink writes RFC 5424 messages carrying CEF over UDP, or over TCP
// and TLS with octet-counting framing (RFC 6587 3.4.1, RFC 5425), on one
// connection kept open between sends.
type syslogSink struct {
	network, address   string
	tls                *tls.Config
	facility, hostname string
	version            string

	mu       sync.Mutex
	conn     net.Conn
	lastSend time.Time
}

func (s *syslogSink) frame(m message) []byte {
	line := Syslog(SyslogHeader{Facility: s.facility, Severity: m.event.Severity, Time: m.event.Time, Hostname: s.hostname,
		AppName: "probity", MsgID: m.event.Type, Version: s.version}, CEF(m.event, s.version, m.deliveryID))
	if s.network == "udp" {
		return Truncate(line, maxUDP)
	}
	line = Truncate(line, maxStream)
	return append(strconv.AppendInt(make([]byte, 0, len(line)+6), int64(len(line)), 10), append([]byte{' '}, line...)...)
}

func (s *syslogSink) send(ctx context.Context, m message) attempt {
	b := s.frame(m)
	s.mu.Lock()
	defer s.mu.Unlock()
	// A connection idle for a while is probed first; under steady load
	// the write itself finds a dead one.
	if s.conn != nil && s.network != "udp" && time.Since(s.lastSend) > time.Second && !alive(s.conn) {
		s.conn.Close()
		s.conn = nil
	}
	if s.conn == nil {
		c, err := s.dial(ctx)
		if err != nil {
			return attempt{err: err}
		}
		s.conn = c
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	s.conn.SetWriteDeadline(deadline)
	if _, err := s.conn.Write(b); err != nil {
		s.conn.Close()
		s.conn = nil
		return attempt{err: fmt.Errorf("writing to %s: %w", s.address, unwrapOp(err))}
	}
	s.lastSend = time.Now()
	return attempt{}
}

func (s *syslogSink) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	var c net.Conn
	var err error
	switch s.network {
	case "tls":
		td := &tls.Dialer{NetDialer: d, Config: s.tls}
		if td.Config == nil {
			td.Config = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		c, err = td.DialContext(ctx, "tcp", s.address)
	default:
		c, err = d.DialContext(ctx, s.network, s.address)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", s.address, unwrapOp(err))
	}
	return c, nil
}

// alive reports whether a kept stream connection is still open: a
// receiver that closed it (a restart) makes the read end at once, where a
// write would seem to succeed and be lost.
func alive(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	var one [1]byte
	_, err := c.Read(one[:])
	c.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func unwrapOp(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

func (s *syslogSink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}
