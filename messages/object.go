package messages

import (
	"errors"
	"io"
	"strings"
	"time"
)

// Object storage (S3-compatible) requests and responses. Every request embeds
// Call, so object operations share the queue, priorities, retries, breakers,
// key multiplexing, counters and request IDs with the inference operations.
//
// An object's name (S3's "key") is in fields called Object in requests and
// responses, where Key is taken by Call.Key and Meta.Key (the API key's
// label); ObjectInfo, ObjectError and ObjectDeleteError, which carry neither,
// call it Key as S3 does.
//
// Retries and request bodies: a put whose source is a File or an io.Seeker is
// re-read from the start on every attempt and may be retried; a put from any
// other io.Reader is retried only if no byte was read from it yet. A get into
// a File resumes from the bytes already on disk; a get into a Writer is
// retried only if nothing was written to it yet. An error that may not be
// retried has ShouldRetry set to false.

// Sentinels for object storage failures; the *UpstreamError's Cause is an
// *ObjectError that matches them with errors.Is.
var (
	// ErrNotFound: the bucket, object or multipart upload does not exist
	// (S3 NoSuchBucket, NoSuchKey, NoSuchUpload, a 404 on HEAD).
	ErrNotFound = errors.New("switchyard: not found")
	// ErrIntegrity: the bytes transferred do not match the expected size or
	// checksum (S3 BadDigest, a SHA-256 or CRC-64 mismatch found by
	// Switchyard, a body shorter than its declared size).
	ErrIntegrity = errors.New("switchyard: integrity check failed")
)

// Operation names of the object requests; they label counters.
const (
	OpObjectPut    = "s3.put"
	OpObjectGet    = "s3.get"
	OpObjectStat   = "s3.stat"
	OpObjectList   = "s3.list"
	OpObjectDelete = "s3.delete"
	OpObjectCopy   = "s3.copy"
	OpPresign      = "s3.presign"
	OpBucketExists = "s3.bucket_exists"
	OpMakeBucket   = "s3.make_bucket"
)

// Object error codes Switchyard itself uses in ObjectError.Code (S3's own
// codes, e.g. "NoSuchKey" or "BadDigest", are passed through as sent).
const (
	// CodeChecksumMismatch: a SHA-256 or CRC-64/NVME computed over the bytes
	// differs from the one expected or stored.
	CodeChecksumMismatch = "ChecksumMismatch"
	// CodeSizeMismatch: the transfer moved a different number of bytes than
	// declared (Size, Content-Length, the object's size).
	CodeSizeMismatch = "SizeMismatch"
)

// ObjectError describes an object storage failure that concerns a bucket or
// object: the S3 error code (or one of the Code… constants above), and what
// it was about. It is the Cause of the *UpstreamError, so errors.Is(err,
// ErrNotFound) and errors.Is(err, ErrIntegrity) work on what the facade
// returns.
type ObjectError struct {
	Code    string
	Bucket  string
	Key     string
	Message string
}

// Error returns "s3 <Code> <bucket>/<key>: <message>".
func (e *ObjectError) Error() string {
	var b strings.Builder
	b.WriteString("s3 ")
	b.WriteString(e.Code)
	if e.Bucket != "" {
		b.WriteString(" ")
		b.WriteString(e.Bucket)
		if e.Key != "" {
			b.WriteString("/")
			b.WriteString(e.Key)
		}
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Is matches ErrNotFound for the not-found codes and ErrIntegrity for the
// checksum and size codes.
func (e *ObjectError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		switch e.Code {
		case "NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NoSuchVersion", "NotFound":
			return true
		}
	case ErrIntegrity:
		switch e.Code {
		case CodeChecksumMismatch, CodeSizeMismatch, "BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch",
			"XAmzContentChecksumMismatch", "IncompleteBody":
			return true
		}
	}
	return false
}

// MutatingRequest is implemented by the requests that change stored data
// (put, delete, copy, make bucket, presigned PUT). Routing can keep them off
// endpoints that are read-only replicas; reads may go anywhere.
type MutatingRequest interface {
	Request
	Mutates() bool
}

// ChunkProgress chunks carry an *ObjectProgress in StreamChunk.Progress.
const ChunkProgress ChunkType = "progress"

// ObjectProgress reports how far a transfer is. Done counts object bytes
// (not wire bytes) read from the source of a put, or written to the
// destination of a get, including a resumed prefix already on disk. A retry
// starts a new series with a higher Attempt: for a put Done restarts at 0,
// for a resumed get at the bytes on disk.
type ObjectProgress struct {
	// Operation is OpObjectPut or OpObjectGet.
	Operation string
	Bucket    string
	Object    string
	// Done bytes of Total; Total is -1 while unknown.
	Done  int64
	Total int64
	// Attempt is the runtime's attempt number (1 for the first); Endpoint
	// the endpoint serving it.
	Attempt  int
	Endpoint string
	// Final is set on the last report of a successful attempt.
	Final bool
}

// ProgressFunc receives progress reports. It is called from the goroutine
// doing the transfer, one call at a time, and must not block for long.
type ProgressFunc func(ObjectProgress)

// PutObjectRequest uploads one object from Body or from the local File.
// Objects larger than MultipartThreshold, and all objects of unknown size,
// go up in parts; a failed multipart upload is aborted, so no partial object
// becomes visible.
type PutObjectRequest struct {
	Call
	Bucket string
	Object string
	// Body yields the content; Size is its exact length, or 0 or negative
	// when unknown (Body is then read to EOF). When Size is given exactly
	// Size bytes are read, and a Body that ends earlier is an error. A Body
	// that implements io.Seeker is uploaded from offset 0 and rewound for a
	// retry; with Size unknown its length is found by seeking. Any other
	// Body is wrapped (the field is replaced) to count what it yielded, so
	// a retry is refused once an attempt read from it.
	Body io.Reader
	Size int64
	// File is a local path to upload instead of Body.
	File string
	// ContentType defaults to application/octet-stream.
	ContentType string
	// Metadata is stored as user metadata (x-amz-meta-*).
	Metadata map[string]string
	// SHA256 is the expected hex SHA-256 of the content, optional. When set
	// it is stored as user metadata "sha256" (later gets verify against it),
	// and an upload whose bytes differ is aborted with ErrIntegrity.
	SHA256 string
	// HashSHA256 computes the content's SHA-256 while uploading and returns
	// it in PutObjectResponse.SHA256 (default false: the upload is checked
	// by its CRC-64/NVME alone, as the S3 SDKs check it; a SHA-256 pass
	// adds about 40 % to a put's client CPU). Setting SHA256 implies it.
	HashSHA256 bool
	// PartSize of a multipart upload (default 8 MiB, minimum 5 MiB; raised
	// when needed to stay within 10,000 parts). Concurrency is how many
	// parts are in flight (default 4); memory use is about PartSize ×
	// Concurrency. MultipartThreshold is the largest object sent in one PUT
	// (default and minimum PartSize, maximum 5 GiB).
	PartSize           int64
	Concurrency        int
	MultipartThreshold int64
	// Stream asks for ChunkProgress chunks (facade: PutObjectStream).
	Stream bool
	// OnProgress, if set, receives the same reports as the chunks.
	OnProgress ProgressFunc
}

// Operation returns OpObjectPut.
func (*PutObjectRequest) Operation() string { return OpObjectPut }

// Mutates returns true.
func (*PutObjectRequest) Mutates() bool { return true }

// Streaming reports whether progress chunks were asked for.
func (r *PutObjectRequest) Streaming() bool { return r.Stream }

// PutObjectResponse describes the stored object.
type PutObjectResponse struct {
	Meta
	Bucket    string
	Object    string
	Size      int64
	ETag      string
	VersionID string
	// SHA256 is the hex SHA-256 of the bytes uploaded, computed while
	// streaming; empty unless the request set HashSHA256 or SHA256.
	// CRC64NVME is the base64 CRC-64/NVME of the whole object, always set.
	SHA256    string
	CRC64NVME string
	// Multipart reports a multipart upload; Parts its part count.
	Multipart bool
	Parts     int
	// Verified lists the checks that passed after the transfer: "size"
	// always, "crc64nvme" when the server confirmed the full-object
	// checksum, "sha256" when an expected SHA256 was given.
	Verified []string
}

// GetObjectRequest downloads an object, or a byte range of it, into Writer
// or into the local File. A File download goes to File+".part-<etag hash>"
// first and is renamed into place once verified; an interrupted one resumes
// from the bytes on disk, on a retry or on a later request for the same
// object version.
type GetObjectRequest struct {
	Call
	Bucket string
	Object string
	Writer io.Writer
	File   string
	// Offset and Length select a byte range; Length 0 means to the end.
	// A ranged get is checked for its length only.
	Offset int64
	Length int64
	// SHA256 is the expected hex SHA-256 of the whole object, optional;
	// when empty, the object's "sha256" user metadata is used if present.
	SHA256 string
	// Stream asks for ChunkProgress chunks (facade: GetObjectStream).
	Stream bool
	// OnProgress, if set, receives the same reports as the chunks.
	OnProgress ProgressFunc
}

// Operation returns OpObjectGet.
func (*GetObjectRequest) Operation() string { return OpObjectGet }

// Streaming reports whether progress chunks were asked for.
func (r *GetObjectRequest) Streaming() bool { return r.Stream }

// GetObjectResponse describes what was downloaded.
type GetObjectResponse struct {
	Meta
	Object ObjectInfo
	// Bytes is how many bytes the destination holds (for a resumed get,
	// Resumed of them were already on disk).
	Bytes   int64
	Resumed int64
	// SHA256 is the hex SHA-256 of the whole object, computed (and
	// verified) when one was expected: the request's SHA256 or the object's
	// "sha256" metadata. Otherwise it is empty and the integrity check is
	// the server's full-object CRC-64/NVME; hashing costs CPU (about 2 GB/s
	// per core) that a get does not spend unless it can verify the result.
	SHA256 string
	// Verified lists the checks that passed: "size", "crc64nvme" (the
	// server's full-object checksum), "sha256" (expected or stored).
	Verified []string
}

// ObjectInfo is an object's metadata as a HEAD, GET or list reports it.
type ObjectInfo struct {
	Bucket       string
	Key          string
	Size         int64
	ETag         string
	LastModified time.Time
	ContentType  string
	VersionID    string
	StorageClass string
	// Metadata is the user metadata, keys in lower case without the
	// x-amz-meta- prefix.
	Metadata map[string]string
	// SHA256 is the "sha256" user metadata; CRC64NVME the server's
	// full-object checksum, when it reports one.
	SHA256    string
	CRC64NVME string
}

// StatObjectRequest reads an object's metadata (HEAD).
type StatObjectRequest struct {
	Call
	Bucket string
	Object string
}

// Operation returns OpObjectStat.
func (*StatObjectRequest) Operation() string { return OpObjectStat }

// StatObjectResponse holds the object's metadata.
type StatObjectResponse struct {
	Meta
	Object ObjectInfo
}

// ListObjectsRequest lists one page of a bucket (ListObjectsV2).
type ListObjectsRequest struct {
	Call
	Bucket    string
	Prefix    string
	Delimiter string
	// MaxKeys per page (default and maximum 1000).
	MaxKeys int
	// ContinuationToken is the previous page's NextContinuationToken;
	// StartAfter starts the listing after this key.
	ContinuationToken string
	StartAfter        string
}

// Operation returns OpObjectList.
func (*ListObjectsRequest) Operation() string { return OpObjectList }

// ListObjectsResponse is one page.
type ListObjectsResponse struct {
	Meta
	Objects []ObjectInfo
	// CommonPrefixes are the "directories" under a Delimiter.
	CommonPrefixes []string
	// IsTruncated reports more pages; pass NextContinuationToken to get the
	// next one.
	IsTruncated           bool
	NextContinuationToken string
}

// DeleteObjectsRequest deletes one object (DELETE) or many (multi-object
// delete, 1000 per request). Deleting a missing object succeeds.
type DeleteObjectsRequest struct {
	Call
	Bucket  string
	Objects []string
}

// Operation returns OpObjectDelete.
func (*DeleteObjectsRequest) Operation() string { return OpObjectDelete }

// Mutates returns true.
func (*DeleteObjectsRequest) Mutates() bool { return true }

// DeleteObjectsResponse lists what was deleted and the keys the server
// refused one by one. A failure of the whole request is an error instead.
type DeleteObjectsResponse struct {
	Meta
	Deleted []string
	Errors  []ObjectDeleteError
}

// ObjectDeleteError is one key a multi-object delete could not delete.
type ObjectDeleteError struct {
	Key     string
	Code    string
	Message string
}

// CopyObjectRequest copies an object server-side (up to 5 GiB) within one
// endpoint.
type CopyObjectRequest struct {
	Call
	SrcBucket, SrcObject string
	DstBucket, DstObject string
	// Metadata, when non-nil, replaces the user metadata; nil copies it.
	Metadata map[string]string
}

// Operation returns OpObjectCopy.
func (*CopyObjectRequest) Operation() string { return OpObjectCopy }

// Mutates returns true.
func (*CopyObjectRequest) Mutates() bool { return true }

// CopyObjectResponse describes the new object.
type CopyObjectResponse struct {
	Meta
	Bucket       string
	Object       string
	ETag         string
	VersionID    string
	LastModified time.Time
}

// PresignRequest signs a URL that lets its holder GET or PUT one object
// without credentials until it expires. Signing is local (no request is
// sent), but it goes through the runtime so endpoint and key selection
// apply; the URL points at the chosen endpoint.
type PresignRequest struct {
	Call
	// Method is "GET" (default) or "PUT".
	Method string
	Bucket string
	Object string
	// Expires is the URL's lifetime: default 15 minutes, at most 7 days.
	Expires time.Duration
}

// Operation returns OpPresign.
func (*PresignRequest) Operation() string { return OpPresign }

// Mutates reports a presigned PUT: the URL will write to the endpoint.
func (r *PresignRequest) Mutates() bool { return strings.EqualFold(r.Method, "PUT") }

// PresignResponse holds the signed URL. The URL is a bearer credential for
// that one object: do not log it.
type PresignResponse struct {
	Meta
	Method    string
	URL       string
	ExpiresAt time.Time
}

// BucketExistsRequest asks whether a bucket exists and is accessible.
type BucketExistsRequest struct {
	Call
	Bucket string
}

// Operation returns OpBucketExists.
func (*BucketExistsRequest) Operation() string { return OpBucketExists }

// MakeBucketRequest creates a bucket.
type MakeBucketRequest struct {
	Call
	Bucket string
	// Region is the bucket's location constraint; empty uses the
	// endpoint's region.
	Region string
	// IgnoreExisting makes a bucket that already exists and is owned by
	// this key a success (Created false).
	IgnoreExisting bool
}

// Operation returns OpMakeBucket.
func (*MakeBucketRequest) Operation() string { return OpMakeBucket }

// Mutates returns true.
func (*MakeBucketRequest) Mutates() bool { return true }

// BucketResponse answers BucketExistsRequest and MakeBucketRequest.
type BucketResponse struct {
	Meta
	Bucket  string
	Exists  bool
	Created bool
}
