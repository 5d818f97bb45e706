package vectorindex

import (
	"math"
	"math/bits"
)

const (
	// candidates is the number of entries, those with signatures nearest to
	// the query's, that Search re-ranks by exact cosine.
	candidates = 128
	// cutoffSigmas and cutoffSlack set the Hamming bound beyond which an
	// entry is not a candidate: the expected distance at the threshold plus
	// cutoffSigmas standard deviations plus cutoffSlack bits.
	cutoffSigmas = 7
	cutoffSlack  = 8
)

// Search returns the id and cosine similarity of the stored vector most
// similar to q, among those whose similarity is at least threshold, and
// ok=false if there is none. It is approximate: it may miss (or return the
// second best) with small probability, but the similarity it reports is the
// exact cosine of the returned vector, never below threshold. A query of the
// wrong length, a zero or non-finite query and a NaN threshold give
// ok=false. Equal similarities go to the smaller id (among the 128 candidates,
// which matters only for more than 128 identical vectors). Search does not
// allocate.
func (x *Index) Search(q []float32, threshold float32) (id uint64, similarity float32, ok bool) {
	if len(x.ids) == 0 || !(threshold <= 1) || !x.setQuery(q) {
		return 0, 0, false
	}
	var qs signature
	x.signer.sign(x.qn, &qs)
	q0, q1, q2, q3 := qs[0], qs[1], qs[2], qs[3]

	// Stage 1: Hamming scan into a max-heap of the nearest candidates. A
	// heap key is distance<<32 | slot, so the root is the worst candidate.
	limit := hammingCutoff(threshold) // accept distances ≤ limit
	heap := x.heap[:0]
	sigs := x.sigs
	for i, slot := 0, uint64(0); i+sigWords <= len(sigs); i, slot = i+sigWords, slot+1 {
		s := sigs[i : i+sigWords : i+sigWords]
		d := bits.OnesCount64(s[0]^q0) + bits.OnesCount64(s[1]^q1) +
			bits.OnesCount64(s[2]^q2) + bits.OnesCount64(s[3]^q3)
		if d > limit {
			continue
		}
		key := uint64(d)<<32 | slot
		if len(heap) < candidates {
			heap = heapPush(heap, key)
			if len(heap) < candidates {
				continue
			}
		} else {
			heap[0] = key
			heapDown(heap)
		}
		limit = int(heap[0]>>32) - 1 // full: only strictly nearer ones enter
	}
	x.heap = heap[:0]

	// Stage 2: exact cosine of the candidates.
	found := false
	for _, key := range heap {
		slot := int(uint32(key))
		sim := x.cosine(slot)
		if sim < threshold {
			continue
		}
		if cand := x.ids[slot]; !found || sim > similarity || sim == similarity && cand < id {
			id, similarity, found = cand, sim, true
		}
	}
	return id, similarity, found
}

// SearchExact is Search by exhaustive scan: it returns the id and cosine
// similarity of the stored vector most similar to q if that similarity is at
// least threshold. Ties go to the smaller id (as in Search). It is the
// reference for Search's recall and costs dim multiply-adds per entry.
// SearchExact does not allocate.
func (x *Index) SearchExact(q []float32, threshold float32) (id uint64, similarity float32, ok bool) {
	if len(x.ids) == 0 || !(threshold <= 1) || !x.setQuery(q) {
		return 0, 0, false
	}
	found := false
	for slot := range x.ids {
		sim := x.cosine(slot)
		if sim < threshold {
			continue
		}
		if cand := x.ids[slot]; !found || sim > similarity || sim == similarity && cand < id {
			id, similarity, found = cand, sim, true
		}
	}
	return id, similarity, found
}

// setQuery stores the normalised q in x.qn and reports whether q is a valid
// query (right length, non-zero, finite).
func (x *Index) setQuery(q []float32) bool {
	if len(q) != x.dim {
		return false
	}
	inv, err := invNorm(q)
	if err != nil {
		return false
	}
	qn := x.qn[:len(q)]
	for i, v := range q {
		qn[i] = float32(float64(v) * inv)
	}
	return true
}

// cosine returns the cosine similarity of the stored vector in slot and the
// current query, clamped to [-1, 1] against rounding.
func (x *Index) cosine(slot int) float32 {
	return min(max(dot(x.vec(slot), x.qn), -1), 1)
}

// hammingCutoff returns the largest signature distance at which a vector may
// still have cosine ≥ t with the query, up to a negligible probability: a
// pair at angle θ = acos(t) differs in each bit with probability θ/π, so the
// distance is (about) binomial(256, θ/π); the bound is its mean plus
// cutoffSigmas standard deviations plus cutoffSlack bits.
func hammingCutoff(t float32) int {
	if t <= -1 {
		return sigBits
	}
	p := math.Acos(float64(t)) / math.Pi
	bound := sigBits*p + cutoffSigmas*math.Sqrt(sigBits*p*(1-p)) + cutoffSlack
	return int(min(math.Ceil(bound), sigBits))
}

// heapPush adds key to the max-heap h, which must have spare capacity.
func heapPush(h []uint64, key uint64) []uint64 {
	h = append(h, key)
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if h[parent] >= h[i] {
			break
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
	return h
}

// heapDown restores the max-heap property of h after its root changed.
func heapDown(h []uint64) {
	for i := 0; ; {
		big := i
		if l := 2*i + 1; l < len(h) && h[l] > h[big] {
			big = l
		}
		if r := 2*i + 2; r < len(h) && h[r] > h[big] {
			big = r
		}
		if big == i {
			return
		}
		h[i], h[big] = h[big], h[i]
		i = big
	}
}
