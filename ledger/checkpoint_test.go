package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	goldenfile "github.com/probity-dev/probity/internal/golden"
)

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) { goldenfile.Check(t, name, got) }

const testOrigin = "probity/acme/0123456789abcdef"

// testKeys returns a fixed key pair for name: Ed25519 signatures are
// deterministic, so checkpoints signed with it are golden.
func testKeys(t testing.TB, name string) (signerKey, verifierKey string) {
	t.Helper()
	seed := bytes.Repeat([]byte(name), 32)[:32]
	skey, vkey, err := note.GenerateKey(bytes.NewReader(seed), name)
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

func testCheckpoint() Checkpoint {
	return Checkpoint{Origin: testOrigin, Size: 42, Hash: LeafHash([]byte(`{"kind":"test"}`))}
}

func TestCheckpointGolden(t *testing.T) {
	c := testCheckpoint()
	body := c.Marshal()
	golden(t, "checkpoint.txt", body)
	got, err := ParseCheckpoint(body)
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Errorf("ParseCheckpoint(Marshal()) = %+v, want %+v", got, c)
	}

	skey, vkey := testKeys(t, testOrigin)
	golden(t, "checkpoint.vkey", []byte(vkey+"\n"))
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	if s.Origin() != testOrigin {
		t.Errorf("Origin() = %q, want %q", s.Origin(), testOrigin)
	}
	signed, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "checkpoint.signed", signed)
	got, err = OpenCheckpoint(signed, vkey)
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Errorf("OpenCheckpoint(Sign()) = %+v, want %+v", got, c)
	}
}

func TestParseCheckpointExtensions(t *testing.T) {
	body, err := os.ReadFile("testdata/checkpoint-extensions.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseCheckpoint(body)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ParseCheckpoint(bytes.Join(bytes.SplitAfter(body, []byte("\n"))[:3], nil))
	if got != want {
		t.Errorf("with extension lines got %+v, want %+v", got, want)
	}
}

func TestParseCheckpointZero(t *testing.T) {
	c := Checkpoint{Origin: testOrigin, Size: 0, Hash: emptyRoot}
	got, err := ParseCheckpoint(c.Marshal())
	if err != nil || got != c {
		t.Errorf("got %+v, %v, want %+v", got, err, c)
	}
}

// TestParseCheckpointBad parses every file in testdata/bad-checkpoint and
// pins the error each gets in errors.golden.
func TestParseCheckpointBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad-checkpoint/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad checkpoints: %v", err)
	}
	var report strings.Builder
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseCheckpoint(body)
		if err == nil {
			t.Errorf("%s: parsed as %+v, want an error", name, c)
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
		fmt.Fprintf(&report, "%s: %v\n", name, err)
	}
	golden(t, "bad-checkpoint/errors.golden", []byte(report.String()))
}
