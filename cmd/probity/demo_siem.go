package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/rsyslog"
)

// webhookReceiver is the demo's SOAR stand-in: it checks each delivery's
// signature, keeps each delivery once (deliveries are at least once), and
// counts them by event type.
type webhookReceiver struct {
	url    string
	secret string // set once the sink is created
	mu     sync.Mutex
	seen   map[string]bool
	byType map[string]int
	bad    int
}

func (w *webhookReceiver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(rw, "reading the body", http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := client.VerifyWebhook(w.secret, r.Header.Get("Probity-Signature"), body, time.Now(), 5*time.Minute); err != nil {
		w.bad++
		http.Error(rw, "bad signature", http.StatusUnauthorized)
		return
	}
	if id := r.Header.Get("Probity-Delivery"); !w.seen[id] {
		w.seen[id] = true
		w.byType[r.Header.Get("Probity-Event")]++
	}
	rw.WriteHeader(http.StatusNoContent)
}

func (w *webhookReceiver) counts() (map[string]int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for k, v := range w.byType {
		out[k] = v
	}
	return out, w.bad
}

// startReceivers starts the webhook receiver and, when rsyslogd is
// installed, an rsyslogd listening on TCP that writes each message it
// receives to a file in the data directory.
func (d *demo) startReceivers() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	d.hook = &webhookReceiver{url: "http://" + ln.Addr().String() + "/probity", seen: map[string]bool{}, byType: map[string]int{}}
	hs := &http.Server{Handler: d.hook, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	d.closers = append(d.closers, func() { hs.Close() })

	dir := filepath.Join(d.dir, "rsyslog")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	rs, err := rsyslog.Start(context.Background(), dir)
	if errors.Is(err, rsyslog.ErrNotInstalled) {
		fmt.Fprintln(d.out, "rsyslogd is not installed: CEF over syslog is left out (apt-get install rsyslog to see it).")
		return nil
	} else if err != nil {
		return err
	}
	d.closers = append(d.closers, rs.Stop)
	d.syslog = rs
	return nil
}

// sinks points the server at the receivers: the webhook (signed JSON) and
// rsyslog (RFC 5424 with CEF over TCP), each for medium severity and up.
func (d *demo) sinks(ctx context.Context) error {
	sk, secret, err := d.c.CreateSink(ctx, client.SinkInput{Name: "soar-webhook", Kind: client.SinkWebhook, Format: client.FormatJSON,
		URL: d.hook.url, MinSeverity: "medium"})
	if err != nil {
		return fmt.Errorf("creating the webhook sink: %w", err)
	}
	d.hook.mu.Lock()
	d.hook.secret = secret
	d.hook.mu.Unlock()
	d.sinkIDs = append(d.sinkIDs, sk.ID)
	fmt.Fprintf(d.out, "  webhook %s -> %s (signed; the secret was shown once)\n", sk.ID, d.hook.url)
	if d.syslog == nil {
		return nil
	}
	sk, _, err = d.c.CreateSink(ctx, client.SinkInput{Name: "siem-syslog", Kind: client.SinkSyslog, Format: client.FormatCEF,
		Network: "tcp", Address: d.syslog.Addr, MinSeverity: "medium"})
	if err != nil {
		return fmt.Errorf("creating the syslog sink: %w", err)
	}
	d.sinkIDs = append(d.sinkIDs, sk.ID)
	fmt.Fprintf(d.out, "  syslog  %s -> rsyslogd at %s (CEF, written to %s)\n", sk.ID, d.syslog.Addr, d.syslog.File)
	return nil
}

// incidents waits for the story's two incidents (the inbox assistant's
// critical one and the billing agent's model-update one), then prints the
// queue and the suspension.
func (d *demo) incidents(ctx context.Context) error {
	want := map[string]string{"inbox-assistant": "critical", "billing-agent": "high"}
	var all []client.Incident
	shown := map[string]bool{}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	fmt.Fprintln(d.out, "  waiting for the server's incident rules (scores are recomputed within about 10 seconds of new evidence)")
	for {
		page, err := d.c.ListIncidents(ctx, client.IncidentFilter{ListOptions: client.ListOptions{Limit: 100}})
		if err != nil {
			return err
		}
		all = page.Items
		found := map[string]bool{}
		for _, in := range all {
			if !shown[in.ID] {
				shown[in.ID] = true
				fmt.Fprintf(d.out, "  %-8s %-16s %s\n", in.Severity, printable(in.AgentID), printable(in.Title))
			}
			if want[in.AgentID] == in.Severity {
				found[in.AgentID] = true
			}
		}
		if len(found) == len(want) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for incidents (have %d): %w", len(all), ctx.Err())
		case <-tick.C:
		}
	}
	a, err := d.c.GetAgent(ctx, "inbox-assistant")
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "  inbox-assistant is %s: %s\n", a.Status, printable(a.StatusReason))
	g, err := d.c.Gate(ctx, client.GateRequest{AgentID: "inbox-assistant"})
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "  the gate: allow=%v (%s)\n", g.Allow, printable(strings.Join(g.Reasons, "; ")))
	return nil
}

// deliveries waits until every incident event queued for the sinks has
// been delivered, then shows what each receiver got.
func (d *demo) deliveries(ctx context.Context) error {
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		pending := 0
		for _, id := range d.sinkIDs {
			page, err := d.c.ListDeliveries(ctx, id, client.DeliveryFilter{Status: "pending", ListOptions: client.ListOptions{Limit: 100}})
			if err != nil {
				return err
			}
			pending += len(page.Items)
		}
		if pending == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d deliveries: %w", pending, ctx.Err())
		case <-tick.C:
		}
	}
	counts, bad := d.hook.counts()
	tw := tabwriter.NewWriter(d.out, 0, 4, 2, ' ', 0)
	var types []string
	for t := range counts {
		types = append(types, t)
	}
	slices.Sort(types)
	for _, t := range types {
		fmt.Fprintf(tw, "  webhook\t%s\t%d\n", t, counts[t])
	}
	tw.Flush()
	if bad > 0 {
		fmt.Fprintf(d.out, "  webhook: %d requests with a bad signature were refused\n", bad)
	}
	if d.syslog == nil {
		return nil
	}
	// rsyslogd writes what it received a moment after acknowledging it.
	var lines []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		var complete bool
		lines, complete = d.syslog.Lines()
		if complete && len(lines) >= d.syslogWant(ctx) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling rsyslogd's output file
	}
	fmt.Fprintf(d.out, "  rsyslog wrote %d CEF messages to %s; the first:\n", len(lines), d.syslog.File)
	if len(lines) > 0 {
		fmt.Fprintf(d.out, "    %s\n", printable(lines[0]))
	}
	return nil
}

// syslogWant is how many deliveries the syslog sink has sent.
func (d *demo) syslogWant(ctx context.Context) int {
	if len(d.sinkIDs) < 2 {
		return 0
	}
	page, err := d.c.ListDeliveries(ctx, d.sinkIDs[1], client.DeliveryFilter{Status: "sent", ListOptions: client.ListOptions{Limit: 100}})
	if err != nil {
		return 0
	}
	return len(page.Items)
}

// audit runs probity audit against the demo's server.
func (d *demo) audit(ctx context.Context) {
	err := runAudit(ctx, []string{"--server", d.url, "--key", d.key, "--fail-on", "critical"}, d.out, d.out)
	if code := exitCode(err, io.Discard); code != exitOK {
		fmt.Fprintf(d.out, "\n  probity audit --fail-on critical exits %d: a deployment pipeline would stop here.\n", code)
	}
}
