package etcdmember

import (
	"context"
	"log/slog"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// keepAlive consumes the lease's keepalive responses until the channel
// closes. The etcd client closes it when ctx ends (Shutdown, or the
// registration was lost), when etcd answers that the lease is gone, or
// when no keepalive succeeded for the lease's TTL (etcd unreachable, or
// the process frozen): in the last two cases the registration is lost.
func (p *Provider) keepAlive(ctx context.Context, lease clientv3.LeaseID, ch <-chan *clientv3.LeaseKeepAliveResponse) {
	defer p.wg.Done()
	for resp := range ch {
		if resp.TTL <= 0 {
			break
		}
	}
	if ctx.Err() == nil {
		p.lose("lease " + strconv.FormatInt(int64(lease), 16) + " expired or was revoked")
	}
}

// lose marks the registration lost, unless the provider is already closed:
// it stops publishing, ends the goroutines and calls OnLost in a goroutine
// of its own.
func (p *Provider) lose(why string) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed, p.lost = true, true
	cancel := p.cancel
	p.mu.Unlock()
	cancel()
	p.opts.Logger.Warn("etcdmember: registration lost; the member must restart under a new ID", slog.String("reason", why))
	if p.opts.OnLost != nil {
		go p.opts.OnLost()
	}
}
