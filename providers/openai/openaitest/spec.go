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
	"path/filepath"
	"runtime"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/switchyard-ai/switchyard/providers/providertest"
)

const specURL = "file:///openai/openapi.json"

// spec is the OpenAI document, loaded once per test binary.
var spec = providertest.NewSpec("OpenAI", SpecFile(), specURL, Rewrite)

// SpecFile returns the path of testdata/openai/openapi.json in this module.
func SpecFile() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "openai", "openapi.json")
}

// Edits returns how many places Rewrite changed (over 100 for the real
// spec), loading the spec if needed.
func Edits(t testing.TB) int { t.Helper(); return spec.Edits(t) }

// Schema returns the compiled component schema name (e.g.
// "CreateChatCompletionRequest"), failing the test if it does not exist.
func Schema(t testing.TB, name string) *jsonschema.Schema { t.Helper(); return spec.Schema(t, name) }

// Validate checks body (JSON) against the component schema name. It fails
// the test if body is not JSON and returns the validation error, nil when
// body conforms.
func Validate(t testing.TB, name string, body []byte) error {
	t.Helper()
	return spec.Validate(t, name, body)
}

// Compile compiles a schema of the caller's (a JSON Schema 2020-12 document
// as a Go value, e.g. a dialect's own extra fields); it may $ref the spec's
// components (SpecRef).
func Compile(t testing.TB, url string, schema any) *jsonschema.Schema {
	t.Helper()
	return spec.Compile(t, url, schema)
}

// SpecRef is the $ref of a component schema of the spec, for Compile.
func SpecRef(name string) string { return spec.Ref(name) }

// Rewrite makes the OpenAPI 3.1 document a JSON Schema 2020-12 resource that
// says what the spec means, in place, and returns the number of edits:
//   - providertest.RewriteSchema on every schema object (nullable, and
//     oneOf with a discriminator: some branches overlap, e.g. an input
//     message with "type":"message" is both an EasyInputMessage and an
//     InputMessage);
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
			n += providertest.RewriteSchema(x)
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
