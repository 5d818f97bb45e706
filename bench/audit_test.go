package bench

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/switchyard-ai/switchyard"
)

// BenchmarkAuditOverhead is BenchmarkThroughput (in-memory transport, 64
// callers per core) with the audit log off, and on to a file with a sync
// every second (the default), after every write the logger makes (one sync
// per batch of up to 256 records) and with syncing left to the OS. The records written are
// counted, so a run that drops records shows it (audit-dropped/op).
func BenchmarkAuditOverhead(b *testing.B) {
	for _, tc := range []struct {
		name  string
		fsync string
	}{{"off", ""}, {"file-fsync-1s", "1s"}, {"file-fsync-write", "write"}, {"file-fsync-never", "never"}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := switchyard.Config{
				Providers: []switchyard.ProviderConfig{{Name: "openai", Kind: "openai", Endpoints: []switchyard.EndpointConfig{{
					BaseURL: "http://mem.invalid/v1", Keys: []switchyard.KeyConfig{{Label: "k1", Secret: secret}, {Label: "k2", Secret: secret + "2"}}}}}},
				Queue:      switchyard.QueueConfig{High: 1 << 20, Normal: 1 << 20, Low: 1 << 20},
				HTTPClient: &http.Client{Transport: &memTransport{body: canned}},
			}
			if tc.fsync != "" {
				cfg.Audit = switchyard.AuditConfig{Path: filepath.Join(b.TempDir(), "audit.jsonl"), Fsync: tc.fsync}
			}
			sy, err := switchyard.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			saturate(b, sy)
			b.StopTimer()
			ctx := context.Background()
			st, err := sy.Stats(ctx)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(st.Audit.Dropped)/float64(b.N), "audit-dropped/op")
			if err := sy.Close(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}
