package switchyard

import (
	"fmt"
	"time"

	"github.com/switchyard-ai/switchyard/actors"
)

// BatchingConfig configures a provider's batching windows: requests of one
// operation, model and options that arrive within Delay of each other share
// one upstream call (embeddings, and rerankings of the same query, on every
// backend whose API takes a list). Batching is on by default wherever the
// backend can batch; the zero value means: up to 32 inputs (fewer where the
// backend allows fewer), no token limit beyond the backend's, a 2 ms window,
// and a HIGH request flushes its window at once.
type BatchingConfig struct {
	// Disabled turns batching off for every model of the provider (a model
	// entry may turn it back on).
	Disabled    bool `yaml:"disabled" json:"disabled"`
	BatchLimits `yaml:",inline" json:",inline"`
	// Models overrides the settings above for one model each; its zero
	// fields inherit the provider's.
	Models map[string]ModelBatching `yaml:"models" json:"models"`
}

// BatchLimits are a window's flush limits.
type BatchLimits struct {
	// MaxInputs flushes a window when it holds this many inputs (default
	// 32; the backend's own limit wins when it is lower).
	MaxInputs int `yaml:"max_inputs" json:"max_inputs"`
	// MaxTokens flushes a window before its estimated input tokens (four
	// bytes a token) would pass this; 0 is the backend's limit only.
	MaxTokens int `yaml:"max_tokens" json:"max_tokens"`
	// Delay flushes a window this long after its first request (default
	// 2 ms).
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
		return actors.BatchConfig{Disabled: disabled, MaxInputs: l.MaxInputs, MaxTokens: l.MaxTokens, Delay: l.Delay, HoldHigh: l.HoldHigh}
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
