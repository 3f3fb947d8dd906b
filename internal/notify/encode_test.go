package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	goldenfile "github.com/probity-dev/probity/internal/golden"
)

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) { goldenfile.Check(t, name, got) }

// sampleEvent is an incident as the outbox queues it.
func sampleEvent() Event {
	return Event{
		ID: "evt_0193a4b5c6d7e8f9a0b1c2d3", Org: "acme", Type: IncidentOpened, Severity: SeverityCritical, AgentID: "support-bot",
		Time:  time.Date(2026, 3, 4, 5, 6, 7, 891234000, time.UTC),
		Title: "confirmed injection-influenced action", Detail: "a tool result carried an instruction; the next call sent data to evil.example",
		Rule: "injection.confirmed", Subject: "inc_42", Data: json.RawMessage(`{"id":"inc_42","status":"open"}`),
	}
}

// hostile is agent-controlled text that tries every trick on a CEF line
// and a syslog header.
const hostile = "x|y=z\\w\nCEF:0|Evil|Evil|1|forged|forged|10|act=allow\r<13>1 2026-01-01T00:00:00Z evil - - - [origin x=\"y\"] ]\"\t\x00\u2028\u202e end"

func TestCEFGolden(t *testing.T) {
	golden(t, "incident.cef", []byte(CEF(sampleEvent(), "1.2.3", "dl_0193a4b5c6d7e8f9a0b1c2d4")+"\n"))
	ev := sampleEvent()
	ev.Title, ev.Detail, ev.Rule, ev.AgentID = hostile, hostile, hostile, hostile
	golden(t, "hostile.cef", []byte(CEF(ev, "1.2.3", "dl_1")+"\n"))
}

// cefFields splits a CEF line as a SIEM does: seven header fields on
// unescaped pipes, then extension pairs on unescaped '=' with the key the
// word before it.
func cefFields(t *testing.T, line string) (header []string, ext map[string]string) {
	t.Helper()
	var cur strings.Builder
	rest := ""
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '\\' && i+1 < len(line) {
			cur.WriteByte(line[i+1])
			i++
			continue
		}
		if c == '|' {
			header = append(header, cur.String())
			cur.Reset()
			if len(header) == 7 {
				rest = line[i+1:]
				break
			}
			continue
		}
		cur.WriteByte(c)
	}
	if len(header) != 7 {
		t.Fatalf("got %d header fields, want 7: %q", len(header), line)
	}
	ext = map[string]string{}
	// Positions of unescaped '='.
	var eqs []int
	for i := 0; i < len(rest); i++ {
		if rest[i] == '\\' {
			i++
			continue
		}
		if rest[i] == '=' {
			eqs = append(eqs, i)
		}
	}
	keyStart := 0
	for n, eq := range eqs {
		key := rest[keyStart:eq]
		end := len(rest)
		if n+1 < len(eqs) {
			end = strings.LastIndexByte(rest[:eqs[n+1]], ' ')
		}
		raw := rest[eq+1 : end]
		val := strings.NewReplacer(`\=`, "=", `\\`, `\`, `\n`, "\n", `\r`, "\r").Replace(raw)
		if _, dup := ext[key]; dup {
			t.Errorf("extension key %q appears twice in %q", key, rest)
		}
		ext[key] = val
		keyStart = end + 1
	}
	return header, ext
}

func TestCEFCannotBeForged(t *testing.T) {
	ev := sampleEvent()
	ev.Title, ev.Detail, ev.Rule, ev.AgentID, ev.Subject = hostile, hostile, hostile, hostile, hostile
	line := CEF(ev, "1.2.3", "dl_1")
	if strings.ContainsAny(line, "\r\n\x00\t\u2028\u202e") {
		t.Fatalf("the line holds a line break or control character: %q", line)
	}
	header, ext := cefFields(t, line)
	want := []string{"CEF:0", "Probity", "Probity", "1.2.3"}
	for i, w := range want {
		if header[i] != w {
			t.Errorf("header field %d: got %q, want %q", i, header[i], w)
		}
	}
	// The agent's text comes back whole (control characters as spaces),
	// in the fields it was put in, and adds none.
	flat := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, hostile)
	flat = strings.Map(func(r rune) rune {
		if unsafeRune(r) {
			return ' '
		}
		return r
	}, flat)
	if header[4] != flat || header[5] != flat {
		t.Errorf("signature and name: got %q and %q, want %q", header[4], header[5], flat)
	}
	if header[6] != "10" {
		t.Errorf("severity: got %q, want 10", header[6])
	}
	keepBreaks := strings.Map(func(r rune) rune {
		if r != '\n' && r != '\r' && unsafeRune(r) {
			return ' '
		}
		return r
	}, hostile)
	if ext["msg"] != keepBreaks || ext["cs1"] != keepBreaks || ext["cs4"] != keepBreaks {
		t.Errorf("extension values: got msg %q cs1 %q cs4 %q, want each %q", ext["msg"], ext["cs1"], ext["cs4"], keepBreaks)
	}
	wantKeys := []string{"rt", "cat", "externalId", "cs1Label", "cs1", "cs2Label", "cs2", "cs3Label", "cs3", "cs4Label", "cs4", "cs5Label", "cs5", "msg"}
	if len(ext) != len(wantKeys) {
		t.Errorf("got extension keys %v, want exactly %v", ext, wantKeys)
	}
	for _, k := range wantKeys {
		if _, ok := ext[k]; !ok {
			t.Errorf("extension %q is missing: %v", k, ext)
		}
	}
	if ext["act"] != "" {
		t.Errorf("a forged extension act=%q appeared", ext["act"])
	}
}

func TestCEFLimits(t *testing.T) {
	ev := sampleEvent()
	ev.Title = strings.Repeat("é", 600)
	ev.Detail = strings.Repeat("=", 2000)
	header, ext := cefFields(t, CEF(ev, "v", "dl_1"))
	if n := utf8.RuneCountInString(header[5]); n != cefMaxName {
		t.Errorf("name: got %d characters, want %d", n, cefMaxName)
	}
	if n := len(ext["msg"]); n != cefMaxValue {
		t.Errorf("msg: got %d characters, want %d", n, cefMaxValue)
	}
}

func TestSyslogGolden(t *testing.T) {
	ev := sampleEvent()
	h := SyslogHeader{Facility: "local4", Severity: ev.Severity, Time: ev.Time, Hostname: "probity-1.example", AppName: "probity",
		MsgID: ev.Type, Version: "1.2.3"}
	golden(t, "incident.syslog", append(Syslog(h, CEF(ev, "1.2.3", "dl_0193a4b5c6d7e8f9a0b1c2d4")), '\n'))
}

func TestSyslogHeaderCannotBeForged(t *testing.T) {
	h := SyslogHeader{Facility: "nope", Severity: "nope", Time: time.Unix(0, 0), Hostname: "a b\nc]\"" + strings.Repeat("h", 300),
		AppName: "", MsgID: "type with spaces " + strings.Repeat("m", 40), Version: `1"]\`}
	line := string(Syslog(h, "msg"))
	fields := strings.SplitN(line, " ", 8)
	if len(fields) != 8 {
		t.Fatalf("got %d fields, want 8: %q", len(fields), line)
	}
	if fields[0] != "<14>1" { // user.info for an unknown facility and severity
		t.Errorf("PRI and version: got %q, want <14>1", fields[0])
	}
	if want := "abc]\"" + strings.Repeat("h", 250); fields[2] != want {
		t.Errorf("hostname: got %q, want %q", fields[2], want)
	}
	if fields[3] != "-" || fields[4] != "-" {
		t.Errorf("app name and procid: got %q %q, want - -", fields[3], fields[4])
	}
	if want := "typewithspaces" + strings.Repeat("m", 18); fields[5] != want {
		t.Errorf("msgid: got %q, want %q (32 bytes)", fields[5], want)
	}
	if want := `[origin software="Probity" swVersion="1\"\]\\"] msg`; fields[6]+" "+fields[7] != want {
		t.Errorf("structured data and message: got %q, want %q", fields[6]+" "+fields[7], want)
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"ab\\\\cd", 3, "ab"},     // would end in half of \\
		{"ab\\\\cd", 4, "ab\\\\"}, // a whole \\
		{"aé", 2, "a"},            // would split é
		{"a\\=b", 2, "a"},
	} {
		if got := string(Truncate([]byte(tc.in), tc.n)); got != tc.want {
			t.Errorf("Truncate(%q, %d): got %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestOCSF(t *testing.T) {
	b, err := OCSF(sampleEvent(), "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	json.Indent(&pretty, b, "", "  ")
	golden(t, "incident.ocsf.json", append(pretty.Bytes(), '\n'))

	for _, tc := range []struct {
		typ, sev           string
		activity, severity int
		uid                string
	}{
		{IncidentOpened, SeverityCritical, 1, 5, "inc_42"},
		{IncidentUpdated, SeverityHigh, 2, 4, "inc_42"},
		{IncidentResolved, SeverityMedium, 3, 3, "inc_42"},
		{ScoreChanged, SeverityLow, 1, 2, "evt_0193a4b5c6d7e8f9a0b1c2d3"},
		{EvalCompleted, SeverityInfo, 1, 1, "evt_0193a4b5c6d7e8f9a0b1c2d3"},
	} {
		ev := sampleEvent()
		ev.Type, ev.Severity = tc.typ, tc.sev
		if tc.typ == ScoreChanged || tc.typ == EvalCompleted {
			ev.Subject, ev.Data = "", json.RawMessage(`{"agentId":"x"}`)
		}
		b, err := OCSF(ev, "v")
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			ClassUID    int `json:"class_uid"`
			CategoryUID int `json:"category_uid"`
			ActivityID  int `json:"activity_id"`
			TypeUID     int `json:"type_uid"`
			SeverityID  int `json:"severity_id"`
			Time        int64
			Metadata    struct {
				Version string
				Product struct {
					Name       string
					VendorName string `json:"vendor_name"`
				}
			}
			FindingInfo struct {
				UID   string
				Title string
				Types []string
			} `json:"finding_info"`
		}
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		if f.ClassUID != 2004 || f.CategoryUID != 2 || f.ActivityID != tc.activity || f.TypeUID != 200400+tc.activity ||
			f.SeverityID != tc.severity || f.Time != ev.Time.UnixMilli() {
			t.Errorf("%s: got %+v, want class 2004, category 2, activity %d, severity %d", tc.typ, f, tc.activity, tc.severity)
		}
		if f.Metadata.Version == "" || f.Metadata.Product.Name != "Probity" || f.Metadata.Product.VendorName != "Probity" {
			t.Errorf("%s: metadata %+v", tc.typ, f.Metadata)
		}
		if f.FindingInfo.UID != tc.uid || f.FindingInfo.Title != ev.Title || len(f.FindingInfo.Types) != 1 || f.FindingInfo.Types[0] != tc.typ {
			t.Errorf("%s: finding_info %+v, want uid %s", tc.typ, f.FindingInfo, tc.uid)
		}
	}
}

func TestSignature(t *testing.T) {
	secret := []byte("pbwhsec_test-secret-0123456789")
	body := []byte(`{"id":"evt_1"}`)
	at := time.Unix(1767225600, 0)
	sig := Sign(secret, at, body)
	if !strings.HasPrefix(sig, "t=1767225600,v1=") || len(sig) != len("t=1767225600,v1=")+64 {
		t.Fatalf("got %q, want t=1767225600,v1=<64 hex digits>", sig)
	}
	if err := Verify(secret, sig, body, at.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("a good signature: %v", err)
	}
	for _, tc := range []struct {
		name, header string
		body         []byte
		secret       []byte
		now          time.Time
	}{
		{"another body", sig, []byte(`{"id":"evt_2"}`), secret, at},
		{"another secret", sig, body, []byte("other-secret-0123456789"), at},
		{"too old", sig, body, secret, at.Add(6 * time.Minute)},
		{"no v1", "t=1767225600", body, secret, at},
		{"no t", strings.TrimPrefix(sig, "t=1767225600,"), body, secret, at},
		{"a moved t", strings.Replace(sig, "t=1767225600", "t=1767225601", 1), body, secret, at},
	} {
		if err := Verify(tc.secret, tc.header, tc.body, tc.now, 5*time.Minute); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: got %v, want ErrBadSignature", tc.name, err)
		}
	}
}
