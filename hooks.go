package switchyard

import "github.com/switchyard-ai/switchyard/actors"

// hooks are test-only fault injections, set by this package's tests.
type hooksField = *actors.Hooks
