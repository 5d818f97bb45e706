package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/messages"
)

const (
	apiKey   = "sk-compare-0000000000000000000000000000"
	model    = "gpt-4o-mini"
	prompt   = "Explain in one paragraph what a circuit breaker does in front of an LLM API."
	wantText = "A circuit breaker stops sending requests"
)

// path is one way of making the same chat call. run drives conc callers
// until stop is closed and returns how many calls completed; one makes a
// single call and returns its latency.
type path interface {
	name() string
	run(conc int, stop <-chan struct{}) (int64, error)
	one() (time.Duration, error)
	close()
}

// newTransport is every path's own connection pool: enough idle
// connections for every caller, so no path pays for reconnecting.
func newTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 1024
	return tr
}

// callPath is a path whose calls are plain blocking functions, driven by
// goroutines.
type callPath struct {
	label   string
	call    func(context.Context) error
	closeFn func()
}

func (p *callPath) name() string { return p.label }
func (p *callPath) close()       { p.closeFn() }

func (p *callPath) run(conc int, stop <-chan struct{}) (int64, error) {
	var (
		n    atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, conc)
		ctx  = context.Background()
	)
	for range conc {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := p.call(ctx); err != nil {
					errs <- err
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	return n.Load(), <-errs
}

// one makes one call and returns how long it took on the wall clock (the
// latency being measured).
func (p *callPath) one() (time.Duration, error) {
	t0 := time.Now()
	err := p.call(context.Background())
	return time.Since(t0), err
}

// ---- (a) direct typed call: net/http + encoding/json ----

type directMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type directRequest struct {
	Model    string          `json:"model"`
	Messages []directMessage `json:"messages"`
}

type directResponse struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string  `json:"role"`
			Content string  `json:"content"`
			Refusal *string `json:"refusal"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

// newDirect is the direct call named label, on a client and connections of
// its own: "direct", the baseline, and "direct-again", which does exactly
// what direct does, so its added latency is what the benchmark reads for no
// difference at all (its noise).
func newDirect(label, base string) path {
	tr := newTransport()
	hc := &http.Client{Transport: tr}
	url := base + "/v1/chat/completions"
	call := func(ctx context.Context) error {
		body, err := json.Marshal(directRequest{Model: model, Messages: []directMessage{{Role: "user", Content: prompt}}})
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			_, _ = io.Copy(io.Discard, resp.Body)
			return fmt.Errorf("%s: status %d", label, resp.StatusCode)
		}
		var out directResponse
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if len(out.Choices) == 0 {
			return fmt.Errorf("%s: no choices", label)
		}
		return checkText(label, out.Choices[0].Message.Content)
	}
	return &callPath{label: label, call: call, closeFn: tr.CloseIdleConnections}
}

func checkText(who, got string) error {
	if len(got) < len(wantText) || got[:len(wantText)] != wantText {
		return fmt.Errorf("%s: unexpected content %q", who, got)
	}
	return nil
}

// ---- (b) the official openai-go SDK ----

func newSDK(base string) path {
	tr := newTransport()
	client := openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey(apiKey),
		option.WithHTTPClient(&http.Client{Transport: tr}), option.WithMaxRetries(0))
	call := func(ctx context.Context) error {
		c, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
		})
		if err != nil {
			return err
		}
		if len(c.Choices) == 0 {
			return errors.New("sdk: no choices")
		}
		return checkText("sdk", c.Choices[0].Message.Content)
	}
	return &callPath{label: "openai-go", call: call, closeFn: tr.CloseIdleConnections}
}

// ---- (c) Switchyard's facade, (d) its actor API ----

func newSwitchyard(base string) (*switchyard.Switchyard, *http.Transport, error) {
	tr := newTransport()
	sy, err := switchyard.New(switchyard.Config{
		Providers: []switchyard.ProviderConfig{{Name: "openai", Kind: "openai", Endpoints: []switchyard.EndpointConfig{{
			BaseURL: base + "/v1", Keys: []switchyard.KeyConfig{{Label: "k1", Secret: apiKey}}}}}},
		HTTPClient: &http.Client{Transport: tr},
	})
	return sy, tr, err
}

func chatRequest() *messages.ChatRequest {
	return &messages.ChatRequest{Model: model, Messages: []messages.Message{{Role: messages.RoleUser, Content: prompt}}}
}

func newFacade(base string) (path, error) {
	sy, tr, err := newSwitchyard(base)
	if err != nil {
		return nil, err
	}
	call := func(ctx context.Context) error {
		r, err := sy.Chat(ctx, chatRequest())
		if err != nil {
			return err
		}
		return checkText("facade", r.Content)
	}
	return &callPath{label: "facade", call: call, closeFn: func() {
		_ = sy.Close(context.Background())
		tr.CloseIdleConnections()
	}}, nil
}

// actorPath drives the actor API: caller actors send a ChatRequest to the
// front door with ctx.Request and send the next one when the answer
// arrives, the way a host's actor uses Switchyard. For latency, one caller
// actor makes a call each time it is poked and measures it from its
// ctx.Request to the answer's arrival in its mailbox.
type actorPath struct {
	sy     *switchyard.Switchyard
	tr     *http.Transport
	poker  *actor.PID
	answer chan callerResult
}

func newActor(base string) (path, error) {
	sy, tr, err := newSwitchyard(base)
	if err != nil {
		return nil, err
	}
	p := &actorPath{sy: sy, tr: tr, answer: make(chan callerResult, 1)}
	p.poker = sy.ActorSystem().Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &callerActor{front: sy.FrontDoor(), left: 0, done: p.answer, poked: true}
	}))
	return p, nil
}

func (p *actorPath) name() string { return "actor" }
func (p *actorPath) close() {
	_ = p.sy.Close(context.Background())
	p.tr.CloseIdleConnections()
}

type poke struct{}

// callerActor keeps one request in flight until its budget or stop ends,
// then reports on done. A poked caller makes one call per poke and reports
// each.
type callerActor struct {
	front *actor.PID
	stop  <-chan struct{}
	// left is how many calls remain (negative: until stop).
	left  int
	poked bool
	t0    time.Time
	count int64
	done  chan<- callerResult
}

type callerResult struct {
	count int64
	lat   time.Duration
	err   error
}

func (c *callerActor) next(ctx actor.Context) bool {
	if c.left == 0 {
		return false
	}
	if c.stop != nil {
		select {
		case <-c.stop:
			return false
		default:
		}
	}
	if c.left > 0 {
		c.left--
	}
	c.t0 = time.Now()
	ctx.Request(c.front, chatRequest())
	return true
}

func (c *callerActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if !c.poked && !c.next(ctx) {
			c.finish(ctx, nil)
		}
	case *poke:
		c.left = 1
		c.next(ctx)
	case *messages.ChatResponse:
		lat := time.Since(c.t0)
		c.count++
		if err := checkText("actor", m.Content); err != nil {
			c.finish(ctx, err)
			return
		}
		if c.poked {
			c.done <- callerResult{count: 1, lat: lat}
			return
		}
		if !c.next(ctx) {
			c.finish(ctx, nil)
		}
	case *messages.Failure:
		c.finish(ctx, m.Err)
	}
}

func (c *callerActor) finish(ctx actor.Context, err error) {
	c.done <- callerResult{count: c.count, err: err}
	if !c.poked {
		ctx.Stop(ctx.Self())
	}
}

func (p *actorPath) run(conc int, stop <-chan struct{}) (int64, error) {
	done := make(chan callerResult, conc)
	root := p.sy.ActorSystem().Root
	for range conc {
		a := &callerActor{front: p.sy.FrontDoor(), stop: stop, left: -1, done: done}
		root.Spawn(actor.PropsFromProducer(func() actor.Actor { return a }))
	}
	var n int64
	var err error
	for range conc {
		r := <-done
		n += r.count
		if err == nil {
			err = r.err
		}
	}
	return n, err
}

func (p *actorPath) one() (time.Duration, error) {
	p.sy.ActorSystem().Root.Send(p.poker, &poke{})
	r := <-p.answer
	return r.lat, r.err
}
