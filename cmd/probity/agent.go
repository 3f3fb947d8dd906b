package main

import (
	"context"
	"io"
)

func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return usagef("agent: not yet")
}
