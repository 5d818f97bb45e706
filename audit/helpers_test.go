package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-ai/switchyard/clock/clocktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// sample returns the i-th record of a test log: every field set, the time
// taken from the run's random epoch.
func sample(i int) Record {
	return Record{
		Time:         clocktest.Epoch().Add(time.Duration(i)*time.Second + 123456789),
		RequestID:    fmt.Sprintf("req-%04d", i),
		Principal:    "svc-billing",
		Tenant:       "team-a",
		Operation:    "chat",
		Provider:     "openai",
		Endpoint:     "primary",
		Key:          "key-1",
		Model:        "gpt-4o-mini",
		Priority:     "normal",
		Attempts:     1 + i%3,
		Outcome:      OutcomeOK,
		Status:       200,
		InputTokens:  100 + i,
		OutputTokens: 20 + i,
		Latency:      time.Duration(i)*time.Millisecond + 1500*time.Microsecond,
		CacheHit:     []string{"", CacheExact, CacheSemantic}[i%3],
		BatchID:      "",
	}
}

// samples returns records 0..n-1 of a test log.
func samples(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = sample(i)
	}
	return recs
}

// writeLog writes n sample records to a new log in a temporary directory,
// one Write per record, and returns the log's path.
func writeLog(t testing.TB, n int, opts FileOptions) string {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "audit.log")
	}
	if opts.Fsync == FsyncEveryWrite {
		opts.Fsync = FsyncNever // tests that count syncs set their own policy
	}
	s, err := OpenFileSink(opts)
	require.NoError(t, err)
	for _, r := range samples(n) {
		require.NoError(t, s.Write(context.Background(), []Record{r}))
	}
	require.NoError(t, s.Close())
	return opts.Path
}

// readFile returns a file's bytes.
func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	require.NoError(t, err)
	return data
}

// writeFile writes data to a file in a new temporary directory.
func writeFile(t testing.TB, data []byte) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "audit.log")
	require.NoError(t, os.WriteFile(name, data, 0o600))
	return name
}

// sealed returns records 0..n-1 chained from the start, and their lines
// with newlines.
func sealed(n int) ([]Record, [][]byte) {
	var c chain
	recs := samples(n)
	lines := make([][]byte, n)
	for i := range recs {
		lines[i] = append(c.seal(nil, &recs[i]), '\n')
	}
	return recs, lines
}

// sha256hex is the lowercase hex SHA-256 of s.
func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// maxLine bounds the length of a sample record's line with its newline
// (records after the first carry a 64-digit Prev; numbers vary by a few
// digits).
func maxLine() int64 {
	_, lines := sealed(3)
	return int64(len(lines[2])) + 8
}
