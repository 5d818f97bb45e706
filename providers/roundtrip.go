package providers

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// roundTrip sends req as c.HTTP.Do would, without the work net/http's
// Client does on every request in case it must follow a redirect (a copy
// of the request's headers, about 900 bytes in five allocations): the APIs
// behind the adapters answer with redirects rarely or never. When one
// comes, the request goes again through Do, which follows it by its own
// rules (CheckRedirect, the headers it drops across hosts, 303's GET), at
// the cost of asking the redirecting server twice. A client with a cookie
// jar, a timeout or a redirect policy of its own always goes through Do, as
// does a URL carrying credentials. Errors are *url.Error, as Do's are.
func (c *Client) roundTrip(req *http.Request) (*http.Response, error) {
	hc := c.httpClient()
	if hc.Jar != nil || hc.Timeout > 0 || hc.CheckRedirect != nil || req.URL.User != nil {
		return hc.Do(req)
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, urlError(req, err)
	}
	if resp == nil {
		return nil, urlError(req, errors.New("the transport returned no response and no error"))
	}
	if !isRedirect(resp) {
		return resp, nil
	}
	again, err := resend(req)
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 2<<10))
	_ = resp.Body.Close()
	if err != nil {
		return nil, urlError(req, err)
	}
	return hc.Do(again)
}

// urlError wraps err as http.Client.Do wraps its errors: "Post", the URL.
func urlError(req *http.Request, err error) error {
	return &url.Error{Op: req.Method[:1] + strings.ToLower(req.Method[1:]), URL: req.URL.String(), Err: err}
}

// isRedirect reports whether net/http's Client would follow resp.
func isRedirect(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return resp.Header.Get("Location") != ""
	}
	return false
}

// resend returns req ready to be sent again: its body rewound.
func resend(req *http.Request) (*http.Request, error) {
	again := *req
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return nil, errors.New("redirected, and the request's body cannot be sent again")
		}
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		again.Body = body
	}
	return &again, nil
}
