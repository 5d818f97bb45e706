// Package fleettest holds the fleet's multi-process test: three members,
// each a process of its own (internal/fleetnode), on a real etcd server
// (bin/etcd, make tools-etcd) and an OpenAI simulator that records every
// request. The test carries the build tag fleetprocs, so plain go test
// does not run it:
//
//	make tools-etcd
//	go test -tags fleetprocs -count=1 -timeout 20m -run FleetProcesses ./fleettest/
//
// ETCD=/path/to/etcd overrides bin/etcd. The package has no code of its
// own outside the test.
package fleettest
