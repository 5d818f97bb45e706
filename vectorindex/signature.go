package vectorindex

import (
	"math"
	"math/bits"
	"math/rand/v2"
)

const (
	// sigBits is the length of a signature in bits.
	sigBits = 256
	// sigWords is the length of a signature in uint64 words.
	sigWords = sigBits / 64
	// rotationRounds is the number of HD (random sign flip, then
	// Walsh–Hadamard) rounds of the pseudo-random rotation.
	rotationRounds = 3
	// signSeed1 and signSeed2 seed the PRNG that draws the sign flips; fixed,
	// so signatures are the same in every process.
	signSeed1, signSeed2 = 0x5357_4954_4348_5944, 0x7665_6374_6f72_6978
)

// signature is a 256-bit sign-random-projection signature; bit j is set when
// the vector's projection on direction j is negative.
type signature [sigWords]uint64

// hamming returns the number of bits in which a and b differ.
func hamming(a, b *signature) int {
	return bits.OnesCount64(a[0]^b[0]) + bits.OnesCount64(a[1]^b[1]) +
		bits.OnesCount64(a[2]^b[2]) + bits.OnesCount64(a[3]^b[3])
}

// signer computes signatures for vectors of one dimension. The projection
// directions are the first 256 rows of the pseudo-random rotation
// H·D₃·H·D₂·H·D₁ of size p, p the smallest power of two ≥ max(dim, 256),
// where H is the (unnormalised) Walsh–Hadamard matrix and Dᵢ are diagonal
// ±1 matrices drawn from a fixed-seed PRNG. Not safe for concurrent use (buf
// is scratch).
type signer struct {
	dim   int
	flips []float32 // rotationRounds×p diagonal entries, each ±1
	buf   []float32 // scratch of length p
}

func newSigner(dim int) signer {
	p := sigBits
	for p < dim {
		p <<= 1
	}
	rng := rand.New(rand.NewPCG(signSeed1, signSeed2))
	flips := make([]float32, rotationRounds*p)
	for i := range flips {
		flips[i] = 1
		if rng.Uint64()&1 == 1 {
			flips[i] = -1
		}
	}
	return signer{dim: dim, flips: flips, buf: make([]float32, p)}
}

// sign stores the signature of v (length dim; the scale of v does not
// matter) in sig.
func (s *signer) sign(v []float32, sig *signature) {
	buf := s.buf
	p := len(buf)
	copy(buf, v[:s.dim])
	clear(buf[s.dim:])
	for r := 0; r < rotationRounds; r++ {
		flips := s.flips[r*p : (r+1)*p]
		flips = flips[:len(buf)]
		for i := range buf {
			buf[i] *= flips[i]
		}
		fwht(buf)
	}
	for w := range sig {
		out := buf[w*64 : w*64+64 : w*64+64]
		var word uint64
		for b, f := range out {
			word |= uint64(math.Float32bits(f)>>31) << b
		}
		sig[w] = word
	}
}

// fwht applies the unnormalised fast Walsh–Hadamard transform to x in place.
// len(x) must be a power of two ≥ 4. The first two levels are fused into one
// radix-4 pass, because their inner loops would be too short to run well.
func fwht(x []float32) {
	n := len(x)
	for i := 0; i+4 <= n; i += 4 {
		b := x[i : i+4 : i+4]
		a0, a1 := b[0]+b[1], b[0]-b[1]
		a2, a3 := b[2]+b[3], b[2]-b[3]
		b[0], b[1], b[2], b[3] = a0+a2, a1+a3, a0-a2, a1-a3
	}
	for h := 4; h < n; h <<= 1 {
		for i := 0; i < n; i += 2 * h {
			lo := x[i : i+h : i+h]
			hi := x[i+h : i+2*h : i+2*h]
			hi = hi[:len(lo)]
			for j, u := range lo {
				v := hi[j]
				lo[j], hi[j] = u+v, u-v
			}
		}
	}
}
