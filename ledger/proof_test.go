package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

func testLeaves(n int) [][]byte {
	leaves := make([][]byte, n)
	for i := range leaves {
		leaves[i] = fmt.Appendf(nil, `{"kind":"record","record":{"id":"r%d"}}`, i)
	}
	return leaves
}

// buildLog appends leaves with Append in batches and keeps the stored
// hashes in memory.
func buildLog(tb testing.TB, leaves [][]byte, batch int) *memLog {
	tb.Helper()
	m := &memLog{hashes: make([]tlog.Hash, 0, tlog.StoredHashCount(int64(len(leaves))))}
	for start := 0; start < len(leaves); start += batch {
		end := min(start+batch, len(leaves))
		hs, err := Append(int64(start), leaves[start:end], m.read)
		if err != nil {
			tb.Fatal(err)
		}
		for _, h := range hs {
			if h.Index != int64(len(m.hashes)) {
				tb.Fatalf("stored hash index %d, want %d", h.Index, len(m.hashes))
			}
			m.hashes = append(m.hashes, h.Hash)
		}
	}
	return m
}

func (m *memLog) checkpoint(tb testing.TB, size int64) Checkpoint {
	tb.Helper()
	h, err := tlog.TreeHash(size, tlog.HashReaderFunc(m.read))
	if err != nil {
		tb.Fatal(err)
	}
	return Checkpoint{Origin: testOrigin, Size: size, Hash: h}
}

func flip(h tlog.Hash) tlog.Hash { h[7] ^= 0x20; return h }

func TestInclusion(t *testing.T) {
	const n = 40
	leaves := testLeaves(n)
	m := buildLog(t, leaves, 3)
	r := tlog.HashReaderFunc(m.read)
	for size := int64(1); size <= n; size++ {
		c := m.checkpoint(t, size)
		for i := range size {
			p, err := ProveInclusion(i, size, r)
			if err != nil {
				t.Fatalf("ProveInclusion(%d, %d): %v", i, size, err)
			}
			if err := VerifyInclusion(p, leaves[i], c); err != nil {
				t.Fatalf("VerifyInclusion(%d, %d): %v", i, size, err)
			}
			if err := VerifyInclusion(p, nil, c); err != nil {
				t.Fatalf("VerifyInclusion(%d, %d) without entry: %v", i, size, err)
			}
			if p.LeafHash != LeafHash(leaves[i]) {
				t.Fatalf("leaf %d: got leaf hash %v, want %v", i, p.LeafHash, LeafHash(leaves[i]))
			}

			var bad []InclusionProof
			for j := range p.Hashes {
				q := p
				q.Hashes = slices.Clone(p.Hashes)
				q.Hashes[j] = flip(q.Hashes[j])
				bad = append(bad, q)
			}
			q := p
			q.LeafHash = flip(q.LeafHash)
			bad = append(bad, q)
			if size > 1 {
				q = p
				q.Index = (i + 1) % size
				bad = append(bad, q)
			}
			q = p
			q.Index = size
			bad = append(bad, q)
			q = p
			q.Hashes = append(slices.Clone(p.Hashes), p.LeafHash)
			bad = append(bad, q)
			if len(p.Hashes) > 0 {
				q = p
				q.Hashes = p.Hashes[:len(p.Hashes)-1]
				bad = append(bad, q)
			}
			for _, q := range bad {
				if err := VerifyInclusion(q, nil, c); !errors.Is(err, ErrInclusion) {
					t.Fatalf("tampered proof %+v of %d in %d: got %v, want ErrInclusion", q, i, size, err)
				}
			}
			// The same proof against a checkpoint of another size, or
			// with a changed entry.
			if size < n {
				if err := VerifyInclusion(p, leaves[i], m.checkpoint(t, size+1)); !errors.Is(err, ErrInclusion) {
					t.Fatalf("proof for size %d against size %d: got %v, want ErrInclusion", size, size+1, err)
				}
			}
			if err := VerifyInclusion(p, append(slices.Clone(leaves[i]), ' '), c); !errors.Is(err, ErrInclusion) {
				t.Fatalf("changed entry %d: got %v, want ErrInclusion", i, err)
			}
		}
	}
}

func TestInclusionErrorMessages(t *testing.T) {
	leaves := testLeaves(10)
	m := buildLog(t, leaves, 10)
	p, err := ProveInclusion(3, 10, tlog.HashReaderFunc(m.read))
	if err != nil {
		t.Fatal(err)
	}
	c := m.checkpoint(t, 10)
	p.Hashes[1] = flip(p.Hashes[1])
	err = VerifyInclusion(p, nil, c)
	want := fmt.Sprintf("ledger: inclusion proof failed: leaf 3 (hash %s) is not in the tree of size 10 with root %s", p.LeafHash, c.Hash)
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	err = VerifyInclusion(p, []byte("other"), c)
	if err == nil || err.Error() != fmt.Sprintf("ledger: inclusion proof failed: entry 3 hashes to %s, the proof is for leaf hash %s: the entry was changed", LeafHash([]byte("other")), p.LeafHash) {
		t.Errorf("changed entry: got %v", err)
	}
}

func TestConsistency(t *testing.T) {
	const n = 40
	leaves := testLeaves(n)
	m := buildLog(t, leaves, 5)
	r := tlog.HashReaderFunc(m.read)
	for to := int64(0); to <= n; to++ {
		newer := m.checkpoint(t, to)
		for from := int64(0); from <= to; from++ {
			older := m.checkpoint(t, from)
			p, err := ProveConsistency(from, to, r)
			if err != nil {
				t.Fatalf("ProveConsistency(%d, %d): %v", from, to, err)
			}
			if err := VerifyConsistency(p, older, newer); err != nil {
				t.Fatalf("VerifyConsistency(%d, %d): %v", from, to, err)
			}
			if p.Hashes == nil {
				t.Fatalf("ProveConsistency(%d, %d): nil hashes encode as null", from, to)
			}

			var bad []ConsistencyProof
			for j := range p.Hashes {
				q := p
				q.Hashes = slices.Clone(p.Hashes)
				q.Hashes[j] = flip(q.Hashes[j])
				bad = append(bad, q)
			}
			q := p
			q.Hashes = append(slices.Clone(p.Hashes), older.Hash)
			bad = append(bad, q)
			if len(p.Hashes) > 0 {
				q = p
				q.Hashes = p.Hashes[1:]
				bad = append(bad, q)
			}
			q = p
			q.From++
			bad = append(bad, q)
			q = p
			q.To--
			bad = append(bad, q)
			for _, q := range bad {
				if err := VerifyConsistency(q, older, newer); !errors.Is(err, ErrInconsistent) {
					t.Fatalf("tampered proof %+v from %d to %d: got %v, want ErrInconsistent", q, from, to, err)
				}
			}
			if from < to {
				if err := VerifyConsistency(p, newer, older); !errors.Is(err, ErrInconsistent) {
					t.Fatalf("older %d and newer %d swapped: got %v, want ErrInconsistent", from, to, err)
				}
			}
			other := newer
			other.Origin = "probity/other/0123456789abcdef"
			if err := VerifyConsistency(p, older, other); !errors.Is(err, ErrOriginMismatch) {
				t.Fatalf("other origin: got %v, want ErrOriginMismatch", err)
			}
		}
	}
}

// TestConsistencyFork rewrites one leaf of a log and checks that no proof
// from the old log's checkpoints to the rewritten log's verifies.
func TestConsistencyFork(t *testing.T) {
	const n = 24
	leaves := testLeaves(n)
	orig := buildLog(t, leaves, 4)
	for k := range n {
		forked := slices.Clone(leaves)
		forked[k] = []byte(`{"kind":"record","record":{"id":"forged"}}`)
		fm := buildLog(t, forked, 4)
		for from := int64(k + 1); from <= n; from++ {
			older := orig.checkpoint(t, from)
			for to := from; to <= n; to++ {
				p, err := ProveConsistency(from, to, tlog.HashReaderFunc(fm.read))
				if err != nil {
					t.Fatal(err)
				}
				if err := VerifyConsistency(p, older, fm.checkpoint(t, to)); !errors.Is(err, ErrInconsistent) {
					t.Fatalf("leaf %d rewritten, from %d to %d: got %v, want ErrInconsistent", k, from, to, err)
				}
			}
		}
	}
}

func TestConsistencyEdges(t *testing.T) {
	m := buildLog(t, testLeaves(5), 5)
	c5 := m.checkpoint(t, 5)
	zero := Checkpoint{Origin: testOrigin, Size: 0, Hash: emptyRoot}
	tests := []struct {
		name         string
		p            ConsistencyProof
		older, newer Checkpoint
		want         error
	}{
		{"from empty", ConsistencyProof{From: 0, To: 5}, zero, c5, nil},
		{"empty to empty", ConsistencyProof{}, zero, zero, nil},
		{"same checkpoint", ConsistencyProof{From: 5, To: 5}, c5, c5, nil},
		{"empty with a wrong root", ConsistencyProof{From: 0, To: 5}, Checkpoint{Origin: testOrigin, Hash: c5.Hash}, c5, ErrInconsistent},
		{"from empty with hashes", ConsistencyProof{From: 0, To: 5, Hashes: []tlog.Hash{c5.Hash}}, zero, c5, ErrInconsistent},
		{"same size, other root", ConsistencyProof{From: 5, To: 5}, c5, Checkpoint{Origin: testOrigin, Size: 5, Hash: flip(c5.Hash)}, ErrInconsistent},
		{"same size with hashes", ConsistencyProof{From: 5, To: 5, Hashes: []tlog.Hash{c5.Hash}}, c5, c5, ErrInconsistent},
		{"shrank", ConsistencyProof{From: 5, To: 0}, c5, zero, ErrInconsistent},
		{"negative", ConsistencyProof{From: -1, To: 5}, Checkpoint{Origin: testOrigin, Size: -1}, c5, ErrInconsistent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyConsistency(tt.p, tt.older, tt.newer)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestProveOutOfRange(t *testing.T) {
	m := buildLog(t, testLeaves(5), 5)
	r := tlog.HashReaderFunc(m.read)
	for _, c := range [][2]int64{{-1, 5}, {5, 5}, {0, 0}, {6, 5}} {
		if _, err := ProveInclusion(c[0], c[1], r); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("ProveInclusion(%d, %d) = %v, want ErrOutOfRange", c[0], c[1], err)
		}
	}
	for _, c := range [][2]int64{{-1, 5}, {6, 5}} {
		if _, err := ProveConsistency(c[0], c[1], r); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("ProveConsistency(%d, %d) = %v, want ErrOutOfRange", c[0], c[1], err)
		}
	}
	// Past the stored log: the reader's error, not a panic.
	if _, err := ProveInclusion(3, 9, r); err == nil {
		t.Error("ProveInclusion(3, 9) in a log of 5: got nil error")
	}
	if _, err := ProveConsistency(3, 9, r); err == nil {
		t.Error("ProveConsistency(3, 9) in a log of 5: got nil error")
	}
}

// TestProofJSON pins the JSON shapes of DESIGN.md: camelCase fields and
// hashes as standard base64 strings.
func TestProofJSON(t *testing.T) {
	m := buildLog(t, testLeaves(12), 12)
	r := tlog.HashReaderFunc(m.read)
	ip, err := ProveInclusion(5, 12, r)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ProveConsistency(5, 12, r)
	if err != nil {
		t.Fatal(err)
	}
	empty, _ := ProveConsistency(0, 12, r)
	single, _ := ProveInclusion(0, 1, r)
	for _, tc := range []struct {
		name string
		v, p any
	}{
		{"inclusion-proof.json", ip, &InclusionProof{}},
		{"consistency-proof.json", cp, &ConsistencyProof{}},
		{"consistency-proof-empty.json", empty, &ConsistencyProof{}},
		{"inclusion-proof-single.json", single, &InclusionProof{}},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, tc.name, append(b, '\n'))
		if err := json.Unmarshal(b, tc.p); err != nil {
			t.Fatal(err)
		}
		if got := reflect.ValueOf(tc.p).Elem().Interface(); !reflect.DeepEqual(got, tc.v) {
			t.Errorf("%s: round trip got %+v, want %+v", tc.name, got, tc.v)
		}
	}
	var p InclusionProof
	if err := json.Unmarshal([]byte(`{"index":0,"size":1,"leafHash":"AAAA","hashes":[]}`), &p); err == nil {
		t.Error("a 3-byte leaf hash decoded without error")
	}
}

func TestRootBuilder(t *testing.T) {
	leaves := testLeaves(70)
	m := buildLog(t, leaves, 7)
	var b rootBuilder
	for n := int64(0); n <= int64(len(leaves)); n++ {
		if got, want := b.root(), m.checkpoint(t, n).Hash; got != want {
			t.Fatalf("size %d: got root %v, want %v", n, got, want)
		}
		if n < int64(len(leaves)) {
			b.add(LeafHash(leaves[n]))
		}
	}
}

// BenchmarkProofs proves and verifies in a 1,000,000-leaf log held in memory.
// Run: go test -run '^$' -bench BenchmarkProofs ./ledger
// The p50-ns/op metric is the median of the individual operations.
func BenchmarkProofs(b *testing.B) {
	m := bigLog(b)
	r := tlog.HashReaderFunc(m.read)
	newest := m.checkpoint(b, bigSize)

	b.Run("inclusion", func(b *testing.B) {
		times := make([]time.Duration, 0, 1<<16)
		i := int64(0)
		for b.Loop() {
			index := (i * 7919) % bigSize
			i++
			start := time.Now()
			p, err := ProveInclusion(index, bigSize, r)
			if err != nil {
				b.Fatal(err)
			}
			if err := VerifyInclusion(p, nil, newest); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(start))
		}
		reportMedian(b, times)
	})

	// Verifiers know the older checkpoints; computing them is not timed.
	olders := make([]Checkpoint, 1024)
	for k := range olders {
		olders[k] = m.checkpoint(b, 1+(int64(k)*977_123)%(bigSize-1))
	}
	b.Run("consistency", func(b *testing.B) {
		times := make([]time.Duration, 0, 1<<16)
		i := 0
		for b.Loop() {
			older := olders[i%len(olders)]
			i++
			start := time.Now()
			p, err := ProveConsistency(older.Size, bigSize, r)
			if err != nil {
				b.Fatal(err)
			}
			if err := VerifyConsistency(p, older, newest); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(start))
		}
		reportMedian(b, times)
	})
}

func reportMedian(b *testing.B, times []time.Duration) {
	if len(times) == 0 {
		return
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "p50-ns/op")
}

const bigSize = 1_000_000

var bigLogOnce = sync.OnceValues(func() (*memLog, error) {
	m := &memLog{hashes: make([]tlog.Hash, 0, tlog.StoredHashCount(bigSize))}
	leaves := make([][]byte, 0, 10_000)
	for start := int64(0); start < bigSize; start += 10_000 {
		leaves = leaves[:0]
		for i := start; i < start+10_000; i++ {
			leaves = append(leaves, fmt.Appendf(nil, `{"kind":"record","record":{"id":"r%d"}}`, i))
		}
		hs, err := Append(start, leaves, m.read)
		if err != nil {
			return nil, err
		}
		for _, h := range hs {
			m.hashes = append(m.hashes, h.Hash)
		}
	}
	return m, nil
})

// bigLog builds the 1,000,000-leaf log once for all benchmarks.
func bigLog(b *testing.B) *memLog {
	m, err := bigLogOnce()
	if err != nil {
		b.Fatal(err)
	}
	return m
}
