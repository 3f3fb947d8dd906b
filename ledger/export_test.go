package ledger

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// exportLeaves are the entries of the test exports: canonical JSON, some
// with characters encoding/json would escape, and one that is not JSON.
func exportLeaves(n int) [][]byte {
	leaves := testLeaves(n)
	if n > 3 {
		leaves[1] = []byte("{\"kind\":\"audit\",\"audit\":{\"change\":\"<b>&amp;</b> \u2028 é\"}}")
		leaves[2] = []byte("\x00not json\n")
		leaves[3] = []byte(`{"kind":"record", "record":{}}`) // inner space kept as is
	}
	return leaves
}

func seq(leaves [][]byte) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		for _, l := range leaves {
			if !yield(l, nil) {
				return
			}
		}
	}
}

// writeTestExport exports a log of n leaves and returns the directory,
// the leaves and the verifier key.
func writeTestExport(t *testing.T, n int) (string, [][]byte, string) {
	t.Helper()
	leaves := exportLeaves(n)
	m := buildLog(t, leaves, 8)
	skey, vkey := testKeys(t, testOrigin)
	signed, err := mustSigner(t, skey).Sign(m.checkpoint(t, int64(n)))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "export")
	if err := WriteExport(dir, signed, vkey, seq(leaves)); err != nil {
		t.Fatal(err)
	}
	return dir, leaves, vkey
}

func TestExportRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 2, 5, 33} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir, _, vkey := writeTestExport(t, n)
			r, err := VerifyExport(dir, vkey)
			if err != nil {
				t.Fatal(err)
			}
			if r.Origin != testOrigin || r.Size != int64(n) || r.Entries != int64(n) || r.FirstBad != -1 || r.BadCount != 0 {
				t.Errorf("got report %+v", r)
			}
			for _, f := range []string{"checkpoint", "key", "entries.jsonl", "hashes", "README.txt"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestExportLines pins the entries.jsonl format: JSON entries embedded byte
// for byte, others as data only.
func TestExportLines(t *testing.T) {
	dir, leaves, _ := writeTestExport(t, 5)
	lines := readLines(t, dir, "entries.jsonl")
	for i, l := range leaves {
		b64 := base64.StdEncoding.EncodeToString(l)
		want := fmt.Sprintf(`{"index":%d,"entry":%s,"data":"%s"}`, i, l, b64)
		if i == 2 {
			want = fmt.Sprintf(`{"index":%d,"data":"%s"}`, i, b64)
		}
		if lines[i] != want {
			t.Errorf("line %d:\ngot  %s\nwant %s", i, lines[i], want)
		}
	}
	hashes := readLines(t, dir, "hashes")
	for i, l := range leaves {
		if hashes[i] != LeafHash(l).String() {
			t.Errorf("hash line %d: got %s, want %s", i, hashes[i], LeafHash(l))
		}
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{testOrigin, "Size: 5 entries", "probity verify export DIR"} {
		if !bytes.Contains(readme, []byte(want)) {
			t.Errorf("README.txt lacks %q", want)
		}
	}
}

func readLines(t *testing.T, dir, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func writeLines(t *testing.T, dir, name string, lines []string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func line(i int, data []byte) string {
	return fmt.Sprintf(`{"index":%d,"entry":%s,"data":"%s"}`, i, data, base64.StdEncoding.EncodeToString(data))
}

func TestExportTampered(t *testing.T) {
	const n = 20
	forged := []byte(`{"kind":"record","record":{"id":"forged"}}`)
	tests := []struct {
		name     string
		edit     func(t *testing.T, dir string, entries, hashes []string)
		firstBad int64
		bad      []int64
		badCount int64
		want     string // in the error
	}{
		{
			name: "entry edited",
			edit: func(t *testing.T, dir string, e, _ []string) {
				e[7] = line(7, forged)
				writeLines(t, dir, "entries.jsonl", e)
			},
			firstBad: 7, bad: []int64{7}, badCount: 1,
			want: "entry 7 was changed, deleted or moved",
		},
		{
			name: "only the readable entry edited",
			edit: func(t *testing.T, dir string, e, _ []string) {
				e[4] = strings.Replace(e[4], `"r4"`, `"r5"`, 1)
				writeLines(t, dir, "entries.jsonl", e)
			},
			firstBad: 4, bad: []int64{4}, badCount: 1,
			want: `entry 4 was changed: its "entry" and "data" differ`,
		},
		{
			name: "index field edited",
			edit: func(t *testing.T, dir string, e, _ []string) {
				e[9] = strings.Replace(e[9], `"index":9`, `"index":10`, 1)
				writeLines(t, dir, "entries.jsonl", e)
			},
			firstBad: 9, bad: []int64{9}, badCount: 1,
			want: "entry 9 is missing or moved: its line holds index 10",
		},
		{
			name: "entry deleted",
			edit: func(t *testing.T, dir string, e, _ []string) {
				writeLines(t, dir, "entries.jsonl", slices.Delete(e, 5, 6))
			},
			firstBad: 5, bad: []int64{5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, badCount: 15,
			want: "entry 5 is missing or moved: its line holds index 6 (15 bad entries in all)",
		},
		{
			name: "last entry deleted",
			edit: func(t *testing.T, dir string, e, _ []string) {
				writeLines(t, dir, "entries.jsonl", e[:n-1])
			},
			firstBad: n - 1, bad: []int64{n - 1}, badCount: 1,
			want: "entry 19 is missing",
		},
		{
			name: "entry deleted and the rest renumbered",
			edit: func(t *testing.T, dir string, e, _ []string) {
				e = slices.Delete(e, 5, 6)
				for i := 5; i < len(e); i++ {
					e[i] = strings.Replace(e[i], fmt.Sprintf(`"index":%d`, i+1), fmt.Sprintf(`"index":%d`, i), 1)
				}
				writeLines(t, dir, "entries.jsonl", e)
			},
			firstBad: 5, badCount: 15,
			want: "entry 5 was changed, deleted or moved",
		},
		{
			name: "entries reordered",
			edit: func(t *testing.T, dir string, e, _ []string) {
				e[2], e[9] = e[9], e[2]
				writeLines(t, dir, "entries.jsonl", e)
			},
			firstBad: 2, bad: []int64{2, 9}, badCount: 2,
			want: "entry 2 is missing or moved: its line holds index 9 (2 bad entries in all)",
		},
		{
			name: "entries reordered and renumbered",
			edit: func(t *testing.T, dir string, e, _ []string) {
				e[3], e[11] = strings.Replace(e[11], `"index":11`, `"index":3`, 1), strings.Replace(e[3], `"index":3`, `"index":11`, 1)
				writeLines(t, dir, "entries.jsonl", e)
			},
			firstBad: 3, bad: []int64{3, 11}, badCount: 2,
			want: "entry 3 was changed, deleted or moved",
		},
		{
			name: "entry added",
			edit: func(t *testing.T, dir string, e, _ []string) {
				writeLines(t, dir, "entries.jsonl", append(e, line(n, forged)))
			},
			firstBad: n, bad: []int64{n}, badCount: 1,
			want: "entry 20 is past the checkpoint's size 20",
		},
		{
			name: "line not JSON",
			edit: func(t *testing.T, dir string, e, _ []string) {
				e[6] = "{"
				writeLines(t, dir, "entries.jsonl", e)
			},
			firstBad: 6, bad: []int64{6}, badCount: 1,
			want: "entry 6 is not a valid line",
		},
		{
			name: "entry and its hash edited",
			edit: func(t *testing.T, dir string, e, h []string) {
				e[7] = line(7, forged)
				h[7] = LeafHash(forged).String()
				writeLines(t, dir, "entries.jsonl", e)
				writeLines(t, dir, "hashes", h)
			},
			firstBad: -1, badCount: 0,
			want: "the hashes file does not match the signed root to tell which entry changed",
		},
		{
			name: "entry deleted from both files",
			edit: func(t *testing.T, dir string, e, h []string) {
				writeLines(t, dir, "entries.jsonl", slices.Delete(e, 5, 6))
				writeLines(t, dir, "hashes", slices.Delete(h, 5, 6))
			},
			firstBad: 5, badCount: 14, // the index fields still tell
			want: "entry 5 is missing or moved: its line holds index 6",
		},
		{
			name: "only the hashes file edited",
			edit: func(t *testing.T, dir string, _, h []string) {
				h[3] = LeafHash(forged).String()
				writeLines(t, dir, "hashes", h)
			},
			firstBad: -1, badCount: 0,
			want: "the entries match the signed root but the hashes file does not",
		},
		{
			name: "hashes file garbled",
			edit: func(t *testing.T, dir string, e, h []string) {
				e[7] = line(7, forged)
				h[2] = "garbage"
				writeLines(t, dir, "entries.jsonl", e)
				writeLines(t, dir, "hashes", h)
			},
			firstBad: -1, badCount: 0,
			want: "the hashes file does not match the signed root",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _, vkey := writeTestExport(t, n)
			tt.edit(t, dir, readLines(t, dir, "entries.jsonl"), readLines(t, dir, "hashes"))
			r, err := VerifyExport(dir, vkey)
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("got %v, want ErrTampered", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %q, want it to contain %q", err, tt.want)
			}
			if r.FirstBad != tt.firstBad || r.BadCount != tt.badCount || tt.bad != nil && !slices.Equal(r.Bad, tt.bad) {
				t.Errorf("got first bad %d, bad %v (%d), want %d, %v (%d)", r.FirstBad, r.Bad, r.BadCount, tt.firstBad, tt.bad, tt.badCount)
			}
			if r.Size != n || r.Origin != testOrigin {
				t.Errorf("got report %+v", r)
			}
			t.Log(err)
		})
	}
}

func TestExportBadCheckpoint(t *testing.T) {
	dir, _, vkey := writeTestExport(t, 4)
	_, otherV := testKeys(t, "probity/acme/ffffffffffffffff")
	if _, err := VerifyExport(dir, otherV); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("wrong key: got %v, want ErrUnknownKey", err)
	}
	signed, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	signed = bytes.Replace(signed, []byte("\n4\n"), []byte("\n3\n"), 1)
	if err := os.WriteFile(filepath.Join(dir, "checkpoint"), signed, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyExport(dir, vkey); !errors.Is(err, ErrBadSignature) {
		t.Errorf("edited checkpoint: got %v, want ErrBadSignature", err)
	}
	if _, err := VerifyExport(t.TempDir(), vkey); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty directory: got %v, want a missing file", err)
	}
}

func TestWriteExportErrors(t *testing.T) {
	leaves := exportLeaves(10)
	m := buildLog(t, leaves, 10)
	skey, vkey := testKeys(t, testOrigin)
	signed, err := mustSigner(t, skey).Sign(m.checkpoint(t, 10))
	if err != nil {
		t.Fatal(err)
	}
	failing := func(yield func([]byte, error) bool) {
		for _, l := range leaves[:4] {
			if !yield(l, nil) {
				return
			}
		}
		yield(nil, errors.New("disk on fire"))
	}
	changed := slices.Clone(leaves)
	changed[6] = []byte(`{"kind":"record","record":{"id":"forged"}}`)
	_, otherV := testKeys(t, "probity/acme/ffffffffffffffff")
	tests := []struct {
		name    string
		vkey    string
		entries iter.Seq2[[]byte, error]
		want    string
	}{
		{"too few entries", vkey, seq(leaves[:9]), "the log yielded 9 entries, the checkpoint has 10"},
		{"entries do not match", vkey, seq(changed), "export does not match its signed checkpoint: entries 0 to 9 hash to root"},
		{"reading fails", vkey, failing, "reading entry 4: disk on fire"},
		{"wrong key", otherV, seq(leaves), "not signed by the trusted key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteExport(filepath.Join(t.TempDir(), "x"), signed, tt.vkey, tt.entries)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}

	t.Run("not empty", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
		if err := WriteExport(dir, signed, vkey, seq(leaves)); err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Errorf("got %v, want a not-empty error", err)
		}
	})

	// A log that grew past the checkpoint exports only the signed prefix.
	t.Run("log grew", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "x")
		grown := append(slices.Clone(leaves), []byte(`{"kind":"record","record":{"id":"later"}}`))
		if err := WriteExport(dir, signed, vkey, seq(grown)); err != nil {
			t.Fatal(err)
		}
		if r, err := VerifyExport(dir, vkey); err != nil || r.Entries != 10 {
			t.Errorf("got %+v, %v, want 10 entries", r, err)
		}
	})
}
