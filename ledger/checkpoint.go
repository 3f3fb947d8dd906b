package ledger

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"
)

// A Checkpoint is a log's commitment to its tree at one size, in the C2SP
// tlog-checkpoint format (https://c2sp.org/tlog-checkpoint). Signed, it is a
// C2SP signed note (https://c2sp.org/signed-note) whose key name is Origin.
type Checkpoint struct {
	Origin string    // the log's identity, e.g. probity/acme/3f9c0a1b2c3d4e5f
	Size   int64     // number of leaves
	Hash   tlog.Hash // RFC 6962 root hash of the first Size leaves
}

// Marshal returns the checkpoint's note body: the origin, the size in
// decimal and the root hash in standard base64, each on its own line.
func (c Checkpoint) Marshal() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, c.Hash)
}

// ParseCheckpoint parses a checkpoint note body strictly: at least three
// non-empty lines of UTF-8 without control characters, each ending in a
// newline: the origin, the size in canonical decimal (no sign, no leading
// zeros), the hash in padded standard base64 of exactly 32 bytes. Extension
// lines after the hash are allowed and ignored. Errors wrap ErrMalformed.
func ParseCheckpoint(body []byte) (Checkpoint, error) {
	bad := func(format string, args ...any) (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("%w checkpoint: "+format, append([]any{ErrMalformed}, args...)...)
	}
	if !bytes.HasSuffix(body, []byte("\n")) {
		return bad("does not end in a newline")
	}
	lines := bytes.Split(body[:len(body)-1], []byte("\n"))
	if len(lines) < 3 {
		return bad("want 3 lines (origin, size, hash), got %d", len(lines))
	}
	for i, l := range lines {
		switch {
		case len(l) == 0:
			return bad("line %d is empty", i+1)
		case !utf8.Valid(l) || bytes.ContainsFunc(l, isControl):
			return bad("line %d is not printable UTF-8", i+1)
		}
	}
	origin, size, hash := lines[0], lines[1], lines[2]
	n, err := parseSize(string(size))
	if err != nil {
		return bad("size %q: %v", size, err)
	}
	h, err := parseHash(string(hash))
	if err != nil {
		return bad("hash %q: %v", hash, err)
	}
	return Checkpoint{Origin: string(origin), Size: n, Hash: h}, nil
}

// parseSize accepts only the canonical decimal form of a non-negative int64.
func parseSize(s string) (int64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' || (s[0] == '0' && len(s) > 1) {
		return 0, fmt.Errorf("not a canonical decimal")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a canonical decimal")
	}
	return n, nil
}

// parseHash accepts only padded standard base64 of exactly HashSize bytes.
func parseHash(s string) (tlog.Hash, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("not standard base64")
	}
	if len(b) != tlog.HashSize {
		return tlog.Hash{}, fmt.Errorf("%d bytes, want %d", len(b), tlog.HashSize)
	}
	return tlog.Hash(b), nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
