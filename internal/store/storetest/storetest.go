// Package storetest is the conformance suite every store driver passes:
// call Run from the driver's tests with a function that opens a fresh, empty
// store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

// Opener opens a fresh, empty, migrated store; the suite closes it.
type Opener func(t *testing.T) store.Store

// Run checks that the stores made by open honour the store contract.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Orgs", testOrgs},
		{"Keys", testKeys},
		{"Agents", testAgents},
		{"ModelHistory", testModelHistory},
		{"Audit", testAudit},
		{"OrgIsolation", testOrgIsolation},
		{"Rollback", testRollback},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"Ping", testPing},
		{"PanicReleasesTheWriter", testPanicReleases},
	}
	tests = append(tests, ledgerTests...)
	tests = append(tests, pactTests...)
	tests = append(tests, violationTests...)
	tests = append(tests, evalTests...)
	tests = append(tests, scoreTests...)
	tests = append(tests, incidentTests...)
	tests = append(tests, sinkTests...)
	tests = append(tests, webSessionTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
}

// PostgresDSN returns the DSN of the test PostgreSQL server from
// PROBITY_TEST_POSTGRES. Without it the test is skipped, except under CI
// (CI=true), where a missing database is a failure: CI never skips silently.
func PostgresDSN(t testing.TB) string {
	dsn := os.Getenv("PROBITY_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PROBITY_TEST_POSTGRES is not set, and CI must run the PostgreSQL tests")
		}
		t.Skip("PROBITY_TEST_POSTGRES is not set; skipping PostgreSQL tests")
	}
	return dsn
}

func update(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func view(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

func ts(sec int) time.Time { return time.Date(2026, 1, 2, 3, 4, sec, 123456000, time.UTC) }

func mkOrg(t *testing.T, s store.Store, id string) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		return tx.CreateOrg(context.Background(), probity.Org{ID: id, CreatedAt: ts(0)})
	})
}

func wantErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func testOrgs(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "beta")
	mkOrg(t, s, "alpha")
	err := s.Update(ctx, func(tx store.Tx) error { return tx.CreateOrg(ctx, probity.Org{ID: "alpha", CreatedAt: ts(1)}) })
	wantErr(t, err, probity.ErrConflict, "creating a duplicate org")
	view(t, s, func(tx store.Tx) error {
		o, err := tx.GetOrg(ctx, "alpha")
		if err != nil {
			return err
		}
		if !o.CreatedAt.Equal(ts(0)) {
			t.Errorf("org createdAt: got %v, want %v", o.CreatedAt, ts(0))
		}
		_, err = tx.GetOrg(ctx, "gamma")
		wantErr(t, err, probity.ErrNotFound, "reading a missing org")
		orgs, err := tx.ListOrgs(ctx)
		if err != nil {
			return err
		}
		if len(orgs) != 2 || orgs[0].ID != "alpha" || orgs[1].ID != "beta" {
			t.Errorf("orgs: got %+v, want alpha, beta", orgs)
		}
		return nil
	})
}

func mkKey(id, org string, hash byte, scopes ...probity.Scope) probity.APIKey {
	return probity.APIKey{ID: id, OrgID: org, Name: "n-" + id, Prefix: "pb_" + id, Scopes: scopes,
		Hash: []byte{hash, 1, 2, 3}, CreatedAt: ts(int(hash) % 60), CreatedBy: "cli"}
}

func testKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	k1 := mkKey("k1", "o1", 1, probity.ScopeAdmin)
	k2 := mkKey("k2", "o1", 2, probity.ScopeRead, probity.ScopeEval)
	update(t, s, func(tx store.Tx) error {
		if err := tx.CreateKey(ctx, k1); err != nil {
			return err
		}
		return tx.CreateKey(ctx, k2)
	})
	dup := mkKey("k3", "o1", 1, probity.ScopeRead)
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.CreateKey(ctx, dup) }), probity.ErrConflict, "creating a key with a taken hash")

	view(t, s, func(tx store.Tx) error {
		got, err := tx.KeyByHash(ctx, k2.Hash)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, k2) {
			t.Errorf("key by hash: got %+v, want %+v", got, k2)
		}
		_, err = tx.KeyByHash(ctx, []byte{9, 9})
		wantErr(t, err, probity.ErrNotFound, "looking up an unknown hash")
		page, err := tx.ListKeys(ctx, "o1", store.Page{Limit: 1})
		if err != nil {
			return err
		}
		if len(page) != 1 || page[0].ID != "k1" {
			t.Fatalf("first key page: got %+v, want [k1]", page)
		}
		page, err = tx.ListKeys(ctx, "o1", store.Page{After: "k1", Limit: 10})
		if err != nil {
			return err
		}
		if len(page) != 1 || page[0].ID != "k2" {
			t.Fatalf("second key page: got %+v, want [k2]", page)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.RevokeKey(ctx, "o1", "k1", ts(30)) })
	// Revoking again keeps the first revocation time.
	update(t, s, func(tx store.Tx) error { return tx.RevokeKey(ctx, "o1", "k1", ts(40)) })
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.RevokeKey(ctx, "o1", "nope", ts(30)) }),
		probity.ErrNotFound, "revoking a missing key")
	view(t, s, func(tx store.Tx) error {
		k, err := tx.GetKey(ctx, "o1", "k1")
		if err != nil {
			return err
		}
		if k.RevokedAt == nil || !k.RevokedAt.Equal(ts(30)) {
			t.Errorf("revokedAt: got %v, want %v", k.RevokedAt, ts(30))
		}
		return nil
	})
}

func sampleAgent(id string) probity.Agent {
	return probity.Agent{
		ID: id, Name: "Agent " + id, Owner: "payments-team", Description: "pays invoices",
		Model:    probity.Model{Provider: "openai", Name: "gpt-x", Version: "2026-01-01"},
		Endpoint: &probity.Endpoint{Kind: "openai", URL: "http://127.0.0.1:1/v1", Model: "m", APIKeyEnv: "K"},
		Access: probity.Access{DataClasses: []string{"pii"}, Systems: []string{"erp"}, Production: true,
			Financial: true, Actions: []string{"payment"}},
		RiskTier: "high", Status: probity.StatusActive, CreatedAt: ts(1), UpdatedAt: ts(1),
	}
}

func testAgents(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	for _, id := range []string{"c", "a", "b"} {
		a := sampleAgent(id)
		update(t, s, func(tx store.Tx) error { return tx.CreateAgent(ctx, "o1", a) })
	}
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.CreateAgent(ctx, "o1", sampleAgent("a")) }),
		probity.ErrConflict, "creating a duplicate agent")
	view(t, s, func(tx store.Tx) error {
		got, err := tx.GetAgent(ctx, "o1", "b")
		if err != nil {
			return err
		}
		if want := sampleAgent("b"); !reflect.DeepEqual(got, want) {
			t.Errorf("agent: got %+v, want %+v", got, want)
		}
		_, err = tx.GetAgent(ctx, "o1", "zz")
		wantErr(t, err, probity.ErrNotFound, "reading a missing agent")
		all, err := tx.ListAgents(ctx, "o1", store.Page{Limit: 2})
		if err != nil {
			return err
		}
		if len(all) != 2 || all[0].ID != "a" || all[1].ID != "b" {
			t.Errorf("first page: got %v, want a, b", ids(all))
		}
		rest, err := tx.ListAgents(ctx, "o1", store.Page{After: "b", Limit: 2})
		if err != nil {
			return err
		}
		if len(rest) != 1 || rest[0].ID != "c" {
			t.Errorf("second page: got %v, want c", ids(rest))
		}
		return nil
	})
	a := sampleAgent("a")
	a.Status, a.StatusReason, a.UpdatedAt = probity.StatusSuspended, "investigating", ts(9)
	update(t, s, func(tx store.Tx) error { return tx.UpdateAgent(ctx, "o1", a) })
	view(t, s, func(tx store.Tx) error {
		got, err := tx.GetAgent(ctx, "o1", "a")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, a) {
			t.Errorf("updated agent: got %+v, want %+v", got, a)
		}
		return nil
	})
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.UpdateAgent(ctx, "o1", sampleAgent("zz")) }),
		probity.ErrNotFound, "updating a missing agent")
}

func ids(as []probity.Agent) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

func testModelHistory(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	update(t, s, func(tx store.Tx) error { return tx.CreateAgent(ctx, "o1", sampleAgent("a")) })
	changes := []probity.ModelChange{
		{Model: probity.Model{Provider: "p", Name: "m", Version: "1"}, Since: ts(1), ChangedBy: "k1"},
		{Model: probity.Model{Provider: "p", Name: "m", Version: "2"}, Since: ts(5), ChangedBy: "k2"},
	}
	for _, c := range changes {
		update(t, s, func(tx store.Tx) error { return tx.AddModelChange(ctx, "o1", "a", c) })
	}
	view(t, s, func(tx store.Tx) error {
		got, err := tx.ModelHistory(ctx, "o1", "a")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, changes) {
			t.Errorf("model history: got %+v, want %+v", got, changes)
		}
		none, err := tx.ModelHistory(ctx, "o1", "other")
		if err != nil {
			return err
		}
		if len(none) != 0 {
			t.Errorf("history of an unknown agent: got %v, want none", none)
		}
		return nil
	})
}

func testAudit(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	for i := range 5 {
		e := &probity.AuditEntry{Time: ts(i), Actor: "k1", Action: "agent.create", Target: fmt.Sprintf("agent:a%d", i),
			Change: json.RawMessage(`{"id":"a"}`)}
		if i == 3 {
			e.Action, e.Change = "key.revoke", nil
		}
		update(t, s, func(tx store.Tx) error { return tx.AppendAudit(ctx, "o1", e) })
		if e.Seq != int64(i+1) {
			t.Fatalf("audit seq: got %d, want %d", e.Seq, i+1)
		}
	}
	other := &probity.AuditEntry{Time: ts(1), Actor: "x", Action: "agent.create", Target: "agent:z"}
	update(t, s, func(tx store.Tx) error { return tx.AppendAudit(ctx, "o2", other) })
	if other.Seq != 1 {
		t.Errorf("seq in a second org: got %d, want 1 (sequences are per org)", other.Seq)
	}
	view(t, s, func(tx store.Tx) error {
		all, err := tx.ListAudit(ctx, "o1", store.AuditFilter{Page: store.Page{Limit: 100}})
		if err != nil {
			return err
		}
		if len(all) != 5 {
			t.Fatalf("audit entries: got %d, want 5", len(all))
		}
		if string(all[0].Change) != `{"id":"a"}` || all[3].Change != nil || !all[2].Time.Equal(ts(2)) {
			t.Errorf("audit entries round-trip: got %+v", all)
		}
		page, err := tx.ListAudit(ctx, "o1", store.AuditFilter{Page: store.Page{After: "2", Limit: 2}})
		if err != nil {
			return err
		}
		if len(page) != 2 || page[0].Seq != 3 || page[1].Seq != 4 {
			t.Errorf("audit page after 2: got %+v, want seq 3, 4", page)
		}
		revokes, err := tx.ListAudit(ctx, "o1", store.AuditFilter{Page: store.Page{Limit: 10}, Action: "key.revoke"})
		if err != nil {
			return err
		}
		if len(revokes) != 1 || revokes[0].Seq != 4 {
			t.Errorf("audit filtered by action: got %+v, want seq 4", revokes)
		}
		byTarget, err := tx.ListAudit(ctx, "o1", store.AuditFilter{Page: store.Page{Limit: 10}, Target: "agent:a1"})
		if err != nil {
			return err
		}
		if len(byTarget) != 1 || byTarget[0].Seq != 2 {
			t.Errorf("audit filtered by target: got %+v, want seq 2", byTarget)
		}
		_, err = tx.ListAudit(ctx, "o1", store.AuditFilter{Page: store.Page{After: "x", Limit: 2}})
		wantErr(t, err, probity.ErrInvalid, "a malformed audit cursor")
		return nil
	})
}

func testOrgIsolation(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	update(t, s, func(tx store.Tx) error {
		if err := tx.CreateAgent(ctx, "o1", sampleAgent("shared-name")); err != nil {
			return err
		}
		// The same agent id in another org is a different agent.
		b := sampleAgent("shared-name")
		b.Owner = "other-org"
		if err := tx.CreateAgent(ctx, "o2", b); err != nil {
			return err
		}
		if err := tx.CreateAgent(ctx, "o1", sampleAgent("only-o1")); err != nil {
			return err
		}
		return tx.CreateKey(ctx, mkKey("k1", "o1", 7, probity.ScopeAdmin))
	})
	view(t, s, func(tx store.Tx) error {
		_, err := tx.GetAgent(ctx, "o2", "only-o1")
		wantErr(t, err, probity.ErrNotFound, "reading another org's agent")
		a, err := tx.GetAgent(ctx, "o2", "shared-name")
		if err != nil {
			return err
		}
		if a.Owner != "other-org" {
			t.Errorf("o2's agent: got owner %q, want other-org", a.Owner)
		}
		list, err := tx.ListAgents(ctx, "o2", store.Page{Limit: 10})
		if err != nil {
			return err
		}
		if len(list) != 1 {
			t.Errorf("o2 agents: got %v, want only its own", ids(list))
		}
		_, err = tx.GetKey(ctx, "o2", "k1")
		wantErr(t, err, probity.ErrNotFound, "reading another org's key")
		keys, err := tx.ListKeys(ctx, "o2", store.Page{Limit: 10})
		if err != nil {
			return err
		}
		if len(keys) != 0 {
			t.Errorf("o2 keys: got %d, want 0", len(keys))
		}
		return nil
	})
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.RevokeKey(ctx, "o2", "k1", ts(3)) }),
		probity.ErrNotFound, "revoking another org's key")
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.UpdateAgent(ctx, "o2", sampleAgent("only-o1")) }),
		probity.ErrNotFound, "updating another org's agent")
}

func testRollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateAgent(ctx, "o1", sampleAgent("ghost")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update error: got %v, want the closure's error", err)
	}
	view(t, s, func(tx store.Tx) error {
		_, err := tx.GetAgent(ctx, "o1", "ghost")
		wantErr(t, err, probity.ErrNotFound, "reading an agent from a rolled-back transaction")
		return nil
	})
}

// testConcurrentUpdates appends audit entries from many goroutines: every
// append must land with a distinct sequence number and none may be lost.
func testConcurrentUpdates(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := &probity.AuditEntry{Time: ts(i), Actor: fmt.Sprintf("w%d", w), Action: "agent.update", Target: "agent:a"}
				errs <- s.Update(ctx, func(tx store.Tx) error { return tx.AppendAudit(ctx, "o1", e) })
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent append: %v", err)
		}
	}
	view(t, s, func(tx store.Tx) error {
		all, err := tx.ListAudit(ctx, "o1", store.AuditFilter{Page: store.Page{Limit: 1000}})
		if err != nil {
			return err
		}
		if len(all) != workers*each {
			t.Fatalf("entries: got %d, want %d", len(all), workers*each)
		}
		for i, e := range all {
			if e.Seq != int64(i+1) {
				t.Fatalf("entry %d: got seq %d, want %d (gap or duplicate)", i, e.Seq, i+1)
			}
		}
		return nil
	})
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("ping on a fresh store: %v", err)
	}
}

// testPanicReleases panics inside transactions: the store must roll them
// back and stay usable, instead of leaving a writer connection held.
func testPanicReleases(t *testing.T, s store.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mkOrg(t, s, "o1")
	for _, run := range []func(func(store.Tx) error) error{
		func(fn func(store.Tx) error) error { return s.Update(ctx, fn) },
		func(fn func(store.Tx) error) error { return s.View(ctx, fn) },
	} {
		for range 3 {
			func() {
				defer func() { recover() }()
				run(func(tx store.Tx) error {
					tx.GetOrg(ctx, "o1")
					panic("boom")
				})
			}()
		}
	}
	err := s.Update(ctx, func(tx store.Tx) error { return tx.CreateAgent(ctx, "o1", sampleAgent("after-panic")) })
	if err != nil {
		t.Fatalf("update after panics: %v", err)
	}
}
