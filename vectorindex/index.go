package vectorindex

import (
	"errors"
	"fmt"
	"math"
)

// Errors returned by Add; test with errors.Is.
var (
	// ErrDimension means the vector's length is not the index's dimension.
	ErrDimension = errors.New("vectorindex: wrong vector dimension")
	// ErrZeroVector means the vector has zero length (norm), so it has no
	// direction and no cosine similarity.
	ErrZeroVector = errors.New("vectorindex: zero vector")
	// ErrNonFinite means the vector contains a NaN or an infinity.
	ErrNonFinite = errors.New("vectorindex: vector contains NaN or Inf")
)

const (
	// chunkShift sets the storage chunk: vectors are stored in chunks of
	// 1<<chunkShift = 256 normalised vectors.
	chunkShift = 8
	chunkLen   = 1 << chunkShift
	chunkMask  = chunkLen - 1

	// mapBytesPerEntry estimates the id→slot map's memory per entry: a
	// 16-byte slot plus a control byte in a Swiss table whose load
	// factor lies between 7/16 and 7/8 (measured 24–32 bytes).
	mapBytesPerEntry = 28
)

// Index finds, among stored vectors, the one most similar (cosine) to a
// query, if it reaches a threshold. Search is approximate (see the package
// documentation for the design and its recall), SearchExact is an exact
// linear scan. Ids are arbitrary uint64 chosen by the caller.
//
// The zero value is not usable; call New. An Index is not safe for
// concurrent use (the cache actor owns it).
type Index struct {
	dim    int
	chunks [][]float32      // chunkLen normalised vectors each, slot-ordered
	sigs   []uint64         // sigWords per slot
	ids    []uint64         // slot → id
	slots  map[uint64]int32 // id → slot
	signer signer           // signature computation, with its scratch
	qn     []float32        // scratch: the normalised query
	heap   []uint64         // scratch: candidate max-heap, see search.go
}

// New returns an empty index for vectors of dim components. It panics if dim
// is not positive.
func New(dim int) *Index {
	if dim <= 0 {
		panic(fmt.Sprintf("vectorindex: New(%d): dimension must be positive", dim))
	}
	return &Index{
		dim:    dim,
		slots:  make(map[uint64]int32),
		signer: newSigner(dim),
		qn:     make([]float32, dim),
		heap:   make([]uint64, 0, candidates),
	}
}

// Dim returns the dimension of the vectors the index holds.
func (x *Index) Dim() int { return x.dim }

// Len returns the number of stored vectors.
func (x *Index) Len() int { return len(x.ids) }

// Add stores a normalised copy of vec under id, replacing the vector stored
// under id, if any. It returns an error wrapping ErrDimension, ErrZeroVector
// or ErrNonFinite, and leaves the index unchanged, if vec has the wrong
// length, is zero, or contains a NaN or an infinity.
func (x *Index) Add(id uint64, vec []float32) error {
	if len(vec) != x.dim {
		return fmt.Errorf("%w: got %d, want %d", ErrDimension, len(vec), x.dim)
	}
	inv, err := invNorm(vec)
	if err != nil {
		return err
	}
	slot, exists := x.slots[id]
	if !exists {
		slot = int32(len(x.ids))
		if int(slot)>>chunkShift == len(x.chunks) {
			x.chunks = append(x.chunks, make([]float32, chunkLen*x.dim))
		}
		x.ids = append(x.ids, id)
		x.sigs = append(x.sigs, 0, 0, 0, 0) // sigWords zeros, filled below
		x.slots[id] = slot
	}
	dst := x.vec(int(slot))
	for i, v := range vec {
		dst[i] = float32(float64(v) * inv)
	}
	var sig signature
	x.signer.sign(dst, &sig)
	copy(x.sigs[int(slot)*sigWords:], sig[:])
	return nil
}

// Remove deletes the vector stored under id and reports whether there was
// one. The last entry moves into the freed slot, so the storage stays dense;
// a trailing chunk is released once a whole spare chunk is empty.
func (x *Index) Remove(id uint64) bool {
	slot, ok := x.slots[id]
	if !ok {
		return false
	}
	delete(x.slots, id)
	last := len(x.ids) - 1
	if s := int(slot); s != last {
		moved := x.ids[last]
		copy(x.vec(s), x.vec(last))
		copy(x.sigs[s*sigWords:(s+1)*sigWords], x.sigs[last*sigWords:])
		x.ids[s] = moved
		x.slots[moved] = slot
	}
	x.ids = x.ids[:last]
	x.sigs = x.sigs[:last*sigWords]
	// Keep one empty chunk in reserve so that an LRU hovering around a
	// chunk boundary does not allocate and free a chunk on every call.
	for need := (last + chunkLen - 1) >> chunkShift; len(x.chunks) > need+1; {
		x.chunks[len(x.chunks)-1] = nil
		x.chunks = x.chunks[:len(x.chunks)-1]
	}
	return true
}

// BytesPerEntry returns the memory the index holds per stored vector in
// steady state: 4·dim bytes of normalised float32 vector, 32 bytes of
// signature, 8 bytes of id and an estimated 28 bytes of id→slot map. It
// excludes fixed costs (the sign flips and scratch buffers, a few KiB) and
// the slack of partly filled chunks and slices.
func (x *Index) BytesPerEntry() int {
	return 4*x.dim + 8*sigWords + 8 + mapBytesPerEntry
}

// vec returns the stored normalised vector in slot.
func (x *Index) vec(slot int) []float32 {
	off := (slot & chunkMask) * x.dim
	return x.chunks[slot>>chunkShift][off : off+x.dim : off+x.dim]
}

// invNorm returns 1/‖v‖, computed in float64 so that neither large
// components overflow nor tiny ones underflow, or an error if v is zero or
// not finite.
func invNorm(v []float32) (float64, error) {
	var ss float64
	for _, f := range v {
		ss += float64(f) * float64(f)
	}
	switch {
	case math.IsNaN(ss) || math.IsInf(ss, 0):
		return 0, ErrNonFinite
	case ss == 0:
		return 0, ErrZeroVector
	}
	return 1 / math.Sqrt(ss), nil
}
