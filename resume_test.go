package switchyard

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// streamAll reads st to its end and returns the chunks' sequence numbers
// and the final answer.
func streamAll(t *testing.T, st *Stream) ([]int, *messages.ResponsesResponse) {
	t.Helper()
	var seqs []int
	for st.Next() {
		seqs = append(seqs, st.Chunk().Seq)
	}
	require.NoError(t, st.Err())
	resp, ok := st.Response().(*messages.ResponsesResponse)
	require.True(t, ok, "%T", st.Response())
	return seqs, resp
}

// upTo returns 0, 1, …, n-1.
func upTo(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// A background response's stream cut after five events is resumed by the
// runtime with a retrieve after sequence number 4, through a key of the
// organisation that created the response (three keys in two
// organisations, round-robin): the caller sees every event once, in order,
// and the whole answer, after two attempts.
func TestResumeCutBackgroundStream(t *testing.T) {
	backend := sim.OpenAI()
	srv := sim.Start(backend, sim.WithOrganisations(map[string]string{secretA: orgA, secretB: orgA, secretC: orgB}))
	t.Cleanup(srv.Close)
	h := newHarness(t, orgConfig(srv, AffinityConfig{}), false)
	checkDispatcher(t, h.sy)
	req := &messages.ResponsesRequest{Model: "gpt-test", Background: true,
		Input: []messages.Message{{Role: messages.RoleUser, Content: "tell me a long story about a lighthouse keeper"}}}

	// The same request uncut: how many events, and the answer.
	st, err := h.sy.ResponsesStream(t.Context(), req)
	require.NoError(t, err)
	whole, want := streamAll(t, st)
	require.Greater(t, len(whole), 8, "the stream should be long enough to cut")
	require.Equal(t, upTo(len(whole)), whole)

	const cut = 5
	srv.Inject(sim.Fault{CutAfter: cut, Path: "/v1/responses"})
	before := len(srv.Requests())
	st, err = h.sy.ResponsesStream(t.Context(), req)
	require.NoError(t, err)
	seqs, got := streamAll(t, st)
	assert.Equal(t, upTo(len(whole)), seqs, "every event once, in order")
	assert.Equal(t, want.OutputText, got.OutputText)
	assert.Equal(t, "completed", got.Status)
	assert.Equal(t, 2, got.Attempts)
	assert.Equal(t, st.RequestID(), got.RequestID)

	recs := srv.Requests()[before:]
	require.Len(t, recs, 2, "the create, then one resume")
	assert.Equal(t, "POST", recs[0].Method)
	assert.Equal(t, "/v1/responses", recs[0].Path)
	assert.Equal(t, "GET", recs[1].Method)
	assert.Equal(t, "/v1/responses/"+got.ID, recs[1].Path)
	assert.Equal(t, "starting_after=4&stream=true", recs[1].Query)
	assert.Equal(t, st.RequestID(), recs[1].RequestID, "the resume keeps the request ID")
	assert.Equal(t, backend.Organisation(recs[0].Key), backend.Organisation(recs[1].Key), "the resume went to the creating organisation")
	assert.Equal(t, groupOf(got.Key), backend.Organisation(recs[0].Key))
}

// A stream of a stored response retrieved again is resumed the same way
// when it is cut.
func TestResumeCutRetrieveStream(t *testing.T) {
	srv := startOrgs(t)
	h := newHarness(t, orgConfig(srv, AffinityConfig{}), false)
	checkDispatcher(t, h.sy)
	st, err := h.sy.ResponsesStream(t.Context(), &messages.ResponsesRequest{Model: "gpt-test", Background: true,
		Input: []messages.Message{{Role: messages.RoleUser, Content: "tell me a long story about a lighthouse keeper"}}})
	require.NoError(t, err)
	whole, created := streamAll(t, st)

	srv.Inject(sim.Fault{CutAfter: 3, Path: "/v1/responses/" + created.ID})
	after := 1
	st, err = h.sy.RetrieveResponseStream(t.Context(), &messages.ResponseObjectRequest{ResponseID: created.ID, StartingAfter: &after})
	require.NoError(t, err)
	seqs, got := streamAll(t, st)
	assert.Equal(t, upTo(len(whole))[2:], seqs, "every event after 1 once, in order")
	assert.Equal(t, created.OutputText, got.OutputText)
	assert.Equal(t, 2, got.Attempts)
	last := srv.Requests()[len(srv.Requests())-1]
	assert.Equal(t, "starting_after=4&stream=true", last.Query)
}
