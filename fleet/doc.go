// Package fleet shares Switchyard's per-key budgets across the daemons of a
// fleet through a proto.actor cluster (see docs/fleet.md).
//
// A key's fleet-wide rpm and tpm are held by one virtual actor of kind
// BudgetKind (identity "provider/endpoint/key-label"), placed by the
// cluster's identity lookup. Each node holds a Leaser per key: it leases
// blocks of permits from that grain in the background, so that taking a
// permit is local, and falls back to a fair share of the limits (limit /
// live members) when the grain cannot be reached in a bounded time.
package fleet
