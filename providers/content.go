package providers

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"strings"
)

// IsJSONContent reports whether h's Content-Type is JSON (application/json
// or a +json type): an answer a server sent as JSON where a stream was asked
// for (it ignored stream:true or alt=sse), or an error page with a 200.
func IsJSONContent(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// IsJSONObject reports whether b is one valid JSON object (tool call
// arguments, tool schemas).
func IsJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}
