package opea

import (
	"bytes"
	"encoding/json"
	"html"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// maxMessage bounds an error message taken from an answer body.
const maxMessage = 1024

// DecodeError refines e from an OPEA error answer. It is a
// providers.Exchange.DecodeError and is safe for concurrent use.
//
// OPEA services are FastAPI applications, so their errors come in FastAPI's
// shapes: {"detail":[{"loc":[…],"msg":…,"type":…},…]} for a body that fails
// validation (422), {"detail":"…"} from an HTTPException (401 with JWT auth
// on, 404, 405, …), and a plain-text "Internal Server Error" for an
// unhandled exception (500): that is also what the ChatQnA megaservice
// answers to a body its request model rejects, because it parses the body
// itself. GenAIComps' {"object":"error","message","code"} and an OpenAI-style
// {"error":{…}} passed through from an LLM backend are read too, and an
// HTML page (a 502/503/504 from the nginx front door) gives its title.
//
// The class stays the one the status gives (providers.ClassifyStatus: 422 and
// other 4xx invalid, 401/403 auth, 429 rate limited with the Retry-After
// delay, 5xx server); a status that is neither 2xx nor an error is
// ClassServer. Type and Code are set from the body when it has them (the
// first validation error's type, GenAIComps' numeric code).
func DecodeError(status int, _ http.Header, body []byte, e *messages.UpstreamError) {
	typ, code, msg := parseErrorBody(body)
	providers.SetErrorDetails(e, typ, code, clip(msg))
	providers.DefaultClass(e, status)
}

// parseErrorBody extracts type, code and message from the error shapes OPEA
// services send. It never fails; unknown shapes give "".
func parseErrorBody(body []byte) (typ, code, msg string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return "", "", ""
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		if json.Valid(body) {
			var s string
			if json.Unmarshal(body, &s) == nil {
				return "", "", s
			}
			return "", "", ""
		}
		return "", "", textMessage(body)
	}
	if raw, ok := top["detail"]; ok && !providers.IsJSONNull(raw) {
		return detailMessage(raw)
	}
	return providers.ErrorFields(top)
}

// validationError is one entry of a FastAPI 422 "detail" list.
type validationError struct {
	Loc  []json.RawMessage `json:"loc"`
	Msg  string            `json:"msg"`
	Type string            `json:"type"`
}

// detailMessage renders FastAPI's "detail": a string, a list of validation
// errors ("body.messages: Field required; …"), or any other JSON as text.
func detailMessage(raw json.RawMessage) (typ, code, msg string) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return "", "", s
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		var parts []string
		for _, item := range list {
			var ve validationError
			if json.Unmarshal(item, &ve) != nil {
				parts = append(parts, compactJSON(item))
				continue
			}
			if typ == "" {
				typ = ve.Type
			}
			var loc []string
			for _, l := range ve.Loc {
				loc = append(loc, providers.JSONText(l))
			}
			p := ve.Msg
			if len(loc) > 0 {
				p = strings.Join(loc, ".") + ": " + p
			}
			parts = append(parts, p)
		}
		return typ, "", strings.Join(parts, "; ")
	}
	return "", "", compactJSON(raw)
}

var titleRE = regexp.MustCompile(`(?is)<title>(.*?)</title>|<h1>(.*?)</h1>`)

// textMessage turns a non-JSON body into a message: an HTML page's title,
// or the first line of plain text.
func textMessage(body []byte) string {
	if m := titleRE.FindSubmatch(body); m != nil {
		t := m[1]
		if len(t) == 0 {
			t = m[2]
		}
		return strings.TrimSpace(html.UnescapeString(string(t)))
	}
	s := string(body)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// clip bounds msg to maxMessage bytes of valid UTF-8.
func clip(msg string) string {
	return providers.ClipMessage(strings.ToValidUTF8(msg, "\uFFFD"), maxMessage)
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return ""
	}
	return b.String()
}

// streamError turns the "error" member of a stream chunk (a string or an
// object with a message) into an UpstreamError. An error that arrives after
// a 200 is a failure of the service mid-answer: ClassServer, retryable while
// no chunk reached the caller.
func streamError(call *providers.Call, raw json.RawMessage) *messages.UpstreamError {
	typ, code, msg := providers.ErrorValue(raw)
	if msg == "" {
		msg = "upstream reported an error"
	}
	e := call.Fail(messages.ClassServer, call.Result.Status, clip(msg), nil)
	e.Type, e.Code = typ, code
	return e
}

func malformed(call *providers.Call, msg string, err error) *messages.UpstreamError {
	return call.Fail(messages.ClassMalformed, call.Result.Status, msg, err)
}

// itoa is strconv.Itoa, kept short for messages.
func itoa(n int) string { return strconv.Itoa(n) }
