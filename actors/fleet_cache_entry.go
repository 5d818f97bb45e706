package actors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/switchyard-ai/switchyard/messages"
)

// fleetEntryVersion is the version of the encoding of entries shared with
// the fleet; an entry of another version is a miss.
const fleetEntryVersion = 1

// fleetEntry is an answer the exact layer shares with the fleet: JSON with
// a version, the response kind as a tag and that kind's fields, plus the
// stream chunks of a streamed answer. Its own types, not the messages
// types, so that a change to those cannot silently change the encoding.
// The request-specific meta (request ID, attempts, queueing, latency,
// cached, similarity) is not shared: a hit sets its own.
type fleetEntry struct {
	V        int            `json:"v"`
	Kind     string         `json:"kind"`
	Meta     fleetMeta      `json:"meta"`
	Chat     *fleetChat     `json:"chat,omitempty"`
	Generate *fleetGenerate `json:"generate,omitempty"`
	Embed    *fleetEmbed    `json:"embed,omitempty"`
	Rerank   *fleetRerank   `json:"rerank,omitempty"`
	Chunks   []fleetChunk   `json:"chunks,omitempty"`
}

// The response kinds the exact layer stores.
const (
	fleetKindChat     = "chat"
	fleetKindGenerate = "generate"
	fleetKindEmbed    = "embed"
	fleetKindRerank   = "rerank"
)

type fleetMeta struct {
	UpstreamRequestID string `json:"upstream_request_id,omitempty"`
	Provider          string `json:"provider,omitempty"`
	Endpoint          string `json:"endpoint,omitempty"`
	Key               string `json:"key,omitempty"`
	BatchID           string `json:"batch_id,omitempty"`
	BatchSize         int    `json:"batch_size,omitempty"`
}

type fleetUsage struct {
	Input      int `json:"input"`
	Output     int `json:"output"`
	CacheRead  int `json:"cache_read,omitempty"`
	CacheWrite int `json:"cache_write,omitempty"`
}

type fleetToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments,omitempty"`
}

type fleetChat struct {
	ID              string          `json:"id,omitempty"`
	Model           string          `json:"model,omitempty"`
	Content         string          `json:"content,omitempty"`
	ToolCalls       []fleetToolCall `json:"tool_calls,omitempty"`
	FinishReason    string          `json:"finish_reason,omitempty"`
	RawFinishReason string          `json:"raw_finish_reason,omitempty"`
	Usage           fleetUsage      `json:"usage"`
	BlockReason     string          `json:"block_reason,omitempty"`
}

type fleetGenerate struct {
	Model           string     `json:"model,omitempty"`
	Text            string     `json:"text,omitempty"`
	FinishReason    string     `json:"finish_reason,omitempty"`
	RawFinishReason string     `json:"raw_finish_reason,omitempty"`
	Usage           fleetUsage `json:"usage"`
}

type fleetSparse struct {
	Index int     `json:"i"`
	Value float32 `json:"v"`
}

type fleetEmbed struct {
	Model   string          `json:"model,omitempty"`
	Vectors [][]float32     `json:"vectors,omitempty"`
	Sparse  [][]fleetSparse `json:"sparse,omitempty"`
	Usage   fleetUsage      `json:"usage"`
}

type fleetRerankResult struct {
	Index    int     `json:"index"`
	Score    float64 `json:"score"`
	Document string  `json:"document,omitempty"`
}

type fleetRerank struct {
	Model   string              `json:"model,omitempty"`
	Results []fleetRerankResult `json:"results,omitempty"`
	Usage   fleetUsage          `json:"usage"`
}

type fleetToolDelta struct {
	Index     int    `json:"index"`
	ID        string `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments,omitempty"`
}

type fleetChunk struct {
	Seq      int             `json:"seq"`
	Type     string          `json:"type"`
	Text     string          `json:"text,omitempty"`
	ToolCall *fleetToolDelta `json:"tool_call,omitempty"`
	Usage    *fleetUsage     `json:"usage,omitempty"`
	Event    string          `json:"event,omitempty"`
}

func toFleetUsage(u messages.Usage) fleetUsage {
	return fleetUsage{Input: u.InputTokens, Output: u.OutputTokens, CacheRead: u.CacheReadTokens, CacheWrite: u.CacheWriteTokens}
}

func (u fleetUsage) usage() messages.Usage {
	return messages.Usage{InputTokens: u.Input, OutputTokens: u.Output, CacheReadTokens: u.CacheRead, CacheWriteTokens: u.CacheWrite}
}

// encodeFleetEntry encodes a stored answer and its chunks; ok is false for
// an answer it cannot share (another response type, a chunk kind the
// exact layer never stores, a value JSON cannot hold such as NaN).
func encodeFleetEntry(resp messages.Response, chunks []*messages.StreamChunk) ([]byte, bool) {
	m := resp.ResponseMeta()
	e := fleetEntry{V: fleetEntryVersion, Meta: fleetMeta{UpstreamRequestID: m.UpstreamRequestID, Provider: m.Provider,
		Endpoint: m.Endpoint, Key: m.Key, BatchID: m.BatchID, BatchSize: m.BatchSize}}
	switch r := resp.(type) {
	case *messages.ChatResponse:
		e.Kind = fleetKindChat
		c := &fleetChat{ID: r.ID, Model: r.Model, Content: r.Content, FinishReason: r.FinishReason,
			RawFinishReason: r.RawFinishReason, Usage: toFleetUsage(r.Usage), BlockReason: r.BlockReason}
		for _, tc := range r.ToolCalls {
			c.ToolCalls = append(c.ToolCalls, fleetToolCall{ID: tc.ID, Name: tc.Name, Arguments: string(tc.Arguments)})
		}
		e.Chat = c
	case *messages.GenerateResponse:
		e.Kind = fleetKindGenerate
		e.Generate = &fleetGenerate{Model: r.Model, Text: r.Text, FinishReason: r.FinishReason,
			RawFinishReason: r.RawFinishReason, Usage: toFleetUsage(r.Usage)}
	case *messages.EmbedResponse:
		e.Kind = fleetKindEmbed
		em := &fleetEmbed{Model: r.Model, Vectors: r.Vectors, Usage: toFleetUsage(r.Usage)}
		for _, sv := range r.Sparse {
			row := make([]fleetSparse, len(sv))
			for i, v := range sv {
				row[i] = fleetSparse{Index: v.Index, Value: v.Value}
			}
			em.Sparse = append(em.Sparse, row)
		}
		e.Embed = em
	case *messages.RerankResponse:
		e.Kind = fleetKindRerank
		rr := &fleetRerank{Model: r.Model, Usage: toFleetUsage(r.Usage)}
		for _, res := range r.Results {
			rr.Results = append(rr.Results, fleetRerankResult{Index: res.Index, Score: res.Score, Document: res.Document})
		}
		e.Rerank = rr
	default:
		return nil, false
	}
	for _, ch := range chunks {
		if ch.Progress != nil || !knownChunk(ch.Type) {
			return nil, false
		}
		fc := fleetChunk{Seq: ch.Seq, Type: string(ch.Type), Text: ch.Text, Event: ch.Event}
		if d := ch.ToolCall; d != nil {
			fc.ToolCall = &fleetToolDelta{Index: d.Index, ID: d.ID, Name: d.Name, Arguments: d.Arguments}
		}
		if ch.Usage != nil {
			u := toFleetUsage(*ch.Usage)
			fc.Usage = &u
		}
		e.Chunks = append(e.Chunks, fc)
	}
	b, err := json.Marshal(&e)
	return b, err == nil
}

func knownChunk(t messages.ChunkType) bool {
	switch t {
	case messages.ChunkText, messages.ChunkToolCall, messages.ChunkUsage, messages.ChunkEvent:
		return true
	}
	return false
}

// errFleetEntry is the error of an entry that does not decode.
var errFleetEntry = errors.New("fleet cache entry")

// decodeFleetEntry decodes an entry another member shared: exactly one
// JSON object of this version, with no unknown field, whose kind tag names
// the one payload it carries and whose chunks are of known kinds.
func decodeFleetEntry(b []byte) (messages.Response, []*messages.StreamChunk, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var e fleetEntry
	if err := dec.Decode(&e); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errFleetEntry, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, fmt.Errorf("%w: data after the entry", errFleetEntry)
	}
	if e.V != fleetEntryVersion {
		return nil, nil, fmt.Errorf("%w: version %d, want %d", errFleetEntry, e.V, fleetEntryVersion)
	}
	payloads := 0
	for _, set := range []bool{e.Chat != nil, e.Generate != nil, e.Embed != nil, e.Rerank != nil} {
		if set {
			payloads++
		}
	}
	if payloads != 1 {
		return nil, nil, fmt.Errorf("%w: %d payloads, want 1", errFleetEntry, payloads)
	}
	meta := messages.Meta{UpstreamRequestID: e.Meta.UpstreamRequestID, Provider: e.Meta.Provider, Endpoint: e.Meta.Endpoint,
		Key: e.Meta.Key, BatchID: e.Meta.BatchID, BatchSize: e.Meta.BatchSize}
	var resp messages.Response
	switch {
	case e.Kind == fleetKindChat && e.Chat != nil:
		c := e.Chat
		r := &messages.ChatResponse{Meta: meta, ID: c.ID, Model: c.Model, Content: c.Content, FinishReason: c.FinishReason,
			RawFinishReason: c.RawFinishReason, Usage: c.Usage.usage(), BlockReason: c.BlockReason}
		for _, tc := range c.ToolCalls {
			call := messages.ToolCall{ID: tc.ID, Name: tc.Name}
			if tc.Arguments != "" {
				call.Arguments = json.RawMessage(tc.Arguments)
			}
			r.ToolCalls = append(r.ToolCalls, call)
		}
		resp = r
	case e.Kind == fleetKindGenerate && e.Generate != nil:
		g := e.Generate
		resp = &messages.GenerateResponse{Meta: meta, Model: g.Model, Text: g.Text, FinishReason: g.FinishReason,
			RawFinishReason: g.RawFinishReason, Usage: g.Usage.usage()}
	case e.Kind == fleetKindEmbed && e.Embed != nil:
		em := e.Embed
		r := &messages.EmbedResponse{Meta: meta, Model: em.Model, Vectors: em.Vectors, Usage: em.Usage.usage()}
		for _, row := range em.Sparse {
			sv := make([]messages.SparseValue, len(row))
			for i, v := range row {
				sv[i] = messages.SparseValue{Index: v.Index, Value: v.Value}
			}
			r.Sparse = append(r.Sparse, sv)
		}
		resp = r
	case e.Kind == fleetKindRerank && e.Rerank != nil:
		rr := e.Rerank
		r := &messages.RerankResponse{Meta: meta, Model: rr.Model, Usage: rr.Usage.usage()}
		for _, res := range rr.Results {
			r.Results = append(r.Results, messages.RerankResult{Index: res.Index, Score: res.Score, Document: res.Document})
		}
		resp = r
	default:
		return nil, nil, fmt.Errorf("%w: kind %q does not match its payload", errFleetEntry, e.Kind)
	}
	var chunks []*messages.StreamChunk
	for _, fc := range e.Chunks {
		ch := &messages.StreamChunk{Seq: fc.Seq, Type: messages.ChunkType(fc.Type), Text: fc.Text, Event: fc.Event}
		if !knownChunk(ch.Type) {
			return nil, nil, fmt.Errorf("%w: chunk kind %q", errFleetEntry, fc.Type)
		}
		if d := fc.ToolCall; d != nil {
			ch.ToolCall = &messages.ToolCallDelta{Index: d.Index, ID: d.ID, Name: d.Name, Arguments: d.Arguments}
		}
		if fc.Usage != nil {
			u := fc.Usage.usage()
			ch.Usage = &u
		}
		chunks = append(chunks, ch)
	}
	return resp, chunks, nil
}
