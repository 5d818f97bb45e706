package vertex

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
)

// goldenDir holds request bodies go-genai sent to Vertex AI; see its
// SOURCE.md.
var goldenDir = filepath.Join("testdata", "go-genai")

const sconesURL = "https://storage.googleapis.com/cloud-samples-data/generative-ai/image/scones.jpg"

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(goldenDir, name+".vertex.json"))
	require.NoError(t, err)
	return raw
}

// goldenRequests are the ChatRequests equivalent to the goldens' inputs.
func goldenRequests(t *testing.T) map[string]*messages.ChatRequest {
	t.Helper()
	text := func(s string) messages.Part { return messages.Part{Type: messages.PartText, Text: s} }
	scones := messages.Part{Type: messages.PartImage, ImageURL: sconesURL, MediaType: "image/jpeg"}
	var img struct {
		Contents []struct {
			Parts []struct {
				InlineData struct{ Data string } `json:"inlineData"`
			} `json:"parts"`
		} `json:"contents"`
	}
	require.NoError(t, json.Unmarshal(readGolden(t, "TestModelsGenerateContent_WithImageBytes"), &img))
	png, err := base64.StdEncoding.DecodeString(img.Contents[0].Parts[1].InlineData.Data)
	require.NoError(t, err)
	require.Greater(t, len(png), 1000)
	return map[string]*messages.ChatRequest{
		"TestModelsGenerateContent_WithUnionText": {Model: chatModel, Messages: []messages.Message{user("What's in this picture")}},
		"TestModelsGenerateContent_WithUnionTexts": {Model: chatModel, Messages: []messages.Message{
			{Role: messages.RoleUser, Parts: []messages.Part{text("What's in this picture"), text("What's your name?")}},
		}},
		"TestModelsGenerateContent_WithUnionParts": {Model: chatModel, Messages: []messages.Message{
			{Role: messages.RoleUser, Parts: []messages.Part{text("What is your name?"), text("What's in the picture?"), scones, text("What is your favorite color?")}},
		}},
		"TestModelsGenerateContent_WithUnionContents": {Model: chatModel, Messages: []messages.Message{
			user("You are a chatbot"), user("What's in the picture?"),
			{Role: messages.RoleUser, Parts: []messages.Part{{Type: messages.PartImage, ImageURL: sconesURL}}},
		}},
		// The SDK sent the JPEG bytes labelled image/png; a given media
		// type is kept as is.
		"TestModelsGenerateContent_WithImageBytes": {Model: chatModel, Messages: []messages.Message{
			{Role: messages.RoleUser, Parts: []messages.Part{text("What's in this picture"), {Type: messages.PartImage, Data: png, MediaType: "image/png"}}},
		}},
	}
}

// TestGoldenRequests: the adapter's generateContent bodies on Vertex AI are
// the ones go-genai sends, at the path go-genai sends them to, and the
// simulator takes the recorded bodies as they are.
func TestGoldenRequests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.vertex.json"))
	require.NoError(t, err)
	reqs := goldenRequests(t)
	require.Len(t, files, len(reqs), "every golden has its request")
	p := newIDP(t, 0)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".vertex.json")
		t.Run(name, func(t *testing.T) {
			req, ok := reqs[name]
			require.True(t, ok, "no request for golden %s", name)
			golden := readGolden(t, name)
			r := p.rig(t, rigOptions{})
			resp := r.do(t, req).Chat(t)
			assert.True(t, strings.HasPrefix(resp.Content, "You said: "), "answer %q", resp.Content)
			rec := r.lastRecord(t)
			assert.Equal(t, modelsPath+chatModel+":generateContent", rec.Path)
			assert.JSONEq(t, string(golden), string(rec.Body), "body differs from go-genai's")

			// The recorded body as is, with the same token.
			hreq, err := http.NewRequest(http.MethodPost, r.srv.URL+rec.Path, strings.NewReader(string(golden)))
			require.NoError(t, err)
			hreq.Header.Set("Content-Type", "application/json")
			hreq.Header.Set("Authorization", rec.Header.Get("Authorization"))
			hresp, err := http.DefaultClient.Do(hreq)
			require.NoError(t, err)
			_ = hresp.Body.Close()
			assert.Equal(t, http.StatusOK, hresp.StatusCode)
			assert.Zero(t, r.srv.InvalidCalls())
		})
	}
}
