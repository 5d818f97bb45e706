package s3

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/switchyard-ai/switchyard/messages"
)

// objectInfo maps minio-go's ObjectInfo.
func objectInfo(bucket string, oi minio.ObjectInfo) messages.ObjectInfo {
	info := messages.ObjectInfo{
		Bucket: bucket, Key: oi.Key, Size: oi.Size, ETag: strings.Trim(oi.ETag, `"`), LastModified: oi.LastModified,
		ContentType: oi.ContentType, VersionID: oi.VersionID, StorageClass: oi.StorageClass,
	}
	if oi.ChecksumMode != "COMPOSITE" {
		info.CRC64NVME = oi.ChecksumCRC64NVME
	}
	if len(oi.UserMetadata) > 0 {
		info.Metadata = make(map[string]string, len(oi.UserMetadata))
		for k, v := range oi.UserMetadata {
			k = strings.ToLower(strings.TrimPrefix(strings.ToLower(k), "x-amz-meta-"))
			info.Metadata[k] = v
		}
		info.SHA256 = info.Metadata[MetaSHA256]
	}
	return info
}

// stat reads an object's metadata with HEAD. A missing object is ClassInvalid
// with an *ObjectError matching ErrNotFound.
func stat(ctx context.Context, c *callClient, r *messages.StatObjectRequest) (messages.Response, error) {
	oi, err := c.plain.StatObject(ctx, r.Bucket, r.Object, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		return nil, c.classify(ctx, err, r.Bucket, r.Object)
	}
	return &messages.StatObjectResponse{Meta: meta(c), Object: objectInfo(r.Bucket, oi)}, nil
}

// list fetches one ListObjectsV2 page.
func list(ctx context.Context, c *callClient, r *messages.ListObjectsRequest) (messages.Response, error) {
	maxKeys := r.MaxKeys
	if maxKeys == 0 {
		maxKeys = MaxListKeys
	}
	// Core.ListObjectsV2 takes no context: the call's transport applies the
	// call's.
	res, err := minio.Core{Client: c.plain}.ListObjectsV2(r.Bucket, r.Prefix, r.StartAfter, r.ContinuationToken, r.Delimiter, maxKeys)
	if err != nil {
		return nil, c.classify(ctx, err, r.Bucket, "")
	}
	resp := &messages.ListObjectsResponse{IsTruncated: res.IsTruncated, NextContinuationToken: res.NextContinuationToken}
	for _, o := range res.Contents {
		resp.Objects = append(resp.Objects, objectInfo(r.Bucket, o))
	}
	for _, p := range res.CommonPrefixes {
		resp.CommonPrefixes = append(resp.CommonPrefixes, p.Prefix)
	}
	resp.Meta = meta(c)
	return resp, nil
}

// remove deletes one key with DELETE, or many with multi-object deletes.
// Keys the server refuses one by one are listed in the answer; a request
// that fails as a whole is the error.
func remove(ctx context.Context, c *callClient, r *messages.DeleteObjectsRequest) (messages.Response, error) {
	resp := &messages.DeleteObjectsResponse{}
	if len(r.Objects) == 1 {
		if err := c.plain.RemoveObject(ctx, r.Bucket, r.Objects[0], minio.RemoveObjectOptions{}); err != nil {
			return nil, c.classify(ctx, err, r.Bucket, r.Objects[0])
		}
		resp.Deleted = r.Objects
		resp.Meta = meta(c)
		return resp, nil
	}
	keys := func(yield func(minio.ObjectInfo) bool) {
		for _, k := range r.Objects {
			if !yield(minio.ObjectInfo{Key: k}) {
				return
			}
		}
	}
	results, err := c.plain.RemoveObjectsWithIter(ctx, r.Bucket, iter.Seq[minio.ObjectInfo](keys), minio.RemoveObjectsOptions{})
	if err != nil {
		return nil, c.classify(ctx, err, r.Bucket, "")
	}
	for res := range results {
		if res.Err == nil {
			resp.Deleted = append(resp.Deleted, res.ObjectName)
			continue
		}
		var er minio.ErrorResponse
		if errors.As(res.Err, &er) && er.StatusCode == 0 && er.Code != "" && res.ObjectName != "" {
			// One key refused inside a successful multi-delete.
			resp.Errors = append(resp.Errors, messages.ObjectDeleteError{Key: res.ObjectName, Code: er.Code, Message: er.Message})
			continue
		}
		return nil, c.classify(ctx, res.Err, r.Bucket, "")
	}
	resp.Meta = meta(c)
	return resp, nil
}

// copyObject copies server-side (CopyObject; a 200 carrying an <Error> is an
// error).
func copyObject(ctx context.Context, c *callClient, r *messages.CopyObjectRequest) (messages.Response, error) {
	dst := minio.CopyDestOptions{Bucket: r.DstBucket, Object: r.DstObject}
	if r.Metadata != nil {
		dst.UserMetadata, dst.ReplaceMetadata = r.Metadata, true
	}
	info, err := c.plain.CopyObject(ctx, dst, minio.CopySrcOptions{Bucket: r.SrcBucket, Object: r.SrcObject})
	if err != nil {
		return nil, c.classify(ctx, err, r.SrcBucket, r.SrcObject)
	}
	return &messages.CopyObjectResponse{Meta: meta(c), Bucket: info.Bucket, Object: info.Key, ETag: info.ETag,
		VersionID: info.VersionID, LastModified: info.LastModified}, nil
}

// presign signs a GET or PUT URL locally.
func presign(ctx context.Context, c *callClient, r *messages.PresignRequest) (messages.Response, error) {
	exp := r.Expires
	if exp == 0 {
		exp = DefaultPresignExpiry
	}
	method := strings.ToUpper(r.Method)
	if method == "" {
		method = http.MethodGet
	}
	now := time.Now()
	var (
		u   interface{ String() string }
		err error
	)
	if method == http.MethodPut {
		u, err = c.plain.PresignedPutObject(ctx, r.Bucket, r.Object, exp)
	} else {
		u, err = c.plain.PresignedGetObject(ctx, r.Bucket, r.Object, exp, nil)
	}
	if err != nil {
		return nil, c.classify(ctx, err, r.Bucket, r.Object)
	}
	return &messages.PresignResponse{Meta: meta(c), Method: method, URL: u.String(), ExpiresAt: now.Add(exp)}, nil
}

// bucketExists asks with HEAD; a missing bucket is a plain false.
func bucketExists(ctx context.Context, c *callClient, r *messages.BucketExistsRequest) (messages.Response, error) {
	ok, err := c.plain.BucketExists(ctx, r.Bucket)
	if err != nil {
		return nil, c.classify(ctx, err, r.Bucket, "")
	}
	return &messages.BucketResponse{Meta: meta(c), Bucket: r.Bucket, Exists: ok}, nil
}

// makeBucket creates a bucket.
func makeBucket(ctx context.Context, c *callClient, r *messages.MakeBucketRequest) (messages.Response, error) {
	region := r.Region
	if region == "" {
		region = c.region
	}
	err := c.plain.MakeBucket(ctx, r.Bucket, minio.MakeBucketOptions{Region: region})
	if err != nil {
		var er minio.ErrorResponse
		if r.IgnoreExisting && errors.As(err, &er) && er.Code == "BucketAlreadyOwnedByYou" {
			return &messages.BucketResponse{Meta: meta(c), Bucket: r.Bucket, Exists: true}, nil
		}
		return nil, c.classify(ctx, err, r.Bucket, "")
	}
	return &messages.BucketResponse{Meta: meta(c), Bucket: r.Bucket, Exists: true, Created: true}, nil
}
