//go:build integration

package switchyard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/switchyard-ai/switchyard/actors"
)

// jaegerConfig is the smallest Jaeger (v2, an OpenTelemetry Collector
// distribution) that receives OTLP over HTTP and answers the query API:
// memory storage, every listener on a loopback port the test chose, no
// self-telemetry listener.
const jaegerConfig = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 1000
  jaeger_query:
    enable_tracing: false
    storage:
      traces: mem
    http:
      endpoint: 127.0.0.1:%d
    grpc:
      endpoint: 127.0.0.1:%d
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
`

// freePort returns a loopback TCP port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

// lockedBuffer is a bytes.Buffer safe for a process's output and a test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startJaeger runs the Jaeger binary that make tools builds ($JAEGER, else
// ./bin/jaeger) and returns its OTLP/HTTP and query addresses once both
// answer. It is stopped when the test ends.
func startJaeger(t *testing.T) (otlp, query string) {
	t.Helper()
	bin := os.Getenv("JAEGER")
	if bin == "" {
		bin = filepath.Join("bin", "jaeger")
	}
	_, err := os.Stat(bin)
	require.NoError(t, err, "no Jaeger binary at %s: run make tools (it builds bin/jaeger from tools/jaeger)", bin)
	qPort, gPort, oPort := freePort(t), freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "jaeger.yaml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, jaegerConfig, qPort, gPort, oPort), 0o600))
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "--config=file:"+cfg)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("jaeger output:\n%s", out.String())
		}
	})
	otlp, query = "127.0.0.1:"+strconv.Itoa(oPort), "http://127.0.0.1:"+strconv.Itoa(qPort)
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			require.FailNow(t, "jaeger exited", "%v\n%s", err, out.String())
		default:
		}
		resp, err := http.Get(query + "/api/services")
		if err == nil {
			resp.Body.Close()
			if c, err := net.Dial("tcp", otlp); err == nil {
				c.Close()
				if resp.StatusCode == http.StatusOK {
					return otlp, query
				}
			}
		}
		if time.Now().After(deadline) {
			require.FailNow(t, "jaeger did not start", "%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jaegerTrace is the part of the query API's answer the test reads.
type jaegerTrace struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			SpanID        string `json:"spanID"`
			OperationName string `json:"operationName"`
			References    []struct {
				RefType string `json:"refType"`
				SpanID  string `json:"spanID"`
			} `json:"references"`
			Tags []struct {
				Key   string `json:"key"`
				Value any    `json:"value"`
			} `json:"tags"`
		} `json:"spans"`
	} `json:"data"`
}

// TestTraceExportedToJaeger sends a request's spans over OTLP/HTTP to a
// real Jaeger and reads the trace back from its query API: the request
// span with its GenAI attributes and its attempt, its child.
func TestTraceExportedToJaeger(t *testing.T) {
	otlp, query := startJaeger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(otlp), otlptracehttp.WithInsecure())
	require.NoError(t, err)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "switchyard-test"))))
	t.Cleanup(func() { assert.NoError(t, tp.Shutdown(context.Background())) })

	oa := startOpenAI(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa)}, Tracing: TracingConfig{TracerProvider: tp}}, false)
	root, span := tp.Tracer("test").Start(ctx, "caller")
	resp, err := h.sy.Chat(root, openaiChat("hello jaeger"))
	span.End()
	require.NoError(t, err)
	require.NoError(t, tp.ForceFlush(ctx))

	traceID := span.SpanContext().TraceID().String()
	var got jaegerTrace
	deadline := time.Now().Add(20 * time.Second)
	for {
		got = jaegerTrace{}
		r, err := http.Get(query + "/api/traces/" + traceID)
		require.NoError(t, err)
		if r.StatusCode == http.StatusOK {
			require.NoError(t, json.NewDecoder(r.Body).Decode(&got))
		}
		r.Body.Close()
		if len(got.Data) == 1 && len(got.Data[0].Spans) == 3 {
			break
		}
		require.False(t, time.Now().After(deadline), "trace %s not in Jaeger: status %d, %+v", traceID, r.StatusCode, got)
		time.Sleep(50 * time.Millisecond)
	}
	byName := map[string]int{}
	spans := got.Data[0].Spans
	for i, s := range spans {
		byName[s.OperationName] = i
	}
	require.Contains(t, byName, "chat gpt-test")
	require.Contains(t, byName, actors.AttemptSpanName)
	require.Contains(t, byName, "caller")
	req, attempt := spans[byName["chat gpt-test"]], spans[byName[actors.AttemptSpanName]]
	tags := map[string]any{}
	for _, tag := range req.Tags {
		tags[tag.Key] = tag.Value
	}
	assert.Equal(t, "chat", tags["gen_ai.operation.name"])
	assert.Equal(t, "gpt-test", tags["gen_ai.request.model"])
	assert.Equal(t, resp.RequestID, tags["switchyard.request.id"])
	require.NotEmpty(t, attempt.References)
	assert.Equal(t, req.SpanID, attempt.References[0].SpanID, "the attempt is the request span's child")
	require.NotEmpty(t, req.References)
	assert.Equal(t, span.SpanContext().SpanID().String(), req.References[0].SpanID, "the request span is the caller's child")
}
