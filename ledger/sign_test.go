package ledger

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func TestValidOrigin(t *testing.T) {
	for _, o := range []string{testOrigin, "probity/a.b_c-d/ffffffffffffffff", "example.com/log42", "é"} {
		if err := ValidOrigin(o); err != nil {
			t.Errorf("ValidOrigin(%q) = %v, want nil", o, err)
		}
	}
	for _, o := range []string{"", "probity/a b/1", "probity/a+b/1", "a\tb", "a\nb", "a\x01b", "a\u00a0b", "\xff"} {
		if err := ValidOrigin(o); !errors.Is(err, ErrMalformed) {
			t.Errorf("ValidOrigin(%q) = %v, want ErrMalformed", o, err)
		}
		if _, _, err := GenerateKey(o); !errors.Is(err, ErrMalformed) {
			t.Errorf("GenerateKey(%q) = %v, want ErrMalformed", o, err)
		}
	}
}

func TestNewOrigin(t *testing.T) {
	re := regexp.MustCompile(`^probity/acme/[0-9a-f]{16}$`)
	a, err := NewOrigin("acme")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewOrigin("acme")
	if !re.MatchString(a) || a == b {
		t.Errorf("NewOrigin(acme) = %q then %q, want two different matches of %s", a, b, re)
	}
	for _, org := range []string{"", "a/b", "a b", "a+b"} {
		if o, err := NewOrigin(org); !errors.Is(err, ErrMalformed) {
			t.Errorf("NewOrigin(%q) = %q, %v, want ErrMalformed", org, o, err)
		}
	}
}

func TestGenerateKeySignOpen(t *testing.T) {
	origin, err := NewOrigin("acme")
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(skey, "PRIVATE+KEY+"+origin+"+") || !strings.HasPrefix(vkey, origin+"+") {
		t.Fatalf("keys %q / %q are not named %q", skey, vkey, origin)
	}
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	c := Checkpoint{Origin: origin, Size: 7, Hash: LeafHash([]byte("x"))}
	signed, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenCheckpoint(signed, vkey)
	if err != nil || got != c {
		t.Errorf("OpenCheckpoint = %+v, %v, want %+v", got, err, c)
	}
}

func TestNewSignerBadKey(t *testing.T) {
	skey, vkey := testKeys(t, testOrigin)
	for _, k := range []string{"", vkey, skey[:len(skey)-4], strings.Replace(skey, "PRIVATE", "PUBLIC", 1)} {
		_, err := NewSigner(k)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("NewSigner(%q) = %v, want ErrMalformed", k, err)
		}
		if err != nil && k != "" && strings.Contains(err.Error(), k) {
			t.Errorf("NewSigner error %q repeats the secret key", err)
		}
	}
}

func TestSignWrongOrigin(t *testing.T) {
	skey, _ := testKeys(t, testOrigin)
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	c := testCheckpoint()
	c.Origin = "probity/other/0123456789abcdef"
	if _, err := s.Sign(c); !errors.Is(err, ErrOriginMismatch) {
		t.Errorf("Sign(other origin) = %v, want ErrOriginMismatch", err)
	}
	c = testCheckpoint()
	c.Size = -1
	if _, err := s.Sign(c); !errors.Is(err, ErrMalformed) {
		t.Errorf("Sign(size -1) = %v, want ErrMalformed", err)
	}
}

func TestOpenCheckpointErrors(t *testing.T) {
	skey, vkey := testKeys(t, testOrigin)
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := mustSigner(t, skey).Sign(testCheckpoint())
	if err != nil {
		t.Fatal(err)
	}
	_, otherV := testKeys(t, "probity/acme/ffffffffffffffff")
	_, sameNameV, err := note.GenerateKey(bytes.NewReader(make([]byte, 32)), testOrigin)
	if err != nil {
		t.Fatal(err)
	}

	sign := func(text string) []byte {
		msg, err := note.Sign(&note.Note{Text: text}, signer)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	sigAt := bytes.LastIndex(signed, []byte(" ")) + 1
	flipSig := bytes.Clone(signed)
	flipSig[sigAt+10] ^= 'A' ^ 'B' // the key id stays, the signature breaks
	if flipSig[sigAt+10] == signed[sigAt+10] {
		t.Fatal("no flip")
	}
	otherBody := bytes.Replace(signed, []byte("\n42\n"), []byte("\n43\n"), 1)

	tests := []struct {
		name   string
		signed []byte
		vkey   string
		want   error
	}{
		{"wrong key", signed, otherV, ErrUnknownKey},
		{"same name, other key", signed, sameNameV, ErrUnknownKey},
		{"tampered signature", flipSig, vkey, ErrBadSignature},
		{"tampered size", otherBody, vkey, ErrBadSignature},
		{"key name is not the origin", sign("probity/other/0123456789abcdef\n42\n" + testCheckpoint().Hash.String() + "\n"), vkey, ErrOriginMismatch},
		{"signed garbage", sign("hello\n"), vkey, ErrMalformed},
		{"signed bad size", sign(testOrigin + "\n007\n" + testCheckpoint().Hash.String() + "\n"), vkey, ErrMalformed},
		{"no signature", testCheckpoint().Marshal(), vkey, ErrMalformed},
		{"not a note", []byte("x"), vkey, ErrMalformed},
		{"bad verifier key", signed, "nonsense", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := OpenCheckpoint(tt.signed, tt.vkey)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %+v, %v, want %v", c, err, tt.want)
			}
			t.Log(err)
		})
	}
}

// TestOpenCheckpointCosigned: other keys' signatures, such as witnesses'
// cosignatures, are ignored.
func TestOpenCheckpointCosigned(t *testing.T) {
	skey, vkey := testKeys(t, testOrigin)
	wkey, _ := testKeys(t, "witness.example/w1")
	s, _ := note.NewSigner(skey)
	w, _ := note.NewSigner(wkey)
	msg, err := note.Sign(&note.Note{Text: string(testCheckpoint().Marshal())}, w, s)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := OpenCheckpoint(msg, vkey); err != nil || c != testCheckpoint() {
		t.Errorf("got %+v, %v, want %+v", c, err, testCheckpoint())
	}
}

func mustSigner(t *testing.T, skey string) *Signer {
	t.Helper()
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
