package switchyard

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/anthropic"
	"github.com/switchyard-ai/switchyard/providers/gemini"
	"github.com/switchyard-ai/switchyard/providers/groq"
	"github.com/switchyard-ai/switchyard/providers/llvm"
	"github.com/switchyard-ai/switchyard/providers/ollama"
	"github.com/switchyard-ai/switchyard/providers/opea"
	"github.com/switchyard-ai/switchyard/providers/openai"
	"github.com/switchyard-ai/switchyard/providers/ovms"
	"github.com/switchyard-ai/switchyard/providers/s3"
	"github.com/switchyard-ai/switchyard/providers/tei"
	"github.com/switchyard-ai/switchyard/providers/tgi"
)

// kindTableOf is one hand-kept list of kinds that must name every
// descriptor (but those in skip) and nothing else.
type kindTableOf struct {
	// place says where to add a missing kind.
	place string
	kinds []string
	// skip lists the kinds the table leaves out on purpose, each with the
	// reason and where the kind is exercised instead.
	skip map[string]string
}

// kindTables are the hand-kept lists checked against the descriptors.
func kindTables(t *testing.T) []kindTableOf {
	t.Helper()
	var all []string
	for _, b := range httpBackends {
		all = append(all, b.kind)
	}
	return []kindTableOf{
		{place: "the all-backends test (httpBackends in allbackends_test.go)", kinds: all, skip: map[string]string{
			"s3":       "object storage, not an inference backend: s3_test.go drives it against versitygw",
			"opea_llm": "the opea adapter and simulator with Chat: ChatLLM: secrets_test.go and providers/opea's tests drive it",
		}},
		{place: "the demo (backends in cmd/demo/backends.go)", kinds: demoKinds(t), skip: map[string]string{
			"opea_llm": "the demo runs OPEA's ChatQnA megaservice (opea) only",
		}},
	}
}

// demoKinds finds the kinds the demo names: a string literal given to a
// field kind (its backends table) or Kind (a switchyard.ProviderConfig,
// e.g. the object store's in objects.go).
func demoKinds(t *testing.T) []string {
	t.Helper()
	// The demo's backends table and its object store; other files use
	// "kind" for other things (the web view's event kinds).
	files := []string{filepath.Join("cmd", "demo", "backends.go"), filepath.Join("cmd", "demo", "objects.go")}
	fset := token.NewFileSet()
	var kinds []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			kv, ok := n.(*ast.KeyValueExpr)
			if !ok {
				return true
			}
			key, ok := kv.Key.(*ast.Ident)
			lit, isLit := kv.Value.(*ast.BasicLit)
			if !ok || !isLit || lit.Kind != token.STRING || (key.Name != "kind" && key.Name != "Kind") {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			require.NoError(t, err, "%s", fset.Position(lit.Pos()))
			if !slices.Contains(kinds, s) {
				kinds = append(kinds, s)
			}
			return true
		})
	}
	require.NotEmpty(t, kinds, "no kind: \"…\" literals found in cmd/demo: has its backends table moved?")
	return kinds
}

// tableDisagreements lists, one message each, every way tables disagree with
// the descriptor kinds: a kind missing from a table, a table naming a kind
// with no descriptor, and a skip entry that is stale.
func tableDisagreements(descriptorKinds []string, tables []kindTableOf) []string {
	var out []string
	for _, tb := range tables {
		for _, k := range descriptorKinds {
			_, skipped := tb.skip[k]
			listed := slices.Contains(tb.kinds, k)
			switch {
			case !listed && !skipped:
				out = append(out, fmt.Sprintf("kind %q has a descriptor in kinds.go but is missing from %s", k, tb.place))
			case listed && skipped:
				out = append(out, fmt.Sprintf("kind %q is in %s: drop it from that table's skip list", k, tb.place))
			}
		}
		for _, k := range tb.kinds {
			if !slices.Contains(descriptorKinds, k) {
				out = append(out, fmt.Sprintf("%s names kind %q, which has no descriptor in kinds.go", tb.place, k))
			}
		}
		for k := range tb.skip {
			if !slices.Contains(descriptorKinds, k) {
				out = append(out, fmt.Sprintf("the skip list of %s names kind %q, which has no descriptor in kinds.go", tb.place, k))
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestDescriptorKindsInEveryTable: every descriptor's kind is in the
// all-backends test and the demo, and those name no other kind.
func TestDescriptorKindsInEveryTable(t *testing.T) {
	problems := tableDisagreements(kindNames(), kindTables(t))
	assert.Empty(t, problems, "the hand-kept kind lists disagree with kinds.go:\n%s", strings.Join(problems, "\n"))
}

// TestDescriptorTableDisagreements shows the check above fails, naming the
// place, for each way a table can drift.
func TestDescriptorTableDisagreements(t *testing.T) {
	table := func(kinds ...string) kindTableOf {
		return kindTableOf{place: "the demo", kinds: kinds, skip: map[string]string{"s": "why"}}
	}
	for _, tc := range []struct {
		name  string
		kinds []string
		table kindTableOf
		want  []string
	}{
		{"agree", []string{"a", "s"}, table("a"), nil},
		{"descriptor missing from the table", []string{"a", "b", "s"}, table("a"),
			[]string{`kind "b" has a descriptor in kinds.go but is missing from the demo`}},
		{"table names an unknown kind", []string{"a", "s"}, table("a", "c"),
			[]string{`the demo names kind "c", which has no descriptor in kinds.go`}},
		{"skipped kind listed", []string{"a", "s"}, table("a", "s"),
			[]string{`kind "s" is in the demo: drop it from that table's skip list`}},
		{"stale skip", []string{"a"}, table("a"),
			[]string{`the skip list of the demo names kind "s", which has no descriptor in kinds.go`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tableDisagreements(tc.kinds, []kindTableOf{tc.table}))
		})
	}
}

// TestDemoKindsParsed: the demo's kinds are read from its source, not
// guessed: the table and the object store's provider are both found.
func TestDemoKindsParsed(t *testing.T) {
	got := demoKinds(t)
	assert.Contains(t, got, "anthropic", "from backends in cmd/demo/backends.go")
	assert.Contains(t, got, "s3", "from the object store's ProviderConfig in cmd/demo/objects.go")
}

// TestDescriptorsWellFormed checks what each descriptor must hold for the
// configuration and the README table to work.
func TestDescriptorsWellFormed(t *testing.T) {
	placeholder := regexp.MustCompile(`\{[^}]*\}`)
	for _, d := range descriptors {
		t.Run(d.Kind, func(t *testing.T) {
			assert.NotEmpty(t, d.Service, "Service")
			assert.NotEmpty(t, namedOperations(d.Operations), "Operations names no facade method in backticks")
			for name, cell := range map[string]string{"Service": d.Service, "Operations": d.Operations,
				"BaseURLHint": d.BaseURLHint, "KeysHint": d.KeysHint, "BaseURL": d.BaseURL} {
				assert.NotContains(t, cell, "|", "%s would split a README row", name)
				assert.NotContains(t, cell, "\n", "%s would split a README row", name)
			}
			if d.BaseURL == "" {
				assert.NotEmpty(t, d.BaseURLHint, "a kind without BaseURL needs BaseURLHint for the README")
			} else {
				assert.Empty(t, d.BaseURLHint, "BaseURLHint is shown only without BaseURL")
				for _, p := range placeholder.FindAllString(d.BaseURL, -1) {
					assert.Contains(t, []string{"{region}", "{project}"}, p, "BaseURL placeholder")
				}
				assert.Regexp(t, `^https?://`, d.BaseURL)
			}
			if d.Accepts(providers.CredentialAPIKey) || d.KeyPair {
				assert.Regexp(t, `^[A-Z][A-Z0-9_]*$`, d.KeyEnv, "KeyEnv")
			}
			assert.Equal(t, d.KeyPair, d.Accepts(providers.CredentialAccessKeyPair), "KeyPair kinds take access key pairs, others do not")
			for _, c := range d.Credentials {
				if c != providers.CredentialAPIKey && c != providers.CredentialAccessKeyPair {
					assert.Contains(t, credentialPhrases, c, "the README's keys cell has no phrase for credential %q", c)
				}
			}
		})
	}
}

// TestDescriptorsMatchPackageConstants: a descriptor's base URL and key
// variable are its package's exported constants, not copies.
func TestDescriptorsMatchPackageConstants(t *testing.T) {
	for _, tc := range []struct {
		d               providers.Descriptor
		kind            string
		baseURL, keyEnv string
	}{
		{openai.Descriptor, "openai", openai.DefaultBaseURL, openai.EnvKey},
		{anthropic.Descriptor, "anthropic", anthropic.DefaultBaseURL, anthropic.EnvKey},
		{gemini.Descriptor, "gemini", gemini.DefaultBaseURL, gemini.EnvKey},
		{groq.Descriptor, groq.Kind, groq.DefaultBaseURL, groq.EnvKey},
		{llvm.Descriptor, llvm.Kind, llvm.DefaultBaseURL, llvm.EnvKey},
		{ollama.Descriptor, "ollama", ollama.DefaultBaseURL, ollama.EnvKey},
		{ovms.Descriptor, "ovms", "", ovms.EnvKey},
		{tgi.Descriptor, tgi.Kind, "", tgi.EnvKey},
		{tei.Descriptor, tei.Kind, "", tei.EnvKey},
		{opea.Descriptor, opea.Kind, "", opea.EnvKey},
		{opea.LLMDescriptor, "opea_llm", "", opea.EnvKey},
		{s3.Descriptor, "s3", "", s3.EnvPrefix},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			assert.Equal(t, tc.kind, tc.d.Kind)
			assert.Equal(t, tc.baseURL, tc.d.BaseURL)
			assert.Equal(t, tc.keyEnv, tc.d.KeyEnv)
			_, listed := kinds[tc.kind]
			assert.True(t, listed, "in kinds.go's list")
		})
	}
}

// adapterKinds are the kinds whose adapter's Kind() is not the
// descriptor's: opea_llm is the opea adapter (same package, same errors and
// tree label) with its chat sent to the LLM microservice.
var adapterKinds = map[string]string{"opea_llm": opea.Kind}

// TestDescriptorNewBuildsItsKind: New's adapter reports the descriptor's
// Kind (but for adapterKinds), and each call returns a fresh adapter.
func TestDescriptorNewBuildsItsKind(t *testing.T) {
	for _, d := range descriptors {
		t.Run(d.Kind, func(t *testing.T) {
			want := d.Kind
			if k, ok := adapterKinds[d.Kind]; ok {
				want = k
			}
			a := d.New(providers.AdapterOptions{})
			require.NotNil(t, a)
			assert.Equal(t, want, a.Kind())
		})
	}
}

// TestKindTableRejectsBadDescriptors: a kind listed twice, a malformed kind
// or a missing New stops the program at init, naming the descriptor.
func TestKindTableRejectsBadDescriptors(t *testing.T) {
	newFn := func(providers.AdapterOptions) providers.Adapter { return openai.New() }
	ok := providers.Descriptor{Kind: "a", New: newFn}
	for _, tc := range []struct {
		name string
		ds   []providers.Descriptor
		want string
	}{
		{"duplicate", []providers.Descriptor{ok, {Kind: "b", New: newFn}, ok},
			`switchyard: descriptors[2]: kind "a" is listed twice`},
		{"empty kind", []providers.Descriptor{ok, {New: newFn}},
			`switchyard: descriptors[1]: kind "" must match ^[a-z][a-z0-9_]*$`},
		{"upper case", []providers.Descriptor{{Kind: "OpenAI", New: newFn}},
			`switchyard: descriptors[0]: kind "OpenAI" must match ^[a-z][a-z0-9_]*$`},
		{"no New", []providers.Descriptor{{Kind: "c"}},
			`switchyard: descriptors[0]: kind "c" has no New`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.PanicsWithValue(t, tc.want, func() { kindTable(tc.ds) })
		})
	}
	assert.Len(t, kindTable(descriptors), len(descriptors), "the real list passes")
}

// TestKinds: Kinds is every descriptor, sorted, and a copy.
func TestKinds(t *testing.T) {
	got := Kinds()
	require.Len(t, got, len(descriptors))
	var names []string
	for _, d := range got {
		names = append(names, d.Kind)
		assert.Equal(t, kinds[d.Kind].KeyEnv, d.KeyEnv)
	}
	assert.Equal(t, kindNames(), names)
	assert.True(t, slices.IsSorted(names))

	got[0].Kind = "changed"
	got[0].Credentials[0] = "changed"
	again := Kinds()
	assert.NotEqual(t, "changed", again[0].Kind)
	assert.NotEqual(t, providers.CredentialKind("changed"), again[0].Credentials[0])
}
