package sim_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Keys of the tests: a1 and a2 share organisation org-a, b1 is org-b and
// loner is in no group (its own organisation).
var testOrgs = map[string]string{"a1": "org-a/proj", "a2": "org-a/proj", "b1": "org-b/proj"}

func startOrgSim(t *testing.T, b *sim.OpenAIBackend) *sim.Server {
	t.Helper()
	if b == nil {
		b = sim.OpenAI()
	}
	srv := sim.Start(b, sim.WithOrganisations(testOrgs))
	t.Cleanup(srv.Close)
	return srv
}

// oaiCall sends method path (under the server's URL) with key and a JSON
// body (none when empty), and returns the status and the decoded answer.
func oaiCall(t *testing.T, srv *sim.Server, key, method, path, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out), "answer %s", b)
	return resp.StatusCode, out
}

// errMsg returns an error answer's message.
func errMsg(t *testing.T, out map[string]any) string {
	t.Helper()
	e, ok := out["error"].(map[string]any)
	require.True(t, ok, "not an error answer: %v", out)
	for _, k := range []string{"message", "type", "param", "code"} {
		require.Contains(t, e, k, "OpenAI's error shape")
	}
	msg, _ := e["message"].(string)
	return msg
}

func TestOrganisationOf(t *testing.T) {
	b := sim.OpenAI()
	startOrgSim(t, b)
	assert.Equal(t, "org-a/proj", b.Organisation("a1"))
	assert.Equal(t, "org-a/proj", b.Organisation("a2"))
	assert.Equal(t, "loner", b.Organisation("loner"), "a key not in the map is its own organisation")
}

func TestStoredObjectsBelongToTheirOrganisation(t *testing.T) {
	srv := startOrgSim(t, nil)
	st, resp := oaiCall(t, srv, "a1", "POST", "/v1/responses", `{"model":"gpt-4o","input":"hello"}`)
	require.Equal(t, 200, st, "%v", resp)
	rid := resp["id"].(string)
	st, conv := oaiCall(t, srv, "a1", "POST", "/v1/conversations", `{"items":[{"type":"message","role":"user","content":"hi"}]}`)
	require.Equal(t, 200, st, "%v", conv)
	cid := conv["id"].(string)
	st, items := oaiCall(t, srv, "a1", "GET", "/v1/conversations/"+cid+"/items", "")
	require.Equal(t, 200, st, "%v", items)
	iid := items["first_id"].(string)

	follow := []struct{ method, path, body string }{
		{"GET", "/v1/responses/" + rid, ""},
		{"GET", "/v1/responses/" + rid + "/input_items", ""},
		{"POST", "/v1/responses/" + rid + "/cancel", ""},
		{"GET", "/v1/conversations/" + cid, ""},
		{"POST", "/v1/conversations/" + cid, `{"metadata":{"k":"v"}}`},
		{"GET", "/v1/conversations/" + cid + "/items", ""},
		{"POST", "/v1/conversations/" + cid + "/items", `{"items":[{"role":"user","content":"more"}]}`},
		{"GET", "/v1/conversations/" + cid + "/items/" + iid, ""},
		{"POST", "/v1/responses", `{"model":"gpt-4o","input":"next","conversation":"` + cid + `"}`},
		{"POST", "/v1/responses/input_tokens", `{"input":"next","conversation":{"id":"` + cid + `"}}`},
		{"DELETE", "/v1/conversations/" + cid + "/items/" + iid, ""},
		{"DELETE", "/v1/responses/" + rid, ""},
		{"DELETE", "/v1/conversations/" + cid, ""},
	}
	for _, key := range []string{"b1", "loner"} {
		for _, f := range follow {
			st, out := oaiCall(t, srv, key, f.method, f.path, f.body)
			require.Equal(t, http.StatusNotFound, st, "%s %s %s with %s's key: %v", f.method, f.path, f.body, key, out)
			assert.Regexp(t, `with id '.*' not found`, errMsg(t, out))
		}
	}
	// previous_response_id is a 400 for another organisation, as for an
	// unknown ID.
	st, out := oaiCall(t, srv, "b1", "POST", "/v1/responses", `{"model":"gpt-4o","input":"x","previous_response_id":"`+rid+`"}`)
	require.Equal(t, http.StatusBadRequest, st)
	assert.Equal(t, "previous_response_not_found", out["error"].(map[string]any)["code"])

	// Any key of the same organisation sees everything; the deletes go last.
	for _, f := range follow {
		st, out := oaiCall(t, srv, "a2", f.method, f.path, f.body)
		if strings.HasSuffix(f.path, "/cancel") {
			require.Equal(t, http.StatusBadRequest, st, "a response not in the background cannot be cancelled: %v", out)
			continue
		}
		require.Equal(t, 200, st, "%s %s %s with a2: %v", f.method, f.path, f.body, out)
	}
	st, _ = oaiCall(t, srv, "a1", "GET", "/v1/responses/"+rid, "")
	assert.Equal(t, http.StatusNotFound, st, "deleted")
	st, _ = oaiCall(t, srv, "a1", "GET", "/v1/conversations/"+cid, "")
	assert.Equal(t, http.StatusNotFound, st, "deleted")
}

func TestBackgroundResponseLifecycle(t *testing.T) {
	b := sim.OpenAI()
	b.BackgroundPolls = 3
	srv := startOrgSim(t, b)
	st, resp := oaiCall(t, srv, "a1", "POST", "/v1/responses", `{"model":"gpt-4o","input":"take your time","background":true}`)
	require.Equal(t, 200, st, "%v", resp)
	assert.Equal(t, "queued", resp["status"])
	assert.Equal(t, true, resp["background"])
	assert.Empty(t, resp["output"])
	id := resp["id"].(string)
	var statuses []string
	for range 4 {
		st, r := oaiCall(t, srv, "a2", "GET", "/v1/responses/"+id, "")
		require.Equal(t, 200, st, "%v", r)
		statuses = append(statuses, r["status"].(string))
	}
	assert.Equal(t, []string{"in_progress", "in_progress", "completed", "completed"}, statuses)
	in, out := srv.Usage()
	assert.Positive(t, in, "usage counted once completed")
	assert.Positive(t, out)
	st, r := oaiCall(t, srv, "a1", "POST", "/v1/responses/"+id+"/cancel", "")
	require.Equal(t, http.StatusBadRequest, st, "a completed response cannot be cancelled: %v", r)

	// Cancel one that never completes on its own.
	b2 := sim.OpenAI()
	b2.BackgroundPolls = -1
	srv2 := startOrgSim(t, b2)
	_, resp = oaiCall(t, srv2, "a1", "POST", "/v1/responses", `{"model":"gpt-4o","input":"forever","background":true}`)
	id = resp["id"].(string)
	for range 5 {
		_, r := oaiCall(t, srv2, "a1", "GET", "/v1/responses/"+id, "")
		require.Equal(t, "in_progress", r["status"])
	}
	for range 2 { // cancelling again answers the cancelled response again
		st, r := oaiCall(t, srv2, "a1", "POST", "/v1/responses/"+id+"/cancel", "")
		require.Equal(t, 200, st, "%v", r)
		assert.Equal(t, "cancelled", r["status"])
	}
	_, r = oaiCall(t, srv2, "a1", "GET", "/v1/responses/"+id, "")
	assert.Equal(t, "cancelled", r["status"])

	st, r = oaiCall(t, srv2, "a1", "POST", "/v1/responses", `{"model":"gpt-4o","input":"x","background":true,"store":false}`)
	require.Equal(t, http.StatusBadRequest, st, "background needs store: %v", r)
}

// sseEvents reads an event stream's sequence numbers and types, and the
// response ID its events name.
func sseEvents(t *testing.T, body io.Reader) (seqs []int, types []string, id string) {
	t.Helper()
	rd := providers.NewSSEReader(body)
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return seqs, types, id
		}
		require.NoError(t, err)
		var e struct {
			Type     string `json:"type"`
			Seq      int    `json:"sequence_number"`
			Response struct {
				ID string `json:"id"`
			} `json:"response"`
		}
		require.NoError(t, json.Unmarshal(ev.Data, &e))
		require.Equal(t, ev.Event, e.Type)
		seqs = append(seqs, e.Seq)
		types = append(types, e.Type)
		if e.Response.ID != "" {
			id = e.Response.ID
		}
	}
}

func TestStreamAgainStartingAfter(t *testing.T) {
	srv := startOrgSim(t, nil)
	req, _ := http.NewRequest("POST", srv.URL+"/v1/responses", strings.NewReader(
		`{"model":"gpt-4o","input":"a fairly long answer to stream please","stream":true,"background":true}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer a1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	all, types, id := sseEvents(t, resp.Body)
	resp.Body.Close()
	require.Greater(t, len(all), 8)
	for i, s := range all {
		require.Equal(t, i, s, "sequence numbers count from 0")
	}
	assert.Equal(t, "response.created", types[0])
	assert.Equal(t, "response.completed", types[len(types)-1])
	st, final := oaiCall(t, srv, "a1", "GET", "/v1/responses/"+id, "")
	require.Equal(t, 200, st, "%v", final)
	assert.Equal(t, "completed", final["status"])

	get := func(key, query string) (int, []int) {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/responses/"+id+"?"+query, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return resp.StatusCode, nil
		}
		seqs, _, _ := sseEvents(t, resp.Body)
		return 200, seqs
	}
	for _, n := range []int{0, 3, len(all) - 2} {
		st, seqs := get("a2", fmt.Sprintf("stream=true&starting_after=%d", n))
		require.Equal(t, 200, st)
		require.Equal(t, all[n+1:], seqs, "events after %d", n)
	}
	st, seqs := get("a1", "stream=true")
	require.Equal(t, 200, st)
	require.Equal(t, all, seqs, "without starting_after: every event")
	st, _ = get("b1", "stream=true&starting_after=2")
	assert.Equal(t, http.StatusNotFound, st, "another organisation")
	st, _ = get("a1", "starting_after=2")
	assert.Equal(t, http.StatusBadRequest, st, "starting_after without stream")
	st, _ = get("a1", "stream=true&starting_after=x")
	assert.Equal(t, http.StatusBadRequest, st)
	st, _ = get("a1", "stream=true&bogus=1")
	assert.Equal(t, http.StatusBadRequest, st, "unknown query parameter")

	// A response not created in the background with a stream cannot be
	// streamed again.
	_, r := oaiCall(t, srv, "a1", "POST", "/v1/responses", `{"model":"gpt-4o","input":"plain"}`)
	st, out := oaiCall(t, srv, "a1", "GET", "/v1/responses/"+r["id"].(string)+"?stream=true", "")
	assert.Equal(t, http.StatusBadRequest, st, "%v", out)
}

func TestStatefulRoutesAreStrict(t *testing.T) {
	srv := startOrgSim(t, nil)
	_, conv := oaiCall(t, srv, "a1", "POST", "/v1/conversations", "")
	cid := conv["id"].(string)
	manyItems := strings.TrimSuffix(strings.Repeat(`{"role":"user","content":"x"},`, 21), ",")
	var md []string
	for i := range 17 {
		md = append(md, fmt.Sprintf(`"k%d":"v"`, i))
	}
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"unknown field", "POST", "/v1/conversations", `{"metadata":{},"title":"x"}`, 400},
		{"items not an array", "POST", "/v1/conversations", `{"items":"x"}`, 400},
		{"21 items", "POST", "/v1/conversations", `{"items":[` + manyItems + `]}`, 400},
		{"bad item role", "POST", "/v1/conversations", `{"items":[{"role":"wizard","content":"x"}]}`, 400},
		{"17 metadata pairs", "POST", "/v1/conversations", `{"metadata":{` + strings.Join(md, ",") + `}}`, 400},
		{"long metadata key", "POST", "/v1/conversations", `{"metadata":{"` + strings.Repeat("k", 65) + `":"v"}}`, 400},
		{"long metadata value", "POST", "/v1/conversations", `{"metadata":{"k":"` + strings.Repeat("v", 513) + `"}}`, 400},
		{"number metadata value", "POST", "/v1/conversations", `{"metadata":{"k":1}}`, 400},
		{"update without metadata", "POST", "/v1/conversations/" + cid, `{}`, 400},
		{"add without items", "POST", "/v1/conversations/" + cid + "/items", `{}`, 400},
		{"add 21 items", "POST", "/v1/conversations/" + cid + "/items", `{"items":[` + manyItems + `]}`, 400},
		{"limit 0", "GET", "/v1/conversations/" + cid + "/items?limit=0", "", 400},
		{"limit 101", "GET", "/v1/conversations/" + cid + "/items?limit=101", "", 400},
		{"bad order", "GET", "/v1/conversations/" + cid + "/items?order=up", "", 400},
		{"unknown query", "GET", "/v1/conversations/" + cid + "/items?page=2", "", 400},
		{"wrong method", "PUT", "/v1/conversations/" + cid, `{}`, 405},
		{"unknown route", "GET", "/v1/conversations/" + cid + "/things", "", 404},
		{"unknown item", "GET", "/v1/conversations/" + cid + "/items/msg_nope", "", 404},
		{"unknown response", "GET", "/v1/responses/resp_nope", "", 404},
		{"input tokens unknown field", "POST", "/v1/responses/input_tokens", `{"input":"x","stream":true}`, 400},
		{"previous and conversation", "POST", "/v1/responses", `{"model":"m","input":"x","previous_response_id":"r","conversation":"` + cid + `"}`, 400},
		{"conversation not a string", "POST", "/v1/responses", `{"model":"m","input":"x","conversation":5}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.InvalidCalls()
			st, out := oaiCall(t, srv, "a1", tt.method, tt.path, tt.body)
			require.Equal(t, tt.status, st, "%v", out)
			errMsg(t, out)
			assert.Equal(t, before+1, srv.InvalidCalls(), "counted as invalid")
		})
	}
}

func TestConversationItemsPages(t *testing.T) {
	srv := startOrgSim(t, nil)
	var items []string
	for i := range 5 {
		items = append(items, fmt.Sprintf(`{"role":"user","content":"turn %d"}`, i))
	}
	st, conv := oaiCall(t, srv, "a1", "POST", "/v1/conversations", `{"items":[`+strings.Join(items, ",")+`],"metadata":{"topic":"pages"}}`)
	require.Equal(t, 200, st, "%v", conv)
	assert.Equal(t, map[string]any{"topic": "pages"}, conv["metadata"])
	cid := conv["id"].(string)
	page := func(q string) ([]string, bool) {
		st, out := oaiCall(t, srv, "a1", "GET", "/v1/conversations/"+cid+"/items?"+q, "")
		require.Equal(t, 200, st, "%v", out)
		var texts []string
		for _, d := range out["data"].([]any) {
			c := d.(map[string]any)["content"].([]any)[0].(map[string]any)
			texts = append(texts, c["text"].(string))
		}
		return texts, out["has_more"].(bool)
	}
	texts, more := page("limit=2&order=asc")
	assert.Equal(t, []string{"turn 0", "turn 1"}, texts)
	assert.True(t, more)
	texts, more = page("")
	assert.Equal(t, []string{"turn 4", "turn 3", "turn 2", "turn 1", "turn 0"}, texts, "desc by default")
	assert.False(t, more)

	// A response in the conversation sees its items and adds its own.
	st, resp := oaiCall(t, srv, "a1", "POST", "/v1/responses", `{"model":"gpt-4o","input":"and now?","conversation":"`+cid+`"}`)
	require.Equal(t, 200, st, "%v", resp)
	assert.Equal(t, map[string]any{"id": cid}, resp["conversation"])
	texts, _ = page("order=asc&limit=100")
	require.Len(t, texts, 7)
	assert.Equal(t, "and now?", texts[5])
	assert.Equal(t, "echo: and now?", texts[6])
	st, tok := oaiCall(t, srv, "a1", "POST", "/v1/responses/input_tokens", `{"input":"one two","conversation":"`+cid+`"}`)
	require.Equal(t, 200, st, "%v", tok)
	assert.Equal(t, "response.input_tokens", tok["object"])
	assert.Greater(t, tok["input_tokens"].(float64), 2.0, "the conversation's words count too")
}
