//go:build integration

package main

// The browser test needs Debian's chromium, which `make tools-integration`
// installs; it runs with `make test-integration` (go test -tags
// integration), which .ci/run runs after `make test`.

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-ai/switchyard/sim"
)

// In a real browser: the page shows a branch per provider; an endpoint
// whose simulator fails every request shows OPEN, and CLOSED again once the
// simulator recovers, in the tree and on the timeline; request rates show;
// the page holds no key. The demo's own fault schedule runs too (it makes
// the screenshot lively), but the endpoint under test is the last
// provider's primary, whose schedule starts last (13.5 s in with ten
// backends), after this test is done with it. The screenshot goes to the test's artifacts and, with
// SWITCHYARD_SCREENSHOT set, to that file.
func TestWebViewInBrowser(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	require.NoError(t, err, "this test needs headless Chromium (Debian's chromium package): run make tools")
	defer verifyNoLeaks(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1600, 1000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	var js pageErrors
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithListener(js.listen))
	defer cancelBrowser()
	// Chromium starts while the demo does. The demo stops first (the
	// page is still connected then), the browser after it.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }()
	d := startWebDemo(t, ctx, 5)
	defer d.stop(t)
	require.NoError(t, <-started, "starting %s", browser)

	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(d.url)), "loading %s", d.url)
	wctx, wcancel := context.WithTimeout(bctx, 20*time.Second)
	defer wcancel()
	require.NoError(t, chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(`#tree details.provider[data-provider="anthropic"] .endpoint`))),
		"the tree never showed%s", &js)
	shown, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#tree details.provider')].map(e => e.dataset.provider)`))
	require.NoError(t, err)
	var want []string
	for _, p := range d.snapshot(t).Provs {
		want = append(want, p.Name)
	}
	assert.Equal(t, want, shown, "a branch per provider, in order")

	poll := []chromedp.PollOption{chromedp.WithPollingInterval(100 * time.Millisecond), chromedp.WithPollingTimeout(45 * time.Second)}
	require.NotEmpty(t, d.sims)
	target := d.sims[len(d.sims)-1]
	ep := target.eps[0]
	opened := target.b.name + "/" + ep.name
	q := strconv.Quote(opened)
	status := target.b.burstStatus
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	ep.srv.Inject(sim.Fault{Status: status, Times: -1})
	defer ep.srv.Clear()
	_, err = chromedp.Run(bctx, chromedp.Poll[bool](`(() => {
		const ep = document.querySelector('#tree .endpoint[data-endpoint=' + JSON.stringify(`+q+`) + ']');
		return !!ep && ep.dataset.state === 'OPEN';
	})()`, poll...))
	require.NoError(t, err, "%s never showed OPEN while its simulator answered %d%s", opened, status, &js)
	ep.srv.Clear()
	_, err = chromedp.Run(bctx, chromedp.Poll[bool](`(() => {
		const ep = document.querySelector('#tree .endpoint[data-endpoint=' + JSON.stringify(`+q+`) + ']');
		const tl = document.querySelector('#timeline .tl-label[data-endpoint=' + JSON.stringify(`+q+`) + ']');
		return !!ep && ep.dataset.state === 'CLOSED' && !!tl && tl.dataset.state === 'CLOSED' && Number(tl.dataset.opens) >= 1;
	})()`, poll...))
	require.NoError(t, err, "%s never showed CLOSED again, with its trip on the timeline%s", opened, &js)

	// The breaker came back through a supervised restart into HALF-OPEN.
	restarts := -1
	for _, p := range d.snapshot(t).Provs {
		for _, e := range p.Endpoints {
			if p.Name == target.b.name && e.Name == ep.name {
				restarts = e.Restarts
			}
		}
	}
	assert.Positive(t, restarts, "restarts of %s", opened)
	text, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#tree .endpoint[data-endpoint=' + JSON.stringify(`+q+`) + '] .ep-line').textContent`))
	require.NoError(t, err)
	assert.Regexp(t, `restarts [1-9]`, text, "the tree's line for %s", opened)

	// Request rates: computed in the page from successive snapshots (the
	// peak of the chart: the latest half second may have seen none).
	rate, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('.rate[data-provider="anthropic"]').dataset.peak`))
	require.NoError(t, err)
	r, err := strconv.ParseFloat(rate, 64)
	require.NoError(t, err, "rate %q", rate)
	assert.Positive(t, r, "anthropic's request rate")

	html, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	require.NoError(t, err)
	assert.Contains(t, html, `data-key="pri-1"`)
	assert.NotContains(t, html, "sk-demo", "a fake key on the page")

	assert.Empty(t, js.String(), "JavaScript errors on the page")

	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	cfg, err := png.DecodeConfig(bytes.NewReader(shot))
	require.NoError(t, err, "the screenshot is a PNG")
	assert.GreaterOrEqual(t, cfg.Width, 1000)
	path := filepath.Join(t.ArtifactDir(), "web-view.png")
	require.NoError(t, os.WriteFile(path, shot, 0o644))
	t.Logf("screenshot: %s", path)
	if out := os.Getenv("SWITCHYARD_SCREENSHOT"); out != "" {
		require.NoError(t, os.WriteFile(out, shot, 0o644))
		t.Logf("screenshot: %s", out)
	}
}

// pageErrors collects the page's first uncaught exceptions and console
// errors.
type pageErrors struct {
	mu   sync.Mutex
	errs []string
}

func (p *pageErrors) listen(ev any) {
	var msg string
	switch e := ev.(type) {
	case *cdpruntime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg = fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, d.Text)
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
	case *cdpruntime.EventConsoleAPICalled:
		if e.Type != cdpruntime.ConsoleAPICalledTypeError {
			return
		}
		msg = "console.error:"
		for _, a := range e.Args {
			msg += " " + string(a.Value) + a.Description
		}
	default:
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) < 10 {
		p.errs = append(p.errs, msg)
	}
}

// String is "" without errors, else a line per error (for messages).
func (p *pageErrors) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) == 0 {
		return ""
	}
	return "\nJavaScript errors:\n  " + strings.Join(p.errs, "\n  ")
}
