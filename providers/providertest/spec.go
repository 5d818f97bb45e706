package providertest

import (
	"bytes"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Spec is an OpenAPI document whose component schemas validate JSON bodies.
// The document is read, rewritten (Rewrite, when set) and compiled on first
// use, once; schemas are compiled on demand and cached. A Spec is safe for
// concurrent use; create it with NewSpec.
type Spec struct {
	name, file, url string
	rewrite         func(doc any) int

	once     sync.Once
	edits    int
	loadErr  error
	mu       sync.Mutex
	compiler *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema
}

// NewSpec describes the OpenAPI document at file (a path, relative to the
// test's package directory or absolute), registered under url (e.g.
// "file:///tei/openapi.json"), named name in failure messages. rewrite, if
// not nil, edits the decoded document in place before compilation and
// returns the number of edits (see RewriteOpenAPI30). Nothing is read until
// the first use.
func NewSpec(name, file, url string, rewrite func(doc any) int) *Spec {
	return &Spec{name: name, file: file, url: url, rewrite: rewrite, compiled: map[string]*jsonschema.Schema{}}
}

func (s *Spec) load() {
	f, err := os.Open(s.file)
	if err != nil {
		s.loadErr = err
		return
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		s.loadErr = err
		return
	}
	if s.rewrite != nil {
		s.edits = s.rewrite(doc)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(s.url, doc); err != nil {
		s.loadErr = err
		return
	}
	s.compiler = c
}

func (s *Spec) loaded(t testing.TB) {
	t.Helper()
	s.once.Do(s.load)
	if s.loadErr != nil {
		t.Fatalf("loading the %s spec: %v", s.name, s.loadErr)
	}
}

// Edits returns the number of edits the rewrite made, loading the spec if
// needed (failing the test if it does not load).
func (s *Spec) Edits(t testing.TB) int {
	t.Helper()
	s.loaded(t)
	return s.edits
}

// Schema returns the compiled component schema name, failing the test if
// the spec does not load or the schema does not compile.
func (s *Spec) Schema(t testing.TB, name string) *jsonschema.Schema {
	t.Helper()
	s.loaded(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc := s.compiled[name]; sc != nil {
		return sc
	}
	sc, err := s.compiler.Compile(s.Ref(name))
	if err != nil {
		t.Fatalf("schema %s not compiled: %v", name, err)
	}
	s.compiled[name] = sc
	return sc
}

// Ref is the $ref of the component schema name, for Compile.
func (s *Spec) Ref(name string) string { return s.url + "#/components/schemas/" + name }

// Compile compiles a schema of the caller's (a JSON Schema 2020-12 document
// as a Go value) registered at url; it may $ref the spec's components
// (Ref). Compiled schemas are cached by url.
func (s *Spec) Compile(t testing.TB, url string, schema any) *jsonschema.Schema {
	t.Helper()
	s.loaded(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc := s.compiled[url]; sc != nil {
		return sc
	}
	if err := s.compiler.AddResource(url, schema); err != nil {
		t.Fatalf("adding %s: %v", url, err)
	}
	sc, err := s.compiler.Compile(url)
	if err != nil {
		t.Fatalf("compiling %s: %v", url, err)
	}
	s.compiled[url] = sc
	return sc
}

// Validate checks body (JSON) against the component schema name. It fails
// the test if body is not JSON and returns the validation error, nil when
// body conforms.
func (s *Spec) Validate(t testing.TB, name string, body []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: body is not JSON: %v\n%s", name, err, body)
	}
	return s.Schema(t, name).Validate(v)
}

// RewriteOpenAPI30 makes a utoipa-generated OpenAPI 3.0 document (TEI's,
// TGI's) a JSON Schema 2020-12 resource that says what the spec means, in
// place, and returns the number of edits: RewriteSchema on every schema
// object. The numeric exclusiveMinimum utoipa writes is already 2020-12's
// meaning.
func RewriteOpenAPI30(doc any) int {
	edits := 0
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
			edits += RewriteSchema(x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	return edits
}

// RewriteSchema turns one OpenAPI schema object into what it means in JSON
// Schema 2020-12, in place, and returns the number of edits:
//   - nullable: true beside a type becomes type: [T…, "null"] (and adds null
//     to an enum); beside no type (a $ref, utoipa's {"allOf":[…],
//     "nullable":true}) the schema becomes anyOf [schema, null], keeping its
//     annotations (description, default, example) outside; a false nullable
//     is dropped;
//   - a oneOf with a discriminator becomes an anyOf: OpenAPI picks the
//     branch by the discriminator, and branches may overlap, which JSON
//     Schema's oneOf would reject.
func RewriteSchema(x map[string]any) int {
	edits := 0
	if n, ok := x["nullable"]; ok {
		delete(x, "nullable")
		edits++
		if b, _ := n.(bool); b {
			switch t := x["type"].(type) {
			case string:
				x["type"] = []any{t, "null"}
			case []any:
				x["type"] = append(t, "null")
			case nil:
				inner := make(map[string]any, len(x))
				for k, e := range x {
					if k != "description" && k != "default" && k != "example" {
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
		edits++
	}
	return edits
}
