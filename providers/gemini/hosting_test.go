package gemini

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// testHosting is a hosting that names models "pub/{id}" and addresses
// them at /h/{resource}:{method}.
var testHosting = Hosting{
	Kind: "gemini_test",
	Resource: func(model string) (string, error) {
		if model == "" || model == "bad" {
			return "", errors.New("model " + model + " is not served here")
		}
		return "pub/" + model, nil
	},
	Path:            func(resource, method string) string { return "/h/" + resource + ":" + method },
	Auth:            providers.BearerAuth,
	FlatCountTokens: true,
}

// TestHosted checks what a Hosting changes: kind, model names, paths,
// auth and count-tokens bodies; embeddings are not served.
func TestHosted(t *testing.T) {
	a := NewHosted(testHosting)
	assert.Equal(t, "gemini_test", a.Kind())
	assert.Equal(t, "gemini", New().Kind(), "the Developer API adapter is unchanged")

	hi := []messages.Message{user("hi")}
	require.NoError(t, a.Check(&messages.ChatRequest{Model: "m1", Messages: hi}))
	err := a.Check(&messages.ChatRequest{Model: "bad", Messages: hi})
	var re *messages.RequestError
	require.ErrorAs(t, err, &re)
	assert.ErrorIs(t, err, messages.ErrInvalidRequest)
	assert.Equal(t, "model bad is not served here", re.Detail)

	embed := &messages.EmbedRequest{Model: "m1", Inputs: []string{"a"}}
	err = a.Check(embed)
	assert.ErrorIs(t, err, messages.ErrUnsupported)
	assert.Contains(t, err.Error(), `gemini_test does not serve the "embed" operation`)
	_, ok := a.BatchLimits(embed)
	assert.False(t, ok, "no embeddings, no batching")
	_, ok = New().BatchLimits(embed)
	assert.True(t, ok)

	h := &testHosting
	assert.Equal(t, "/h/pub/m1:generateContent", h.path("pub/m1", MethodGenerate))
	assert.Equal(t, "m1", h.modelID("pub/m1"))
	assert.Equal(t, "/v1beta/models/m1:countTokens", (*Hosting)(nil).path("models/m1", MethodCountTokens))
	assert.Equal(t, "tunedModels/t", (*Hosting)(nil).modelID("tunedModels/t"))

	hdr := http.Header{}
	h.auth()(hdr, "tok-123456789")
	assert.Equal(t, "Bearer tok-123456789", hdr.Get("Authorization"))
	hdr = http.Header{}
	(*Hosting)(nil).auth()(hdr, "AIzaKey")
	assert.Equal(t, "AIzaKey", hdr.Get("X-Goog-Api-Key"))

	count := &messages.CountTokensRequest{Chat: messages.ChatRequest{Model: "m1", System: "s", Messages: hi,
		Tools: []messages.Tool{weatherTool}, ToolChoice: "required", Temperature: f64(0.5)}}
	res, body, err := buildCountTokensOn(h, count)
	require.NoError(t, err)
	assert.Equal(t, "pub/m1", res)
	assert.ElementsMatch(t, []string{"contents", "systemInstruction", "tools"}, mapKeys(body), "flat, without toolConfig or generationConfig")
	_, body, err = buildCountTokensOn(nil, count)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"generateContentRequest"}, mapKeys(body))

	// DecodeError is the adapter's decoder.
	e := &messages.UpstreamError{}
	DecodeError(403, nil, []byte(`{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}`), e)
	assert.Equal(t, messages.ClassAuth, e.Class)
	assert.Equal(t, "PERMISSION_DENIED", e.Type)
	assert.Equal(t, "denied", e.Message)
}

func mapKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
