package gemini

import (
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"strings"
)

// Tool call IDs.
//
// The Developer API usually sends a functionCall without an "id", and Gemini
// 3 models put a thoughtSignature on the first function call part of a turn
// that must be echoed back with that part (the API answers 400 otherwise).
// A messages.ToolCall has only its ID to carry such things, so the ID this
// adapter hands out is:
//
//   - Gemini's own id, unchanged, when it sent one and no signature;
//   - otherwise "gmn.<unique>" when there is neither an id nor a signature,
//     where <unique> is derived from the response ID, the call's name and
//     arguments and its position (stable: decoding the same answer twice, or
//     as a stream, gives the same IDs);
//   - otherwise "gmn.<unique>.<id>.<signature>" with id and signature in
//     unpadded base64url (either may be empty).
//
// On the way back parseToolCallID recovers the id to send (none for a
// synthesized one) and the signature. An ID in any other form (one made by
// another provider, say) is sent as the functionCall/functionResponse id.
const toolIDPrefix = "gmn."

// toolCallID builds the ToolCall.ID of the index-th function call of a
// response.
func toolCallID(responseID, name, args string, index int, id, signature string) string {
	if signature == "" && id != "" {
		return id
	}
	h := fnv.New32a()
	for _, s := range []string{responseID, name, args} {
		_, _ = h.Write([]byte(s))
		_, _ = h.Write([]byte{0})
	}
	unique := fmt.Sprintf("%08x-%d", h.Sum32(), index)
	if id == "" && signature == "" {
		return toolIDPrefix + unique
	}
	enc := base64.RawURLEncoding
	return toolIDPrefix + unique + "." + enc.EncodeToString([]byte(id)) + "." + enc.EncodeToString([]byte(signature))
}

// parseToolCallID returns the functionCall id to send for a ToolCall.ID
// (empty for a synthesized one) and the thought signature it carries.
func parseToolCallID(s string) (id, signature string) {
	if !strings.HasPrefix(s, toolIDPrefix) {
		return s, ""
	}
	parts := strings.Split(s, ".")
	switch len(parts) {
	case 2:
		return "", ""
	case 4:
		enc := base64.RawURLEncoding
		i, err1 := enc.DecodeString(parts[2])
		sig, err2 := enc.DecodeString(parts[3])
		if err1 == nil && err2 == nil {
			return string(i), string(sig)
		}
	}
	return s, ""
}
