package ledger

import (
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// memLog stores hashes in a slice, as a store would in a table.
type memLog struct{ hashes []tlog.Hash }

func (m *memLog) read(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, ix := range indexes {
		if ix >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("hash %d not stored", ix)
		}
		out[i] = m.hashes[ix]
	}
	return out, nil
}

func (m *memLog) store(t *testing.T, hs []StoredHash) {
	for _, h := range hs {
		if h.Index != int64(len(m.hashes)) {
			t.Fatalf("stored hash index %d, want %d (gap or overlap)", h.Index, len(m.hashes))
		}
		m.hashes = append(m.hashes, h.Hash)
	}
}

// TestAppendInBatches appends leaves in batches of every size and checks the
// tree hash against appending them one by one, the plain tlog way.
func TestAppendInBatches(t *testing.T) {
	leaves := make([][]byte, 37)
	for i := range leaves {
		leaves[i] = fmt.Appendf(nil, `{"leaf":%d}`, i)
	}
	var ref memLog
	for i, l := range leaves {
		hs, err := tlog.StoredHashes(int64(i), l, tlog.HashReaderFunc(ref.read))
		if err != nil {
			t.Fatal(err)
		}
		ref.hashes = append(ref.hashes, hs...)
	}
	want, err := tlog.TreeHash(int64(len(leaves)), tlog.HashReaderFunc(ref.read))
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{1, 2, 3, 5, 8, 16, 37} {
		var m memLog
		for start := 0; start < len(leaves); start += batch {
			end := min(start+batch, len(leaves))
			hs, err := Append(int64(start), leaves[start:end], m.read)
			if err != nil {
				t.Fatalf("batch %d at %d: %v", batch, start, err)
			}
			m.store(t, hs)
		}
		got, err := tlog.TreeHash(int64(len(leaves)), tlog.HashReaderFunc(m.read))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("batches of %d: got root %v, want %v", batch, got, want)
		}
	}
}
