//go:build !race

package vectorindex

// raceEnabled shrinks the heavy tests under the race detector, which slows
// the arithmetic loops by an order of magnitude.
const raceEnabled = false
