package ovms

import (
	"net/http"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers/openai"
)

// MaxStop is the most stop sequences OVMS accepts.
const MaxStop = 4

// V3 returns the OpenAI dialect OVMS speaks under /v3: chat completions,
// completions, embeddings and the model list, through the shared OpenAI
// machinery (nothing is copied). Its Kind is "ovms"; a BaseURL of the server
// root or of ".../v3" both work.
//
// OVMS departs from OpenAI in what it refuses, which the dialect's Check
// rejects before a request is queued: more than MaxStop stop sequences;
// embedding dimensions, sparse vectors, task types, Normalize and Truncate
// (messages.ErrUnsupported). It has no embedding input limit of its own
// (the server's is configurable), no rate-limit headers, and no 429; its
// errors are {"error": "…"}, which the OpenAI error decoder reads.
func V3() *openai.Adapter {
	return openai.NewDialect(openai.Dialect{
		Kind:           "ovms",
		Prefix:         "/v3",
		Operations:     []string{openai.OpChat, openai.OpGenerate, openai.OpEmbed, openai.OpModels},
		MaxEmbedInputs: -1,
		RateLimit:      noRateLimit,
		Check:          checkV3,
	})
}

func checkV3(req messages.Request) error {
	switch r := req.(type) {
	case *messages.ChatRequest:
		if len(r.Stop) > MaxStop {
			return invalid(&r.Call, "%d stop sequences; OVMS accepts at most %d", len(r.Stop), MaxStop)
		}
	case *messages.GenerateRequest:
		if len(r.Stop) > MaxStop {
			return invalid(&r.Call, "%d stop sequences; OVMS accepts at most %d", len(r.Stop), MaxStop)
		}
	case *messages.EmbedRequest:
		switch {
		case r.Dimensions != 0:
			return unsupported(&r.Call, "OVMS does not support embedding dimensions")
		case r.Sparse:
			return unsupported(&r.Call, "OVMS has no sparse embeddings")
		case r.TaskType != "":
			return unsupported(&r.Call, "OVMS has no embedding task types")
		case r.Normalize != nil || r.Truncate != nil:
			return unsupported(&r.Call, "OVMS's /v3/embeddings takes no normalize or truncate option (the graph decides)")
		}
	}
	return nil
}

// noRateLimit reads no headers: OVMS sends none, and a proxy's would not be
// OVMS's.
func noRateLimit(http.Header, time.Time) messages.RateLimit {
	return messages.RateLimit{LimitRequests: -1, RemainingRequests: -1, LimitTokens: -1, RemainingTokens: -1}
}
