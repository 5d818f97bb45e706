package vertex

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// FuzzDecodeEmbeddings feeds arbitrary answers to the embeddings decoder:
// it never panics, and it returns exactly n vectors or a classified
// *messages.UpstreamError.
func FuzzDecodeEmbeddings(f *testing.F) {
	seeds := []struct {
		method string
		body   string
		n      int
	}{
		// The answer forms Vertex AI sends (go-genai models.go
		// embedContentResponseFromVertex reads these fields).
		{MethodPredict, `{"predictions":[{"embeddings":{"statistics":{"truncated":false,"token_count":6},"values":[0.0123,-0.0456,0.789]}}],"metadata":{"billableCharacterCount":25}}`, 1},
		{MethodPredict, `{"predictions":[{"embeddings":{"values":[1,2],"statistics":{"token_count":2.0}}},{"embeddings":{"values":[3,4],"statistics":{"token_count":1}}}],"deployedModelId":"1","model":"projects/1/locations/us-central1/models/text-embedding-005"}`, 2},
		{MethodEmbed, `{"embedding":{"values":[0.1,0.2,0.3]},"usageMetadata":{"promptTokenCount":4,"totalTokenCount":4},"truncated":false}`, 1},
		{MethodPredict, `{"error":{"code":429,"message":"Resource exhausted. Please try again later.","status":"RESOURCE_EXHAUSTED"}}`, 1},
		{MethodEmbed, `{"error":"backend failure"}`, 1},
		{MethodPredict, `{"predictions":[null]}`, 1},
		{MethodPredict, `{"predictions":[{"embeddings":{"values":[1e40]}}]}`, 1},
		{MethodEmbed, `{"embedding":{"values":[]},"usageMetadata":{"promptTokenCount":-3}}`, 1},
		{MethodPredict, `[]`, 0},
		{MethodEmbed, ``, 1},
	}
	for _, s := range seeds {
		f.Add(s.method == MethodEmbed, []byte(s.body), s.n)
	}
	f.Fuzz(func(t *testing.T, embed bool, body []byte, n int) {
		if n < 0 || n > MaxEmbedInputs {
			return
		}
		method := MethodPredict
		if embed {
			method = MethodEmbed
		}
		vectors, tokens, err := decodeEmbeddings(method, body, n)
		if err != nil {
			var ue *messages.UpstreamError
			if !errors.As(err, &ue) || ue.Class == messages.ClassUnknown || ue.Message == "" {
				t.Fatalf("error %v (%T) is not a classified UpstreamError", err, err)
			}
			return
		}
		if len(vectors) != n || tokens < 0 {
			t.Fatalf("%d vectors for %d inputs, %d tokens", len(vectors), n, tokens)
		}
		for i, v := range vectors {
			if v == nil {
				t.Fatalf("vector %d is nil", i)
			}
		}
	})
}

// FuzzGoogleCredentials feeds arbitrary credentials files to
// GoogleTokenSource: it never panics, and a refusal never shows the file's
// private key.
func FuzzGoogleCredentials(f *testing.F) {
	g := sim.StartGoogleOAuth(sim.GoogleOAuthOptions{})
	defer g.Close()
	key := g.ServiceAccount(email)
	f.Add(key)
	f.Add([]byte(`{"type":"authorized_user","client_id":"id","client_secret":"secret","refresh_token":"1//r","token_uri":"https://oauth2.googleapis.com/token"}`))
	f.Add([]byte(`{"type":"service_account","client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}`))
	f.Add([]byte(`{"type":"external_account","audience":"//iam.googleapis.com/x"}`))
	f.Add([]byte(`{"type":7}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		src, err := GoogleTokenSource(context.Background(), GoogleCredentials{JSON: doc})
		if err != nil {
			if src != nil {
				t.Fatal("a source and an error")
			}
			var f struct {
				PrivateKey string `json:"private_key"`
			}
			if json.Unmarshal(doc, &f) == nil && len(f.PrivateKey) >= 8 && strings.Contains(err.Error(), f.PrivateKey) {
				t.Fatalf("the error shows the key: %v", err)
			}
			return
		}
		if src == nil {
			t.Fatal("neither a source nor an error")
		}
	})
}
