package s3

import "github.com/switchyard-ai/switchyard/providers"

// EnvPrefix is the prefix of the environment variables an s3 provider reads
// by default: keys from S3_ACCESS_KEY and S3_SECRET_KEY (and their _1…_N
// variants), endpoints from S3_ENDPOINT (and _1…_N) when none is configured.
const EnvPrefix = "S3"

// Descriptor describes the "s3" kind: S3-compatible object storage, whose
// keys are ACCESS:SECRET pairs the adapter signs with. It has no default
// base URL. It is plain data, safe for concurrent use.
var Descriptor = providers.Descriptor{
	Kind:    "s3",
	Service: "S3-compatible object storage for model files (tested against versitygw)",
	Operations: "put from a reader or file (multipart, part checksums, abort on failure; `PutObject`, " +
		"`PutObjectStream` with progress), get to a writer or file (ranges, resume; `GetObject`, " +
		"`GetObjectStream`), `StatObject`, `ListObjects`, `DeleteObjects`, `CopyObject`, " +
		"`PresignGet`/`PresignPut`, `BucketExists`, `MakeBucket`; size and checksum verified " +
		"(`ErrIntegrity`), `ErrNotFound`",
	New:         func(providers.AdapterOptions) providers.Adapter { return New() },
	BaseURLHint: "from `" + EnvPrefix + "_ENDPOINT` (and `" + EnvPrefix + "_ENDPOINT_1…`)",
	KeyEnv:      EnvPrefix,
	KeyPair:     true,
	KeysHint: "`" + EnvPrefix + "_ACCESS_KEY` + `" + EnvPrefix + "_SECRET_KEY` pairs (and `_1…`); " +
		"in config `secret: ACCESS:SECRET`",
	Credentials: []providers.CredentialKind{providers.CredentialAccessKeyPair},
}
