package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// runPlain prints a text snapshot every interval until ctx ends: the view
// when stdout is not a terminal, or with --plain.
func runPlain(ctx context.Context, w io.Writer, src *source, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		f := src.frame(ctx)
		if ctx.Err() != nil && f.TreeErr != nil {
			return nil // the snapshot was cut short by the end of the run
		}
		if _, err := fmt.Fprint(w, strings.Repeat("─", 100)+"\n"+render(f, plainPalette)); err != nil {
			return fmt.Errorf("writing a snapshot: %w", err)
		}
	}
}
