package switchyard

import (
	"fmt"
	"time"

	"github.com/switchyard-ai/switchyard/actors"
)

// BatchingConfig configures a provider's batching windows: requests of one
// operation, model and options share one upstream call (embeddings, and
// rerankings of the same query, on every backend whose API takes a list).
// In the default adaptive mode a request that finds no call of its shape
// pending goes at once, and the requests that arrive while one is pending
// share the next call; in fixed mode requests that arrive within Delay of
// each other share one. Batching is on by default wherever the backend can
// batch; the zero value means: adaptive, up to 32 inputs (fewer where the
// backend allows fewer), no token limit beyond the backend's, a 2 ms cap
// on the wait, and a HIGH request flushes its window at once.
type BatchingConfig struct {
	// Disabled turns batching off for every model of the provider (a model
	// entry may turn it back on).
	Disabled    bool `yaml:"disabled" json:"disabled"`
	BatchLimits `yaml:",inline" json:",inline"`
	// Models overrides the settings above for one model each; its zero
	// fields inherit the provider's.
	Models map[string]ModelBatching `yaml:"models" json:"models"`
}

// BatchMode is when a batching window sends what it holds, besides being
// full: BatchAdaptive or BatchFixed.
type BatchMode string

// Batching modes.
const (
	// BatchAdaptive (the default, also "") sends a request at once when no
	// call of its shape (provider, operation, model, options, pins) is
	// pending upstream or in the queue, and gathers the requests that
	// arrive while one is into the next call, sent when a call of the shape
	// ends (as TEI and vLLM batch on the server). Delay caps the wait.
	BatchAdaptive BatchMode = "adaptive"
	// BatchFixed holds every window for Delay after its first request,
	// whatever the load: at low load each request waits the full Delay.
	BatchFixed BatchMode = "fixed"
)

// BatchLimits are a window's flush limits.
type BatchLimits struct {
	// Mode is when a window flushes besides being full: "adaptive" (the
	// default) or "fixed".
	Mode BatchMode `yaml:"mode" json:"mode"`
	// MaxInputs flushes a window when it holds this many inputs (default
	// 32; the backend's own limit wins when it is lower).
	MaxInputs int `yaml:"max_inputs" json:"max_inputs"`
	// MaxTokens flushes a window before its estimated input tokens (four
	// bytes a token) would pass this; 0 is the backend's limit only.
	MaxTokens int `yaml:"max_tokens" json:"max_tokens"`
	// Delay flushes a window this long after its first request (default
	// 2 ms): in fixed mode every window waits it; in adaptive mode it caps
	// the wait for a pending call of the window's shape to end.
	Delay time.Duration `yaml:"delay" json:"delay"`
	// HoldHigh makes HIGH requests wait for the window too.
	HoldHigh bool `yaml:"hold_high" json:"hold_high"`
}

// ModelBatching is one model's batching settings.
type ModelBatching struct {
	// Enabled, when set, turns batching on or off for this model.
	Enabled     *bool `yaml:"enabled" json:"enabled"`
	BatchLimits `yaml:",inline" json:",inline"`
}

func (l BatchLimits) validate(f string) error {
	switch {
	case l.Mode != "" && l.Mode != BatchAdaptive && l.Mode != BatchFixed:
		return &ConfigError{Field: f + ".mode", Reason: fmt.Sprintf("unknown mode %q (adaptive, fixed)", l.Mode)}
	case l.MaxInputs < 0:
		return &ConfigError{Field: f + ".max_inputs", Reason: "must not be negative"}
	case l.MaxTokens < 0:
		return &ConfigError{Field: f + ".max_tokens", Reason: "must not be negative"}
	case l.Delay < 0:
		return &ConfigError{Field: f + ".delay", Reason: "must not be negative"}
	case l.Delay > time.Second:
		return &ConfigError{Field: f + ".delay", Reason: fmt.Sprintf("%v is longer than a batching window should be (at most 1s)", l.Delay)}
	}
	return nil
}

func (b *BatchingConfig) validate(f string) error {
	if err := b.BatchLimits.validate(f); err != nil {
		return err
	}
	for model, m := range b.Models {
		if err := m.validate(fmt.Sprintf("%s.models[%q]", f, model)); err != nil {
			return err
		}
	}
	return nil
}

// policy turns the config into the dispatcher's per-model policy.
func (b *BatchingConfig) policy() actors.BatchPolicy {
	conv := func(disabled bool, l BatchLimits) actors.BatchConfig {
		mode := actors.BatchAdaptive
		if l.Mode == BatchFixed {
			mode = actors.BatchFixed
		}
		return actors.BatchConfig{Disabled: disabled, Mode: mode, MaxInputs: l.MaxInputs, MaxTokens: l.MaxTokens, Delay: l.Delay, HoldHigh: l.HoldHigh}
	}
	p := actors.BatchPolicy{Default: conv(b.Disabled, b.BatchLimits)}
	if len(b.Models) > 0 {
		p.Models = map[string]actors.BatchConfig{}
		for model, m := range b.Models {
			l := m.BatchLimits
			if l.MaxInputs == 0 {
				l.MaxInputs = b.MaxInputs
			}
			if l.MaxTokens == 0 {
				l.MaxTokens = b.MaxTokens
			}
			if l.Delay == 0 {
				l.Delay = b.Delay
			}
			if l.Mode == "" {
				l.Mode = b.Mode
			}
			l.HoldHigh = l.HoldHigh || b.HoldHigh
			disabled := b.Disabled
			if m.Enabled != nil {
				disabled = !*m.Enabled
			}
			p.Models[model] = conv(disabled, l)
		}
	}
	return p
}
