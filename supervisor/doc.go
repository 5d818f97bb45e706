// Package supervisor assembles Switchyard's supervision tree and holds its
// restart policies:
//
//	root
//	├── dispatcher
//	└── providers
//	    └── provider "openai"           supervises its breakers (actors.Provider.HandleFailure)
//	        └── breaker "openai/primary" supervises its keys (actors.Breaker.HandleFailure)
//	            └── key "prod-1"
//
// The root restarts the dispatcher and the providers node when they crash
// (their state is durable, held by their producers); Backoff decides how long
// a tripped breaker stays OPEN before its provider restarts it into
// HALF-OPEN.
package supervisor
