package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockDataDir takes an exclusive, non-blocking lock on <dir>/probity.lock so
// that a second server on the same SQLite data fails at once instead of
// sharing the file with another writer. The kernel drops the lock when the
// process dies, so a crash leaves nothing stale behind.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "probity.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := ""
			if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
				holder = " (pid " + strings.TrimSpace(string(b)) + ")"
			}
			return nil, fmt.Errorf("data directory %s is in use by another probity serve%s: stop it, or give this one another --data", dir, holder)
		}
		return nil, fmt.Errorf("locking data directory: %w", err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}
