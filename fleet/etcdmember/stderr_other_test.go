//go:build !unix

package etcdmember

import "testing"

// quietStderr checks nothing where file descriptors cannot be redirected.
func quietStderr(*testing.T) {}
