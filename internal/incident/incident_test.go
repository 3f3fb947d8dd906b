package incident

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/probity-dev/probity"
)

func ev(id string) Evidence { return Evidence{Kind: EvidenceViolation, ID: id, Time: now} }

func TestLifecycle(t *testing.T) {
	f := Finding{Rule: RuleConfirmedInjection, Severity: Critical, Title: "t", Observed: map[string]any{"actions": 1},
		Threshold: "any", Evidence: []Evidence{ev("v_1"), ev("v_1"), ev("v_2")}}
	in := New("inc_7", "bot", f, now)
	if in.Status != Open || len(in.Evidence) != 3 || in.EvidenceCount != 3 || !in.Active() {
		t.Fatalf("new incident: %+v", in)
	}
	// A second trigger appends only what is new.
	f.Evidence = []Evidence{ev("v_2"), ev("v_3")}
	f.Observed = map[string]any{"actions": 3}
	added := in.Append(f, now.Add(time.Minute))
	if len(added) != 1 || added[0].ID != "v_3" || in.EvidenceCount != 4 || in.Observed["actions"] != 3 || !in.UpdatedAt.Equal(now.Add(time.Minute)) {
		t.Errorf("append: added %+v, incident %+v", added, in)
	}
	if added := in.Append(f, now.Add(2*time.Minute)); added != nil || !in.UpdatedAt.Equal(now.Add(time.Minute)) {
		t.Errorf("appending the same evidence again: %+v", added)
	}

	at := now.Add(time.Hour)
	if err := in.Resolve("k_1", "  ", at); !errors.Is(err, probity.ErrInvalid) {
		t.Errorf("resolve without a root cause: %v", err)
	} else if fe := (*probity.FieldError)(nil); !errors.As(err, &fe) || fe.Field != "rootCause" {
		t.Errorf("the error must name rootCause: %v", err)
	}
	if err := in.Acknowledge("k_1", "looking", at); err != nil || in.Status != Acknowledged || in.AcknowledgedBy != "k_1" {
		t.Fatalf("acknowledge: %v %+v", err, in)
	}
	if err := in.Acknowledge("k_1", "", at); !errors.Is(err, probity.ErrConflict) {
		t.Errorf("acknowledging twice: %v", err)
	}
	if err := in.Resolve("k_2", "prompt filter added", at.Add(time.Hour)); err != nil || in.Status != Resolved || in.RootCause != "prompt filter added" || in.Active() {
		t.Fatalf("resolve: %v %+v", err, in)
	}
	for name, err := range map[string]error{
		"resolve twice":        in.Resolve("k_2", "again", at),
		"acknowledge resolved": in.Acknowledge("k_2", "", at),
	} {
		if !errors.Is(err, probity.ErrConflict) {
			t.Errorf("%s: got %v, want a conflict", name, err)
		}
	}
	if err := (&Incident{Status: Open}).Acknowledge("k", "bad\x00note", at); !errors.Is(err, probity.ErrInvalid) {
		t.Errorf("a note with a NUL: %v", err)
	}
}

func TestBounds(t *testing.T) {
	in := New("inc_1", "a", Finding{Rule: RuleCheckRegression}, now)
	for i := range MaxEvidence + 20 {
		in.Append(Finding{Evidence: []Evidence{ev(fmt.Sprint(i))}}, now)
	}
	if len(in.Evidence) != MaxEvidence || in.EvidenceCount != MaxEvidence+20 || in.Evidence[MaxEvidence-1].ID != fmt.Sprint(MaxEvidence+19) {
		t.Errorf("evidence kept: %d of %d, newest %s", len(in.Evidence), in.EvidenceCount, in.Evidence[len(in.Evidence)-1].ID)
	}
	for i := range MaxHistory + 5 {
		in.Record(Transition{Action: ActionUpdated, LedgerIndex: int64(i)})
	}
	if len(in.History) != MaxHistory || in.History[0].LedgerIndex != 0 || in.History[MaxHistory-1].LedgerIndex != MaxHistory+4 {
		t.Errorf("history kept: %d, first %d, last %d", len(in.History), in.History[0].LedgerIndex, in.History[len(in.History)-1].LedgerIndex)
	}
}

func TestLeaf(t *testing.T) {
	in := New("inc_3", "bot", Finding{Rule: RuleCompositeDrop, Severity: High, Title: "dropped", Threshold: "20", Window: "7d",
		Observed: map[string]any{"drop": 25}, Evidence: []Evidence{ev("v_1")}}, now)
	in.Playbook = []string{"notify"}
	type leaf struct {
		Kind     string
		Incident struct {
			ID, AgentID, Rule, Severity, Action, Status, By, Title, Note, RootCause string
			At                                                                      time.Time
			Evidence                                                                []Evidence
			Playbook                                                                []string
		}
	}
	decode := func(b []byte, err error) leaf {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var l leaf
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := decode(in.Leaf(ActionOpened, System, "", nil, now))
	if l.Kind != "incident" || l.Incident.ID != "inc_3" || l.Incident.Action != "opened" || l.Incident.Title != "dropped" ||
		len(l.Incident.Evidence) != 1 || l.Incident.Playbook[0] != "notify" || l.Incident.By != System {
		t.Errorf("opening leaf: %+v", l)
	}
	in.Resolve("k_9", "retrained", now)
	l = decode(in.Leaf(ActionResolved, "k_9", "", nil, now))
	if l.Incident.Action != "resolved" || l.Incident.Status != "resolved" || l.Incident.RootCause != "retrained" || l.Incident.Title != "" || l.Incident.Evidence != nil {
		t.Errorf("resolution leaf: %+v", l)
	}
}
