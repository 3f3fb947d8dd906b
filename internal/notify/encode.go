package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/probity-dev/probity"
)

// Severity scales of the receivers. A SIEM sorts on these, so the mapping
// is part of the contract (docs/sinks.md).
var (
	cefSeverity    = map[string]int{SeverityCritical: 10, SeverityHigh: 8, SeverityMedium: 5, SeverityLow: 3, SeverityInfo: 1}
	ocsfSeverity   = map[string]int{SeverityCritical: 5, SeverityHigh: 4, SeverityMedium: 3, SeverityLow: 2, SeverityInfo: 1}
	ocsfSevName    = map[int]string{5: "Critical", 4: "High", 3: "Medium", 2: "Low", 1: "Informational"}
	syslogSeverity = map[string]int{SeverityCritical: 2, SeverityHigh: 3, SeverityMedium: 4, SeverityLow: 5, SeverityInfo: 6}
)

// subject is the id of what ev reports: Subject, else the id in its data,
// else the event's own id.
func subject(ev Event) string {
	if ev.Subject != "" {
		return ev.Subject
	}
	var d struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(ev.Data, &d) == nil && d.ID != "" {
		return d.ID
	}
	return ev.ID
}

// OCSF is ev as an OCSF Detection Finding (class_uid 2004, category
// Findings): incidents opened, updated and resolved are the Create, Update
// and Close activities of one finding (uid: the incident's id); every
// other event is a finding of its own. The Probity event rides along in
// unmapped.
func OCSF(ev Event, version string) ([]byte, error) {
	type product struct {
		Name       string `json:"name"`
		VendorName string `json:"vendor_name"`
		Version    string `json:"version"`
	}
	type analytic struct {
		Name   string `json:"name"`
		TypeID int    `json:"type_id"`
		Type   string `json:"type"`
	}
	type findingInfo struct {
		UID         string    `json:"uid"`
		Title       string    `json:"title"`
		Desc        string    `json:"desc,omitempty"`
		Types       []string  `json:"types"`
		CreatedTime int64     `json:"created_time"`
		Analytic    *analytic `json:"analytic,omitempty"`
	}
	type resource struct {
		UID  string `json:"uid"`
		Type string `json:"type"`
	}
	activity, name := 1, "Create"
	status, statusName := 1, "New"
	switch ev.Type {
	case IncidentUpdated:
		activity, name, status, statusName = 2, "Update", 2, "In Progress"
	case IncidentResolved:
		activity, name, status, statusName = 3, "Close", 4, "Resolved"
	}
	sev, ok := ocsfSeverity[ev.Severity]
	if !ok {
		sev = 0
	}
	fi := findingInfo{UID: subject(ev), Title: titleOf(ev), Desc: ev.Detail, Types: []string{ev.Type}, CreatedTime: ev.Time.UnixMilli()}
	if ev.Rule != "" {
		fi.Analytic = &analytic{Name: ev.Rule, TypeID: 1, Type: "Rule"}
	}
	var resources []resource
	if ev.AgentID != "" {
		resources = []resource{{UID: ev.AgentID, Type: "AI Agent"}}
	}
	out := struct {
		ActivityID   int            `json:"activity_id"`
		ActivityName string         `json:"activity_name"`
		CategoryUID  int            `json:"category_uid"`
		CategoryName string         `json:"category_name"`
		ClassUID     int            `json:"class_uid"`
		ClassName    string         `json:"class_name"`
		TypeUID      int            `json:"type_uid"`
		TypeName     string         `json:"type_name"`
		SeverityID   int            `json:"severity_id"`
		Severity     string         `json:"severity,omitempty"`
		StatusID     int            `json:"status_id"`
		Status       string         `json:"status"`
		IsAlert      bool           `json:"is_alert"`
		Time         int64          `json:"time"`
		Message      string         `json:"message"`
		Metadata     map[string]any `json:"metadata"`
		FindingInfo  findingInfo    `json:"finding_info"`
		Resources    []resource     `json:"resources,omitempty"`
		Unmapped     Event          `json:"unmapped"`
	}{
		ActivityID: activity, ActivityName: name, CategoryUID: 2, CategoryName: "Findings", ClassUID: 2004, ClassName: "Detection Finding",
		TypeUID: 2004*100 + activity, TypeName: "Detection Finding: " + name, SeverityID: sev, Severity: ocsfSevName[sev],
		StatusID: status, Status: statusName, IsAlert: activity != 3, Time: ev.Time.UnixMilli(), Message: titleOf(ev),
		Metadata: map[string]any{"version": "1.3.0", "uid": ev.ID,
			"product": product{Name: "Probity", VendorName: "Probity", Version: version}},
		FindingInfo: fi, Resources: resources, Unmapped: ev,
	}
	return json.Marshal(out)
}

func titleOf(ev Event) string {
	if ev.Title != "" {
		return ev.Title
	}
	return ev.Type
}

// CEF limits, in characters, from the format's specification.
const (
	cefMaxName      = 512
	cefMaxSignature = 1023
	cefMaxValue     = 1023
)

// CEF is ev as a Common Event Format line:
//
//	CEF:0|Probity|Probity|<version>|<rule or type>|<title>|<0-10>|rt=… cat=… …
//
// Header fields escape \ and |; extension values escape \ and = and turn
// line breaks into \n and \r. Other control and bidirectional characters
// become spaces, so agent text can neither end the line nor add a field.
func CEF(ev Event, version, deliveryID string) string {
	var b strings.Builder
	b.WriteString("CEF:0|Probity|Probity|")
	b.WriteString(cefHeader(version, 63))
	b.WriteByte('|')
	sig := ev.Rule
	if sig == "" {
		sig = ev.Type
	}
	b.WriteString(cefHeader(sig, cefMaxSignature))
	b.WriteByte('|')
	b.WriteString(cefHeader(titleOf(ev), cefMaxName))
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(cefSeverity[ev.Severity]))
	b.WriteByte('|')
	ext := []struct{ k, v string }{
		{"rt", strconv.FormatInt(ev.Time.UnixMilli(), 10)},
		{"cat", ev.Type},
		{"externalId", ev.ID},
		{"cs1Label", "agentId"}, {"cs1", ev.AgentID},
		{"cs2Label", "org"}, {"cs2", ev.Org},
		{"cs3Label", "deliveryId"}, {"cs3", deliveryID},
		{"cs4Label", "subject"}, {"cs4", subject(ev)},
		{"cs5Label", "severity"}, {"cs5", ev.Severity},
		{"msg", ev.Detail},
	}
	first := true
	for _, e := range ext {
		if e.v == "" {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(e.k)
		b.WriteByte('=')
		b.WriteString(cefValue(e.v, cefMaxValue))
	}
	return b.String()
}

// cefHeader escapes a header field (after cutting it to max characters).
func cefHeader(s string, max int) string {
	s = clip(s, max)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\' || r == '|':
			b.WriteByte('\\')
			b.WriteRune(r)
		case unsafeRune(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cefValue escapes an extension value (after cutting it to max characters).
func cefValue(s string, max int) string {
	s = clip(s, max)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\' || r == '=':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case unsafeRune(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unsafeRune is a character that may end or disguise a line: a control
// character (tab included), a Unicode line or paragraph separator, or a
// bidirectional override. Invalid UTF-8 decodes to U+FFFD, which is kept.
func unsafeRune(r rune) bool {
	return probity.Unsafe(r) || r == '\u2028' || r == '\u2029'
}

// clip cuts s to at most max characters.
func clip(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i]
		}
		n++
	}
	return s
}

// SyslogHeader is what an RFC 5424 message says besides its text.
type SyslogHeader struct {
	Facility string // a facility name, such as local0
	Severity string // a Probity severity, mapped to the syslog one
	Time     time.Time
	Hostname string
	AppName  string
	MsgID    string
	Version  string // the software version, in the origin element
}

// Syslog is an RFC 5424 message: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID
// MSGID [origin …] MSG. Header fields keep only printable US-ASCII and are
// cut to their lengths (HOSTNAME 255, APP-NAME 48, MSGID 32), so nothing
// placed in them can add a field; msg is expected free of line breaks
// (CEF escapes them).
func Syslog(h SyslogHeader, msg string) []byte {
	fac := 1 // user
	for i, f := range facilities {
		if f == h.Facility {
			fac = i
		}
	}
	sev, ok := syslogSeverity[h.Severity]
	if !ok {
		sev = 6
	}
	b := make([]byte, 0, 128+len(msg))
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(fac*8+sev), 10)
	b = append(b, ">1 "...)
	b = h.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, ' ')
	b = append(b, headerField(h.Hostname, 255)...)
	b = append(b, ' ')
	b = append(b, headerField(h.AppName, 48)...)
	b = append(b, " - "...) // PROCID
	b = append(b, headerField(h.MsgID, 32)...)
	b = append(b, ` [origin software="Probity" swVersion="`...)
	b = append(b, sdValue(headerField(h.Version, 32))...)
	b = append(b, `"] `...)
	b = append(b, msg...)
	return b
}

// headerField keeps the printable US-ASCII of s, at most max bytes, or the
// NILVALUE "-" when nothing is left.
func headerField(s string, max int) string {
	out := make([]byte, 0, min(len(s), max))
	for i := 0; i < len(s) && len(out) < max; i++ {
		if c := s[i]; c >= 33 && c <= 126 {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return string(out)
}

// sdValue escapes a structured-data parameter value (RFC 5424 6.3.3).
func sdValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(s)
}

// Truncate cuts msg to at most n bytes without splitting a UTF-8
// character or leaving an escaping backslash without the character it
// escapes.
func Truncate(msg []byte, n int) []byte {
	if len(msg) <= n {
		return msg
	}
	msg = msg[:n]
	for len(msg) > 0 && !utf8.Valid(msg[max(0, len(msg)-utf8.UTFMax):]) {
		msg = msg[:len(msg)-1]
	}
	// An odd run of trailing backslashes ends in half an escape.
	run := 0
	for i := len(msg) - 1; i >= 0 && msg[i] == '\\'; i-- {
		run++
	}
	if run%2 == 1 {
		msg = msg[:len(msg)-1]
	}
	return msg
}

// Sign is the Probity-Signature header of a webhook body sent at t:
// t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature is a webhook signature that does not verify.
var ErrBadSignature = errors.New("bad signature")

// Verify checks a Probity-Signature header against body and secret, and
// that its time is within tolerance of now: what a receiver does.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if sig, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, sig)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: want t=<unix>,v1=<hex>", ErrBadSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed at %d, outside the tolerance", ErrBadSignature, sec)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	want := m.Sum(nil)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return ErrBadSignature
}
