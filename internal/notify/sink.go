package notify

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

// Sink kinds.
const (
	KindWebhook   = "webhook"
	KindSyslog    = "syslog"
	KindSplunkHEC = "splunk_hec"
)

// Formats: what a delivery's payload is.
const (
	FormatJSON = "json" // the event as Probity writes it
	FormatOCSF = "ocsf" // an OCSF Detection Finding (class_uid 2004)
	FormatCEF  = "cef"  // ArcSight Common Event Format, in an RFC 5424 syslog message
)

// formats lists the formats each kind takes; the first is the default.
var formats = map[string][]string{
	KindWebhook:   {FormatJSON, FormatOCSF},
	KindSplunkHEC: {FormatJSON, FormatOCSF},
	KindSyslog:    {FormatCEF},
}

// facilities are the syslog facility names of RFC 5424, by code.
var facilities = []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
	"ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// Spec is a sink as an API client defines it. Secret and Token are write
// only: the store keeps them apart from Config and no view shows them.
type Spec struct {
	Name   string `json:"name,omitempty"`
	Kind   string `json:"kind"`
	Format string `json:"format,omitempty"`

	URL string `json:"url,omitempty"` // webhook, splunk_hec

	Network  string `json:"network,omitempty"`  // syslog: udp, tcp or tls
	Address  string `json:"address,omitempty"`  // syslog: host:port
	Facility string `json:"facility,omitempty"` // syslog

	// Hostname is the syslog HOSTNAME and the HEC host; the server's host
	// name when empty.
	Hostname   string `json:"hostname,omitempty"`
	Index      string `json:"index,omitempty"`      // splunk_hec
	Source     string `json:"source,omitempty"`     // splunk_hec
	SourceType string `json:"sourceType,omitempty"` // splunk_hec

	// CAPEM holds the certificates that verify the receiver (syslog over
	// TLS, https URLs), PEM; the system's roots when empty.
	CAPEM              string `json:"caPem,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`

	Secret string `json:"secret,omitempty"` // webhook signing secret; generated when empty
	Token  string `json:"token,omitempty"`  // splunk_hec token

	MinSeverity string   `json:"minSeverity,omitempty"` // info when empty: everything
	EventTypes  []string `json:"eventTypes,omitempty"`  // every type when empty
}

// Settings are a sink's kind-specific settings as stored
// (store.Sink.Config) and shown.
type Settings struct {
	URL                string `json:"url,omitempty"`
	Network            string `json:"network,omitempty"`
	Address            string `json:"address,omitempty"`
	Facility           string `json:"facility,omitempty"`
	Hostname           string `json:"hostname,omitempty"`
	Index              string `json:"index,omitempty"`
	Source             string `json:"source,omitempty"`
	SourceType         string `json:"sourceType,omitempty"`
	CAPEM              string `json:"caPem,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
}

const (
	maxText   = 200
	maxURL    = 2000
	maxSecret = 512
	maxCAPEM  = 64 << 10
	// SecretPrefix starts every generated webhook secret.
	SecretPrefix = "pbwhsec_"
)

// Sink checks s, fills its defaults (format, network, facility, severity,
// the HEC path, a generated secret) and returns the sink to store with its
// id, and the secret to show once (a webhook's; empty for other kinds).
// Problems are probity.Invalid errors naming the field.
func (s Spec) Sink(id string) (store.Sink, string, error) {
	var sk store.Sink
	if err := probity.CheckText("name", s.Name, maxText); err != nil {
		return sk, "", err
	}
	allowed, ok := formats[s.Kind]
	if !ok {
		if s.Kind == "" {
			return sk, "", probity.Invalid("kind", "is required: webhook, syslog or splunk_hec")
		}
		return sk, "", probity.Invalid("kind", "unknown kind %q: want webhook, syslog or splunk_hec", s.Kind)
	}
	if s.Format == "" {
		s.Format = allowed[0]
	}
	if !slices.Contains(allowed, s.Format) {
		if !slices.Contains([]string{FormatJSON, FormatOCSF, FormatCEF}, s.Format) {
			return sk, "", probity.Invalid("format", "unknown format %q: want json, ocsf or cef", s.Format)
		}
		return sk, "", probity.Invalid("format", "a %s sink takes %s, not %s", s.Kind, strings.Join(allowed, " or "), s.Format)
	}
	if s.MinSeverity == "" {
		s.MinSeverity = SeverityInfo
	}
	if rank(s.MinSeverity) < 0 {
		return sk, "", probity.Invalid("minSeverity", "unknown severity %q: want %s", s.MinSeverity, strings.Join(Severities, ", "))
	}
	for i, t := range s.EventTypes {
		field := fmt.Sprintf("eventTypes[%d]", i)
		if !slices.Contains(Types, t) {
			return sk, "", probity.Invalid(field, "unknown event type %q: want one of %s", t, strings.Join(Types, ", "))
		}
		if slices.Contains(s.EventTypes[:i], t) {
			return sk, "", probity.Invalid(field, "%s is named twice", t)
		}
	}
	cfg := Settings{Hostname: s.Hostname, CAPEM: s.CAPEM, InsecureSkipVerify: s.InsecureSkipVerify}
	if s.Hostname != "" && (len(s.Hostname) > 255 || strings.IndexFunc(s.Hostname, notPrintASCII) >= 0) {
		return sk, "", probity.Invalid("hostname", "must be 1-255 printable ASCII characters without spaces")
	}
	tlsUsed := false
	secret := ""
	switch s.Kind {
	case KindWebhook, KindSplunkHEC:
		if err := only(s.Kind, map[string]bool{"network": s.Network != "", "address": s.Address != "", "facility": s.Facility != ""}); err != nil {
			return sk, "", err
		}
		u, err := checkURL(s.URL)
		if err != nil {
			return sk, "", err
		}
		tlsUsed = u.Scheme == "https"
		if s.Kind == KindWebhook {
			if err := only(s.Kind, map[string]bool{"token": s.Token != "", "hostname": s.Hostname != "", "index": s.Index != "",
				"source": s.Source != "", "sourceType": s.SourceType != ""}); err != nil {
				return sk, "", err
			}
			if secret = s.Secret; secret == "" {
				var b [32]byte
				rand.Read(b[:])
				secret = SecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
			} else if len(secret) < 16 || len(secret) > maxSecret || strings.IndexFunc(secret, notPrintASCII) >= 0 {
				return sk, "", probity.Invalid("secret", "must be 16-%d printable ASCII characters without spaces, or left out for the server to make one", maxSecret)
			}
			sk.Secret = secret
		} else {
			if s.Secret != "" {
				return sk, "", probity.Invalid("secret", "a splunk_hec sink authenticates with token, not secret")
			}
			if s.Token == "" {
				return sk, "", probity.Invalid("token", "is required: the HTTP Event Collector token")
			}
			if len(s.Token) > maxSecret || strings.IndexFunc(s.Token, notPrintASCII) >= 0 {
				return sk, "", probity.Invalid("token", "must be at most %d printable ASCII characters without spaces", maxSecret)
			}
			if u.Path == "" || u.Path == "/" {
				u.Path = "/services/collector/event"
			}
			for _, f := range []struct{ name, v string }{{"index", s.Index}, {"source", s.Source}, {"sourceType", s.SourceType}} {
				if len(f.v) > maxText || strings.IndexFunc(f.v, notPrintASCII) >= 0 {
					return sk, "", probity.Invalid(f.name, "must be at most %d printable ASCII characters without spaces", maxText)
				}
			}
			cfg.Index, cfg.Source, cfg.SourceType = s.Index, s.Source, s.SourceType
			sk.Secret = s.Token
		}
		cfg.URL = u.String()
	case KindSyslog:
		if err := only(s.Kind, map[string]bool{"url": s.URL != "", "secret": s.Secret != "", "token": s.Token != "", "index": s.Index != "",
			"source": s.Source != "", "sourceType": s.SourceType != ""}); err != nil {
			return sk, "", err
		}
		if s.Network == "" {
			s.Network = "tcp"
		}
		if !slices.Contains([]string{"udp", "tcp", "tls"}, s.Network) {
			return sk, "", probity.Invalid("network", "unknown network %q: want udp, tcp or tls", s.Network)
		}
		if err := checkAddress(s.Address); err != nil {
			return sk, "", err
		}
		if s.Facility == "" {
			s.Facility = "local0"
		}
		if !slices.Contains(facilities, s.Facility) {
			return sk, "", probity.Invalid("facility", "unknown facility %q: want one of %s", s.Facility, strings.Join(facilities, ", "))
		}
		tlsUsed = s.Network == "tls"
		cfg.Network, cfg.Address, cfg.Facility = s.Network, s.Address, s.Facility
	}
	if !tlsUsed && (s.CAPEM != "" || s.InsecureSkipVerify) {
		field := "caPem"
		if s.CAPEM == "" {
			field = "insecureSkipVerify"
		}
		return sk, "", probity.Invalid(field, "applies only to TLS: an https URL or the tls network")
	}
	if s.CAPEM != "" {
		if len(s.CAPEM) > maxCAPEM {
			return sk, "", probity.Invalid("caPem", "at most %d bytes", maxCAPEM)
		}
		if !x509.NewCertPool().AppendCertsFromPEM([]byte(s.CAPEM)) {
			return sk, "", probity.Invalid("caPem", "holds no PEM certificate")
		}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return sk, "", err
	}
	sk.ID, sk.Name, sk.Kind, sk.Format, sk.Config = id, s.Name, s.Kind, s.Format, b
	sk.MinSeverity, sk.EventTypes = s.MinSeverity, slices.Clone(s.EventTypes)
	return sk, secret, nil
}

// only rejects the fields set that kind does not take.
func only(kind string, set map[string]bool) error {
	var names []string
	for name, on := range set {
		if on {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	return probity.Invalid(names[0], "a %s sink does not take %s", kind, names[0])
}

func checkURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, probity.Invalid("url", "is required: the receiver's http:// or https:// URL")
	}
	if len(raw) > maxURL {
		return nil, probity.Invalid("url", "at most %d bytes", maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, probity.Invalid("url", "must be an absolute http:// or https:// URL")
	}
	if u.User != nil {
		return nil, probity.Invalid("url", "must not carry credentials: a webhook proves itself with its signature, HEC with its token")
	}
	if u.Fragment != "" {
		return nil, probity.Invalid("url", "must not have a fragment")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, probity.Invalid("url", "port %q is not 1-65535", port)
		}
	}
	return u, nil
}

func checkAddress(addr string) error {
	if addr == "" {
		return probity.Invalid("address", "is required: the receiver's host:port")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || len(addr) > 300 || strings.IndexFunc(host, notPrintASCII) >= 0 {
		return probity.Invalid("address", "must be host:port, such as siem.example.com:6514")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return probity.Invalid("address", "port %q is not 1-65535", port)
	}
	return nil
}

func notPrintASCII(r rune) bool { return r < 33 || r > 126 }

// Matches reports whether sk takes ev: severe enough, and of a type it
// names (or it names none).
func Matches(sk store.Sink, ev Event) bool {
	return AtLeast(ev.Severity, sk.MinSeverity) && (len(sk.EventTypes) == 0 || slices.Contains(sk.EventTypes, ev.Type))
}

// SettingsOf decodes a stored sink's settings.
func SettingsOf(sk store.Sink) (Settings, error) {
	var c Settings
	if err := json.Unmarshal(sk.Config, &c); err != nil {
		return c, fmt.Errorf("%w: settings of sink %s: %v", store.ErrLedgerDamaged, sk.ID, err)
	}
	return c, nil
}
