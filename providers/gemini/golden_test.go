package gemini

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goldenDir holds request bodies recorded by the official Go SDK (go-genai)
// for the Gemini Developer API; see its SOURCE.md.
var goldenDir = filepath.Join("..", "..", "testdata", "gemini")

func readGolden(t *testing.T, name string) ([]byte, any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(goldenDir, name+".mldev.json"))
	require.NoError(t, err)
	var v any
	err = json.Unmarshal(raw, &v)
	require.NoError(t, err, "%s: %v", name, err)
	return raw, v
}

// goldenImage is the image of the WithImageBytes golden, decoded from it.
func goldenImage(t *testing.T) []byte {
	t.Helper()
	_, v := readGolden(t, "TestModelsGenerateContent_WithImageBytes")
	data := v.(map[string]any)["contents"].([]any)[0].(map[string]any)["parts"].([]any)[1].(map[string]any)["inlineData"].(map[string]any)["data"].(string)
	b, err := base64.StdEncoding.DecodeString(data)
	require.NoError(t, err, "golden image: %d bytes, %v", len(b), err)
	require.GreaterOrEqual(t, len(b), 1000, "golden image: %d bytes, %v", len(b), err)
	return b
}

const sconesURL = "https://storage.googleapis.com/cloud-samples-data/generative-ai/image/scones.jpg"

// goldenRequests are the ChatRequests equivalent to the goldens' inputs.
// Every golden in testdata/gemini applies: they are text and image
// contents, which the neutral request covers. (go-genai's other goldens,
// tools and configs among them, are not in the shared specs.)
func goldenRequests(t *testing.T) map[string]*messages.ChatRequest {
	text := func(s string) messages.Part { return messages.Part{Type: messages.PartText, Text: s} }
	scones := messages.Part{Type: messages.PartImage, ImageURL: sconesURL, MediaType: "image/jpeg"}
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
			// The media type is guessed from the extension here.
			{Role: messages.RoleUser, Parts: []messages.Part{{Type: messages.PartImage, ImageURL: sconesURL}}},
		}},
		// The SDK sent the JPEG bytes labelled image/png; a given media
		// type is kept as is.
		"TestModelsGenerateContent_WithImageBytes": {Model: chatModel, Messages: []messages.Message{
			{Role: messages.RoleUser, Parts: []messages.Part{text("What's in this picture"), {Type: messages.PartImage, Data: goldenImage(t), MediaType: "image/png"}}},
		}},
	}
}

func TestGoldenRequests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.mldev.json"))
	require.NoError(t, err, "no goldens: %v", err)
	require.NotEqual(t, 0, len(files), "no goldens: %v", err)
	reqs := goldenRequests(t)
	require.Len(t, files, len(reqs), "%d golden files, %d requests mapped", len(files), len(reqs))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".mldev.json")
		t.Run(name, func(t *testing.T) {
			req, ok := reqs[name]
			require.True(t, ok, "no request for golden %s", name)
			raw, want := readGolden(t, name)
			body, err := buildGenerateBody(req)
			require.NoError(t, err)
			var got any
			require.NoError(t, json.Unmarshal([]byte(jsonOf(t, body)), &got))
			require.True(t, reflect.DeepEqual(got, want), "body differs from the golden\n got %.600s\nwant %.600s", jsonOf(t, got), jsonOf(t, want))

			// The simulator accepts the golden body as recorded, and the
			// adapter's request end to end.
			s := startSim(t, nil)
			status, _, b := rawPost(t, s, "POST", "/v1beta/models/"+chatModel+":generateContent", validHeaders, string(raw))
			require.Equal(t, 200, status, "simulator answered the golden body %d: %s", status, b)
			r := doChat(t, s, req)
			resp := r.Chat(t)
			assert.True(t, strings.HasPrefix(resp.Content, "You said: "), "answer %q", resp.Content)
			assert.Equal(t, 0, s.InvalidCalls(), "simulator rejected %d requests", s.InvalidCalls())
		})
	}
}

// TestGoldenDeviations shows the simulator rejects bodies that deviate
// from the goldens the way the real front end does, and accepts the
// variants the real API accepts too (snake_case names, a single value for a
// repeated field).
func TestGoldenDeviations(t *testing.T) {
	raw, _ := readGolden(t, "TestModelsGenerateContent_WithUnionParts")
	golden := string(raw)
	imgRaw, _ := readGolden(t, "TestModelsGenerateContent_WithImageBytes")
	img := string(imgRaw)
	tests := []struct {
		name   string
		body   string
		status int
		msg    string
	}{
		{"golden", golden, 200, ""},
		{"snake_case names", strings.ReplaceAll(strings.ReplaceAll(golden, "fileData", "file_data"), "mimeType", "mime_type"), 200, ""},
		{"single content instead of a list", `{"contents":{"parts":[{"text":"hi"}],"role":"user"}}`, 200, ""},
		{"assistant role", strings.Replace(golden, `"role":"user"`, `"role":"assistant"`, 1), 400, "Please use a valid role: user, model."},
		{"numeric role", strings.Replace(golden, `"role":"user"`, `"role":1`, 1), 400, "Invalid value at 'contents[0].role' (TYPE_STRING), 1"},
		{"misspelled field", strings.Replace(golden, `"fileUri"`, `"file_url"`, 1), 400, `Invalid JSON payload received. Unknown name "file_url" at 'contents[0].parts[2].file_data': Cannot find field.`},
		{"unknown top-level field", strings.Replace(golden, `{"contents"`, `{"prompt":"x","contents"`, 1), 400, `Invalid JSON payload received. Unknown name "prompt": Cannot find field.`},
		{"OpenAI-style messages", `{"messages":[{"role":"user","content":"hi"}]}`, 400, `Unknown name "messages": Cannot find field.`},
		{"no contents", `{}`, 400, "* GenerateContentRequest.contents: contents is not specified"},
		{"empty parts", `{"contents":[{"parts":[],"role":"user"}]}`, 400, "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty."},
		{"empty text part", `{"contents":[{"parts":[{"text":""}],"role":"user"}]}`, 400, "required oneof field 'data' must have one initialized field"},
		{"two data fields in a part", strings.Replace(golden, `{"fileData"`, `{"text":"x","fileData"`, 1), 400, "oneof field 'data' is already set. Cannot set 'text'"},
		{"part as a string", `{"contents":[{"parts":["hi"],"role":"user"}]}`, 400, `Invalid value at 'contents[0].parts[0]' (type.googleapis.com/google.ai.generativelanguage.v1beta.Part), "hi"`},
		{"content as a list of lists", `{"contents":[[{"text":"hi"}]]}`, 400, "Invalid value at 'contents[0]'"},
		{"file without a media type", strings.Replace(golden, `,"mimeType":"image/jpeg"`, ``, 1), 400, "Unsupported MIME type: "},
		{"relative file URI", strings.Replace(golden, sconesURL, "scones.jpg", 1), 400, "Invalid or unsupported file uri: scones.jpg"},
		{"inline data not base64", strings.Replace(img, `"data":"/9j/`, `"data":"***/9j/`, 1), 400, "(TYPE_BYTES), Base64 decoding failed"},
		{"inline data of an unsupported type", strings.Replace(img, `"image/png"`, `"image/bmp"`, 1), 400, "Unsupported MIME type: image/bmp"},
		{"OpenAI-style image part", `{"contents":[{"parts":[{"image_url":{"url":"https://x/y.png"}}],"role":"user"}]}`, 400, `Unknown name "image_url" at 'contents[0].parts[0]': Cannot find field.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, nil)
			status, _, body := rawPost(t, s, "POST", "/v1beta/models/"+chatModel+":generateContent", validHeaders, tt.body)
			checkRPC(t, s, status, body, tt.status, tt.msg)
		})
	}
}
