package openai_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/groq"
	"github.com/switchyard-ai/switchyard/providers/llvm"
	"github.com/switchyard-ai/switchyard/providers/opea"
	"github.com/switchyard-ai/switchyard/providers/openai"
	"github.com/switchyard-ai/switchyard/providers/openai/openaitest"
	"github.com/switchyard-ai/switchyard/providers/ovms"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/providers/tgi"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Keys of the stateful tests: stKeyA and stKeyA2 are one organisation,
// stKeyB another.
const (
	stKeyA  = "sk-org-a-0123456789SECRET"
	stKeyA2 = "sk-org-a-second-0123SECRET"
	stKeyB  = "sk-org-b-0123456789SECRET"
)

// stateHarness runs the adapter against a simulator with two
// organisations, capturing every answer for the spec checks.
type stateHarness struct {
	srv *sim.Server
	ct  *providertest.CaptureTransport
}

func newStateHarness(t *testing.T, b *sim.OpenAIBackend) *stateHarness {
	t.Helper()
	if b == nil {
		b = sim.OpenAI()
	}
	srv := providertest.StartSim(t, b, sim.WithOrganisations(map[string]string{stKeyA: "org-a", stKeyA2: "org-a", stKeyB: "org-b"}))
	return &stateHarness{srv: srv, ct: &providertest.CaptureTransport{}}
}

// call builds an attempt of req with key.
func (h *stateHarness) call(req messages.Request, key string) *providers.Call {
	call := providertest.NewCall("openai", h.srv.URL+"/v1", key, req)
	call.Client.HTTP = &http.Client{Transport: h.ct}
	return call
}

// do runs req with key and requires success.
func (h *stateHarness) do(t *testing.T, req messages.Request, key string) messages.Response {
	t.Helper()
	resp, err := providertest.Do(t, openai.New(), h.call(req, key))
	require.NoError(t, err, "%s", req.Operation())
	return resp
}

// fail runs req with key and returns its upstream error.
func (h *stateHarness) fail(t *testing.T, req messages.Request, key string) *messages.UpstreamError {
	t.Helper()
	_, err := providertest.Do(t, openai.New(), h.call(req, key))
	return providertest.UpstreamError(t, err, key)
}

// specOperation is one operation of the spec's paths.
type specOperation struct {
	template   *regexp.Regexp
	method     string
	params     map[string]bool // query parameters
	request    string          // the request body's schema, "" for none
	response   string          // the 200 JSON answer's schema, "" for none
	event      string          // the 200 event stream's schema, "" for none
	errSchema  string
	pathString string
}

var (
	specOpsOnce sync.Once
	specOps     []specOperation
)

// specOperations reads the spec's paths (not its schemas: openaitest
// validates those).
func specOperations(t *testing.T) []specOperation {
	t.Helper()
	specOpsOnce.Do(func() {
		raw, err := os.ReadFile(openaitest.SpecFile())
		if err != nil {
			return
		}
		var doc struct {
			Paths map[string]map[string]json.RawMessage `json:"paths"`
		}
		if json.Unmarshal(raw, &doc) != nil {
			return
		}
		ref := func(v map[string]any) string {
			s, _ := v["$ref"].(string)
			return strings.TrimPrefix(s, "#/components/schemas/")
		}
		for p, ops := range doc.Paths {
			if strings.Contains(p, "?") {
				continue // beta variants
			}
			marked := regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(p, "\x00")
			re := regexp.MustCompile("^/v1" + strings.ReplaceAll(regexp.QuoteMeta(marked), "\x00", `[^/]+`) + "$")
			for m, rawOp := range ops {
				var op struct {
					Parameters []struct {
						Name string `json:"name"`
						In   string `json:"in"`
					} `json:"parameters"`
					RequestBody struct {
						Content map[string]struct {
							Schema map[string]any `json:"schema"`
						} `json:"content"`
					} `json:"requestBody"`
					Responses map[string]struct {
						Content map[string]struct {
							Schema map[string]any `json:"schema"`
						} `json:"content"`
					} `json:"responses"`
				}
				if json.Unmarshal(rawOp, &op) != nil {
					continue
				}
				so := specOperation{template: re, method: strings.ToUpper(m), params: map[string]bool{}, pathString: p}
				for _, prm := range op.Parameters {
					if prm.In == "query" {
						so.params[prm.Name] = true
					}
				}
				if c, ok := op.RequestBody.Content["application/json"]; ok {
					so.request = ref(c.Schema)
					if so.request == "" {
						so.request = "inline"
					}
				}
				if c, ok := op.Responses["200"].Content["application/json"]; ok {
					so.response = ref(c.Schema)
				}
				if c, ok := op.Responses["200"].Content["text/event-stream"]; ok {
					so.event = ref(c.Schema)
				}
				specOps = append(specOps, so)
			}
		}
	})
	require.NotEmpty(t, specOps, "spec paths not loaded")
	return specOps
}

// specOp finds the operation of method and path (a request's unescaped
// path, under /v1); it fails the test when the spec has none.
func specOp(t *testing.T, method, path string) specOperation {
	t.Helper()
	for _, op := range specOperations(t) {
		if op.method == method && op.template.MatchString(path) {
			return op
		}
	}
	require.Failf(t, "no such operation", "the spec has no %s %s", method, path)
	return specOperation{}
}

// checkRequests validates every request the simulator received since
// index from against the spec: the method and path are an operation of
// the spec, its query parameters are the operation's, and its body
// conforms to the operation's request schema (an inline schema is checked
// for its declared properties). It returns the operations seen.
func checkRequests(t *testing.T, srv *sim.Server) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for _, rec := range srv.Requests() {
		op := specOp(t, rec.Method, rec.Path)
		seen[rec.Method+" "+op.pathString]++
		q, err := url.ParseQuery(rec.Query)
		require.NoError(t, err)
		for k := range q {
			assert.True(t, op.params[strings.TrimSuffix(k, "[]")], "%s %s: query parameter %q is not in the spec", rec.Method, rec.Path, k)
		}
		switch {
		case len(rec.Body) == 0:
		case op.request == "":
			assert.Failf(t, "body without a schema", "%s %s sent a body the spec does not take: %s", rec.Method, rec.Path, rec.Body)
		case op.request == "inline": // add items: {"items": [InputItem…]}, at most 20
			var body struct {
				Items []json.RawMessage `json:"items"`
			}
			require.NoError(t, json.Unmarshal(rec.Body, &body))
			assert.LessOrEqual(t, len(body.Items), 20)
			for _, it := range body.Items {
				assert.NoError(t, openaitest.Validate(t, "InputItem", it), "%s %s item %s", rec.Method, rec.Path, it)
			}
		default:
			assert.NoError(t, openaitest.Validate(t, op.request, rec.Body), "%s %s body violates %s:\n%s", rec.Method, rec.Path, op.request, rec.Body)
		}
	}
	return seen
}

// checkAnswers validates every answer captured against the spec's schema
// for its operation (errors against ErrorResponse, stream events against
// the operation's event schema) and returns how many it checked.
func checkAnswers(t *testing.T, ct *providertest.CaptureTransport) int {
	t.Helper()
	n := 0
	for _, c := range ct.Responses() {
		op := specOp(t, c.Method, c.Path)
		body := c.Body.Bytes()
		switch {
		case c.Status != http.StatusOK:
			assert.NoError(t, openaitest.Validate(t, "ErrorResponse", body), "error %d from %s %s:\n%s", c.Status, c.Method, c.Path, body)
		case c.HasContentType("text/event-stream"):
			schema := op.event
			if schema == "" {
				schema = "ResponseStreamEvent" // GET /responses/{id} with stream=true: the spec names only the JSON answer
			}
			rd := providers.NewSSEReader(bytes.NewReader(body))
			for {
				ev, err := rd.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				assert.NoError(t, openaitest.Validate(t, schema, ev.Data), "event from %s %s:\n%s", c.Method, c.Path, ev.Data)
			}
		case op.response != "":
			assert.NoError(t, openaitest.Validate(t, op.response, body), "answer from %s %s violates %s:\n%s", c.Method, c.Path, op.response, body)
		default:
			require.True(t, json.Valid(body), "answer from %s %s", c.Method, c.Path)
		}
		n++
	}
	return n
}

func user(s string) []messages.Message { return []messages.Message{{Role: "user", Content: s}} }

func intp(n int) *int { return &n }

func TestResponseLifecycleAgainstSpec(t *testing.T) {
	b := sim.OpenAI()
	b.BackgroundPolls = 2
	h := newStateHarness(t, b)

	first := h.do(t, &messages.ResponsesRequest{Model: "gpt-4o", Input: user("remember me")}, stKeyA).(*messages.ResponsesResponse)
	assert.True(t, first.Stored)
	assert.Equal(t, []string{first.ID}, first.CreatedObjects())
	assert.False(t, first.Background)

	got := h.do(t, &messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: first.ID}, stKeyA2).(*messages.ResponsesResponse)
	assert.Equal(t, first.ID, got.ID)
	assert.Equal(t, "echo: remember me", got.OutputText)
	assert.Equal(t, "completed", got.Status)

	items := h.do(t, &messages.ResponseObjectRequest{Action: messages.ResponseInputItems, ResponseID: first.ID,
		Page: messages.Page{Limit: 5, Order: "asc"}}, stKeyA).(*messages.ItemList)
	require.Len(t, items.Items, 1)
	assert.Equal(t, "message", items.Items[0].Type)
	assert.Equal(t, "user", items.Items[0].Role)
	assert.Equal(t, "remember me", items.Items[0].Content)
	assert.Equal(t, items.Items[0].ID, items.FirstID)
	assert.False(t, items.HasMore)

	unstored := h.do(t, &messages.ResponsesRequest{Model: "gpt-4o", Input: user("forget me"), Store: boolp(false)}, stKeyA).(*messages.ResponsesResponse)
	assert.False(t, unstored.Stored)
	assert.Empty(t, unstored.CreatedObjects())
	e := h.fail(t, &messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: unstored.ID}, stKeyA)
	assert.Equal(t, http.StatusNotFound, e.Status)

	// Background: queued, then polled to completion; another one cancelled.
	bg := h.do(t, &messages.ResponsesRequest{Model: "gpt-4o", Input: user("slowly"), Background: true}, stKeyA).(*messages.ResponsesResponse)
	assert.True(t, bg.Background)
	assert.Equal(t, "queued", bg.Status)
	assert.Empty(t, bg.OutputText)
	var statuses []string
	for range 2 {
		r := h.do(t, &messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: bg.ID}, stKeyA).(*messages.ResponsesResponse)
		statuses = append(statuses, r.Status)
		if r.Status == "completed" {
			assert.Equal(t, "echo: slowly", r.OutputText)
			assert.Positive(t, r.Usage.OutputTokens)
		}
	}
	assert.Equal(t, []string{"in_progress", "completed"}, statuses)
	bg2 := h.do(t, &messages.ResponsesRequest{Model: "gpt-4o", Input: user("never mind"), Background: true}, stKeyA).(*messages.ResponsesResponse)
	cancelled := h.do(t, &messages.ResponseObjectRequest{Action: messages.ResponseCancel, ResponseID: bg2.ID}, stKeyA).(*messages.ResponsesResponse)
	assert.Equal(t, "cancelled", cancelled.Status)

	count := h.do(t, &messages.ResponsesInputTokensRequest{Responses: messages.ResponsesRequest{Model: "gpt-4o",
		Instructions: "be brief", Input: user("count these four words"), Tools: []messages.Tool{{Name: "noop"}}}}, stKeyA).(*messages.CountTokensResponse)
	assert.Equal(t, 6, count.InputTokens, "the simulator counts words of the instructions and the input")

	del := h.do(t, &messages.ResponseObjectRequest{Action: messages.ResponseDelete, ResponseID: first.ID}, stKeyA).(*messages.DeletedResponse)
	assert.Equal(t, first.ID, del.ID)
	assert.True(t, del.Deleted)
	assert.Equal(t, "response.deleted", del.Object)

	// Another organisation's key: 404, classified invalid, not retried.
	for _, req := range []messages.Request{
		&messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: bg.ID},
		&messages.ResponseObjectRequest{Action: messages.ResponseInputItems, ResponseID: bg.ID},
		&messages.ResponseObjectRequest{Action: messages.ResponseCancel, ResponseID: bg.ID},
		&messages.ResponseObjectRequest{Action: messages.ResponseDelete, ResponseID: bg.ID},
	} {
		e := h.fail(t, req, stKeyB)
		assert.Equal(t, http.StatusNotFound, e.Status, "%s", req.Operation())
		assert.Equal(t, messages.ClassInvalid, e.Class, "a 404 is the request's fault, not the key's")
		assert.False(t, e.Retryable())
		assert.Contains(t, e.Message, "not found")
	}
	// A deleted response is gone for its own organisation too.
	e = h.fail(t, &messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: first.ID}, stKeyA)
	assert.Equal(t, http.StatusNotFound, e.Status)

	seen := checkRequests(t, h.srv)
	for _, op := range []string{"POST /responses", "GET /responses/{response_id}", "DELETE /responses/{response_id}",
		"POST /responses/{response_id}/cancel", "GET /responses/{response_id}/input_items", "POST /responses/input_tokens"} {
		assert.Positive(t, seen[op], "no request to %s was validated: %v", op, seen)
	}
	assert.Equal(t, 17, checkAnswers(t, h.ct), "answers validated")
}

func TestIDsInPathsAreEscaped(t *testing.T) {
	h := newStateHarness(t, nil)
	for _, id := range []string{"a/b c", "résumé?x=1#f", "../models"} {
		e := h.fail(t, &messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: id}, stKeyA)
		assert.Equal(t, http.StatusNotFound, e.Status, "%q", id)
		assert.Contains(t, e.Message, "Response with id '"+id+"' not found", "the simulator saw the ID whole")
		e = h.fail(t, &messages.ConversationRequest{Action: messages.ConversationRetrieveItem, ConversationID: id, ItemID: id}, stKeyA)
		assert.Contains(t, e.Message, "Conversation with id '"+id+"' not found")
	}
}

// TestResumedStream cuts a background stream, then streams the response
// again from the last sequence number the caller saw: the caller gets every
// event exactly once, numbered without a gap.
func TestResumedStream(t *testing.T) {
	h := newStateHarness(t, nil)
	const cut = 6
	h.srv.Inject(sim.Fault{CutAfter: cut, Path: "/responses"})
	rec := &providertest.Recorder{}
	call := h.call(&messages.ResponsesRequest{Model: "gpt-4o", Input: user("one two three four five six seven eight nine ten"),
		Stream: true, Background: true}, stKeyA)
	call.Emit = rec.Emit
	_, err := providertest.Do(t, openai.New(), call)
	ue := providertest.UpstreamError(t, err, stKeyA)
	require.Equal(t, messages.ClassStreamCut, ue.Class)
	var resume *messages.StreamResume
	require.ErrorAs(t, err, &resume, "a cut background stream says where to resume")
	require.NotEmpty(t, resume.ResponseID)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "the cause is still there")
	before := rec.All()
	require.Len(t, before, cut)
	assert.Equal(t, cut-1, resume.LastSequence)
	assert.Equal(t, before[len(before)-1].Seq, resume.LastSequence, "the last chunk's Seq is the last sequence number")

	rec2 := &providertest.Recorder{}
	call = h.call(&messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: resume.ResponseID,
		Stream: true, StartingAfter: intp(resume.LastSequence)}, stKeyA2)
	call.Emit = rec2.Emit
	resp, err := providertest.Do(t, openai.New(), call)
	require.NoError(t, err)
	final := resp.(*messages.ResponsesResponse)
	after := rec2.All()
	require.NotEmpty(t, after)

	all := append(before, after...)
	var text strings.Builder
	for i, ch := range all {
		require.Equal(t, i, ch.Seq, "chunk %d: no duplicate or missing sequence number", i)
		if ch.Type == messages.ChunkText {
			text.WriteString(ch.Text)
		}
	}
	assert.Equal(t, final.OutputText, text.String())
	assert.Equal(t, "echo: one two three four five six seven eight nine ten", final.OutputText)
	assert.Equal(t, messages.ChunkUsage, all[len(all)-1].Type)
	assert.Equal(t, call.Result.ChunksSent, len(after))

	// The same response streamed whole numbers its chunks from 0.
	rec3 := &providertest.Recorder{}
	call = h.call(&messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: resume.ResponseID, Stream: true}, stKeyA)
	call.Emit = rec3.Emit
	_, err = providertest.Do(t, openai.New(), call)
	require.NoError(t, err)
	whole := rec3.All()
	require.Len(t, whole, len(all))
	for i := range whole {
		assert.Equal(t, all[i].Seq, whole[i].Seq)
		assert.Equal(t, all[i].Type, whole[i].Type)
	}
	checkRequests(t, h.srv)
	checkAnswers(t, h.ct)
}

func TestStatefulCheckRefuses(t *testing.T) {
	a := openai.New()
	items21 := make([]messages.Message, 21)
	for i := range items21 {
		items21[i] = messages.Message{Role: "user", Content: "x"}
	}
	md17 := map[string]string{}
	for i := range 17 {
		md17[string(rune('a'+i))] = "v"
	}
	tests := []struct {
		name  string
		req   messages.Request
		field string
	}{
		{"unknown response action", &messages.ResponseObjectRequest{Action: "archive", ResponseID: "r"}, "Action"},
		{"empty response ID", &messages.ResponseObjectRequest{Action: messages.ResponseRetrieve}, "ResponseID"},
		{"stream on delete", &messages.ResponseObjectRequest{Action: messages.ResponseDelete, ResponseID: "r", Stream: true}, "Stream"},
		{"starting_after without stream", &messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: "r", StartingAfter: intp(3)}, "StartingAfter"},
		{"negative starting_after", &messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: "r", Stream: true, StartingAfter: intp(-1)}, "StartingAfter"},
		{"page on retrieve", &messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: "r", Page: messages.Page{Limit: 5}}, "Page"},
		{"page limit 101", &messages.ResponseObjectRequest{Action: messages.ResponseInputItems, ResponseID: "r", Page: messages.Page{Limit: 101}}, "Page.Limit"},
		{"page limit negative", &messages.ResponseObjectRequest{Action: messages.ResponseInputItems, ResponseID: "r", Page: messages.Page{Limit: -1}}, "Page.Limit"},
		{"page order", &messages.ResponseObjectRequest{Action: messages.ResponseInputItems, ResponseID: "r", Page: messages.Page{Order: "newest"}}, "Page.Order"},
		{"unknown conversation action", &messages.ConversationRequest{Action: "rename", ConversationID: "c"}, "Action"},
		{"empty conversation ID", &messages.ConversationRequest{Action: messages.ConversationRetrieve}, "ConversationID"},
		{"ID on create", &messages.ConversationRequest{Action: messages.ConversationCreate, ConversationID: "c"}, "ConversationID"},
		{"empty item ID", &messages.ConversationRequest{Action: messages.ConversationDeleteItem, ConversationID: "c"}, "ItemID"},
		{"21 items on create", &messages.ConversationRequest{Action: messages.ConversationCreate, Items: items21}, "Items"},
		{"21 items added", &messages.ConversationRequest{Action: messages.ConversationAddItems, ConversationID: "c", Items: items21}, "Items"},
		{"no items added", &messages.ConversationRequest{Action: messages.ConversationAddItems, ConversationID: "c"}, "Items"},
		{"bad item role", &messages.ConversationRequest{Action: messages.ConversationCreate, Items: []messages.Message{{Role: "wizard", Content: "x"}}}, "role"},
		{"17 metadata pairs", &messages.ConversationRequest{Action: messages.ConversationCreate, Metadata: md17}, "Metadata"},
		{"long metadata key", &messages.ConversationRequest{Action: messages.ConversationUpdate, ConversationID: "c",
			Metadata: map[string]string{strings.Repeat("k", 65): "v"}}, "Metadata"},
		{"long metadata value", &messages.ConversationRequest{Action: messages.ConversationUpdate, ConversationID: "c",
			Metadata: map[string]string{"k": strings.Repeat("é", 513)}}, "Metadata"},
		{"metadata not UTF-8", &messages.ConversationRequest{Action: messages.ConversationCreate, Metadata: map[string]string{"k": "\xff"}}, "Metadata"},
		{"item text not UTF-8", &messages.ConversationRequest{Action: messages.ConversationCreate, Items: []messages.Message{{Role: "user", Content: "\xff"}}}, "content"},
		{"list page limit", &messages.ConversationRequest{Action: messages.ConversationListItems, ConversationID: "c", Page: messages.Page{Limit: 1000}}, "Page.Limit"},
		{"list page order", &messages.ConversationRequest{Action: messages.ConversationListItems, ConversationID: "c", Page: messages.Page{Order: "ASC"}}, "Page.Order"},
		{"previous and conversation", &messages.ResponsesRequest{Model: "m", Input: user("x"), PreviousResponseID: "r", Conversation: "c"}, "Conversation"},
		{"background unstored", &messages.ResponsesRequest{Model: "m", Input: user("x"), Background: true, Store: boolp(false)}, "Background"},
		{"store in Extra", &messages.ResponsesRequest{Model: "m", Input: user("x"), Extra: map[string]any{"store": false}}, "store"},
		{"conversation in Extra", &messages.ResponsesRequest{Model: "m", Input: user("x"), Extra: map[string]any{"conversation": "c"}}, "conversation"},
		{"count nothing", &messages.ResponsesInputTokensRequest{}, "Input"},
		{"count streamed", &messages.ResponsesInputTokensRequest{Responses: messages.ResponsesRequest{Input: user("x"), Stream: true}}, "Stream"},
		{"count text not UTF-8", &messages.ResponsesInputTokensRequest{Responses: messages.ResponsesRequest{Input: user("\xff")}}, "content"},
		{"nil conversation request", (*messages.ConversationRequest)(nil), "nil"},
		{"nil response object request", (*messages.ResponseObjectRequest)(nil), "nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.Check(tt.req)
			require.ErrorIs(t, err, messages.ErrInvalidRequest)
			var re *messages.RequestError
			require.ErrorAs(t, err, &re)
			assert.Contains(t, re.Detail, tt.field, "the error names the field")
		})
	}
	// Do refuses them too, before sending anything.
	h := newStateHarness(t, nil)
	e := h.fail(t, &messages.ResponseObjectRequest{Action: messages.ResponseRetrieve}, stKeyA)
	assert.Equal(t, messages.ClassInvalid, e.Class)
	assert.Empty(t, h.srv.Requests())

	for _, ok := range []messages.Request{
		&messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: "r", Stream: true, StartingAfter: intp(0)},
		&messages.ResponseObjectRequest{Action: messages.ResponseInputItems, ResponseID: "r", Page: messages.Page{Limit: 100, Order: "desc", After: "msg_1"}},
		&messages.ConversationRequest{Action: messages.ConversationCreate},
		&messages.ConversationRequest{Action: messages.ConversationCreate, Items: items21[:20], Metadata: map[string]string{strings.Repeat("k", 64): strings.Repeat("é", 512)}},
		&messages.ConversationRequest{Action: messages.ConversationDeleteItem, ConversationID: "c", ItemID: "i"},
		&messages.ResponsesInputTokensRequest{Responses: messages.ResponsesRequest{Conversation: "c"}},
		&messages.ResponsesRequest{Model: "m", Input: user("x"), Background: true, Conversation: "c", Store: boolp(true)},
	} {
		assert.NoError(t, a.Check(ok), "%s %+v", ok.Operation(), ok)
	}
}

func TestDialectsRefuseStatefulOperations(t *testing.T) {
	stateful := []messages.Request{
		&messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: "r"},
		&messages.ResponseObjectRequest{Action: messages.ResponseCancel, ResponseID: "r"},
		&messages.ResponseObjectRequest{Action: messages.ResponseDelete, ResponseID: "r"},
		&messages.ResponseObjectRequest{Action: messages.ResponseInputItems, ResponseID: "r"},
		&messages.ResponsesInputTokensRequest{Responses: messages.ResponsesRequest{Input: user("x")}},
		&messages.ConversationRequest{Action: messages.ConversationCreate},
		&messages.ConversationRequest{Action: messages.ConversationRetrieve, ConversationID: "c"},
		&messages.ConversationRequest{Action: messages.ConversationUpdate, ConversationID: "c"},
		&messages.ConversationRequest{Action: messages.ConversationDelete, ConversationID: "c"},
		&messages.ConversationRequest{Action: messages.ConversationAddItems, ConversationID: "c", Items: user("x")},
		&messages.ConversationRequest{Action: messages.ConversationListItems, ConversationID: "c"},
		&messages.ConversationRequest{Action: messages.ConversationRetrieveItem, ConversationID: "c", ItemID: "i"},
		&messages.ConversationRequest{Action: messages.ConversationDeleteItem, ConversationID: "c", ItemID: "i"},
	}
	require.Len(t, openai.StatefulOperations(), len(stateful), "one request per operation")
	adapters := map[string]providers.Adapter{
		"groq": groq.New(), "llvm": llvm.New(), "tgi": tgi.New(), "ovms": ovms.New(), "opea": opea.New(),
		"custom dialect": openai.NewDialect(openai.Dialect{Kind: "custom"}),
	}
	for name, a := range adapters {
		for _, req := range stateful {
			assert.ErrorIs(t, a.Check(req), messages.ErrUnsupported, "%s must refuse %s", name, req.Operation())
		}
	}
	plain := openai.New()
	optIn := openai.NewDialect(openai.Dialect{Kind: "custom", Operations: append([]string{openai.OpResponses}, openai.StatefulOperations()...)})
	for _, req := range stateful {
		assert.NoError(t, plain.Check(req), "openai serves %s", req.Operation())
		assert.NoError(t, optIn.Check(req), "a dialect that lists %s serves it", req.Operation())
	}
}

func boolp(b bool) *bool { return &b }
