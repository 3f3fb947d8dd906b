package notify

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

func TestSpecDefaults(t *testing.T) {
	sk, secret, err := Spec{Kind: KindWebhook, URL: "https://soar.example.com/hook"}.Sink("snk_1")
	if err != nil {
		t.Fatal(err)
	}
	if sk.ID != "snk_1" || sk.Format != FormatJSON || sk.MinSeverity != SeverityInfo || len(sk.EventTypes) != 0 {
		t.Errorf("webhook defaults: got %+v", sk)
	}
	if !strings.HasPrefix(secret, SecretPrefix) || len(secret) < 40 || sk.Secret != secret {
		t.Errorf("generated secret: got %q (stored %q), want %s and 43 characters", secret, sk.Secret, SecretPrefix)
	}
	if strings.Contains(string(sk.Config), secret) {
		t.Errorf("the secret is in the settings: %s", sk.Config)
	}
	_, other, _ := Spec{Kind: KindWebhook, URL: "https://soar.example.com/hook"}.Sink("snk_2")
	if other == secret {
		t.Errorf("two sinks got one secret")
	}

	sk, secret, err = Spec{Kind: KindSplunkHEC, URL: "https://splunk.example.com:8088", Token: "0000-1111"}.Sink("snk_3")
	if err != nil {
		t.Fatal(err)
	}
	set, _ := SettingsOf(sk)
	if secret != "" || sk.Secret != "0000-1111" || set.URL != "https://splunk.example.com:8088/services/collector/event" {
		t.Errorf("HEC: got secret %q, stored %q, url %q", secret, sk.Secret, set.URL)
	}
	if strings.Contains(string(sk.Config), "0000-1111") {
		t.Errorf("the token is in the settings: %s", sk.Config)
	}

	sk, _, err = Spec{Kind: KindSyslog, Address: "siem.example.com:6514"}.Sink("snk_4")
	if err != nil {
		t.Fatal(err)
	}
	set, _ = SettingsOf(sk)
	if sk.Format != FormatCEF || set.Network != "tcp" || set.Facility != "local0" {
		t.Errorf("syslog defaults: got %+v %+v", sk, set)
	}
}

func TestSpecInvalid(t *testing.T) {
	const ca = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
	for _, tc := range []struct {
		name, field string
		spec        Spec
	}{
		{"no kind", "kind", Spec{URL: "https://x.example"}},
		{"unknown kind", "kind", Spec{Kind: "email"}},
		{"unknown format", "format", Spec{Kind: KindWebhook, Format: "xml", URL: "https://x.example"}},
		{"cef to a webhook", "format", Spec{Kind: KindWebhook, Format: FormatCEF, URL: "https://x.example"}},
		{"json to syslog", "format", Spec{Kind: KindSyslog, Format: FormatJSON, Address: "x:514"}},
		{"ocsf to syslog", "format", Spec{Kind: KindSyslog, Format: FormatOCSF, Address: "x:514"}},
		{"no url", "url", Spec{Kind: KindWebhook}},
		{"relative url", "url", Spec{Kind: KindWebhook, URL: "/hook"}},
		{"ftp url", "url", Spec{Kind: KindWebhook, URL: "ftp://x.example/hook"}},
		{"not a url", "url", Spec{Kind: KindWebhook, URL: "http://[::1"}},
		{"credentials in the url", "url", Spec{Kind: KindWebhook, URL: "https://user:pw@x.example/hook"}},
		{"bad port", "url", Spec{Kind: KindWebhook, URL: "https://x.example:70000/hook"}},
		{"short secret", "secret", Spec{Kind: KindWebhook, URL: "https://x.example", Secret: "short"}},
		{"secret with a space", "secret", Spec{Kind: KindWebhook, URL: "https://x.example", Secret: "a secret that is long enough"}},
		{"a token on a webhook", "token", Spec{Kind: KindWebhook, URL: "https://x.example", Token: "t"}},
		{"an address on a webhook", "address", Spec{Kind: KindWebhook, URL: "https://x.example", Address: "x:514"}},
		{"HEC without a token", "token", Spec{Kind: KindSplunkHEC, URL: "https://x.example"}},
		{"HEC with a secret", "secret", Spec{Kind: KindSplunkHEC, URL: "https://x.example", Token: "t", Secret: "0123456789abcdef"}},
		{"HEC index with a space", "index", Spec{Kind: KindSplunkHEC, URL: "https://x.example", Token: "t", Index: "a b"}},
		{"syslog without an address", "address", Spec{Kind: KindSyslog}},
		{"syslog address without a port", "address", Spec{Kind: KindSyslog, Address: "siem.example.com"}},
		{"syslog port 0", "address", Spec{Kind: KindSyslog, Address: "siem.example.com:0"}},
		{"syslog over http", "network", Spec{Kind: KindSyslog, Network: "http", Address: "x:514"}},
		{"syslog with a url", "url", Spec{Kind: KindSyslog, Address: "x:514", URL: "https://x.example"}},
		{"unknown facility", "facility", Spec{Kind: KindSyslog, Address: "x:514", Facility: "local9"}},
		{"a CA without TLS", "caPem", Spec{Kind: KindSyslog, Address: "x:514", CAPEM: ca}},
		{"skipping verification without TLS", "insecureSkipVerify", Spec{Kind: KindWebhook, URL: "http://x.example", InsecureSkipVerify: true}},
		{"a CA that is not one", "caPem", Spec{Kind: KindSyslog, Network: "tls", Address: "x:6514", CAPEM: ca}},
		{"hostname with a space", "hostname", Spec{Kind: KindSyslog, Address: "x:514", Hostname: "a b"}},
		{"unknown severity", "minSeverity", Spec{Kind: KindWebhook, URL: "https://x.example", MinSeverity: "sev1"}},
		{"unknown event type", "eventTypes[1]", Spec{Kind: KindWebhook, URL: "https://x.example", EventTypes: []string{IncidentOpened, "incident.exploded"}}},
		{"an event type twice", "eventTypes[1]", Spec{Kind: KindWebhook, URL: "https://x.example", EventTypes: []string{IncidentOpened, IncidentOpened}}},
		{"a control character in the name", "name", Spec{Kind: KindWebhook, URL: "https://x.example", Name: "a\x00b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tc.spec.Sink("snk_1")
			var fe *probity.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a field error on %s", err, tc.field)
			}
			if fe.Field != tc.field || fe.Message == "" {
				t.Errorf("got field %q (%s), want %q", fe.Field, fe.Message, tc.field)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	sk := store.Sink{MinSeverity: SeverityHigh, EventTypes: []string{IncidentOpened, AgentSuspended}}
	for _, tc := range []struct {
		typ, sev string
		want     bool
	}{
		{IncidentOpened, SeverityCritical, true},
		{IncidentOpened, SeverityHigh, true},
		{IncidentOpened, SeverityMedium, false},
		{AgentSuspended, SeverityHigh, true},
		{ScoreChanged, SeverityCritical, false},
		{IncidentOpened, "bogus", false},
	} {
		if got := Matches(sk, Event{Type: tc.typ, Severity: tc.sev}); got != tc.want {
			t.Errorf("%s %s: got %v, want %v", tc.typ, tc.sev, got, tc.want)
		}
	}
	all := store.Sink{MinSeverity: SeverityInfo}
	if !Matches(all, Event{Type: EvalCompleted, Severity: SeverityInfo}) {
		t.Errorf("a sink with no types and info takes everything")
	}
}

// TestSettingsRoundTrip: what a spec sets is what the stored settings say.
func TestSettingsRoundTrip(t *testing.T) {
	sk, _, err := Spec{Kind: KindSplunkHEC, Format: FormatOCSF, URL: "https://splunk.example.com/services/collector/event", Token: "t",
		Hostname: "probity-1", Index: "security", Source: "probity-prod", SourceType: "ocsf:detection"}.Sink("snk_1")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(sk.Config, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"url": "https://splunk.example.com/services/collector/event", "hostname": "probity-1", "index": "security",
		"source": "probity-prod", "sourceType": "ocsf:detection"}
	if len(got) != len(want) {
		t.Errorf("got settings %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v", k, got[k], v)
		}
	}
}
