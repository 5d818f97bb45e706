package providertest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/sim"
)

// RefusedBeforeSending checks that a refuses call's request before anything
// is sent: Check answers a *messages.RequestError matching
// messages.ErrInvalidRequest whose detail names field, and Do fails the call
// as ClassInvalid, not retryable, with no request reaching srv. It returns
// Do's error for further checks.
func RefusedBeforeSending(t *testing.T, a providers.Adapter, srv *sim.Server, call *providers.Call, field string) *messages.UpstreamError {
	t.Helper()
	err := a.Check(call.Request)
	var re *messages.RequestError
	require.ErrorAs(t, err, &re)
	assert.ErrorIs(t, err, messages.ErrInvalidRequest)
	assert.Contains(t, re.Detail, field, "the error names the field")

	_, err = Do(t, a, call)
	var ue *messages.UpstreamError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, messages.ClassInvalid, ue.Class)
	assert.False(t, ue.Retryable())
	assert.Zero(t, srv.Calls(), "nothing may reach the upstream")
	return ue
}
