package anthropic

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
)

// TestNewHostedNeedsItsFields: a Hosting without Kind, Version or ChatPath
// is a programming error.
func TestNewHostedNeedsItsFields(t *testing.T) {
	path := func(string, bool) string { return "/x" }
	tests := []struct {
		name string
		h    Hosting
	}{
		{"no kind", Hosting{Version: "v", ChatPath: path}},
		{"no version", Hosting{Kind: "k", ChatPath: path}},
		{"no chat path", Hosting{Kind: "k", Version: "v"}},
	}
	for _, tt := range tests {
		assert.Panics(t, func() { NewHosted(tt.h) }, tt.name)
	}
}

// TestHostedKindAndOperations: a hosted adapter names its kind and serves
// count_tokens only when the hosting counts tokens.
func TestHostedKindAndOperations(t *testing.T) {
	chat := &messages.ChatRequest{Model: "m", Messages: []messages.Message{user("hi")}}
	count := &messages.CountTokensRequest{Chat: *chat}
	a := NewHosted(Hosting{Kind: "claude_somewhere", Version: "v1", ChatPath: func(string, bool) string { return "/chat" }})
	assert.Equal(t, "claude_somewhere", a.Kind())
	require.NoError(t, a.Check(chat))
	err := a.Check(count)
	require.ErrorIs(t, err, messages.ErrUnsupported)
	assert.Contains(t, err.Error(), "claude_somewhere")
	counting := NewHosted(Hosting{Kind: "k", Version: "v1", ChatPath: func(string, bool) string { return "/chat" },
		CountTokensPath: func(string) string { return "/count" }})
	require.NoError(t, counting.Check(count))
	assert.Equal(t, "anthropic", New().Kind())
	require.NoError(t, New().Check(count))
}
