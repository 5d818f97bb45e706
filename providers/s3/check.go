package s3

import (
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/switchyard-ai/switchyard/messages"
)

// maxKeyLength is S3's limit on an object key, in bytes.
const maxKeyLength = 1024

func checkBucket(req messages.Request, bucket string) error {
	if err := s3utils.CheckValidBucketName(bucket); err != nil {
		return invalid(req, "bucket %q: %v", bucket, err)
	}
	return nil
}

func checkObject(req messages.Request, bucket, key string) error {
	if err := checkBucket(req, bucket); err != nil {
		return err
	}
	if err := s3utils.CheckValidObjectName(key); err != nil {
		return invalid(req, "key %q: %v", key, err)
	}
	if len(key) > maxKeyLength {
		return invalid(req, "key is %d bytes long; S3 allows %d", len(key), maxKeyLength)
	}
	return nil
}

func checkSHA256(req messages.Request, sum string) error {
	if sum == "" {
		return nil
	}
	if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
		return invalid(req, "SHA256 must be 64 hex digits")
	}
	return nil
}

// checkMetadata rejects user metadata that cannot travel as x-amz-meta-*
// headers.
func checkMetadata(req messages.Request, md map[string]string) error {
	for k, v := range md {
		if !validHeaderName(k) {
			return invalid(req, "metadata key %q is not a valid header name", k)
		}
		if reservedMetadataKey(k) {
			return invalid(req, "metadata key %q is a standard or x-amz-/x-minio- header, not user metadata", k)
		}
		if !validHeaderValue(v) {
			return invalid(req, "metadata value of %q is not a valid header value", k)
		}
	}
	return nil
}

func (a *Adapter) checkPut(r *messages.PutObjectRequest) error {
	if err := checkObject(r, r.Bucket, r.Object); err != nil {
		return err
	}
	switch {
	case r.File != "" && r.Body != nil:
		return invalid(r, "set Body or File, not both")
	case r.File == "" && r.Body == nil:
		return invalid(r, "set Body or File")
	case r.PartSize != 0 && r.PartSize < MinPartSize:
		return invalid(r, "PartSize %d is below S3's minimum of %d", r.PartSize, MinPartSize)
	case r.PartSize > MaxSinglePut:
		return invalid(r, "PartSize %d is above S3's maximum of %d", r.PartSize, int64(MaxSinglePut))
	case r.Concurrency < 0:
		return invalid(r, "Concurrency must not be negative")
	case r.MultipartThreshold < 0 || r.MultipartThreshold > MaxSinglePut:
		return invalid(r, "MultipartThreshold must be between 0 and %d", int64(MaxSinglePut))
	}
	for k := range r.Metadata {
		if strings.EqualFold(k, MetaSHA256) && r.SHA256 != "" {
			return invalid(r, "metadata %q is set from SHA256; do not set both", k)
		}
	}
	if err := checkMetadata(r, r.Metadata); err != nil {
		return err
	}
	return checkSHA256(r, r.SHA256)
}

func checkGet(r *messages.GetObjectRequest) error {
	if err := checkObject(r, r.Bucket, r.Object); err != nil {
		return err
	}
	switch {
	case r.File != "" && r.Writer != nil:
		return invalid(r, "set Writer or File, not both")
	case r.File == "" && r.Writer == nil:
		return invalid(r, "set Writer or File")
	case r.Offset < 0 || r.Length < 0:
		return invalid(r, "Offset and Length must not be negative")
	case r.SHA256 != "" && (r.Offset != 0 || r.Length != 0):
		return invalid(r, "SHA256 verifies a whole object; it cannot be combined with a range")
	}
	return checkSHA256(r, r.SHA256)
}

func checkList(r *messages.ListObjectsRequest) error {
	if err := checkBucket(r, r.Bucket); err != nil {
		return err
	}
	if r.MaxKeys < 0 || r.MaxKeys > MaxListKeys {
		return invalid(r, "MaxKeys must be between 0 and %d", MaxListKeys)
	}
	if err := s3utils.CheckValidObjectNamePrefix(r.Prefix); err != nil {
		return invalid(r, "prefix %q: %v", r.Prefix, err)
	}
	return nil
}

func checkDelete(r *messages.DeleteObjectsRequest) error {
	if err := checkBucket(r, r.Bucket); err != nil {
		return err
	}
	if len(r.Objects) == 0 {
		return invalid(r, "no keys to delete")
	}
	for _, k := range r.Objects {
		if err := checkObject(r, r.Bucket, k); err != nil {
			return err
		}
	}
	return nil
}

func checkPresign(r *messages.PresignRequest) error {
	if err := checkObject(r, r.Bucket, r.Object); err != nil {
		return err
	}
	switch strings.ToUpper(r.Method) {
	case "", http.MethodGet, http.MethodPut:
	default:
		return invalid(r, "presigned method %q: only GET and PUT are supported", r.Method)
	}
	if r.Expires < 0 || r.Expires > MaxPresignExpiry {
		return invalid(r, "Expires must be between 0 (default %s) and %s", DefaultPresignExpiry, MaxPresignExpiry)
	}
	return nil
}

// validHeaderName reports an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x7f || c <= ' ' || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// validHeaderValue reports a field value without control characters.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// reservedMetadataKey reports keys minio-go would send as headers of their
// own rather than as x-amz-meta-*.
func reservedMetadataKey(k string) bool {
	k = strings.ToLower(k)
	if strings.HasPrefix(k, "x-amz-") || strings.HasPrefix(k, "x-minio-") {
		return true
	}
	switch k {
	case "content-type", "cache-control", "content-encoding", "content-disposition", "content-language", "expires",
		"x-amz-storage-class", "content-length", "content-md5", "authorization", "host":
		return true
	}
	return false
}
