package messages

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestForRequestGivesEachRequestItsOwnID(t *testing.T) {
	for _, err := range []error{
		&UpstreamError{RequestID: "batch", Status: 503},
		&QueueFullError{RequestID: "batch"},
		&CircuitOpenError{RequestID: "batch"},
		&RateLimitedError{RequestID: "batch"},
		&RequestError{RequestID: "batch", Kind: ErrDeadline},
	} {
		got := ForRequest(err, "member")
		if !assert.False(t, got == err, "%T: ForRequest returned the original, want a copy", err) {
			continue
		}
		assert.Contains(t, got.Error(), "request_id=member", "%T: the copy does not name the member", err)
		assert.Contains(t, err.Error(), "request_id=batch", "%T: the original was changed", err)
	}
	plain := errors.New("plain")
	assert.True(t, ForRequest(plain, "member") == plain, "an error without a request ID is not returned as it is")
}
