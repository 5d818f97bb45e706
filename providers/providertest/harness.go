package providertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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

// Run is one attempt of a call with the chunks it emitted.
type Run struct {
	Call   *providers.Call
	Resp   messages.Response
	Err    error
	Chunks []*messages.StreamChunk
}

// DoRun runs one attempt of call on a (recording its chunks unless the call
// has its own Emit) and fails the test if Do returned neither a response nor
// an error, or if the error's text in any verb shows secret.
func DoRun(t testing.TB, a providers.Adapter, call *providers.Call, secret string) *Run {
	t.Helper()
	r := &Run{Call: call}
	if call.Emit == nil {
		call.Emit = func(ch *messages.StreamChunk) bool {
			c := *ch
			r.Chunks = append(r.Chunks, &c)
			return true
		}
	}
	r.Resp, r.Err = a.Do(context.Background(), call)
	if r.Err == nil && r.Resp == nil {
		t.Fatal("Do returned neither a response nor an error")
	}
	if r.Err != nil {
		for _, s := range []string{r.Err.Error(), fmt.Sprintf("%+v", r.Err), fmt.Sprintf("%#v", r.Err)} {
			if strings.Contains(s, secret) {
				t.Fatalf("error shows the key: %s", s)
			}
		}
	}
	return r
}

// Chat returns the run's *messages.ChatResponse, failing the test on an
// error or another response type.
func (r *Run) Chat(t testing.TB) *messages.ChatResponse {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("Do: %v", r.Err)
	}
	cr, ok := r.Resp.(*messages.ChatResponse)
	if !ok {
		t.Fatalf("response is %T", r.Resp)
	}
	return cr
}

// Upstream returns the run's *messages.UpstreamError, failing the test if
// the run succeeded or the error is of another type, and reporting an error
// that does not name the call's provider, endpoint, key label and request ID.
func (r *Run) Upstream(t testing.TB) *messages.UpstreamError {
	t.Helper()
	if r.Err == nil {
		t.Fatalf("Do succeeded with %+v, want an error", r.Resp)
	}
	var ue *messages.UpstreamError
	if !errors.As(r.Err, &ue) {
		t.Fatalf("error %T %v is not an *UpstreamError", r.Err, r.Err)
	}
	c := r.Call
	if ue.Provider != c.Provider || ue.Endpoint != c.Endpoint || ue.Key != c.Key.Label() || ue.RequestID != c.RequestID {
		t.Errorf("error identity = %q/%q/%q/%q", ue.Provider, ue.Endpoint, ue.Key, ue.RequestID)
	}
	return ue
}

// LastBodyNumbers is LastBody with numbers kept as json.Number, for exact
// comparisons of integers and their JSON spelling.
func LastBodyNumbers(t testing.TB, srv *sim.Server) map[string]any {
	t.Helper()
	recs := srv.Requests()
	if len(recs) == 0 {
		t.Fatal("the simulator received no request")
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(recs[len(recs)-1].Body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("request body: %v", err)
	}
	return m
}

// JSONOf marshals v, failing the test if it cannot.
func JSONOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// StreamBody runs read over body as a 200 stream through Client.Stream (so
// cut and idle rules apply, as in Do) and checks the outcome: either
// answered reports a result, or the error is a classified *UpstreamError
// whose text does not show secret. For fuzz targets of stream decoders.
func StreamBody(t testing.TB, call *providers.Call, body []byte, secret string, read func(io.Reader) error, answered func() bool) {
	t.Helper()
	client := &providers.Client{IdleTimeout: time.Minute}
	resp := &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(body))}
	err := client.Stream(context.Background(), call, resp, read)
	if err == nil {
		if !answered() {
			t.Fatal("no error and no response")
		}
		return
	}
	var ue *messages.UpstreamError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v (%T) is not an UpstreamError", err, err)
	}
	if ue.Class == messages.ClassUnknown || strings.Contains(ue.Error(), secret) {
		t.Fatalf("bad error %v", ue)
	}
}
