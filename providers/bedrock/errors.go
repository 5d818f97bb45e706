package bedrock

import (
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// maxMessage caps the error message kept from a body.
const maxMessage = 1024

// decodeError refines e from a Bedrock error answer: the request ID
// (x-amzn-RequestId), the error type (the x-amzn-ErrorType header cut at
// its ':', else the body's __type cut at '#', else its code), the body's
// message, and the class the type gives (see classForType); a type it does
// not know leaves the class the status gave. It never panics, whatever the
// body; h may be nil.
func decodeError(status int, h http.Header, body []byte, e *messages.UpstreamError) {
	if rid := strings.TrimSpace(h.Get(HeaderRequestID)); rid != "" {
		e.UpstreamRequestID = rid
	}
	typ := errorType(h.Get("X-Amzn-ErrorType"))
	top, text := providers.ErrorObject(body, maxMessage)
	msg := text
	if top != nil {
		if typ == "" {
			typ = errorType(providers.JSONText(top["__type"]))
		}
		if typ == "" {
			typ = errorType(providers.JSONText(top["code"]))
		}
		msg = providers.JSONText(top["message"])
		if msg == "" {
			msg = providers.JSONText(top["Message"])
		}
	}
	providers.SetErrorDetails(e, typ, "", providers.ClipMessage(msg, maxMessage))
	if c := classForType(e.Type); c != messages.ClassUnknown {
		e.Class = c
	}
	if status != 0 {
		providers.DefaultClass(e, status)
	}
	if e.Message == "" {
		e.Message = e.Type
	}
}

// errorType sanitises an error code as AWS's SDKs do: the part before a
// ':' (x-amzn-ErrorType appends the shape's namespace URI) and after a '#'
// (a __type's namespace prefix), with its first letter upper-cased
// (event-stream exceptions name the union member, "throttlingException").
func errorType(code string) string {
	code = strings.TrimSpace(code)
	if i := strings.IndexByte(code, ':'); i >= 0 {
		code = code[:i]
	}
	if i := strings.IndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	code = strings.TrimSpace(code)
	if code != "" && code[0] >= 'a' && code[0] <= 'z' {
		code = string(code[0]-'a'+'A') + code[1:]
	}
	return code
}

// classForType maps a Bedrock error type to a class; an unknown type is
// ClassUnknown. Throttling and service quotas (tokens or requests per
// minute) are ClassRateLimited; a model that timed out ClassTimeout; a
// model not ready, failing or unavailable and internal errors ClassServer
// (all retryable); a request Bedrock refuses ClassInvalid; refused
// credentials or permissions ClassAuth (the key is judged bad).
func classForType(t string) messages.ErrorClass {
	switch t {
	case "ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException":
		return messages.ClassRateLimited
	case "ModelTimeoutException":
		return messages.ClassTimeout
	case "ModelNotReadyException", "ModelErrorException", "ModelStreamErrorException",
		"InternalServerException", "ServiceUnavailableException", "InternalFailure", "ServiceUnavailable":
		return messages.ClassServer
	case "ValidationException", "ResourceNotFoundException", "ConflictException", "SerializationException", "UnknownOperationException":
		return messages.ClassInvalid
	case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
		"ExpiredTokenException", "MissingAuthenticationTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken":
		return messages.ClassAuth
	}
	return messages.ClassUnknown
}
