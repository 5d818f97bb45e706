// Package groq is Switchyard's adapter for Groq's OpenAI-compatible API:
// chat completions (plain and streamed, tools, images on vision models) and
// the model catalogue. It is the openai package's machinery in Groq's dialect
// (openai.NewDialect); nothing is copied.
//
// The endpoint's base URL is "https://api.groq.com/openai/v1" (DefaultBaseURL),
// the form Groq documents for OpenAI clients; "https://api.groq.com" works too,
// since the adapter adds the "/openai/v1" prefix when the base URL lacks it.
// Keys ("gsk_…", read from GROQ_API_KEY by default) go in "Authorization:
// Bearer …".
//
// Where Groq departs from OpenAI, and what the adapter does about it:
//   - Streams carry usage in x_groq.usage on the last chunk, and Groq has
//     rejected OpenAI's stream_options ("property 'stream_options' is
//     unsupported"), so the adapter never sends stream_options and reads
//     x_groq.usage (DecodeStreamChunk). A stream that Groq stops early
//     reports x_groq.error, which fails the call as ClassServer.
//   - Rate-limit headers are OpenAI's x-ratelimit-*, read with
//     providers.OpenAIRateLimit, but x-ratelimit-limit-requests counts
//     requests per DAY (tokens per minute); reset-requests says when the
//     daily budget is replenished. retry-after comes only on 429s.
//   - 498 capacity_exceeded (flex tier out of capacity) is retryable
//     (ClassServer). 499 "request cancelled" is also ClassServer: when the
//     caller cancels, the adapter sees its own context end (ClassCancelled)
//     and never reads a 499, so a 499 that does arrive is a cancellation on
//     Groq's side and worth another attempt.
//   - 400 tool_use_failed (the model produced a tool call Groq could not
//     parse) is ClassInvalid and not retried; the failed_generation Groq
//     returns is kept, truncated, in the error message.
//   - Keys quoted back in error messages ("gsk_…") are redacted.
//
// Model catalogue: a ModelsRequest lists Groq's models (GET
// /openai/v1/models) with their context_window, max_completion_tokens and
// active flag, and capabilities derived from the model ID (Groq's list does
// not report them; see Capabilities). Given a catalogue (WithCatalog at
// construction, or SetCatalog at any time, typically with the Models of a
// ModelsResponse), Check refuses, before anything is queued, a request for a
// model the catalogue does not list or marks inactive, tools on a model
// without "tools", images on one without "vision", and MaxTokens above the
// model's max_completion_tokens. Without a catalogue only the model-independent
// checks apply. The catalogue is swapped atomically.
//
// The adapter is safe for concurrent use.
package groq

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/openai"
)

// Constants for configuring a Groq provider.
const (
	// Kind is the adapter's Kind().
	Kind = "groq"
	// DefaultBaseURL is Groq's OpenAI-compatible endpoint.
	DefaultBaseURL = "https://api.groq.com/openai/v1"
	// EnvKey is the environment variable keys are read from by default.
	EnvKey = "GROQ_API_KEY"
	// Prefix is the path prefix of Groq's OpenAI routes, added when the base
	// URL does not end in it.
	Prefix = "/openai/v1"
)

// Limits Groq documents, checked before a request is queued.
const (
	// MaxStop is the most stop sequences a request may carry.
	MaxStop = 4
	// MaxTools is the most tools a request may carry.
	MaxTools = 128
	// MaxImages is the most images one request may carry.
	MaxImages = 5
)

// Adapter implements providers.Adapter for Groq. Create it with New.
type Adapter struct {
	*openai.Adapter
	catalog atomic.Pointer[catalog]
}

var _ providers.Adapter = (*Adapter)(nil)

// Option configures an Adapter.
type Option func(*Adapter)

// WithCatalog makes Check validate requests against models (see the
// package doc). Entries without Capabilities get them from Capabilities.
func WithCatalog(models []messages.ModelInfo) Option {
	return func(a *Adapter) { a.SetCatalog(models) }
}

// New returns a Groq adapter.
func New(opts ...Option) *Adapter {
	a := &Adapter{}
	a.Adapter = openai.NewDialect(openai.Dialect{
		Kind:            Kind,
		Prefix:          Prefix,
		Operations:      []string{openai.OpChat, openai.OpModels},
		NoStreamOptions: true,
		Check:           a.check,
		StreamChunk:     DecodeStreamChunk,
		DecodeError:     DecodeError,
		Model:           refineModel,
	})
	for _, o := range opts {
		o(a)
	}
	return a
}

// ---- catalogue ----

type catalog struct {
	models map[string]messages.ModelInfo
}

// SetCatalog replaces the catalogue Check validates against; nil or empty
// turns the model checks off. Safe to call while requests are checked.
func (a *Adapter) SetCatalog(models []messages.ModelInfo) {
	if len(models) == 0 {
		a.catalog.Store(nil)
		return
	}
	c := &catalog{models: make(map[string]messages.ModelInfo, len(models))}
	for _, m := range models {
		if m.Capabilities == nil {
			m.Capabilities = Capabilities(m.ID)
		}
		m.Capabilities = slices.Clone(m.Capabilities)
		c.models[m.ID] = m
	}
	a.catalog.Store(c)
}

// Catalog returns the catalogue, sorted by model ID; nil when none is set.
func (a *Adapter) Catalog() []messages.ModelInfo {
	c := a.catalog.Load()
	if c == nil {
		return nil
	}
	out := make([]messages.ModelInfo, 0, len(c.models))
	for _, m := range c.models {
		out = append(out, m)
	}
	slices.SortFunc(out, func(x, y messages.ModelInfo) int { return strings.Compare(x.ID, y.ID) })
	return out
}

// Capability names Groq models are given.
const (
	CapChat          = "chat"
	CapTools         = "tools"
	CapVision        = "vision"
	CapTranscription = "transcription"
	CapSpeech        = "speech"
)

// Capabilities derives what a Groq model supports from its ID, since Groq's
// model list does not say: Whisper models transcribe; TTS models speak;
// Llama Guard and Prompt Guard classify chats but take no tools; Llama 4
// Scout and Maverick and any "vision" model chat with tools and images;
// every other model chats with tools (Groq's documented tool-use support).
func Capabilities(id string) []string {
	l := strings.ToLower(id)
	switch {
	case strings.Contains(l, "whisper"):
		return []string{CapTranscription}
	case strings.Contains(l, "tts"):
		return []string{CapSpeech}
	case strings.Contains(l, "guard"):
		return []string{CapChat}
	case strings.Contains(l, "vision"), strings.Contains(l, "llama-4-scout"), strings.Contains(l, "llama-4-maverick"):
		return []string{CapChat, CapTools, CapVision}
	}
	return []string{CapChat, CapTools}
}

// refineModel is the dialect's Model hook: capabilities from the ID,
// nothing for an inactive model.
func refineModel(raw map[string]json.RawMessage, m *messages.ModelInfo) {
	var active *bool
	if json.Unmarshal(raw["active"], &active) == nil && active != nil && !*active {
		m.Capabilities = []string{}
		return
	}
	m.Capabilities = Capabilities(m.ID)
}

// ---- checks ----

func (a *Adapter) check(req messages.Request) error {
	r, ok := req.(*messages.ChatRequest)
	if !ok {
		return nil
	}
	if len(r.Stop) > MaxStop {
		return openai.Invalid(Kind, req, "%d stop sequences exceed Groq's limit of %d", len(r.Stop), MaxStop)
	}
	if len(r.Tools) > MaxTools {
		return openai.Invalid(Kind, req, "%d tools exceed Groq's limit of %d", len(r.Tools), MaxTools)
	}
	images := 0
	for _, m := range r.Messages {
		for _, p := range m.Parts {
			if p.Type == messages.PartImage {
				images++
			}
		}
	}
	if images > MaxImages {
		return openai.Invalid(Kind, req, "%d images exceed Groq's limit of %d per request", images, MaxImages)
	}
	c := a.catalog.Load()
	if c == nil {
		return nil
	}
	m, ok := c.models[r.Model]
	if !ok {
		return openai.Invalid(Kind, req, "model %q is not in the Groq catalogue", r.Model)
	}
	if active, ok := m.Details["active"].(bool); ok && !active {
		return openai.Invalid(Kind, req, "model %q is not active", r.Model)
	}
	if !slices.Contains(m.Capabilities, CapChat) {
		return openai.Invalid(Kind, req, "model %q does not do chat completions (it supports %s)", r.Model, capList(m.Capabilities))
	}
	if len(r.Tools) > 0 && !slices.Contains(m.Capabilities, CapTools) {
		return openai.Invalid(Kind, req, "model %q does not support tools", r.Model)
	}
	if images > 0 && !slices.Contains(m.Capabilities, CapVision) {
		return openai.Invalid(Kind, req, "model %q does not accept images", r.Model)
	}
	if limit := detailInt(m.Details, "max_completion_tokens"); limit > 0 && r.MaxTokens > limit {
		return openai.Invalid(Kind, req, "MaxTokens %d exceeds model %q's max_completion_tokens %d", r.MaxTokens, r.Model, limit)
	}
	return nil
}

func capList(caps []string) string {
	if len(caps) == 0 {
		return "nothing"
	}
	return strings.Join(caps, ", ")
}

// detailInt reads a number from Details as decoded JSON (float64) or as set
// by a caller (int, int64); 0 when absent.
func detailInt(d map[string]any, k string) int {
	switch v := d[k].(type) {
	case float64:
		if v > 0 && v < 1<<31 {
			return int(v)
		}
	case int:
		return v
	case int64:
		if v > 0 && v < 1<<31 {
			return int(v)
		}
	case json.Number:
		n, err := v.Int64()
		if err == nil && n > 0 && n < 1<<31 {
			return int(n)
		}
	}
	return 0
}

// String describes the adapter for logs.
func (a *Adapter) String() string {
	n := 0
	if c := a.catalog.Load(); c != nil {
		n = len(c.models)
	}
	return fmt.Sprintf("groq adapter (%d catalogued models)", n)
}
