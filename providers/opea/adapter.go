// Package opea is Switchyard's adapter for OPEA (Open Platform for
// Enterprise AI): the ChatQnA megaservice of GenAIExamples and the
// OpenAI-style LLM, embedding and reranking microservices of GenAIComps.
//
// # Endpoints and base URLs
//
// An endpoint's base URL is the root of one OPEA service, as users reach it,
// without a path; the adapter appends the route of each operation:
//
//	ChatRequest    → POST /v1/chatqna            ChatQnA megaservice, e.g. http://localhost:8888
//	                 (or POST /v1/chat/completions on an LLM microservice, see Options.Chat)
//	EmbedRequest   → POST /v1/embeddings         embedding microservice, e.g. http://localhost:6000
//	RerankRequest  → POST /v1/reranking          reranking microservice, e.g. http://localhost:8000
//	InfoRequest    → GET  /v1/health_check       any OPEA service (What "health")
//
// The ChatQnA nginx front door (port 80) proxies /v1/chatqna too, so its
// root works as a ChatQnA base URL. Each OPEA service listens on its own
// port, and a provider's requests may go to any of its endpoints: give each
// service its own provider (or pin requests with Call.Endpoint).
//
// # Which service answers a ChatRequest
//
// New(Options{Chat: ChatQnA}) (the default) sends chat to the ChatQnA
// megaservice; New(Options{Chat: ChatLLM}) to the LLM text-generation
// microservice (opea/llm-textgen, port 9000) instead. The choice is the
// constructor's, not the request's, because the two are different services
// at different addresses: configure one provider per service.
//
// # ChatQnA
//
// ChatQnA is a retrieval-augmented pipeline (embed the question, retrieve,
// rerank, generate), not a plain chat model. The adapter sends
// {"messages": …, "stream": …} plus model, max_tokens, temperature, top_p and
// stop when set, and ChatRequest.Extra merged in: that is where ChatQnA's
// retriever and reranker fields go (k, top_n, search_type, fetch_k,
// score_threshold, chat_template, …). A lone user message without a system
// prompt is sent as the plain string form ({"messages":"What is …?"}),
// anything else as the list form. Note what ChatQnA does with a list: its
// handle_message keeps the system prompt and only the latest user and the
// latest assistant turn, and its pipeline ignores stop. "stream" is always
// sent explicitly (ChatQnA streams when it is missing).
//
// ChatQnA accepts system, user and assistant turns of text only: tools, tool
// calls, tool results and images are ErrUnsupported (its pipeline has no
// tools, and an image breaks its prompt building), other roles and a
// conversation without user text ErrInvalidRequest.
//
// A streamed answer is an event stream ending in "data: [DONE]" whose events
// carry Python bytes literals (data: b' token', with \n, \', \xNN escapes),
// or OpenAI chat.completion.chunk JSON passed through from the LLM, or plain
// text: DecodeChatQnAStream reads them all, and joins UTF-8 characters split
// across tokens. A plain answer is an OpenAI-like ChatCompletionResponse
// with model "chatqna".
//
// ChatQnA reports no token usage: its plain answer carries zeros and its
// streams nothing. The adapter then estimates usage, as whitespace-separated
// words (the rule of sim.Words): input from the texts it sent (a lower
// bound: the retrieved context ChatQnA adds to the prompt is not counted),
// output from the answer. Usage the service does report (a passed-through
// OpenAI usage chunk) is used as is. Streams end with one ChunkUsage.
//
// # LLM microservice, embeddings
//
// These speak OpenAI's protocol, through providers/openai's dialect
// machinery (openai.NewDialect, kind "opea"): chat with tools, images and
// streams, embeddings with several inputs. Departures from OpenAI: the
// body carries max_tokens; content is never null (an assistant turn that
// only calls tools sends ""), because OPEA's request model types content as
// a string; tool_choice "auto" and "required" are ErrInvalidRequest (OPEA
// accepts "none" or a named function only, and defaults to "none": with
// tools, name the one to call); a model is required (OPEA's LLM microservice
// otherwise asks its backend for "Intel/neural-chat-7b-v3-3"). Embeddings
// need a model name too, though OPEA's embedding microservice ignores it;
// they report no usage, Dimensions is sent but OPEA's TEI integration ignores
// it, and Normalize, Truncate, Sparse and TaskType are ErrUnsupported. The TEI backend behind the embedding microservice takes 32
// inputs per request by default; OPEA reports more as a 500.
//
// # Reranking
//
// A RerankRequest becomes GenAIComps' RerankingRequest {"input": query,
// "retrieved_docs": [{"text": doc}, …], "top_n": n} (n is TopN, or every
// document when TopN is 0); the answer {"reranked_docs": [{"text","score"}]}
// names documents by text, which the adapter maps back to their index (the
// first unused document with that text). Results are ordered by descending
// score; Document is filled when ReturnDocuments is set. No usage.
//
// # Keys and errors
//
// OPEA services run without authentication by default; a key, when
// configured (conventionally from OPEA_API_KEY), is sent as "Authorization:
// Bearer …", as OPEA's orchestrator does towards remote services and its
// JWT_AUTH mode expects. An empty key sends no header. Errors are decoded by
// DecodeError (FastAPI's {"detail": …}, plain-text 500s, HTML from the nginx
// front door) and classified by status: 422 and other 4xx are ClassInvalid,
// 401/403 ClassAuth, 429 ClassRateLimited, 500/502/503/504 ClassServer.
// Note that the ChatQnA megaservice answers a body its request model rejects
// with a plain-text 500 (it parses the body itself), and the LLM microservice
// turns its backend's 400s into 500s: retryable by status, which is why Check
// rejects what it can before a request is sent.
//
// The adapter is plain Go, keeps no mutable state and is safe for concurrent
// use. Nothing Switchyard-specific goes into a request body; the request ID
// travels only as the X-Request-ID header providers.Client sets.
package opea

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/openai"
)

// Kind is the adapter's kind.
const Kind = "opea"

// EnvKey is the conventional environment variable for an OPEA bearer token.
const EnvKey = "OPEA_API_KEY"

// Paths appended to the endpoint's base URL.
const (
	PathChatQnA    = "/v1/chatqna"
	PathChat       = "/v1/chat/completions"
	PathEmbeddings = "/v1/embeddings"
	PathReranking  = "/v1/reranking"
	PathHealth     = "/v1/health_check"
)

// Values of Options.Chat.
const (
	// ChatQnA sends ChatRequest to the ChatQnA megaservice (the default).
	ChatQnA = "chatqna"
	// ChatLLM sends ChatRequest to an LLM text-generation microservice.
	ChatLLM = "llm"
)

// Options configure the adapter. The zero value sends chat to ChatQnA.
type Options struct {
	// Chat says which service answers a ChatRequest: ChatQnA ("", the
	// default) or ChatLLM. Any other value makes Check reject chat
	// requests as ErrUnsupported.
	Chat string
	// ChatPath overrides the megaservice route for ChatQnA mode, for
	// megaservices that share ChatQnA's request protocol (e.g. "/v1/codegen",
	// "/v1/faqgen"). Empty means PathChatQnA.
	ChatPath string
}

// Adapter implements providers.Adapter for OPEA. It holds no mutable state
// and is safe for concurrent use.
type Adapter struct {
	chat string
	path string
	llm  *openai.Adapter
}

var _ providers.Adapter = (*Adapter)(nil)

// New returns the OPEA adapter. Without options (or with zero Options) chat
// goes to the ChatQnA megaservice; when several Options are given the last
// one wins.
func New(opts ...Options) *Adapter {
	var o Options
	if len(opts) > 0 {
		o = opts[len(opts)-1]
	}
	a := &Adapter{chat: o.Chat, path: o.ChatPath}
	if a.chat == "" {
		a.chat = ChatQnA
	}
	if a.path == "" {
		a.path = PathChatQnA
	} else if !strings.HasPrefix(a.path, "/") {
		a.path = "/" + a.path
	}
	a.llm = openai.NewDialect(openai.Dialect{
		Kind:           Kind,
		Prefix:         "/v1",
		Operations:     []string{openai.OpChat, openai.OpEmbed},
		MaxTokensField: "max_tokens",
		MaxEmbedInputs: -1,
		Body:           llmBody,
		Check:          llmCheck,
		DecodeError:    DecodeError,
	})
	return a
}

// Kind returns "opea".
func (*Adapter) Kind() string { return Kind }

// Chat returns the service chat requests go to: ChatQnA or ChatLLM.
func (a *Adapter) Chat() string { return a.chat }

// Check reports whether the adapter can serve req, before anything is
// queued. It returns an error matching messages.ErrUnsupported for
// operations or options OPEA does not offer (see the package doc) and
// messages.ErrInvalidRequest for requests OPEA would reject.
func (a *Adapter) Check(req messages.Request) error {
	switch r := req.(type) {
	case *messages.ChatRequest:
		if r == nil {
			return invalid(nil, "nil chat request")
		}
		switch a.chat {
		case ChatQnA:
			if err := checkChatQnA(r); err != nil {
				return err
			}
			return providers.CheckRequest(Kind, r) // ChatLLM and embed go through the OpenAI layer's Check
		case ChatLLM:
			return a.llm.Check(r)
		}
		return unsupported(&r.Call, "Options.Chat %q is neither %q nor %q", a.chat, ChatQnA, ChatLLM)
	case *messages.EmbedRequest:
		if r == nil {
			return invalid(nil, "nil embed request")
		}
		if err := checkEmbed(r); err != nil {
			return err
		}
		return a.llm.Check(r)
	case *messages.RerankRequest:
		if r == nil {
			return invalid(nil, "nil rerank request")
		}
		if err := checkRerank(r); err != nil {
			return err
		}
		return providers.CheckRequest(Kind, r)
	case *messages.InfoRequest:
		if r == nil {
			return invalid(nil, "nil info request")
		}
		if r.What != "health" {
			return unsupported(&r.Call, "OPEA answers only the %q question (GET %s), not %q", "health", PathHealth, r.What)
		}
		return nil
	case nil:
		return &messages.RequestError{Kind: messages.ErrUnsupported, Provider: Kind, Detail: "nil request"}
	}
	ci := providers.CallInfo(req)
	return unsupported(ci, "OPEA does not support the %q operation", req.Operation())
}

// Do performs one attempt of call and returns the response or a
// *messages.UpstreamError; it fills call.Result (status, upstream request
// ID, usage). It re-runs Check first, so a request that never went through
// Check still fails cleanly, as ClassInvalid.
func (a *Adapter) Do(ctx context.Context, call *providers.Call) (messages.Response, error) {
	if err := a.Check(call.Request); err != nil {
		return nil, call.Refuse(err)
	}
	c := call.HTTPClient()
	switch r := call.Request.(type) {
	case *messages.ChatRequest:
		if a.chat == ChatLLM {
			return a.llm.Do(ctx, call)
		}
		return a.doChatQnA(ctx, c, call, r)
	case *messages.EmbedRequest:
		return a.llm.Do(ctx, call)
	case *messages.RerankRequest:
		return doRerank(ctx, c, call, r)
	case *messages.InfoRequest:
		return doHealth(ctx, c, call)
	}
	return nil, call.Fail(messages.ClassInvalid, 0, "unsupported request", messages.ErrUnsupported)
}

// exchange describes a request with OPEA's auth and error decoder.
func exchange(method, path string, body any) *providers.Exchange {
	return &providers.Exchange{
		Method:      method,
		Path:        path,
		Body:        body,
		Auth:        providers.BearerAuth,
		DecodeError: DecodeError,
	}
}

// doHealth asks GET /v1/health_check, which every OPEA service serves.
func doHealth(ctx context.Context, c *providers.Client, call *providers.Call) (messages.Response, error) {
	ex := exchange(http.MethodGet, PathHealth, nil)
	resp, err := c.Send(ctx, call, ex)
	if err != nil {
		return nil, err
	}
	var raw jsonRaw
	if err := c.DecodeJSON(ctx, call, resp, &raw); err != nil {
		return nil, err
	}
	return &messages.InfoResponse{Meta: call.Meta(), Healthy: true, Body: []byte(raw)}, nil
}

// jsonRaw keeps a JSON document as it came, after checking it is JSON.
type jsonRaw []byte

func (j *jsonRaw) UnmarshalJSON(b []byte) error {
	*j = append((*j)[:0], b...)
	return nil
}

// ---- validation ----

func invalid(ci *messages.Call, format string, args ...any) error {
	return providers.RequestError(messages.ErrInvalidRequest, ci, Kind, "opea: "+fmt.Sprintf(format, args...))
}

func unsupported(ci *messages.Call, format string, args ...any) error {
	return providers.RequestError(messages.ErrUnsupported, ci, Kind, "opea: "+fmt.Sprintf(format, args...))
}

func checkRange(ci *messages.Call, name string, v *float64, lo, hi float64) error {
	if v != nil && !(*v >= lo && *v <= hi) {
		return invalid(ci, "%s %v is outside [%g, %g]", name, *v, lo, hi)
	}
	return nil
}

func checkChatQnA(r *messages.ChatRequest) error {
	ci := &r.Call
	if len(r.Messages) == 0 {
		return invalid(ci, "at least one message is required")
	}
	if len(r.Tools) > 0 || r.ToolChoice != "" {
		return unsupported(ci, "ChatQnA does not pass tools to its LLM; use Options{Chat: ChatLLM} for tool calling")
	}
	user := false
	for i, m := range r.Messages {
		switch m.Role {
		case messages.RoleSystem, messages.RoleAssistant:
		case messages.RoleUser:
			if strings.TrimSpace(messageText(m)) != "" {
				user = true
			}
		case messages.RoleTool:
			return unsupported(ci, "message %d: ChatQnA has no tool results", i)
		default:
			return invalid(ci, "message %d: ChatQnA accepts the roles system, user and assistant, not %q", i, m.Role)
		}
		if len(m.ToolCalls) > 0 {
			return unsupported(ci, "message %d: ChatQnA has no tool calls", i)
		}
		for j, p := range m.Parts {
			switch p.Type {
			case messages.PartText:
			case messages.PartImage:
				return unsupported(ci, "message %d part %d: ChatQnA takes text only", i, j)
			default:
				return invalid(ci, "message %d part %d: unsupported part type %q", i, j, p.Type)
			}
		}
	}
	if !user {
		return invalid(ci, "ChatQnA needs a user message with text: it is the question it retrieves for")
	}
	if err := checkRange(ci, "temperature", r.Temperature, 0, 2); err != nil {
		return err
	}
	if err := checkRange(ci, "top_p", r.TopP, 0, 1); err != nil {
		return err
	}
	if r.MaxTokens < 0 {
		return invalid(ci, "MaxTokens %d is negative", r.MaxTokens)
	}
	if _, err := qnaBody(r); err != nil {
		return invalid(ci, "Extra cannot be encoded as JSON: %v", err)
	}
	return nil
}

func checkEmbed(r *messages.EmbedRequest) error {
	ci := &r.Call
	switch {
	case r.Sparse:
		return unsupported(ci, "OPEA's embedding microservice has no sparse embeddings")
	case r.Normalize != nil || r.Truncate != nil:
		return unsupported(ci, "OPEA's embedding microservice takes no normalize or truncate option")
	case r.TaskType != "":
		return unsupported(ci, "OPEA's embedding microservice takes no task type")
	}
	return nil
}

// llmCheck is the dialect's Check hook: what OPEA's ChatCompletionRequest
// rejects beyond what OpenAI's does.
func llmCheck(req messages.Request) error {
	r, ok := req.(*messages.ChatRequest)
	if !ok || r == nil {
		return nil
	}
	switch r.ToolChoice {
	case "auto", "required":
		return openai.Invalid(Kind, req, "tool_choice %q: OPEA accepts \"none\" or the name of a tool", r.ToolChoice)
	}
	return nil
}

// llmBody is the dialect's Body hook: OPEA's request model types a message's
// content as a string (or a list of parts), so a null content (an assistant
// turn that only calls tools) becomes "".
func llmBody(_ messages.Request, body map[string]any) {
	msgs, _ := body["messages"].([]any)
	for _, m := range msgs {
		if mm, ok := m.(map[string]any); ok {
			if c, has := mm["content"]; has && c == nil {
				mm["content"] = ""
			}
		}
	}
}
