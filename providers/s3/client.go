package s3

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// callClient is one call's view of its endpoint: the minio-go clients bound
// to the call's transport, and what the call learned.
type callClient struct {
	call   *providers.Call
	tr     *callTransport
	opts   minio.Options
	host   string
	region string
	// plain is the minio-go client (no trailing checksums: per-part
	// checksums go in headers).
	plain *minio.Client
	// owner identifies the endpoint and access key, for the orphan list;
	// orphan records an upload that could not be aborted.
	owner  string
	orphan func(orphan)
}

// ParseCredential splits a key's secret "ACCESS_KEY:SECRET_KEY" at the first
// colon. An empty secret is anonymous (ok, both empty).
func ParseCredential(secret string) (access, key string, ok bool) {
	if secret == "" {
		return "", "", true
	}
	access, key, found := strings.Cut(secret, ":")
	if !found || access == "" || key == "" {
		return "", "", false
	}
	return access, key, true
}

// newCallClient prepares the minio-go client for call. A base URL that is not
// a bare http(s) server root is ClassInvalid; a secret that is not an
// access/secret pair is ClassAuth (the key is unusable).
func newCallClient(ctx context.Context, call *providers.Call, region string) (*callClient, error) {
	u, err := url.Parse(call.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, call.Fail(messages.ClassInvalid, 0, "endpoint base URL must be an http or https server root", nil)
	}
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
		return nil, call.Fail(messages.ClassInvalid, 0, "endpoint base URL must have no path, query or user info (S3 is addressed at the server root)", nil)
	}
	access, secret, ok := ParseCredential(call.Key.Secret())
	if !ok {
		return nil, call.Fail(messages.ClassAuth, 0, "key "+call.Key.Label()+" is not an ACCESS_KEY:SECRET_KEY pair", nil)
	}
	lookup := minio.BucketLookupPath
	aws := s3utils.IsAmazonEndpoint(url.URL{Host: u.Host})
	switch {
	case aws:
		lookup = minio.BucketLookupAuto
		region = s3utils.GetRegionFromURL(url.URL{Host: u.Host})
	case region == "":
		region = DefaultRegion
	}
	tr := newCallTransport(ctx, call)
	c := &callClient{call: call, tr: tr, host: u.Host, region: region, owner: u.Scheme + "://" + u.Host + "\x00" + access}
	var creds *credentials.Credentials
	if access == "" {
		creds = credentials.NewStatic("", "", "", credentials.SignatureAnonymous)
	} else {
		creds = credentials.NewStaticV4(access, secret, "")
	}
	c.opts = minio.Options{
		Creds:        creds,
		Secure:       u.Scheme == "https",
		Transport:    tr,
		Region:       region,
		BucketLookup: lookup,
		// One HTTP attempt per request: the runtime owns retries.
		MaxRetries: 1,
	}
	c.plain, err = minio.New(u.Host, &c.opts)
	if err != nil {
		return nil, call.Fail(messages.ClassInvalid, 0, "endpoint: "+err.Error(), nil)
	}
	return c, nil
}

// sync copies what the transport learned into the call's result.
func (c *callClient) sync() {
	r := &c.call.Result
	r.BytesIn = c.tr.bytesIn.Load()
	r.BytesOut = c.tr.bytesOut.Load()
	c.tr.mu.Lock()
	if c.tr.status != 0 {
		r.Status = c.tr.status
	}
	if c.tr.upstreamID != "" {
		r.UpstreamRequestID = c.tr.upstreamID
	}
	c.tr.mu.Unlock()
}

// finish runs when Do returns: the byte counts are final only now.
func (c *callClient) finish() {
	c.call.Result.BytesIn = c.tr.bytesIn.Load()
	c.call.Result.BytesOut = c.tr.bytesOut.Load()
}

func (t *callTransport) retryAfterSeen() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.retryAfter
}
