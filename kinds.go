package switchyard

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/anthropic"
	"github.com/switchyard-ai/switchyard/providers/azure"
	"github.com/switchyard-ai/switchyard/providers/bedrock"
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
	"github.com/switchyard-ai/switchyard/providers/vertex"
	"github.com/switchyard-ai/switchyard/providers/vertexanthropic"
)

// descriptors is the one list of the kinds this build speaks, in the order
// of the README's backend table (which is generated from it: go test -run
// TestReadmeBackendTable -update-readme). Adding a backend is one entry here;
// see docs/adding-a-backend.md.
var descriptors = []providers.Descriptor{
	openai.Descriptor,
	anthropic.Descriptor,
	gemini.Descriptor,
	groq.Descriptor,
	tgi.Descriptor,
	tei.Descriptor,
	ollama.Descriptor,
	ovms.Descriptor,
	opea.Descriptor,
	opea.LLMDescriptor,
	s3.Descriptor,
	llvm.Descriptor,
	azure.Descriptor,
	bedrock.Descriptor,
	vertexanthropic.Descriptor,
	vertex.Descriptor,
}

// kinds maps ProviderConfig.Kind to its descriptor.
var kinds = kindTable(descriptors)

// kindName is the form a Kind must have: lower-case letters, digits and
// underscores, starting with a letter.
var kindName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// kindTable indexes ds by Kind. It panics, naming the descriptor, when a
// Kind is malformed or listed twice or a descriptor has no New: the list is
// fixed at build time, so this fails every test and every program at start.
func kindTable(ds []providers.Descriptor) map[string]providers.Descriptor {
	m := make(map[string]providers.Descriptor, len(ds))
	for i, d := range ds {
		switch {
		case !kindName.MatchString(d.Kind):
			panic(fmt.Sprintf("switchyard: descriptors[%d]: kind %q must match %s", i, d.Kind, kindName))
		case d.New == nil:
			panic(fmt.Sprintf("switchyard: descriptors[%d]: kind %q has no New", i, d.Kind))
		}
		if _, dup := m[d.Kind]; dup {
			panic(fmt.Sprintf("switchyard: descriptors[%d]: kind %q is listed twice", i, d.Kind))
		}
		m[d.Kind] = d
	}
	return m
}

// Kinds returns the descriptors of the kinds this build speaks (the values
// ProviderConfig.Kind accepts), sorted by Kind. The slice and the
// descriptors' Credentials are copies the caller may change. It is safe for
// concurrent use.
func Kinds() []providers.Descriptor {
	out := make([]providers.Descriptor, len(descriptors))
	for i, d := range descriptors {
		d.Credentials = slices.Clone(d.Credentials)
		out[i] = d
	}
	slices.SortFunc(out, func(a, b providers.Descriptor) int { return strings.Compare(a.Kind, b.Kind) })
	return out
}

// kindNames returns the known kinds, sorted.
func kindNames() []string {
	names := make([]string, 0, len(descriptors))
	for _, d := range descriptors {
		names = append(names, d.Kind)
	}
	slices.Sort(names)
	return names
}
