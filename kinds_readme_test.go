package switchyard

import (
	"errors"
	"flag"
	"fmt"
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
	"github.com/switchyard-ai/switchyard/providers"
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
	d, ok := kinds[kind]
	require.True(t, ok, "no descriptor of kind %q", kind)
	a := d.New(providers.AdapterOptions{})
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

// namedOperations returns the operations an "operations (facade method)"
// cell names: each facade method in backticks, through facadeOps; other
// backticked words (paths, option names) are not methods and are skipped.
func namedOperations(cell string) []string {
	ops := []string{}
	for _, m := range facadeMethod.FindAllStringSubmatch(cell, -1) {
		if op, ok := facadeOps[m[1]]; ok && !slices.Contains(ops, op) {
			ops = append(ops, op)
		}
	}
	sort.Strings(ops)
	return ops
}

var facadeMethod = regexp.MustCompile("`([A-Za-z]+)`")

// The README's backend table is generated from the descriptors, in the
// order of kinds.go's list; -update-readme rewrites it in place.
var updateReadme = flag.Bool("update-readme", false, "rewrite README.md's backend table from the descriptors in kinds.go")

const backendTableHeader = "| kind | service | operations (facade method) | base URL | keys |\n|---|---|---|---|---|\n"

// credentialPhrases name, in the keys cell, the credentials other than an
// API key from KeyEnv (which is shown as its variable).
var credentialPhrases = map[providers.CredentialKind]string{
	providers.CredentialBearerToken: "a bearer token from an OAuth2 token source (e.g. Microsoft Entra ID)",
	providers.CredentialGoogle:      "Google OAuth2 (service account key or application default credentials)",
	providers.CredentialAWSSigV4:    "AWS SigV4 (static keys or the AWS credential chain)",
}

// backendTable renders the README's backend table, header included, one row
// per descriptor in the order given.
func backendTable(ds []providers.Descriptor) string {
	var b strings.Builder
	b.WriteString(backendTableHeader)
	for _, d := range ds {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", d.Kind, d.Service, d.Operations, baseURLCell(d), keysCell(d))
	}
	return b.String()
}

// baseURLCell is BaseURL in backticks ({region} and {project} as they are),
// or BaseURLHint.
func baseURLCell(d providers.Descriptor) string {
	if d.BaseURL != "" {
		return "`" + d.BaseURL + "`"
	}
	return d.BaseURLHint
}

// keysCell is KeysHint, or the credentials d accepts: an API key as its
// variable, an access key pair as its two variables, others as a phrase;
// ", optional" when the server may run without any.
func keysCell(d providers.Descriptor) string {
	if d.KeysHint != "" {
		return d.KeysHint
	}
	creds := d.Credentials
	if len(creds) == 0 {
		creds = []providers.CredentialKind{providers.CredentialAPIKey}
	}
	var alts []string
	for _, c := range creds {
		switch c {
		case providers.CredentialAPIKey:
			alts = append(alts, "`"+d.KeyEnv+"`")
		case providers.CredentialAccessKeyPair:
			alts = append(alts, "`"+d.KeyEnv+"_ACCESS_KEY` + `"+d.KeyEnv+"_SECRET_KEY` pairs")
		default:
			phrase, ok := credentialPhrases[c]
			if !ok {
				phrase = "`" + string(c) + "`"
			}
			alts = append(alts, phrase)
		}
	}
	cell := strings.Join(alts, " or ")
	if d.KeyOptional {
		cell += ", optional"
	}
	return cell
}

// replaceBackendTable returns readme with its backend table (the header
// line, the separator and the rows up to the first line not starting with
// "|") replaced by table, and the table it replaced.
func replaceBackendTable(readme, table string) (updated, old string, err error) {
	header, _, _ := strings.Cut(backendTableHeader, "\n")
	i := strings.Index(readme, header+"\n")
	if i < 0 || (i > 0 && readme[i-1] != '\n') {
		return "", "", errors.New("README.md has no backend table (a line " + header + ")")
	}
	j := i
	for j < len(readme) && readme[j] == '|' {
		nl := strings.IndexByte(readme[j:], '\n')
		if nl < 0 {
			j = len(readme)
			break
		}
		j += nl + 1
	}
	return readme[:i] + table + readme[j:], readme[i:j], nil
}

// TestReadmeBackendTable: README.md's backend table is exactly the one the
// descriptors render. With -update-readme it rewrites the table first.
func TestReadmeBackendTable(t *testing.T) {
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	want := backendTable(descriptors)
	updated, got, err := replaceBackendTable(string(b), want)
	require.NoError(t, err)
	if *updateReadme && got != want {
		require.NoError(t, os.WriteFile("README.md", []byte(updated), 0o644))
		got = want
	}
	if got != want {
		assert.Fail(t, "README.md's backend table is not the one the descriptors in kinds.go render",
			"rewrite it with: go test -run TestReadmeBackendTable -update-readme\nrows that differ (- README, + descriptors):\n%s\nthe table should read:\n%s",
			rowDiff(got, want), want)
	}
}

// rowDiff lists the rows of got that want lacks ("- ") and the rows of want
// that got lacks ("+ ").
func rowDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for _, l := range g {
		if l != "" && !slices.Contains(w, l) {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range w {
		if l != "" && !slices.Contains(g, l) {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}

// TestReadmeOperationsMatchAdapters keeps each descriptor's Operations cell
// and its adapter in step: the cell names (as facade methods) exactly the
// operations New's adapter serves.
func TestReadmeOperationsMatchAdapters(t *testing.T) {
	for _, d := range descriptors {
		t.Run(d.Kind, func(t *testing.T) {
			assert.Equal(t, servedOperations(t, d.Kind), namedOperations(d.Operations),
				"%s's Operations cell names these operations (facade methods in backticks); the adapter serves the others", d.Kind)
		})
	}
}

// TestReadmeBackendTableParser shows the parser reads facade methods only,
// and that a probe finds an unsupported operation, so the comparison above
// can fail.
func TestReadmeBackendTableParser(t *testing.T) {
	for _, tc := range []struct {
		cell string
		want []string
	}{
		{"chat (`Chat`, `ChatStream`); `/v1/embeddings` (`Embed`)", []string{"chat", "embed"}},
		{"`groq.WithCatalog` rejects (`ListModels`)", []string{"models"}},
		{"`/health` and `EmbedRequest.Sparse`", []string{}},
	} {
		assert.Equal(t, tc.want, namedOperations(tc.cell), tc.cell)
	}
	assert.Contains(t, namedOperations(kinds["openai"].Operations), "generate", "the OpenAI row lists completions (Generate)")
	assert.NotContains(t, servedOperations(t, "anthropic"), "embed")
	assert.Contains(t, servedOperations(t, "openai"), "generate")
}

// TestReadmeBackendTableRendering pins how a descriptor becomes a row.
func TestReadmeBackendTableRendering(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    providers.Descriptor
		want string
	}{
		{"public API key", providers.Descriptor{Kind: "x", Service: "X", Operations: "chat (`Chat`)", BaseURL: "https://x.test/v1", KeyEnv: "X_KEY"},
			"| `x` | X | chat (`Chat`) | `https://x.test/v1` | `X_KEY` |"},
		{"self-hosted optional", providers.Descriptor{Kind: "y", Service: "Y", Operations: "o", BaseURLHint: "self-hosted", KeyEnv: "Y_KEY", KeyOptional: true},
			"| `y` | Y | o | self-hosted | `Y_KEY`, optional |"},
		{"keys hint", providers.Descriptor{Kind: "z", Service: "Z", Operations: "o", BaseURLHint: "h", KeyEnv: "Z", KeyPair: true, KeysHint: "see `Z`",
			Credentials: []providers.CredentialKind{providers.CredentialAccessKeyPair}},
			"| `z` | Z | o | h | see `Z` |"},
		{"access key pair", providers.Descriptor{Kind: "p", Service: "P", Operations: "o", BaseURLHint: "h", KeyEnv: "P", KeyPair: true,
			Credentials: []providers.CredentialKind{providers.CredentialAccessKeyPair}},
			"| `p` | P | o | h | `P_ACCESS_KEY` + `P_SECRET_KEY` pairs |"},
		{"templated URL, several credentials", providers.Descriptor{Kind: "v", Service: "V", Operations: "o",
			BaseURL: "https://{region}-v.test/projects/{project}", KeyEnv: "V_KEY",
			Credentials: []providers.CredentialKind{providers.CredentialAPIKey, providers.CredentialGoogle, providers.CredentialKind("other")}},
			"| `v` | V | o | `https://{region}-v.test/projects/{project}` | `V_KEY` or " + credentialPhrases[providers.CredentialGoogle] + " or `other` |"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, backendTableHeader+tc.want+"\n", backendTable([]providers.Descriptor{tc.d}))
		})
	}
}

// TestReplaceBackendTable: the rewrite replaces the table and nothing else,
// so the comparison in TestReadmeBackendTable sees a changed row.
func TestReplaceBackendTable(t *testing.T) {
	oldTable := backendTableHeader + "| `a` | A | o | u | k |\n"
	newTable := backendTableHeader + "| `b` | B | o | u | k |\n"
	for _, tc := range []struct {
		name, readme, want string
	}{
		{"middle", "intro\n\n" + oldTable + "\nafter\n", "intro\n\n" + newTable + "\nafter\n"},
		{"at the end", "intro\n" + oldTable, "intro\n" + newTable},
		{"without a final newline", "intro\n" + strings.TrimSuffix(oldTable, "\n"), "intro\n" + newTable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			updated, old, err := replaceBackendTable(tc.readme, newTable)
			require.NoError(t, err)
			assert.Equal(t, tc.want, updated)
			assert.Equal(t, strings.TrimSuffix(oldTable, "\n"), strings.TrimSuffix(old, "\n"))
		})
	}
	assert.Equal(t, "- | `a` | A | o | u | k |\n+ | `b` | B | o | u | k |\n", rowDiff(oldTable, newTable))
	assert.Empty(t, rowDiff(oldTable, oldTable))
	_, _, err := replaceBackendTable("no table here\n", newTable)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no backend table")
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
			err := kinds[tc.kind].New(providers.AdapterOptions{}).Check(tc.req)
			require.ErrorIs(t, err, messages.ErrInvalidRequest)
			assert.Contains(t, err.Error(), "not valid UTF-8")
		})
	}
}
