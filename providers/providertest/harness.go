package providertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/sim"
)

// Timeouts the test harness uses: a call's Client waits CallTimeout for
// headers and between stream reads; Do gives an attempt DoTimeout.
const (
	CallTimeout = 5 * time.Second
	DoTimeout   = 10 * time.Second
)

// StartSim starts a simulator serving b (with opts) and closes it when the
// test ends.
func StartSim(t testing.TB, b sim.Backend, opts ...sim.Option) *sim.Server {
	t.Helper()
	srv := sim.Start(b, opts...)
	t.Cleanup(srv.Close)
	return srv
}

// NewCall builds a first attempt of req for provider against baseURL:
// RequestID "rid-<operation>", endpoint "sim", the key secret labelled
// "primary", and its own Client with CallTimeout header and idle timeouts.
// Change the returned call's fields for other settings.
func NewCall(provider, baseURL, secret string, req messages.Request) *providers.Call {
	return &providers.Call{
		Request:   req,
		RequestID: "rid-" + req.Operation(),
		Attempt:   1,
		Provider:  provider,
		Endpoint:  "sim",
		BaseURL:   baseURL,
		Key:       providers.NewCredential("primary", secret),
		Client:    &providers.Client{HeaderTimeout: CallTimeout, IdleTimeout: CallTimeout},
	}
}

// Do runs one attempt of call on a, within DoTimeout.
func Do(t testing.TB, a providers.Adapter, call *providers.Call) (messages.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DoTimeout)
	defer cancel()
	return a.Do(ctx, call)
}

// LastBody decodes the JSON body of the last request srv recorded, failing
// the test if there is none or it is not a JSON object.
func LastBody(t testing.TB, srv *sim.Server) map[string]any {
	t.Helper()
	recs := srv.Requests()
	if len(recs) == 0 {
		t.Fatal("no request recorded")
	}
	var m map[string]any
	if err := json.Unmarshal(recs[len(recs)-1].Body, &m); err != nil {
		t.Fatalf("request body is not JSON: %v", err)
	}
	return m
}

// UpstreamError returns err as an *messages.UpstreamError, failing the test
// if it is not one or if its text (also with %+v) contains secret.
func UpstreamError(t testing.TB, err error, secret string) *messages.UpstreamError {
	t.Helper()
	var ue *messages.UpstreamError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v (%T) is not an *UpstreamError", err, err)
	}
	if strings.Contains(ue.Error(), secret) || strings.Contains(fmt.Sprintf("%+v", ue), secret) {
		t.Fatalf("error leaks the key: %v", ue)
	}
	return ue
}

// Recorder collects the stream chunks a call emits; set a call's Emit to
// its Emit method. The zero value is ready; it is safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	chunks []messages.StreamChunk
}

// Emit records a copy of ch and returns true (the caller is never gone).
func (r *Recorder) Emit(ch *messages.StreamChunk) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.chunks = append(r.chunks, *ch)
	return true
}

// All returns a copy of the chunks recorded so far.
func (r *Recorder) All() []messages.StreamChunk {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.chunks)
}
