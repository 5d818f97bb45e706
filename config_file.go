package switchyard

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Load reads a Config from a YAML or JSON file (a JSON document is read as
// YAML, with JSON's "\/" escape accepted). Durations are strings with a unit
// such as "30s" or "500ms"; a bare number is an error. Unknown fields are
// errors, so a typo never silently falls back to a default. Keys are best
// given as secret_env or left to the environment.
//
// Every problem in the file — a syntax error, an empty file, an unknown
// field, a value of the wrong type — is a *ConfigError that names the file,
// the line and the field (as in providers[0].breaker.cooldown). New reports
// the fields of a loaded Config that fail validation the same way.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("switchyard: config: %w", err)
	}
	return parse(path, b)
}

// Parse reads a Config from YAML or JSON bytes, as Load does; its errors
// name no file.
func Parse(b []byte) (Config, error) { return parse("", b) }

// configSource remembers where a loaded Config came from: the file and the
// line of every field written in it, so validation errors can point there.
type configSource struct {
	file  string
	lines map[string]int
}

// lineOf returns the line of field, or of its nearest enclosing field that
// the file wrote; 0 when none.
func (s *configSource) lineOf(field string) int {
	for f := field; f != ""; {
		if l, ok := s.lines[f]; ok {
			return l
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return 0
}

// locate fills in the file and line of a validation error.
func (s *configSource) locate(err error) error {
	ce, ok := err.(*ConfigError)
	if !ok || s == nil {
		return err
	}
	ce.File = s.file
	if ce.Line == 0 {
		ce.Line = s.lineOf(ce.Field)
	}
	return err
}

func parse(file string, b []byte) (Config, error) {
	if isJSON(b) {
		b = jsonEscapes(b)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return Config{}, syntaxError(file, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return Config{}, &ConfigError{File: file, Line: 1, Field: "providers", Reason: "the file is empty: a config lists at least one provider"}
	}
	src := &configSource{file: file, lines: map[string]int{}}
	w := &walker{src: src}
	if err := w.walk(doc.Content[0], reflect.TypeFor[Config](), ""); err != nil {
		return Config{}, err
	}
	var c Config
	if err := doc.Content[0].Decode(&c); err != nil {
		// The walk checks every field first, so this is a value the walk
		// let through; name the file at least.
		return Config{}, &ConfigError{File: file, Line: 1, Field: "config", Reason: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	c.src = src
	return c, nil
}

// isJSON reports whether b looks like a JSON document (an object or array).
func isJSON(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n\ufeff")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

// jsonEscapes rewrites JSON's "\/" escape, which YAML lacks, as "/".
func jsonEscapes(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\/`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case !inString:
			inString = c == '"'
		case c == '\\' && i+1 < len(b):
			if b[i+1] == '/' {
				out = append(out, '/')
				i++
				continue
			}
			out = append(out, c, b[i+1])
			i++
			continue
		case c == '"':
			inString = false
		}
		out = append(out, c)
	}
	return out
}

var yamlLine = regexp.MustCompile(`line (\d+): `)

// syntaxError turns a YAML syntax error into a *ConfigError with its line.
func syntaxError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = strings.Replace(msg, m[0], "", 1)
	}
	return &ConfigError{File: file, Line: line, Field: "config", Reason: "not valid YAML or JSON: " + msg}
}

var durationType = reflect.TypeFor[time.Duration]()

// walker checks a YAML tree against the Config type before it is decoded,
// so each error names the field in the file's own terms
// (providers[0].breaker.cooldown), its line, and what the field takes.
type walker struct{ src *configSource }

func (w *walker) fail(n *yaml.Node, field, reason string) error {
	if field == "" {
		field = "config"
	}
	return &ConfigError{File: w.src.file, Line: n.Line, Field: field, Reason: reason}
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if path != "" {
		if _, ok := w.src.lines[path]; !ok {
			w.src.lines[path] = n.Line
		}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if t == durationType {
		return w.duration(n, path)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.walk(n, t.Elem(), path)
	case reflect.Struct:
		return w.fields(n, t, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return w.fail(n, path, "must be a list, got "+describe(n))
		}
		for i, item := range n.Content {
			if err := w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return w.fail(n, path, "must be a mapping, got "+describe(n))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			kp := fmt.Sprintf("%s[%q]", path, k.Value)
			w.src.lines[kp] = k.Line
			if err := w.walk(v, t.Elem(), kp); err != nil {
				return err
			}
		}
		return nil
	case reflect.Interface, reflect.Func:
		return nil
	}
	return w.scalar(n, t, path)
}

// fields checks a mapping against a struct's yaml fields (inline ones
// included).
func (w *walker) fields(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind != yaml.MappingNode {
		return w.fail(n, path, "must be a mapping of fields, got "+describe(n))
	}
	known := map[string]reflect.Type{}
	collectFields(t, known)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := k.Value
		if path != "" {
			field = path + "." + k.Value
		}
		ft, ok := known[k.Value]
		if !ok {
			return w.fail(k, field, "unknown field"+suggest(k.Value, known))
		}
		if seen[k.Value] {
			return w.fail(k, field, "given twice")
		}
		seen[k.Value] = true
		w.src.lines[field] = k.Line
		if err := w.walk(v, ft, field); err != nil {
			return err
		}
	}
	return nil
}

// collectFields maps each yaml field name of t to its type.
func collectFields(t reflect.Type, into map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if opts == "inline" || (f.Anonymous && tag == "") {
			collectFields(f.Type, into)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		into[name] = f.Type
	}
}

// suggest names the known field closest to a misspelt one, if any is close.
func suggest(got string, known map[string]reflect.Type) string {
	best, bestD := "", 3
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if d := editDistance(got, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return " (known: " + strings.Join(names, ", ") + ")"
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// duration checks a duration: a string with a unit.
func (w *walker) duration(n *yaml.Node, path string) error {
	if n.Kind != yaml.ScalarNode {
		return w.fail(n, path, "must be a duration such as \"30s\", got "+describe(n))
	}
	if n.Tag == "!!int" || n.Tag == "!!float" {
		return w.fail(n, path, fmt.Sprintf("a duration needs a unit: write %q or %q, not %s", n.Value+"s", n.Value+"ms", n.Value))
	}
	if _, err := time.ParseDuration(n.Value); err != nil {
		return w.fail(n, path, fmt.Sprintf("%q is not a duration; write e.g. \"30s\", \"500ms\" or \"5m\"", n.Value))
	}
	return nil
}

// scalar checks a bool, number or string field.
func (w *walker) scalar(n *yaml.Node, t reflect.Type, path string) error {
	var want string
	switch t.Kind() {
	case reflect.Bool:
		want = "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "a whole number"
	case reflect.Float32, reflect.Float64:
		want = "a number"
	default:
		want = "a string"
	}
	if n.Kind != yaml.ScalarNode {
		return w.fail(n, path, "must be "+want+", got "+describe(n))
	}
	if t.Kind() != reflect.String && n.Tag == "!!str" {
		return w.fail(n, path, fmt.Sprintf("must be %s, got the string %q", want, n.Value))
	}
	if want == "a whole number" && n.Tag != "!!int" {
		// yaml.v3 would truncate 2.5 to 2.
		return w.fail(n, path, "must be a whole number, got "+n.Value)
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		return w.fail(n, path, fmt.Sprintf("must be %s, got %s", want, n.Value))
	}
	return nil
}

// describe names a node's kind for an error message.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}
