// Package vectorindex is the nearest-neighbour index of Switchyard's semantic
// cache: given a query embedding it finds the stored embedding with the
// highest cosine similarity, provided that similarity reaches a threshold.
//
// # Design
//
// Search is approximate and runs in two stages; SearchExact is the exact
// linear scan it is measured against.
//
//  1. Signatures. Every vector gets a 256-bit sign-random-projection (SRP)
//     signature: bit j is the sign of the vector's projection on direction
//     j. Two vectors at angle θ differ in each bit with probability θ/π, so
//     the Hamming distance between signatures estimates the angle. The
//     directions are not a dense Gaussian matrix (256×768 multiply-adds per
//     vector would make inserts and queries slow) but the rows of a
//     pseudo-random rotation HD₃HD₂HD₁: the vector is zero-padded to a power
//     of two p ≥ max(dim, 256), and three times multiplied by a random ±1
//     diagonal D and put through a fast Walsh–Hadamard transform H; the signs
//     of the first 256 outputs are the signature. This costs 3·p·log₂p
//     additions instead of 256·dim multiply-adds (≈6× fewer at dim 768), and
//     orthogonal rows estimate angles with lower variance than independent
//     ones ("super-bit" LSH). The diagonals come from a PRNG with a fixed
//     seed, so signatures, and therefore results, are deterministic.
//  2. Candidates. A query's signature is compared with all stored ones, a
//     flat []uint64 of 4 words per entry scanned with XOR and popcount. The
//     (at most) 128 entries with the smallest Hamming distance are kept in a
//     fixed-size max-heap. Entries whose distance exceeds a bound derived
//     from the threshold are skipped outright: for cosine t the expected
//     distance is 256·acos(t)/π, and the bound adds 7 standard deviations of
//     the binomial plus 8 bits, so a vector that reaches the threshold is
//     practically never dropped here, while unrelated vectors (distance
//     ≈128±8) are, and a miss costs little more than the scan.
//  3. Re-ranking. The candidates' exact cosines are computed from the stored
//     normalised float32 vectors; the best one at or above the threshold
//     wins. The similarity Search reports is therefore always the exact
//     cosine of the returned vector (the same number SearchExact reports for
//     it), so Search never reports a hit below the threshold; its only error
//     is an occasional miss or a second-best hit.
//
// In the high-similarity regime a cache uses (threshold ≥ 0.9) the true
// neighbour's distance (≈37 bits at 0.9, ≈26 at 0.95) is far below that of
// unrelated vectors, and recall against SearchExact is ≥ 0.99.
//
// # Storage
//
// Vectors are stored normalised in fixed chunks of 256 vectors (so growing
// the index never copies the whole slab and no more than one chunk is
// allocated ahead), signatures in one flat slice, and a map from id to slot.
// Remove moves the last entry into the freed slot (swap-with-last), so
// inserts and deletes are O(dim) plus one signature computation for Add, and
// the arrays stay dense for the scan. Memory per entry is 4·dim bytes of
// vector, 32 of signature, 8 of id and about 28 of map (see BytesPerEntry).
//
// # Performance
//
// Measured on a 2-core AMD EPYC (GOAMD64=v1), threshold 0.95, half the
// queries near duplicates and half misses (BenchmarkLatency):
//
//	n        dim  Search p50/p99   SearchExact p50   recall  build
//	10 000   384   20 µs / 38 µs    0.95 ms          1.000   0.05 s
//	10 000   768   23 µs / 36 µs    1.9 ms           1.000   0.09 s
//	100 000  384  156 µs / 194 µs   9.9 ms           1.000   0.5 s
//	100 000  768  161 µs / 201 µs   20 ms            1.000   1.4 s
//
// The Hamming scan dominates (≈1.5 ns per entry); building with GOAMD64=v2 or
// higher makes it ≈1.5× faster, because popcount then needs no CPU check.
// Add costs one normalisation and one signature (≈4 µs at dim 384, 8 µs at
// 768, including the Remove of an LRU step).
//
// Search and SearchExact do not allocate: they use scratch buffers owned by
// the Index. An Index is therefore not safe for concurrent use, not even for
// concurrent searches; the semantic-cache actor owns it.
package vectorindex
