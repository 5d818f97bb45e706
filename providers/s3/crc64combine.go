package s3

// crc64Combine returns the CRC-64/NVME of the concatenation A‖B given
// crcA = CRC(A), crcB = CRC(B) and lenB = len(B), without reading the
// bytes again: zlib's crc32_combine, widened to 64 bits. Appending lenB
// zero bytes to A is a linear map over GF(2), built here by squaring the
// one-zero-bit operator; the pre- and post-conditioning of the CRC (all
// ones in and out) cancel, so the finished CRCs combine directly. It costs
// about 64×64 word operations per bit of lenB.
func crc64Combine(crcA, crcB uint64, lenB int64) uint64 {
	if lenB <= 0 {
		return crcA
	}
	var even, odd [64]uint64
	// The operator for one zero bit: shift right, and reduce by the
	// reflected polynomial when the bit shifted out was set.
	odd[0] = crc64NVMEPoly
	row := uint64(1)
	for n := 1; n < 64; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four zero bits
	for {
		gf2Square(&even, &odd) // eight, then 32, 128, … zero bits
		if lenB&1 != 0 {
			crcA = gf2Times(&even, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
		gf2Square(&odd, &even) // 16, then 64, 256, … zero bits
		if lenB&1 != 0 {
			crcA = gf2Times(&odd, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

// crc64NVMEPoly is CRC-64/NVME's polynomial, bit-reflected (crc64nvme.NVME).
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

// gf2Times applies the 64×64 GF(2) matrix m (one column per word) to v.
func gf2Times(m *[64]uint64, v uint64) uint64 {
	var sum uint64
	for i := 0; v != 0; i, v = i+1, v>>1 {
		if v&1 != 0 {
			sum ^= m[i]
		}
	}
	return sum
}

// gf2Square sets sq to m·m.
func gf2Square(sq, m *[64]uint64) {
	for n := range m {
		sq[n] = gf2Times(m, m[n])
	}
}
