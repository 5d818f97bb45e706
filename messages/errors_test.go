package messages

import (
	"errors"
	"strings"
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
		assert.False(t, got == err || !strings.Contains(got.Error(), "request_id=member") || !strings.Contains(err.Error(), "request_id=batch"), "%T: got %v from %v, want a copy naming the member and the original untouched", err, got, err)
	}
	plain := errors.New("plain")
	assert.True(t, ForRequest(plain, "member") == plain, "an error without a request ID is not returned as it is")
}
