package switchyard

import (
	"context"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
)

// Object storage (kind "s3"): every call goes through the same queue,
// retries, breakers, keys, counters and request IDs as the inference
// backends. Transfers verify size and checksum; a mismatch is
// messages.ErrIntegrity, a missing bucket or object messages.ErrNotFound.

// PutObject uploads an object (multipart above the request's threshold) and
// waits for it to be stored and verified. Use PutObjectStream for progress
// chunks.
func (s *Switchyard) PutObject(ctx context.Context, req *messages.PutObjectRequest, opts ...CallOption) (*messages.PutObjectResponse, error) {
	return typed[*messages.PutObjectResponse](s.do(ctx, req, opts, streamOff))
}

// PutObjectStream uploads an object, delivering progress as ChunkProgress
// chunks (Chunk().Progress); Response() is the *messages.PutObjectResponse.
func (s *Switchyard) PutObjectStream(ctx context.Context, req *messages.PutObjectRequest, opts ...CallOption) (*Stream, error) {
	return s.stream(ctx, req, opts)
}

// GetObject downloads an object (or a byte range) to the request's writer or
// file and verifies it.
func (s *Switchyard) GetObject(ctx context.Context, req *messages.GetObjectRequest, opts ...CallOption) (*messages.GetObjectResponse, error) {
	return typed[*messages.GetObjectResponse](s.do(ctx, req, opts, streamOff))
}

// GetObjectStream downloads an object with progress chunks.
func (s *Switchyard) GetObjectStream(ctx context.Context, req *messages.GetObjectRequest, opts ...CallOption) (*Stream, error) {
	return s.stream(ctx, req, opts)
}

// StatObject returns an object's metadata (HEAD).
func (s *Switchyard) StatObject(ctx context.Context, req *messages.StatObjectRequest, opts ...CallOption) (*messages.StatObjectResponse, error) {
	return typed[*messages.StatObjectResponse](s.Do(ctx, req, opts...))
}

// ListObjects lists one page of objects (prefix, delimiter, continuation).
func (s *Switchyard) ListObjects(ctx context.Context, req *messages.ListObjectsRequest, opts ...CallOption) (*messages.ListObjectsResponse, error) {
	return typed[*messages.ListObjectsResponse](s.Do(ctx, req, opts...))
}

// DeleteObjects deletes one or many objects.
func (s *Switchyard) DeleteObjects(ctx context.Context, req *messages.DeleteObjectsRequest, opts ...CallOption) (*messages.DeleteObjectsResponse, error) {
	return typed[*messages.DeleteObjectsResponse](s.Do(ctx, req, opts...))
}

// CopyObject copies an object server-side.
func (s *Switchyard) CopyObject(ctx context.Context, req *messages.CopyObjectRequest, opts ...CallOption) (*messages.CopyObjectResponse, error) {
	return typed[*messages.CopyObjectResponse](s.Do(ctx, req, opts...))
}

// Presign returns a presigned GET or PUT URL, signed with the key the
// provider picks for the endpoint it routes to.
func (s *Switchyard) Presign(ctx context.Context, req *messages.PresignRequest, opts ...CallOption) (*messages.PresignResponse, error) {
	return typed[*messages.PresignResponse](s.Do(ctx, req, opts...))
}

// PresignGet is Presign for a GET URL valid for expires.
func (s *Switchyard) PresignGet(ctx context.Context, provider, bucket, object string, expires time.Duration, opts ...CallOption) (*messages.PresignResponse, error) {
	return s.Presign(ctx, &messages.PresignRequest{Call: messages.Call{Provider: provider}, Method: "GET", Bucket: bucket, Object: object, Expires: expires}, opts...)
}

// PresignPut is Presign for a PUT URL valid for expires.
func (s *Switchyard) PresignPut(ctx context.Context, provider, bucket, object string, expires time.Duration, opts ...CallOption) (*messages.PresignResponse, error) {
	return s.Presign(ctx, &messages.PresignRequest{Call: messages.Call{Provider: provider}, Method: "PUT", Bucket: bucket, Object: object, Expires: expires}, opts...)
}

// BucketExists reports whether a bucket exists and is accessible.
func (s *Switchyard) BucketExists(ctx context.Context, req *messages.BucketExistsRequest, opts ...CallOption) (*messages.BucketResponse, error) {
	return typed[*messages.BucketResponse](s.Do(ctx, req, opts...))
}

// MakeBucket creates a bucket.
func (s *Switchyard) MakeBucket(ctx context.Context, req *messages.MakeBucketRequest, opts ...CallOption) (*messages.BucketResponse, error) {
	return typed[*messages.BucketResponse](s.Do(ctx, req, opts...))
}
