package switchyard

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readmeBlocks returns the README's fenced blocks of one language.
func readmeBlocks(t *testing.T, lang string) []string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	re := regexp.MustCompile("(?ms)^```" + lang + "\n(.*?)^```")
	var out []string
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

// squash normalises whitespace: runs of it become one space.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// exampleSources returns the text of every function in the example files
// (Example bodies and the helpers they use), whitespace normalised.
func exampleSources(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("example*_test.go")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var out []string
	for _, name := range files {
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
		require.NoError(t, err)
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			whole := src[fset.Position(fd.Pos()).Offset:fset.Position(fd.End()).Offset]
			out = append(out, squash(string(whole)))
		}
	}
	return out
}

// TestReadmeGoSnippetsAreExamples: every ```go block of the README is a
// piece of an Example (or of a function an Example runs) in the
// example*_test.go files, which the build compiles and go test runs, so a
// snippet cannot stop compiling or ignore an error unnoticed.
func TestReadmeGoSnippetsAreExamples(t *testing.T) {
	blocks := readmeBlocks(t, "go")
	require.NotEmpty(t, blocks)
	sources := exampleSources(t)
	for i, b := range blocks {
		want := squash(b)
		found := false
		for _, s := range sources {
			if strings.Contains(s, want) {
				found = true
				break
			}
		}
		assert.True(t, found, "README go block %d is in no example*_test.go function; copy it there (or fix it):\n%s", i+1, b)
	}
}

// TestReadmeConfigBlocksLoad: every ```yaml block of the README loads
// through Load and starts an instance.
func TestReadmeConfigBlocksLoad(t *testing.T) {
	blocks := readmeBlocks(t, "yaml")
	require.NotEmpty(t, blocks)
	for i, b := range blocks {
		path := writeConfig(t, "readme.yaml", b)
		cfg, err := Load(path)
		require.NoError(t, err, "README yaml block %d", i+1)
		// The variables the block names with secret_env, and every key
		// variable without its numbered variants, are set (to a key pair,
		// which every kind accepts).
		named := map[string]bool{}
		for _, m := range regexp.MustCompile(`secret_env:\s*([A-Za-z0-9_]+)`).FindAllStringSubmatch(b, -1) {
			named[m[1]] = true
		}
		numbered := regexp.MustCompile(`_\d+$`)
		cfg.Getenv = func(name string) string {
			if numbered.MatchString(name) && !named[name] {
				return ""
			}
			return "readme-access:readme-secret"
		}
		sy, err := New(cfg)
		require.NoError(t, err, "README yaml block %d", i+1)
		require.NoError(t, sy.Close(t.Context()))
	}
}
