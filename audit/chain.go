package audit

import (
	"crypto/sha256"
	"encoding/hex"
)

// chain is the head of a log's hash chain: the last record's Seq and Hash
// (0 and "" before the first record). It is not safe for concurrent use.
type chain struct {
	seq  uint64
	hash string
}

// seal makes r the chain's next record — it sets r.Seq, r.Prev and r.Hash —
// appends r's line (without newline) to dst, and advances the chain.
func (c *chain) seal(dst []byte, r *Record) []byte {
	r.Seq, r.Prev = c.seq+1, c.hash
	start := len(dst)
	dst = appendBody(dst, r)
	sum := sha256.Sum256(dst[start:])
	r.Hash = hex.EncodeToString(sum[:])
	dst = append(dst, hashField...)
	dst = append(dst, r.Hash...)
	dst = append(dst, `"}`...)
	c.seq, c.hash = r.Seq, r.Hash
	return dst
}
