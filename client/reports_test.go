package client_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/apptest"
)

// TestBoardReport fetches the report in each format and period the options
// name, and passes the server's errors on with their field.
func TestBoardReport(t *testing.T) {
	env := apptest.Start(t)
	c := client.New(env.URL, env.AdminKey)
	ctx := t.Context()
	if _, err := c.CreateAgent(ctx, probity.Agent{ID: "support-bot", Owner: "cx"}); err != nil {
		t.Fatal(err)
	}
	to := time.Now().UTC() // after the agent was registered, before the server reads its clock
	b, err := c.BoardReport(ctx, client.BoardReportOptions{Days: 7, To: to})
	var rep struct {
		Agents []struct{ ID, Owner string }
		Period struct {
			From, To time.Time
			Days     float64
		}
	}
	if err != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("json: %v %s", err, b)
	}
	if rep.Period.Days != 7 || !rep.Period.To.Equal(to) || len(rep.Agents) != 1 || rep.Agents[0].Owner != "cx" {
		t.Errorf("json report: %+v", rep)
	}
	for format, prefix := range map[string]string{client.ReportMarkdown: "# Behavioral security report", client.ReportHTML: "<!DOCTYPE html>"} {
		b, err := c.BoardReport(ctx, client.BoardReportOptions{Format: format})
		if err != nil || !bytes.HasPrefix(b, []byte(prefix)) {
			t.Errorf("%s: %v %.60q", format, err, b)
		}
	}
	_, err = c.BoardReport(ctx, client.BoardReportOptions{From: time.Now().Add(-100 * 24 * time.Hour)})
	var ce *client.Error
	if !errors.As(err, &ce) || !errors.Is(err, probity.ErrInvalid) || ce.Field != "from" {
		t.Errorf("a 100-day period: got %v, want an invalid-argument error naming from", err)
	}
	if _, err := c.BoardReport(ctx, client.BoardReportOptions{Format: "pdf"}); err == nil || !strings.Contains(err.Error(), `unknown format "pdf"`) {
		t.Errorf("format pdf: got %v", err)
	}
}
