package actors

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// batchShape describes a request that may join a batching window: the key
// of the requests it can share one upstream call with, its model, and its
// size in inputs and estimated tokens.
type batchShape struct {
	key    string
	model  string
	inputs int
	tokens int
}

// shapeOf returns the batch shape of req, or false for requests no window
// takes: operations without a list (chat, generate, …) and lists the
// adapter cannot merge. Requests merge only with requests of the same
// provider, operation, model, options and pins.
func shapeOf(req messages.Request) (batchShape, bool) {
	var b strings.Builder
	call := req.CallInfo()
	var s batchShape
	switch r := req.(type) {
	case *messages.EmbedRequest:
		if len(r.Inputs) == 0 {
			return s, false
		}
		b.WriteString("embed\x00")
		writeKeyPart(&b, r.Model)
		writeKeyPart(&b, strconv.Itoa(r.Dimensions))
		writeKeyPart(&b, optBool(r.Normalize))
		writeKeyPart(&b, optBool(r.Truncate))
		writeKeyPart(&b, strconv.FormatBool(r.Sparse))
		writeKeyPart(&b, r.TaskType)
		s.model, s.inputs = r.Model, len(r.Inputs)
		for _, in := range r.Inputs {
			s.tokens += providers.EstimateTokens(in)
		}
	case *messages.RerankRequest:
		if len(r.Documents) == 0 {
			return s, false
		}
		// Only rerankings of the same query can share a call.
		b.WriteString("rerank\x00")
		writeKeyPart(&b, r.Model)
		writeKeyPart(&b, r.Query)
		writeKeyPart(&b, strconv.FormatBool(r.ReturnDocuments))
		s.model, s.inputs = r.Model, len(r.Documents)
		q := providers.EstimateTokens(r.Query)
		for _, d := range r.Documents {
			s.tokens += q + providers.EstimateTokens(d)
		}
	default:
		return s, false
	}
	writeKeyPart(&b, call.Provider)
	writeKeyPart(&b, call.Endpoint)
	writeKeyPart(&b, call.Key)
	s.key = b.String()
	return s, true
}

// writeKeyPart appends a length-prefixed field, so no two different field
// lists produce the same key.
func writeKeyPart(b *strings.Builder, s string) {
	b.WriteString(strconv.Itoa(len(s)))
	b.WriteByte(':')
	b.WriteString(s)
}

func optBool(p *bool) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatBool(*p)
}

// mergeBatch builds the one request a batch sends upstream: the members'
// inputs in member order, under the batch's own call (request ID, priority,
// deadline). All members share a shape, so the first one's options apply.
func mergeBatch(call messages.Call, members []*entry) messages.Request {
	switch first := members[0].req.(type) {
	case *messages.EmbedRequest:
		out := *first
		out.Call = call
		n := 0
		for _, m := range members {
			n += len(m.req.(*messages.EmbedRequest).Inputs)
		}
		out.Inputs = make([]string, 0, n)
		for _, m := range members {
			out.Inputs = append(out.Inputs, m.req.(*messages.EmbedRequest).Inputs...)
		}
		return &out
	case *messages.RerankRequest:
		out := *first
		out.Call = call
		out.TopN = 0 // every member needs all of its documents scored
		n := 0
		for _, m := range members {
			n += len(m.req.(*messages.RerankRequest).Documents)
		}
		out.Documents = make([]string, 0, n)
		for _, m := range members {
			out.Documents = append(out.Documents, m.req.(*messages.RerankRequest).Documents...)
		}
		return &out
	}
	panic(fmt.Sprintf("switchyard: no batch merge for %T", members[0].req))
}

// splitBatch gives each member its part of the batch's answer, in member
// order. Usage is shared out by each member's share of the estimated input
// tokens, so the parts add up to what the upstream reported. An answer that
// does not hold exactly one result per input is a malformed answer for
// every member.
func splitBatch(resp messages.Response, members []*entry) ([]messages.Response, error) {
	sizes := make([]int, len(members))
	tokens := make([]int, len(members))
	for i, m := range members {
		sizes[i], tokens[i] = int(m.inputs), int(m.tokens)
	}
	switch r := resp.(type) {
	case *messages.EmbedResponse:
		total := 0
		for _, n := range sizes {
			total += n
		}
		sparse := members[0].req.(*messages.EmbedRequest).Sparse
		if got := len(r.Vectors); !sparse && got != total {
			return nil, fmt.Errorf("batched answer has %d vectors for %d inputs", got, total)
		}
		if got := len(r.Sparse); sparse && got != total {
			return nil, fmt.Errorf("batched answer has %d sparse vectors for %d inputs", got, total)
		}
		usage := shareUsage(r.Usage, tokens)
		out := make([]messages.Response, len(members))
		off := 0
		for i, n := range sizes {
			part := &messages.EmbedResponse{Meta: r.Meta, Model: r.Model, Usage: usage[i]}
			if sparse {
				part.Sparse = r.Sparse[off : off+n : off+n]
			} else {
				part.Vectors = r.Vectors[off : off+n : off+n]
			}
			out[i] = part
			off += n
		}
		return out, nil
	case *messages.RerankResponse:
		starts := make([]int, len(sizes)+1)
		for i, n := range sizes {
			starts[i+1] = starts[i] + n
		}
		parts := make([][]messages.RerankResult, len(members))
		seen := make([]bool, starts[len(sizes)])
		for _, res := range r.Results {
			if res.Index < 0 || res.Index >= len(seen) || seen[res.Index] {
				return nil, fmt.Errorf("batched rerank answer has an invalid or repeated index %d", res.Index)
			}
			seen[res.Index] = true
			i := memberOf(starts, res.Index)
			res.Index -= starts[i]
			parts[i] = append(parts[i], res)
		}
		usage := shareUsage(r.Usage, tokens)
		out := make([]messages.Response, len(members))
		for i, m := range members {
			p := parts[i]
			if len(p) != sizes[i] {
				return nil, fmt.Errorf("batched rerank answer scored %d of %d documents of one request", len(p), sizes[i])
			}
			if top := m.req.(*messages.RerankRequest).TopN; top > 0 && len(p) > top {
				p = p[:top]
			}
			out[i] = &messages.RerankResponse{Meta: r.Meta, Model: r.Model, Results: p, Usage: usage[i]}
		}
		return out, nil
	}
	return nil, fmt.Errorf("batched answer of unexpected type %T", resp)
}

// memberOf finds the member whose inputs start at or before index.
func memberOf(starts []int, index int) int {
	lo, hi := 0, len(starts)-2
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if starts[mid] <= index {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// shareUsage splits u by weights; the last share takes the rounding.
func shareUsage(u messages.Usage, weights []int) []messages.Usage {
	out := make([]messages.Usage, len(weights))
	sum := 0
	for _, w := range weights {
		sum += w
	}
	if sum == 0 {
		return out
	}
	in, outTok := u.InputTokens, u.OutputTokens
	for i, w := range weights[:len(weights)-1] {
		out[i].InputTokens = u.InputTokens * w / sum
		out[i].OutputTokens = u.OutputTokens * w / sum
		in -= out[i].InputTokens
		outTok -= out[i].OutputTokens
	}
	out[len(out)-1].InputTokens, out[len(out)-1].OutputTokens = in, outTok
	return out
}
