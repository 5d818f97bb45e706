package switchyard

import (
	"errors"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
)

// facadeOps maps the facade methods the README's backend table names to the
// operation (messages.Request.Operation) each sends.
var facadeOps = map[string]string{
	"Chat": "chat", "ChatStream": "chat",
	"Embed":     "embed",
	"Responses": "responses", "ResponsesStream": "responses",
	"CountTokens": "count_tokens",
	"Generate":    "generate", "GenerateStream": "generate",
	"Rerank":     "rerank",
	"Infer":      "infer",
	"ListModels": "models",
	"Info":       "info",
	"Tokenize":   "tokenize",
	"PutObject":  messages.OpObjectPut, "PutObjectStream": messages.OpObjectPut,
	"GetObject": messages.OpObjectGet, "GetObjectStream": messages.OpObjectGet,
	"StatObject":    messages.OpObjectStat,
	"ListObjects":   messages.OpObjectList,
	"DeleteObjects": messages.OpObjectDelete,
	"CopyObject":    messages.OpObjectCopy,
	"Presign":       messages.OpPresign, "PresignGet": messages.OpPresign, "PresignPut": messages.OpPresign,
	"BucketExists": messages.OpBucketExists,
	"MakeBucket":   messages.OpMakeBucket,
	// OpenAI's stateful APIs.
	"RetrieveResponse": "responses.retrieve", "RetrieveResponseStream": "responses.retrieve",
	"CancelResponse":            "responses.cancel",
	"DeleteResponse":            "responses.delete",
	"ListResponseInputItems":    "responses.input_items",
	"CountResponsesInputTokens": "responses.input_tokens",
	"CreateConversation":        "conversations.create",
	"RetrieveConversation":      "conversations.retrieve",
	"UpdateConversation":        "conversations.update",
	"DeleteConversation":        "conversations.delete",
	"AddConversationItems":      "conversations.add_items",
	"ListConversationItems":     "conversations.list_items",
	"RetrieveConversationItem":  "conversations.retrieve_item",
	"DeleteConversationItem":    "conversations.delete_item",
}

// operationProbes are well-formed requests of every operation: an adapter
// serves an operation when its Check does not answer ErrUnsupported.
func operationProbes() []messages.Request {
	user := []messages.Message{{Role: messages.RoleUser, Content: "hi"}}
	chat := messages.ChatRequest{Model: "m", Messages: user}
	return []messages.Request{
		&chat,
		&messages.EmbedRequest{Model: "m", Inputs: []string{"a"}},
		&messages.ResponsesRequest{Model: "m", Input: user},
		&messages.CountTokensRequest{Chat: chat},
		&messages.GenerateRequest{Model: "m", Prompt: "p"},
		&messages.RerankRequest{Model: "m", Query: "q", Documents: []string{"d"}},
		&messages.InferRequest{Model: "m", Inputs: []messages.Tensor{{Name: "x", Datatype: "FP32", Shape: []int64{1}, Data: []float32{1}}}},
		&messages.ModelsRequest{},
		&messages.InfoRequest{What: "health"},
		&messages.TokenizeRequest{Model: "m", Text: "t"},
		&messages.PutObjectRequest{Bucket: "bucket", Object: "o", Body: strings.NewReader("x"), Size: 1},
		&messages.GetObjectRequest{Bucket: "bucket", Object: "o", Writer: io.Discard},
		&messages.StatObjectRequest{Bucket: "bucket", Object: "o"},
		&messages.ListObjectsRequest{Bucket: "bucket"},
		&messages.DeleteObjectsRequest{Bucket: "bucket", Objects: []string{"o"}},
		&messages.CopyObjectRequest{SrcBucket: "bucket", SrcObject: "o", DstBucket: "bucket", DstObject: "p"},
		&messages.PresignRequest{Method: "GET", Bucket: "bucket", Object: "o", Expires: time.Minute},
		&messages.BucketExistsRequest{Bucket: "bucket"},
		&messages.MakeBucketRequest{Bucket: "bucket"},
		&messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: "resp_1"},
		&messages.ResponseObjectRequest{Action: messages.ResponseCancel, ResponseID: "resp_1"},
		&messages.ResponseObjectRequest{Action: messages.ResponseDelete, ResponseID: "resp_1"},
		&messages.ResponseObjectRequest{Action: messages.ResponseInputItems, ResponseID: "resp_1"},
		&messages.ResponsesInputTokensRequest{Responses: messages.ResponsesRequest{Model: "m", Input: user}},
		&messages.ConversationRequest{Action: messages.ConversationCreate},
		&messages.ConversationRequest{Action: messages.ConversationRetrieve, ConversationID: "conv_1"},
		&messages.ConversationRequest{Action: messages.ConversationUpdate, ConversationID: "conv_1", Metadata: map[string]string{"k": "v"}},
		&messages.ConversationRequest{Action: messages.ConversationDelete, ConversationID: "conv_1"},
		&messages.ConversationRequest{Action: messages.ConversationAddItems, ConversationID: "conv_1", Items: user},
		&messages.ConversationRequest{Action: messages.ConversationListItems, ConversationID: "conv_1"},
		&messages.ConversationRequest{Action: messages.ConversationRetrieveItem, ConversationID: "conv_1", ItemID: "msg_1"},
		&messages.ConversationRequest{Action: messages.ConversationDeleteItem, ConversationID: "conv_1", ItemID: "msg_1"},
	}
}

// servedOperations asks kind's adapter which operations it serves.
func servedOperations(t *testing.T, kind string) []string {
	t.Helper()
	a := kinds[kind].adapter()
	var ops []string
	for _, req := range operationProbes() {
		err := a.Check(req)
		if errors.Is(err, messages.ErrUnsupported) {
			continue
		}
		if !slices.Contains(ops, req.Operation()) {
			ops = append(ops, req.Operation())
		}
	}
	sort.Strings(ops)
	return ops
}

// readmeBackendTable returns the README's backend table: kind → the
// operations its "operations (facade method)" cell names.
func readmeBackendTable(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	start := slices.IndexFunc(lines, func(l string) bool {
		return strings.HasPrefix(l, "| kind | service | operations (facade method) |")
	})
	require.GreaterOrEqual(t, start, 0, "README.md has no backend table")
	method := regexp.MustCompile("`([A-Za-z]+)`")
	table := map[string][]string{}
	for _, l := range lines[start+2:] {
		if !strings.HasPrefix(l, "|") {
			break
		}
		cells := strings.Split(l, "|")
		require.GreaterOrEqual(t, len(cells), 5, "row %q", l)
		kind := strings.Trim(strings.TrimSpace(cells[1]), "`")
		require.NotContains(t, table, kind, "two rows for %q", kind)
		ops := []string{}
		for _, m := range method.FindAllStringSubmatch(cells[3], -1) {
			if op, ok := facadeOps[m[1]]; ok && !slices.Contains(ops, op) {
				ops = append(ops, op)
			}
		}
		sort.Strings(ops)
		table[kind] = ops
	}
	return table
}

// TestReadmeBackendTable keeps the README's backend table and the adapters
// in step: one row per kind, and each row names (as facade methods) exactly
// the operations the kind's adapter serves.
func TestReadmeBackendTable(t *testing.T) {
	table := readmeBackendTable(t)
	assert.ElementsMatch(t, kindNames(), mapKeys(table), "the table's rows are the kinds")
	for _, kind := range kindNames() {
		t.Run(kind, func(t *testing.T) {
			assert.Equal(t, servedOperations(t, kind), table[kind],
				"README row %q names these operations (facade methods in backticks); the adapter serves the others", kind)
		})
	}
}

// TestReadmeBackendTableParser shows the parser reads facade methods only
// from the operations cell, and that a probe finds an unsupported
// operation, so the comparison above can fail.
func TestReadmeBackendTableParser(t *testing.T) {
	table := readmeBackendTable(t)
	require.NotEmpty(t, table["openai"])
	assert.Contains(t, table["openai"], "generate", "the OpenAI row lists completions (Generate)")
	assert.NotContains(t, servedOperations(t, "anthropic"), "embed")
	assert.Contains(t, servedOperations(t, "openai"), "generate")
}

func mapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Every adapter refuses text that is not UTF-8 in Check, on every kind of
// request it serves itself and on those it hands to the OpenAI layer, so a
// body is never sent with the bytes silently replaced.
func TestEveryKindRefusesInvalidUTF8(t *testing.T) {
	bad := "\xff\xfe"
	user := []messages.Message{{Role: messages.RoleUser, Content: bad}}
	for _, tc := range []struct {
		kind string
		req  messages.Request
	}{
		{"openai", &messages.ChatRequest{Model: "m", Messages: user}},
		{"openai", &messages.ConversationRequest{Action: messages.ConversationAddItems, ConversationID: "c", Items: user}},
		{"openai", &messages.ResponsesInputTokensRequest{Responses: messages.ResponsesRequest{Model: "m", Input: user}}},
		{"anthropic", &messages.ChatRequest{Model: "m", Messages: user, MaxTokens: 8}},
		{"gemini", &messages.ChatRequest{Model: "m", Messages: user}},
		{"groq", &messages.ChatRequest{Model: "m", Messages: user}},
		{"llvm", &messages.ChatRequest{Model: "m", Messages: user}},
		{"llvm", &messages.TokenizeRequest{Model: "m", Text: bad}},
		{"hf_tgi", &messages.GenerateRequest{Model: "m", Prompt: bad}},
		{"hf_tgi", &messages.ChatRequest{Model: "m", Messages: user}},
		{"hf_tei", &messages.EmbedRequest{Model: "m", Inputs: []string{bad}}},
		{"hf_tei", &messages.RerankRequest{Model: "m", Query: bad, Documents: []string{"d"}}},
		{"ollama", &messages.ChatRequest{Model: "m", Messages: user}},
		{"opea", &messages.ChatRequest{Model: "m", Messages: user}},
		{"opea", &messages.RerankRequest{Model: "m", Query: bad, Documents: []string{"d"}}},
		{"opea_llm", &messages.ChatRequest{Model: "m", Messages: user}},
	} {
		t.Run(tc.kind+" "+tc.req.Operation(), func(t *testing.T) {
			err := kinds[tc.kind].adapter().Check(tc.req)
			require.ErrorIs(t, err, messages.ErrInvalidRequest)
			assert.Contains(t, err.Error(), "not valid UTF-8")
		})
	}
}
