package s3

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// Bounds of the orphan list.
const (
	// maxOrphans is how many unaborted uploads are remembered per endpoint
	// and access key; older ones are forgotten (a lifecycle rule such as
	// AbortIncompleteMultipartUpload must catch those).
	maxOrphans = 1000
	// orphansPerCall is how many a call aborts on its way out.
	orphansPerCall = 16
	orphanTimeout  = 5 * time.Second
)

// orphan is a multipart upload a failed put could not abort.
type orphan struct {
	bucket, key, id string
}

// orphanList remembers, per endpoint and access key, the multipart uploads
// that could not be aborted because the endpoint was unreachable (it died
// in the middle of the upload). The next call that reaches that endpoint
// with that access key aborts a few of them before it returns. Safe for
// concurrent use; the zero value is empty.
type orphanList struct {
	mu sync.Mutex
	m  map[string][]orphan
}

func (l *orphanList) add(owner string, o orphan) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string][]orphan{}
	}
	list := append(l.m[owner], o)
	if len(list) > maxOrphans {
		list = list[len(list)-maxOrphans:]
	}
	l.m[owner] = list
}

// take removes and returns up to n orphans of owner.
func (l *orphanList) take(owner string, n int) []orphan {
	l.mu.Lock()
	defer l.mu.Unlock()
	list := l.m[owner]
	if len(list) == 0 {
		return nil
	}
	n = min(n, len(list))
	out := append([]orphan(nil), list[:n]...)
	l.m[owner] = list[n:]
	if len(l.m[owner]) == 0 {
		delete(l.m, owner)
	}
	return out
}

// pending returns how many orphans owner has (for tests).
func (l *orphanList) pending(owner string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m[owner])
}

// drain aborts up to orphansPerCall of c's orphans. An upload that is gone
// already (NoSuchUpload) is done; one the endpoint could not be asked about
// goes back on the list, and draining stops.
func (l *orphanList) drain(ctx context.Context, c *callClient) {
	list := l.take(c.owner, orphansPerCall)
	core := minio.Core{Client: c.plain}
	for i, o := range list {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), orphanTimeout)
		err := core.AbortMultipartUpload(actx, o.bucket, o.key, o.id)
		cancel()
		var er minio.ErrorResponse
		if err == nil || (errors.As(err, &er) && (er.Code == "NoSuchUpload" || er.StatusCode == http.StatusNotFound)) {
			continue
		}
		for _, back := range list[i:] {
			l.add(c.owner, back)
		}
		return
	}
}
