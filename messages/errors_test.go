package messages

import (
	"errors"
	"strings"
	"testing"
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
		if got == err || !strings.Contains(got.Error(), "request_id=member") || !strings.Contains(err.Error(), "request_id=batch") {
			t.Errorf("%T: got %v from %v, want a copy naming the member and the original untouched", err, got, err)
		}
	}
	plain := errors.New("plain")
	if ForRequest(plain, "member") != plain {
		t.Error("an error without a request ID is not returned as it is")
	}
}
