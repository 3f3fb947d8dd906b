package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

var pactTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"PactVersions", testPactVersions},
	{"PactBindings", testPactBindings},
	{"PactOrgIsolation", testPactOrgIsolation},
}

func pactVersion(id string, n int) store.PactVersion {
	return store.PactVersion{
		PactID: id, Version: n, Digest: fmt.Sprintf("sha256:%s-%d", id, n),
		Canonical: fmt.Appendf(nil, `{"id":%q,"n":%d}`, id, n), Source: fmt.Appendf(nil, "id: %s # %d\n", id, n),
		CreatedAt: ts(n), CreatedBy: "key-1", LedgerIndex: int64(n * 10),
	}
}

func versions(vs []store.PactVersion) []string {
	var out []string
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%s@%d", v.PactID, v.Version))
	}
	return out
}

func testPactVersions(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	view(t, s, func(tx store.Tx) error {
		_, err := tx.LatestPactVersion(ctx, "o1", "p")
		wantErr(t, err, probity.ErrNotFound, "latest version of a pact with none")
		_, err = tx.GetPactVersion(ctx, "o1", "p", 1)
		wantErr(t, err, probity.ErrNotFound, "reading a version that does not exist")
		vs, err := tx.ListPactVersions(ctx, "o1", "p")
		if err != nil || len(vs) != 0 {
			t.Errorf("versions of an unknown pact: got %v, %v, want none", versions(vs), err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		for _, v := range []store.PactVersion{pactVersion("p", 1), pactVersion("p", 2), pactVersion("a", 1), pactVersion("z", 1), pactVersion("p", 3)} {
			if err := tx.InsertPactVersion(ctx, "o1", v); err != nil {
				return err
			}
		}
		return nil
	})
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.InsertPactVersion(ctx, "o1", pactVersion("p", 2)) }),
		probity.ErrConflict, "storing a version twice")
	view(t, s, func(tx store.Tx) error {
		got, err := tx.LatestPactVersion(ctx, "o1", "p")
		if err != nil {
			return err
		}
		if want := pactVersion("p", 3); !reflect.DeepEqual(got, want) {
			t.Errorf("latest version: got %+v, want %+v", got, want)
		}
		got, err = tx.GetPactVersion(ctx, "o1", "p", 2)
		if err != nil {
			return err
		}
		if want := pactVersion("p", 2); !reflect.DeepEqual(got, want) {
			t.Errorf("version 2: got %+v, want %+v", got, want)
		}
		vs, err := tx.ListPactVersions(ctx, "o1", "p")
		if err != nil {
			return err
		}
		if got, want := versions(vs), []string{"p@1", "p@2", "p@3"}; !reflect.DeepEqual(got, want) {
			t.Errorf("versions: got %v, want %v", got, want)
		}
		all, err := tx.ListPacts(ctx, "o1", store.Page{Limit: 10})
		if err != nil {
			return err
		}
		if got, want := versions(all), []string{"a@1", "p@3", "z@1"}; !reflect.DeepEqual(got, want) {
			t.Errorf("pacts: got %v, want %v", got, want)
		}
		page, err := tx.ListPacts(ctx, "o1", store.Page{After: "a", Limit: 1})
		if err != nil {
			return err
		}
		if got, want := versions(page), []string{"p@3"}; !reflect.DeepEqual(got, want) {
			t.Errorf("pacts after a, limit 1: got %v, want %v", got, want)
		}
		return nil
	})
}

func testPactBindings(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	view(t, s, func(tx store.Tx) error {
		_, err := tx.PactOfAgent(ctx, "o1", "a1")
		wantErr(t, err, probity.ErrNotFound, "the pact of an unbound agent")
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.BindAgents(ctx, "o1", "p", []string{"a1", "a2"}) })
	update(t, s, func(tx store.Tx) error { return tx.BindAgents(ctx, "o1", "q", []string{"a3"}) })
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.BindAgents(ctx, "o1", "q", []string{"a3", "a1"}) }),
		probity.ErrConflict, "binding an agent bound to another pact")
	// A new version of p names a2 and a4: a1 is unbound.
	update(t, s, func(tx store.Tx) error { return tx.BindAgents(ctx, "o1", "p", []string{"a2", "a4"}) })
	view(t, s, func(tx store.Tx) error {
		for agent, want := range map[string]string{"a2": "p", "a3": "q", "a4": "p"} {
			got, err := tx.PactOfAgent(ctx, "o1", agent)
			if err != nil {
				return err
			}
			if got != want {
				t.Errorf("pact of %s: got %q, want %q", agent, got, want)
			}
		}
		_, err := tx.PactOfAgent(ctx, "o1", "a1")
		wantErr(t, err, probity.ErrNotFound, "the pact of an agent its pact no longer names")
		return nil
	})
	// Now free, a1 may join q.
	update(t, s, func(tx store.Tx) error { return tx.BindAgents(ctx, "o1", "q", []string{"a3", "a1"}) })
	update(t, s, func(tx store.Tx) error { return tx.BindAgents(ctx, "o1", "q", nil) })
	view(t, s, func(tx store.Tx) error {
		_, err := tx.PactOfAgent(ctx, "o1", "a3")
		wantErr(t, err, probity.ErrNotFound, "the pact of an agent after its pact names none")
		return nil
	})
}

func testPactOrgIsolation(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	update(t, s, func(tx store.Tx) error {
		if err := tx.InsertPactVersion(ctx, "o1", pactVersion("p", 1)); err != nil {
			return err
		}
		// The same pact and version in another org is a different pact.
		if err := tx.InsertPactVersion(ctx, "o2", pactVersion("shared", 1)); err != nil {
			return err
		}
		if err := tx.InsertPactVersion(ctx, "o1", pactVersion("shared", 1)); err != nil {
			return err
		}
		if err := tx.BindAgents(ctx, "o1", "p", []string{"a1"}); err != nil {
			return err
		}
		// The same agent id in another org binds independently.
		return tx.BindAgents(ctx, "o2", "shared", []string{"a1"})
	})
	view(t, s, func(tx store.Tx) error {
		_, err := tx.LatestPactVersion(ctx, "o2", "p")
		wantErr(t, err, probity.ErrNotFound, "latest version of another org's pact")
		_, err = tx.GetPactVersion(ctx, "o2", "p", 1)
		wantErr(t, err, probity.ErrNotFound, "reading another org's pact version")
		vs, err := tx.ListPactVersions(ctx, "o2", "p")
		if err != nil || len(vs) != 0 {
			t.Errorf("versions of another org's pact: got %v, %v, want none", versions(vs), err)
		}
		all, err := tx.ListPacts(ctx, "o2", store.Page{Limit: 10})
		if err != nil {
			return err
		}
		if got, want := versions(all), []string{"shared@1"}; !reflect.DeepEqual(got, want) {
			t.Errorf("o2 pacts: got %v, want %v", got, want)
		}
		for org, want := range map[string]string{"o1": "p", "o2": "shared"} {
			got, err := tx.PactOfAgent(ctx, org, "a1")
			if err != nil {
				return err
			}
			if got != want {
				t.Errorf("pact of a1 in %s: got %q, want %q", org, got, want)
			}
		}
		_, err = tx.PactOfAgent(ctx, "o2", "a2")
		wantErr(t, err, probity.ErrNotFound, "the pact of an agent in an org that has no binding for it")
		return nil
	})
	// Rebinding o2's pact leaves o1's binding alone.
	update(t, s, func(tx store.Tx) error { return tx.BindAgents(ctx, "o2", "p", nil) })
	view(t, s, func(tx store.Tx) error {
		got, err := tx.PactOfAgent(ctx, "o1", "a1")
		if err != nil || got != "p" {
			t.Errorf("o1's binding after o2 rebinds a pact of the same id: got %q, %v, want p", got, err)
		}
		return nil
	})
}
