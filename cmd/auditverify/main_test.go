package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/audit"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
)

// newLog writes n records to a new log that rotates at maxBytes (0: the
// default) and returns its path.
func newLog(t *testing.T, n int, maxBytes int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	s, err := audit.OpenFileSink(audit.FileOptions{Path: path, MaxBytes: maxBytes, Fsync: audit.FsyncNever})
	require.NoError(t, err)
	for i := 0; i < n; i++ {
		rec := audit.Record{Time: clocktest.Epoch().Add(time.Duration(i) * time.Second), RequestID: "req",
			Outcome: audit.OutcomeOK, Status: 200}
		require.NoError(t, s.Write(context.Background(), []audit.Record{rec}))
	}
	require.NoError(t, s.Close())
	return path
}

func TestRun(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T) []string
		status int
		want   string // a regexp the output must match
	}{
		{"intact log", func(t *testing.T) []string { return []string{newLog(t, 5, 0)} },
			0, `^OK \S+audit.log: 5 records \(seq 1..5\) in 1 files, last hash [0-9a-f]{64}\n$`},
		{"rotated log", func(t *testing.T) []string { return []string{newLog(t, 6, 700)} },
			0, `^OK \S+: 6 records \(seq 1..6\) in [2-6] files`},
		{"edited record", func(t *testing.T) []string {
			path := newLog(t, 5, 0)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			lines := bytes.SplitAfter(data, []byte("\n"))
			lines[2] = bytes.Replace(lines[2], []byte(`"status":200`), []byte(`"status":500`), 1)
			require.NoError(t, os.WriteFile(path, bytes.Join(lines, nil), 0o600))
			return []string{path}
		}, 1, `^BROKEN \S+: \S+audit.log line 3 \(seq 3\): record does not match its hash; the 2 records before it verify\n$`},
		{"torn last line", func(t *testing.T) []string {
			path := newLog(t, 3, 0)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, data[:len(data)-20], 0o600))
			return []string{path}
		}, 0, `^OK \S+: 2 records \(seq 1..2\) in 1 files, last hash \S+\n  torn line: \S+audit.log at offset \d+ \(\d+ bytes\): a write cut short`},
		{"missing oldest file", func(t *testing.T) []string {
			path := newLog(t, 6, 700)
			require.NoError(t, os.Remove(path+".000001"))
			return []string{path}
		}, 1, `^INCOMPLETE \S+: the first record is seq \d+, not 1`},
		{"missing middle file with -files", func(t *testing.T) []string {
			path := newLog(t, 6, 700)
			files, err := audit.Files(path)
			require.NoError(t, err)
			require.Greater(t, len(files), 2)
			return append([]string{"-files", files[0]}, files[2:]...)
		}, 1, `^BROKEN \S+: \S+ line 1 \(seq \d+\): sequence broken`},
		{"-pruned accepts a log without its oldest file", func(t *testing.T) []string {
			path := newLog(t, 6, 700)
			require.NoError(t, os.Remove(path+".000001"))
			return []string{"-pruned", path}
		}, 0, `^OK \S+: \d records \(seq [2-6]..6\)`},
		{"one bad log of two", func(t *testing.T) []string {
			return []string{newLog(t, 2, 0), filepath.Join(t.TempDir(), "missing.log")}
		}, 1, `^OK .*\nERROR \S+missing.log: audit: no log at \S+: file does not exist\n$`},
		{"no arguments", func(*testing.T) []string { return nil }, 2, `^$`},
		{"bad flag", func(*testing.T) []string { return []string{"-nope"} }, 2, `^$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			status := run(tt.setup(t), &stdout, &stderr)
			assert.Equal(t, tt.status, status, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
			assert.Regexp(t, regexp.MustCompile(tt.want), stdout.String())
			if tt.status == 2 {
				assert.Contains(t, stderr.String(), "usage: auditverify")
			} else {
				assert.Empty(t, stderr.String())
			}
		})
	}
}
