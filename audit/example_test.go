package audit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/switchyard-ai/switchyard/audit"
)

// Write two records through a Logger into a log file, then verify the log.
func Example() {
	dir, err := os.MkdirTemp("", "audit-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "audit.log")

	sink, err := audit.OpenFileSink(audit.FileOptions{Path: path})
	if err != nil {
		panic(err)
	}
	logger := audit.NewLogger(sink, audit.LoggerOptions{})
	logger.Log(audit.Record{RequestID: "req-1", Principal: "alice", Tenant: "team-a", Operation: "chat",
		Provider: "openai", Model: "gpt-4o-mini", Attempts: 1, Outcome: audit.OutcomeOK, Status: 200,
		InputTokens: 12, OutputTokens: 34, Latency: 850 * time.Millisecond})
	logger.Log(audit.Record{RequestID: "req-2", Principal: "bob", Tenant: "team-b", Operation: "embeddings",
		Provider: "gemini", Attempts: 3, Outcome: audit.OutcomeError, Status: 429, ErrorClass: "rate_limited"})
	if err := logger.Close(context.Background()); err != nil {
		panic(err)
	}

	report, err := audit.VerifyLog(path)
	if err != nil {
		fmt.Println("broken:", err)
		return
	}
	fmt.Printf("%d records in %d file, seq %d..%d, torn lines: %d\n",
		report.Records, report.Files, report.FirstSeq, report.LastSeq, len(report.Torn))
	// Output: 2 records in 1 file, seq 1..2, torn lines: 0
}
