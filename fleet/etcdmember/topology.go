package etcdmember

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// resyncDelay is the pause between a failed watch and the reload that
// replaces it.
const resyncDelay = time.Second

// watcher keeps one cluster's topology current: it watches the cluster's
// directory and publishes every registered member after each change.
type watcher struct {
	p       *Provider
	client  *clientv3.Client
	dir     string // Prefix/<cluster name>/
	selfKey string // this member's key; "" for a client
	publish func(cluster.Members)
}

// load reads every member registered under dir, keyed by etcd key, and the
// revision they were read at. Values that are not member records are
// logged and skipped.
func load(ctx context.Context, client *clientv3.Client, dir string, log *slog.Logger) (map[string]*cluster.Member, int64, error) {
	resp, err := client.Get(ctx, dir, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("etcdmember: read members under %s: %w", dir, err)
	}
	members := make(map[string]*cluster.Member, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		m, err := decodeMember(string(kv.Key), kv.Value)
		if err != nil {
			log.Warn("etcdmember: skipping a malformed member", slog.Any("error", err))
			continue
		}
		members[string(kv.Key)] = m
	}
	return members, resp.Header.Revision, nil
}

// run watches the directory from the revision after rev, applying each
// change to members and publishing the result, until ctx ends. A failed
// watch (e.g. its revision was compacted) is replaced by a reload and a
// new watch after resyncDelay.
func (w *watcher) run(ctx context.Context, members map[string]*cluster.Member, rev int64) {
	defer w.p.wg.Done()
	log := w.p.opts.Logger
	for {
		err := w.watch(ctx, members, rev)
		if ctx.Err() != nil {
			return
		}
		log.Warn("etcdmember: watch failed; reloading", slog.Any("error", err))
		for {
			t := time.NewTimer(resyncDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			call, done := context.WithTimeout(ctx, w.p.opts.DialTimeout)
			members, rev, err = load(call, w.client, w.dir, log)
			done()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			log.Warn("etcdmember: reload failed", slog.Any("error", err))
		}
		if w.selfKey != "" && members[w.selfKey] == nil {
			w.p.lose("key " + w.selfKey + " is gone")
			return
		}
		if !w.publishAll(members) {
			return
		}
	}
}

// watch applies the changes after rev to members and publishes them until
// ctx ends, the watch fails, or this member's key is deleted.
func (w *watcher) watch(ctx context.Context, members map[string]*cluster.Member, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range w.client.Watch(wctx, w.dir, clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if err := resp.Err(); err != nil {
			return err
		}
		if len(resp.Events) == 0 {
			continue
		}
		for _, ev := range resp.Events {
			key := string(ev.Kv.Key)
			switch ev.Type {
			case clientv3.EventTypePut:
				m, err := decodeMember(key, ev.Kv.Value)
				if err != nil {
					w.p.opts.Logger.Warn("etcdmember: skipping a malformed member", slog.Any("error", err))
					delete(members, key)
					continue
				}
				members[key] = m
			case clientv3.EventTypeDelete:
				delete(members, key)
				if key == w.selfKey {
					w.p.lose("key " + key + " was deleted")
					return nil
				}
			}
		}
		if !w.publishAll(members) {
			return nil
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("etcdmember: watch channel closed")
}

// publishAll hands every member, in key order, to the cluster's member
// list, unless the provider is closed (shut down, or its registration
// lost); it reports whether it published. The provider's lock is held
// while publishing, so nothing is published once lose or Shutdown has
// returned.
func (w *watcher) publishAll(members map[string]*cluster.Member) bool {
	keys := make([]string, 0, len(members))
	for k := range members {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	list := make(cluster.Members, 0, len(keys))
	for _, k := range keys {
		list = append(list, members[k])
	}
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	if w.p.closed {
		return false
	}
	w.publish(list)
	w.p.opts.Logger.Debug("etcdmember: topology published", slog.Int("members", len(list)),
		slog.String("ids", strings.Join(ids(list), ",")))
	return true
}

// ids lists the members' IDs.
func ids(list cluster.Members) []string {
	out := make([]string, len(list))
	for i, m := range list {
		out[i] = m.Id
	}
	return out
}
