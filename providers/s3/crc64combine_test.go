package s3

import (
	"math/rand/v2"
	"testing"

	"github.com/minio/crc64nvme"
	"github.com/stretchr/testify/require"
)

// TestCRC64Combine checks the combined CRC against the CRC of the
// concatenated bytes, for empty sides, odd lengths and part-sized ones.
func TestCRC64Combine(t *testing.T) {
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, tt := range []struct{ a, b int }{
		{0, 0}, {0, 1}, {1, 0}, {1, 1}, {7, 13}, {1000, 1}, {1, 1000}, {4096, 4096},
		{1 << 20, 1 << 20}, {1<<20 + 3, 2<<20 - 5},
	} {
		a, b := data[:tt.a], data[tt.a:tt.a+tt.b]
		want := crc64nvme.Checksum(data[:tt.a+tt.b])
		got := crc64Combine(crc64nvme.Checksum(a), crc64nvme.Checksum(b), int64(len(b)))
		require.Equal(t, want, got, "a=%d b=%d", tt.a, tt.b)
	}
	// Parts in order, as a multipart upload combines them.
	var whole uint64
	for off := 0; off < len(data); off += 700_001 {
		part := data[off:min(off+700_001, len(data))]
		if off == 0 {
			whole = crc64nvme.Checksum(part)
			continue
		}
		whole = crc64Combine(whole, crc64nvme.Checksum(part), int64(len(part)))
	}
	require.Equal(t, crc64nvme.Checksum(data), whole)
}

func FuzzCRC64Combine(f *testing.F) {
	f.Add([]byte("hello, "), []byte("world"))
	f.Add([]byte{}, []byte{0})
	f.Add([]byte{0xff, 0, 0xff}, []byte{})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		whole := crc64nvme.Checksum(append(append([]byte{}, a...), b...))
		require.Equal(t, whole, crc64Combine(crc64nvme.Checksum(a), crc64nvme.Checksum(b), int64(len(b))))
	})
}
