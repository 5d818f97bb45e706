// Package openaitest validates JSON bodies against the official OpenAI
// OpenAPI spec (testdata/openai/openapi.json, see its SOURCE.md), for the
// tests of the OpenAI adapter and of every OpenAI-compatible dialect (Groq,
// vLLM, TGI's and OVMS's OpenAI routes, OPEA).
//
// The spec is read and compiled once per test binary, after an in-memory
// rewrite that makes the OpenAPI 3.1 document a JSON Schema 2020-12 resource
// saying what the spec means (see Rewrite). It is test support only: nothing
// outside _test.go files should import it.
package openaitest

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const specURL = "file:///openai/openapi.json"

var (
	once    sync.Once
	edits   int
	loadErr error

	mu       sync.Mutex
	compiler *jsonschema.Compiler
	compiled = map[string]*jsonschema.Schema{}
)

// SpecFile returns the path of testdata/openai/openapi.json in this module.
func SpecFile() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "openai", "openapi.json")
}

func load() {
	f, err := os.Open(SpecFile())
	if err != nil {
		loadErr = err
		return
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		loadErr = err
		return
	}
	edits = Rewrite(doc)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(specURL, doc); err != nil {
		loadErr = err
		return
	}
	compiler = c
}

// Edits returns how many places Rewrite changed (over 100 for the real
// spec), loading the spec if needed.
func Edits(t testing.TB) int {
	t.Helper()
	once.Do(load)
	if loadErr != nil {
		t.Fatalf("loading the OpenAI spec: %v", loadErr)
	}
	return edits
}

// Schema returns the compiled component schema name (e.g.
// "CreateChatCompletionRequest"), failing the test if it does not exist.
func Schema(t testing.TB, name string) *jsonschema.Schema {
	t.Helper()
	once.Do(load)
	if loadErr != nil {
		t.Fatalf("loading the OpenAI spec: %v", loadErr)
	}
	mu.Lock()
	defer mu.Unlock()
	if s := compiled[name]; s != nil {
		return s
	}
	s, err := compiler.Compile(specURL + "#/components/schemas/" + name)
	if err != nil {
		t.Fatalf("compiling %s: %v", name, err)
	}
	compiled[name] = s
	return s
}

// Validate checks body (JSON) against the component schema name. It fails
// the test if body is not JSON and returns the validation error, nil when
// body conforms.
func Validate(t testing.TB, name string, body []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: body is not JSON: %v\n%s", name, err, body)
	}
	return Schema(t, name).Validate(v)
}

// Compile compiles a schema of the caller's (a JSON Schema 2020-12 document
// as a Go value, e.g. a dialect's own extra fields); it may $ref the spec's
// components as "file:///openai/openapi.json#/components/schemas/Name".
func Compile(t testing.TB, url string, schema any) *jsonschema.Schema {
	t.Helper()
	once.Do(load)
	if loadErr != nil {
		t.Fatalf("loading the OpenAI spec: %v", loadErr)
	}
	mu.Lock()
	defer mu.Unlock()
	if s := compiled[url]; s != nil {
		return s
	}
	if err := compiler.AddResource(url, schema); err != nil {
		t.Fatalf("adding %s: %v", url, err)
	}
	s, err := compiler.Compile(url)
	if err != nil {
		t.Fatalf("compiling %s: %v", url, err)
	}
	compiled[url] = s
	return s
}

// SpecRef is the $ref of a component schema of the spec, for Compile.
func SpecRef(name string) string { return specURL + "#/components/schemas/" + name }

// Rewrite makes the OpenAPI 3.1 document a JSON Schema 2020-12 resource that
// says what the spec means, in place, and returns the number of edits:
//   - nullable: true beside a type becomes type: [T, "null"] (and adds null to
//     an enum); nullable: true without a type (beside a $ref, as for the
//     stream chunks' usage) wraps the schema as anyOf [schema, null]; a false
//     nullable is dropped;
//   - a oneOf with a discriminator becomes an anyOf: OpenAPI selects the
//     branch by the discriminator, and some branches overlap (an input
//     message with "type":"message" is both an EasyInputMessage and an
//     InputMessage), which JSON Schema's oneOf would reject;
//   - $recursiveAnchor: true (2019-09, rejected by the 2020-12 metaschema) is
//     dropped and a $recursiveRef "#" under it becomes a $ref to the enclosing
//     component schema.
func Rewrite(doc any) int {
	n := 0
	var walk func(v any, component string)
	walk = func(v any, component string) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				walk(e, component)
			}
			if nv, ok := x["nullable"]; ok {
				delete(x, "nullable")
				n++
				if b, _ := nv.(bool); b {
					switch typ := x["type"].(type) {
					case string:
						x["type"] = []any{typ, "null"}
					case []any:
						x["type"] = append(typ, "null")
					case nil:
						inner := make(map[string]any, len(x))
						for k, e := range x {
							if k != "description" {
								inner[k] = e
								delete(x, k)
							}
						}
						x["anyOf"] = []any{inner, map[string]any{"type": "null"}}
					}
					if enum, ok := x["enum"].([]any); ok && !slices.Contains(enum, nil) {
						x["enum"] = append(enum, nil)
					}
				}
			}
			if one, ok := x["oneOf"]; ok && x["discriminator"] != nil {
				delete(x, "oneOf")
				x["anyOf"] = one
				n++
			}
			if _, ok := x["$recursiveAnchor"]; ok {
				delete(x, "$recursiveAnchor")
				n++
			}
			if ref, ok := x["$recursiveRef"]; ok {
				delete(x, "$recursiveRef")
				if ref == "#" && component != "" {
					x["$ref"] = "#/components/schemas/" + component
				}
				n++
			}
		case []any:
			for _, e := range x {
				walk(e, component)
			}
		}
	}
	root, _ := doc.(map[string]any)
	comps, _ := root["components"].(map[string]any)
	schemas, _ := comps["schemas"].(map[string]any)
	for name, s := range schemas {
		walk(s, name)
	}
	for k, v := range root {
		if k != "components" {
			walk(v, "")
		}
	}
	for k, v := range comps {
		if k != "schemas" {
			walk(v, "")
		}
	}
	return n
}
