// Package s3 is Switchyard's adapter for S3-compatible object storage (AWS
// S3, MinIO, versitygw, Ceph RGW, …), meant for model files: put (from a
// reader or a file, multipart above a threshold with parallel parts), get (to
// a writer or a file, byte ranges, resumable), stat, list, delete (one and
// many), copy, presigned GET/PUT URLs, bucket exists/create. Signing and
// transfers are done by github.com/minio/minio-go/v7; this package adds the
// runtime's conventions on top: one attempt per Do with minio-go's own
// retries off (the runtime retries), errors classified into
// *messages.UpstreamError, the request ID sent as X-Request-ID on every HTTP
// request and x-amz-request-id captured, byte counts, header and idle
// timeouts from the shared providers.Client, progress reports, and
// end-to-end integrity checks.
//
// # Endpoints and keys
//
// The endpoint's base URL is the server root, "http://host:9000" or
// "https://s3.eu-west-1.amazonaws.com", with no path; buckets are addressed
// path-style (virtual-host style for amazonaws.com). The region is taken
// from an AWS host name, else Options.Region (default "us-east-1").
//
// A key's secret holds the access/secret pair as "ACCESS_KEY:SECRET_KEY"
// (split at the first colon); the key's label names it in stats, events and
// errors and the secret is never printed. An empty secret signs nothing
// (anonymous access to public buckets).
//
// # Integrity
//
// A put computes the CRC-64/NVME of the bytes as it reads them, and their
// SHA-256 only when one is asked for (HashSHA256) or expected (SHA256).
// Multipart uploads send each part's CRC-64/NVME (in a signed header; the
// part's bytes signed on plain HTTP unless Options.UnsignedPayload) and, at completion,
// the whole object's, so the server refuses a corrupted part or object
// before it becomes visible; every put then compares the server's full-object
// CRC-64/NVME and the size with its own. An expected SHA256 is stored as
// "sha256" user metadata and checked before the last byte is sent. A get
// checks the size, the server's full-object CRC-64/NVME (asked for with
// x-amz-checksum-mode) and, when one is expected (the request's or the
// stored metadata), the SHA-256. A mismatch is an *UpstreamError whose
// Cause matches messages.ErrIntegrity.
//
// # Retries and failures
//
// minio-go's own retries are off; the runtime retries. A failed multipart
// upload is aborted once its parts in flight have finished, and the abort
// is repeated until the upload stays gone; when the endpoint cannot be
// reached, the upload is remembered and aborted by the next call that
// reaches it. Puts from a File or an io.Seeker are re-read on a retry;
// other bodies only if no byte was read. Gets into a File resume from the
// bytes on disk (same object version, checked with If-Match); gets into a
// Writer are retried only if nothing was written.
//
// # Concurrency and memory
//
// The Adapter is safe for concurrent use. Each Do builds a minio-go client
// for the call's endpoint and key (about 9 µs and 6 KB) around the shared
// HTTP transport, so connections are pooled by call.Client.HTTP as for
// every other backend. A put from a file or an io.ReaderAt reads parts in
// place; one from a stream buffers Concurrency × PartSize (32 MiB by
// default), outside the Go heap where the platform allows. A get moves 1 MiB
// chunks through four buffers.
package s3

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Defaults and limits.
const (
	// DefaultRegion signs requests to non-AWS endpoints.
	DefaultRegion = "us-east-1"
	// DefaultPartSize and DefaultConcurrency shape multipart uploads:
	// memory use is about their product (32 MiB).
	DefaultPartSize    = 8 << 20
	DefaultConcurrency = 4
	// MinPartSize and MaxParts are S3's limits; MaxSinglePut is the largest
	// object one PUT may carry.
	MinPartSize  = 5 << 20
	MaxParts     = 10000
	MaxSinglePut = 5 << 30
	// DefaultPresignExpiry and MaxPresignExpiry bound presigned URLs.
	DefaultPresignExpiry = 15 * time.Minute
	MaxPresignExpiry     = 7 * 24 * time.Hour
	// MaxListKeys is the largest page ListObjectsV2 returns.
	MaxListKeys = 1000
	// MetaSHA256 is the user metadata key that holds an object's SHA-256.
	MetaSHA256 = "sha256"
)

// Options configure an Adapter. The zero value means every default.
type Options struct {
	// Region signs requests to endpoints whose host does not name one
	// (default "us-east-1").
	Region string
	// PartSize, Concurrency and MultipartThreshold are the defaults for
	// puts that do not set their own (see messages.PutObjectRequest).
	PartSize           int64
	Concurrency        int
	MultipartThreshold int64
	// UnsignedPayload sends the bytes of multipart parts as
	// UNSIGNED-PAYLOAD on plain HTTP too, as minio-go and the AWS SDKs send
	// them over HTTPS; integrity then rests on the CRC-64/NVME of each part
	// (in a signed header the server checks) and of the whole object. Off
	// by default: on plain HTTP the parts carry SigV4 streaming signatures
	// (minio-go's default there), because unsigned bytes on plain HTTP are
	// not authenticated against an attacker on the path (who could forge a
	// CRC). Turning it on saves a SHA-256 pass over the object on the
	// client and another on the server (about 40 % of the CPU of a put,
	// client and server together: BenchmarkAdapterPutInterleaved); use it
	// on a network you trust. Has no effect over HTTPS, where parts always
	// go unsigned.
	UnsignedPayload bool
}

// Adapter implements providers.Adapter for S3-compatible storage. It is
// safe for concurrent use; its only mutable state is the orphan list: the
// multipart uploads a failed put could not abort because the endpoint was
// unreachable, aborted by a later call that reaches it (see orphans.go).
type Adapter struct {
	opts    Options
	orphans orphanList
}

// New returns an adapter with the default options.
func New() *Adapter { return &Adapter{} }

// NewWithOptions returns an adapter with opts.
func NewWithOptions(opts Options) *Adapter { return &Adapter{opts: opts} }

var _ providers.Adapter = (*Adapter)(nil)

// Kind returns "s3".
func (*Adapter) Kind() string { return "s3" }

// Check accepts the object requests of package messages (PutObjectRequest,
// GetObjectRequest, StatObjectRequest, ListObjectsRequest,
// DeleteObjectsRequest, CopyObjectRequest, PresignRequest,
// BucketExistsRequest, MakeBucketRequest) when they name valid buckets and
// keys and their options are in range; anything else is ErrUnsupported.
func (a *Adapter) Check(req messages.Request) error {
	switch r := req.(type) {
	case *messages.PutObjectRequest:
		if r == nil {
			return invalid(nil, "nil %s request", req.Operation())
		}
		return a.checkPut(r)
	case *messages.GetObjectRequest:
		if r == nil {
			return invalid(nil, "nil %s request", req.Operation())
		}
		return checkGet(r)
	case *messages.StatObjectRequest:
		if r == nil {
			return invalid(nil, "nil %s request", req.Operation())
		}
		return checkObject(r, r.Bucket, r.Object)
	case *messages.ListObjectsRequest:
		if r == nil {
			return invalid(nil, "nil %s request", req.Operation())
		}
		return checkList(r)
	case *messages.DeleteObjectsRequest:
		if r == nil {
			return invalid(nil, "nil %s request", req.Operation())
		}
		return checkDelete(r)
	case *messages.CopyObjectRequest:
		if r == nil {
			return invalid(nil, "nil %s request", req.Operation())
		}
		if err := checkObject(r, r.SrcBucket, r.SrcObject); err != nil {
			return err
		}
		if err := checkObject(r, r.DstBucket, r.DstObject); err != nil {
			return err
		}
		return checkMetadata(r, r.Metadata)
	case *messages.PresignRequest:
		if r == nil {
			return invalid(nil, "nil %s request", req.Operation())
		}
		return checkPresign(r)
	case *messages.BucketExistsRequest:
		if r == nil {
			return invalid(nil, "nil %s request", req.Operation())
		}
		return checkBucket(r, r.Bucket)
	case *messages.MakeBucketRequest:
		if r == nil {
			return invalid(nil, "nil %s request", req.Operation())
		}
		return checkBucket(r, r.Bucket)
	}
	return unsupported(req)
}

// Do performs one attempt of an object operation.
func (a *Adapter) Do(ctx context.Context, call *providers.Call) (resp messages.Response, err error) {
	if err := a.Check(call.Request); err != nil {
		return nil, call.Fail(messages.ClassInvalid, 0, err.Error(), err)
	}
	c, err := newCallClient(ctx, call, a.opts.Region)
	if err != nil {
		return nil, err
	}
	c.orphan = func(o orphan) { a.orphans.add(c.owner, o) }
	defer c.finish()
	defer func() {
		// The endpoint answered: abort what it was left holding.
		var ue *messages.UpstreamError
		if err == nil || (errors.As(err, &ue) && ue.Status != 0) {
			a.orphans.drain(ctx, c)
		}
	}()
	switch r := call.Request.(type) {
	case *messages.PutObjectRequest:
		return a.put(ctx, c, r)
	case *messages.GetObjectRequest:
		return get(ctx, c, r)
	case *messages.StatObjectRequest:
		return stat(ctx, c, r)
	case *messages.ListObjectsRequest:
		return list(ctx, c, r)
	case *messages.DeleteObjectsRequest:
		return remove(ctx, c, r)
	case *messages.CopyObjectRequest:
		return copyObject(ctx, c, r)
	case *messages.PresignRequest:
		return presign(ctx, c, r)
	case *messages.BucketExistsRequest:
		return bucketExists(ctx, c, r)
	case *messages.MakeBucketRequest:
		return makeBucket(ctx, c, r)
	}
	e := unsupported(call.Request)
	return nil, call.Fail(messages.ClassInvalid, 0, e.Error(), e)
}

// meta returns the response metadata the adapter knows; the runtime fills
// the rest.
func meta(c *callClient) messages.Meta {
	c.sync()
	return messages.Meta{
		RequestID:         c.call.RequestID,
		UpstreamRequestID: c.call.Result.UpstreamRequestID,
		Provider:          c.call.Provider,
		Endpoint:          c.call.Endpoint,
		Key:               c.call.Key.Label(),
	}
}

func requestError(req messages.Request, kind error, format string, args ...any) *messages.RequestError {
	return providers.RequestError(kind, providers.CallInfo(req), "", fmt.Sprintf(format, args...))
}

func invalid(req messages.Request, format string, args ...any) *messages.RequestError {
	return requestError(req, messages.ErrInvalidRequest, format, args...)
}

func unsupported(req messages.Request) *messages.RequestError {
	op := "<nil>"
	if req != nil {
		op = req.Operation()
	}
	return requestError(req, messages.ErrUnsupported, "s3 does not serve the %q operation", op)
}
