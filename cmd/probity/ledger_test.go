package main

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
	_ "modernc.org/sqlite" // the "sqlite" driver, to tamper with a stopped server's file

	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/ledger"
)

// The tamper-evidence tests run the real server on SQLite, witness its
// ledger with the CLI, stop it, change its database file the way someone
// with access to the disk could, serve the file again, and check that the
// CLI catches the change and names where it is.

// restart stops e's server, lets edit change its SQLite file, and serves
// the same data directory again.
func (e *ledgerEnv) restart(t *testing.T, edit func(db *sql.DB), opts ...apptest.Option) {
	t.Helper()
	if err := e.env.Server.Shutdown(t.Context()); err != nil {
		t.Fatalf("stopping the server: %v", err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.env.DataDir, "probity.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	edit(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	e.env = apptest.Start(t, append([]apptest.Option{apptest.WithDataDir(e.env.DataDir)}, opts...)...)
}

func sqlExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// recordEntry returns the ledger index and the stored leaf of a record of org default.
func recordEntry(t *testing.T, db *sql.DB, id string) (int64, []byte) {
	t.Helper()
	var idx int64
	var data []byte
	err := db.QueryRow(`SELECT r.ledger_index, e.data FROM records r JOIN ledger_entries e ON e.org_id = r.org_id AND e.idx = r.ledger_index
		WHERE r.org_id = 'default' AND r.id = ?`, id).Scan(&idx, &data)
	if err != nil {
		t.Fatalf("reading the ledger entry of record %s: %v", id, err)
	}
	return idx, data
}

// forge changes a record's content in a leaf.
func forge(t *testing.T, leaf []byte) []byte {
	t.Helper()
	out := bytes.Replace(leaf, []byte(`"answer 5."`), []byte(`"answer 5. Refund of $9,000 approved."`), 1)
	if bytes.Equal(out, leaf) {
		t.Fatalf("leaf %s does not hold record r-5's content", leaf)
	}
	return out
}

// rewriteLedger replaces org default's whole ledger with change(leaves),
// recomputing every stored hash with ledger.Append and dropping the signed
// checkpoints, so that the server's proofs are consistent with the new
// history and it signs it with its own key. It returns the new size.
func rewriteLedger(t *testing.T, db *sql.DB, change func([][]byte) [][]byte) int64 {
	t.Helper()
	rows, err := db.Query(`SELECT data FROM ledger_entries WHERE org_id = 'default' ORDER BY idx`)
	if err != nil {
		t.Fatal(err)
	}
	var leaves [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, b)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	leaves = change(leaves)
	hashes, err := ledger.Append(0, leaves, func([]int64) ([]tlog.Hash, error) {
		return nil, errors.New("a new log has no stored hashes")
	})
	if err != nil {
		t.Fatal(err)
	}
	sqlExec(t, db, `DELETE FROM ledger_entries WHERE org_id = 'default'`)
	sqlExec(t, db, `DELETE FROM ledger_hashes WHERE org_id = 'default'`)
	sqlExec(t, db, `DELETE FROM ledger_checkpoints WHERE org_id = 'default'`)
	for i, l := range leaves {
		sqlExec(t, db, `INSERT INTO ledger_entries (org_id, idx, data) VALUES ('default', ?, ?)`, i, l)
	}
	for _, h := range hashes {
		sqlExec(t, db, `INSERT INTO ledger_hashes (org_id, idx, hash) VALUES ('default', ?, ?)`, h.Index, h.Hash[:])
	}
	sqlExec(t, db, `UPDATE orgs SET ledger_size = ? WHERE id = 'default'`, len(leaves))
	return int64(len(leaves))
}

// rewriteExportLine replaces entry index of the export in dir with leaf,
// as someone rewriting an archived export would.
func rewriteExportLine(t *testing.T, dir string, index int64, leaf []byte) {
	t.Helper()
	path := filepath.Join(dir, "entries.jsonl")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	lines[index] = fmt.Sprintf(`{"index":%d,"entry":%s,"data":"%s"}`+"\n", index, leaf, base64.StdEncoding.EncodeToString(leaf))
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTamperEditedEntry(t *testing.T) {
	e := startLedger(t, 8)
	ok(t, e.args("verify", "ledger")...)
	before := filepath.Join(t.TempDir(), "before")
	ok(t, e.args("ledger", "export", "--out", before)...)

	var idx int64
	var forged []byte
	e.restart(t, func(db *sql.DB) {
		var leaf []byte
		idx, leaf = recordEntry(t, db, "r-5")
		forged = forge(t, leaf)
		sqlExec(t, db, `UPDATE ledger_entries SET data = ? WHERE org_id = 'default' AND idx = ?`, forged, idx)
	})

	// The checkpoint and the stored hashes are untouched, so the ledger's
	// checkpoint still verifies and extends the saved one…
	ok(t, e.args("verify", "ledger")...)
	// …but the record's entry is not the one the checkpoint signs.
	fails(t, exitError, []string{"RECORD r-5 NOT VERIFIED", fmt.Sprintf("ledger entry %d is not what the signed checkpoint", idx), "the entry was changed"},
		e.args("verify", "record", "--id", "r-5")...)
	ok(t, e.args("verify", "record", "--id", "r-4")...)

	// An export from the server names the entry and writes no checkpoint.
	after := filepath.Join(t.TempDir(), "after")
	fails(t, exitError, []string{fmt.Sprintf("LEDGER ENTRY %d DOES NOT MATCH THE SIGNED LOG", idx), "has no checkpoint"},
		e.args("ledger", "export", "--out", after, "--progress", "0")...)
	fails(t, exitError, []string{"EXPORT DOES NOT VERIFY", "has no checkpoint"}, "verify", "export", after, "--state", e.state)

	// The export taken before verifies; rewritten the same way, it names the entry.
	ok(t, "verify", "export", before, "--state", e.state)
	rewriteExportLine(t, before, idx, forged)
	r := fails(t, exitError, []string{"EXPORT DOES NOT VERIFY", fmt.Sprintf("entry %d was changed", idx)}, "verify", "export", before, "--state", e.state)
	if want := fmt.Sprintf("TAMPERED: first bad entry %d (1 bad in all: %d)", idx, idx); !strings.Contains(r.stdout, want) {
		t.Errorf("verify export: stdout lacks %q:\n%s", want, r.stdout)
	}
}

func TestTamperDeletedEntry(t *testing.T) {
	e := startLedger(t, 8)
	ok(t, e.args("verify", "ledger")...)
	var idx int64
	e.restart(t, func(db *sql.DB) {
		idx, _ = recordEntry(t, db, "r-5")
		sqlExec(t, db, `DELETE FROM ledger_entries WHERE org_id = 'default' AND idx = ?`, idx)
	})
	// The checkpoint and the stored hashes are untouched, so the ledger's
	// checkpoint still verifies, and so do the other records.
	ok(t, e.args("verify", "ledger")...)
	ok(t, e.args("verify", "record", "--id", "r-4")...)
	// The record's index row still points at the missing leaf: the server
	// reports the damage and names the entry…
	fails(t, exitError, []string{"record r-5", "ledger_damaged", fmt.Sprintf("entry %d", idx)}, e.args("verify", "record", "--id", "r-5")...)
	// …but the export walks every index the checkpoint signs and names the hole.
	fails(t, exitError, []string{fmt.Sprintf("entry %d is missing", idx), "ledger_damaged", "has no checkpoint"},
		e.args("ledger", "export", "--out", filepath.Join(t.TempDir(), "x"))...)
}

func TestTamperRewrittenHistory(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra int // leaves the forger appends after rewriting
	}{
		{"same size", 0},
		{"rewritten and grown", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startLedger(t, 8)
			lk := keyOf(t, e.client())
			ok(t, e.args("verify", "ledger")...)
			saved := filepath.Join(e.state, originDir(lk.Origin), "checkpoint")
			before, _ := os.ReadFile(saved)
			seen, err := ledger.OpenCheckpoint(before, lk.VerifierKey)
			if err != nil {
				t.Fatal(err)
			}

			var size int64
			e.restart(t, func(db *sql.DB) {
				idx, _ := recordEntry(t, db, "r-5")
				size = rewriteLedger(t, db, func(leaves [][]byte) [][]byte {
					leaves[idx] = forge(t, leaves[idx])
					for i := range tc.extra {
						leaves = append(leaves, fmt.Appendf(nil, `{"kind":"note","note":"forged %d"}`, i))
					}
					return leaves
				})
			})

			// The server's own proofs agree with the new history: a verifier
			// that remembers nothing is satisfied.
			ok(t, "verify", "record", "--id", "r-5", "--server", e.env.URL, "--key", e.env.AdminKey,
				"--verifier-key", lk.VerifierKey, "--state", t.TempDir())

			// The witness remembers the checkpoint it saw.
			want := []string{"LEDGER FORKED OR REWRITTEN", fmt.Sprintf("checkpoint %d (root", size),
				"is not an extension of the one seen at", fmt.Sprintf("(size %d, root %s)", seen.Size, seen.Hash)}
			fails(t, exitError, want, e.args("verify", "ledger")...)
			fails(t, exitError, want, e.args("verify", "record", "--id", "r-4")...)
			fails(t, exitError, want, e.args("ledger", "export", "--out", filepath.Join(t.TempDir(), "x"))...)
			if after, _ := os.ReadFile(saved); !bytes.Equal(after, before) {
				t.Errorf("the saved checkpoint was replaced after a fork:\n%s", after)
			}
			// The conflicting checkpoint is kept as evidence, signed by the same key.
			evidence, _ := filepath.Glob(filepath.Join(e.state, originDir(lk.Origin), "conflicting-checkpoint-*"))
			if len(evidence) != 1 {
				t.Fatalf("evidence files: got %q, want one", evidence)
			}
			b, _ := os.ReadFile(evidence[0])
			if cp, err := ledger.OpenCheckpoint(b, lk.VerifierKey); err != nil || cp.Size != size || cp.Hash == seen.Hash {
				t.Errorf("evidence %s: got %+v, %v; want a checkpoint of size %d signed by the ledger's key", evidence[0], cp, err, size)
			}
		})
	}
}

func TestTamperRolledBack(t *testing.T) {
	e := startLedger(t, 8)
	lk := keyOf(t, e.client())
	ok(t, e.args("verify", "ledger")...)
	saved := filepath.Join(e.state, originDir(lk.Origin), "checkpoint")
	before, _ := os.ReadFile(saved)
	var size int64
	e.restart(t, func(db *sql.DB) {
		size = rewriteLedger(t, db, func(leaves [][]byte) [][]byte { return leaves[:len(leaves)-3] })
	})
	fails(t, exitError, []string{"LEDGER ROLLED BACK", fmt.Sprintf("checkpoint %d (root", size), "smaller than the one seen at"},
		e.args("verify", "ledger")...)
	if after, _ := os.ReadFile(saved); !bytes.Equal(after, before) {
		t.Errorf("the saved checkpoint was replaced after a rollback")
	}
}

// firstBadEntry finds the first changed entry wherever it is, with proofs
// from a real server.
func TestFirstBadEntry(t *testing.T) {
	e := startLedger(t, 20)
	c := e.client()
	lk := keyOf(t, c)
	signed, err := c.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ledger.OpenCheckpoint(signed, lk.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	var leaves []tlog.Hash
	for b, err := range c.Entries(t.Context(), 0, cp.Size) {
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, ledger.LeafHash(b))
	}
	bad := func(ix ...int64) []tlog.Hash {
		ls := slices.Clone(leaves)
		for _, i := range ix {
			ls[i][0] ^= 1
		}
		return ls
	}
	for i := range cp.Size {
		cases := [][]int64{{i}}
		if i < cp.Size-1 {
			cases = append(cases, []int64{i, cp.Size - 1})
		}
		for _, ix := range cases {
			got, want, err := firstBadEntry(t.Context(), c, cp, bad(ix...))
			if err != nil || got != i || want != leaves[i] {
				t.Errorf("entries %v changed: got %d (signed hash %s), %v; want %d (%s)", ix, got, want, err, i, leaves[i])
			}
		}
	}
	if _, _, err := firstBadEntry(t.Context(), c, cp, leaves); err == nil {
		t.Errorf("no entry changed: got no error, want one")
	}
}

// A server whose ledger was replaced by a new one (a rebuilt database: new
// origin, new key, empty history) is not silently trusted on first use.
func TestLedgerReplaced(t *testing.T) {
	e := startLedger(t, 3)
	old := keyOf(t, e.client())
	ok(t, e.args("verify", "ledger")...)
	seen, err := e.client().Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	seenCP, _ := ledger.OpenCheckpoint(seen, old.VerifierKey)

	// Another installation with its own org default is only worth a warning.
	other := apptest.Start(t)
	r := cli(t, "verify", "ledger", "--server", other.URL, "--key", other.AdminKey, "--state", e.state)
	if r.code != exitOK || !strings.Contains(r.stderr, "WARNING: this machine has witnessed other ledgers of the same org: "+old.Origin) {
		t.Errorf("verify ledger of another server: got exit %d, stderr %q; want 0 and a warning", r.code, r.stderr)
	}

	addr := strings.TrimPrefix(e.env.URL, "http://")
	e.restart(t, func(db *sql.DB) {
		sqlExec(t, db, `UPDATE orgs SET ledger_origin = '', ledger_signer = '', ledger_verifier = '', ledger_size = 0 WHERE id = 'default'`)
		for _, table := range []string{"ledger_entries", "ledger_hashes", "ledger_checkpoints"} {
			sqlExec(t, db, `DELETE FROM `+table+` WHERE org_id = 'default'`)
		}
	}, func(c *app.Config) { c.Listen = addr })
	if e.env.URL != "http://"+addr {
		t.Fatalf("restart: serving at %s, want %s", e.env.URL, addr)
	}
	replaced := keyOf(t, e.client())
	if replaced.Origin == old.Origin {
		t.Fatalf("the rebuilt ledger kept the origin %s", old.Origin)
	}
	fails(t, exitError, []string{"LEDGER REPLACED", e.env.URL + " served ledger " + old.Origin, fmt.Sprintf("with %d entries", seenCP.Size),
		"now serves a new ledger " + replaced.Origin, "--accept-new-ledger"}, e.args("verify", "ledger")...)
	if _, err := os.Stat(filepath.Join(e.state, originDir(replaced.Origin))); err == nil {
		t.Errorf("the replaced ledger's state was saved although it was refused")
	}
	r = cli(t, e.args("verify", "ledger", "--accept-new-ledger")...)
	if r.code != exitOK || !strings.Contains(r.stderr, "first use of ledger "+replaced.Origin) || !strings.Contains(r.stderr, "WARNING") {
		t.Errorf("verify ledger --accept-new-ledger: got exit %d, stderr %q; want 0, trust on first use and a warning", r.code, r.stderr)
	}
	ok(t, e.args("verify", "ledger")...)
}
