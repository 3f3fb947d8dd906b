// Package tbtest serves the reference agents of internal/testbed for the
// length of a test. It is apart from testbed so that the binary does not
// link the testing package.
package tbtest

import (
	"net/http/httptest"
	"testing"

	"github.com/probity-dev/probity/internal/testbed"
)

// Start serves the testbed on 127.0.0.1 for the length of a test and
// returns its base URL (without /v1).
func Start(t testing.TB, opts testbed.Options) string {
	t.Helper()
	srv := httptest.NewServer(testbed.New(opts))
	t.Cleanup(srv.Close)
	return srv.URL
}
