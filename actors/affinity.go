package actors

import (
	"container/list"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
)

// affinityTable remembers, for each stored object an answer reported (a
// stored response, a conversation, an item), the endpoint and the key
// (label) that created it, so that a follow-up naming the object can be sent
// where the object is visible. It holds at most max objects, forgetting the
// least recently used first, and forgets an object ttl after the last answer
// that reported it, on the caller's clock (every method takes now). Expired
// objects are dropped when looked up, and from the least recently used end
// when an object is recorded, so an idle table costs no timer.
//
// An affinityTable is not safe for concurrent use: the dispatcher owns one
// per provider.
type affinityTable struct {
	max   int
	ttl   time.Duration
	items map[string]*list.Element
	// lru holds *affinityEntry values, the most recently used at the front.
	lru list.List
}

// affinityEntry is one remembered object.
type affinityEntry struct {
	object   string
	endpoint string
	key      string
	expires  time.Time
}

// newAffinityTable returns an empty table of at most size objects (at
// least one), each remembered for ttl.
func newAffinityTable(size int, ttl time.Duration) *affinityTable {
	return &affinityTable{max: max(1, size), ttl: ttl, items: map[string]*list.Element{}}
}

// record remembers that endpoint and key created object (or served it last:
// the latest answer wins), until now + ttl, as the most recently used.
func (t *affinityTable) record(object, endpoint, key string, now time.Time) {
	if object == "" {
		return
	}
	expires := now.Add(t.ttl)
	if el, ok := t.items[object]; ok {
		e := el.Value.(*affinityEntry)
		e.endpoint, e.key, e.expires = endpoint, key, expires
		t.lru.MoveToFront(el)
		return
	}
	for t.lru.Len() > 0 {
		back := t.lru.Back()
		if e := back.Value.(*affinityEntry); t.lru.Len() < t.max && e.expires.After(now) {
			break
		}
		t.remove(back)
	}
	t.items[object] = t.lru.PushFront(&affinityEntry{object: object, endpoint: endpoint, key: key, expires: expires})
}

// lookup returns what the table remembers of object, and makes it the most
// recently used; false when it remembers nothing, or the object expired
// (which forgets it).
func (t *affinityTable) lookup(object string, now time.Time) (affinityEntry, bool) {
	el, ok := t.items[object]
	if !ok {
		return affinityEntry{}, false
	}
	e := el.Value.(*affinityEntry)
	if !e.expires.After(now) {
		t.remove(el)
		return affinityEntry{}, false
	}
	t.lru.MoveToFront(el)
	return *e, true
}

// forget drops object (it was deleted upstream).
func (t *affinityTable) forget(object string) {
	if el, ok := t.items[object]; ok {
		t.remove(el)
	}
}

// len returns the number of objects held, expired ones not yet dropped
// included.
func (t *affinityTable) len() int { return t.lru.Len() }

func (t *affinityTable) remove(el *list.Element) {
	delete(t.items, el.Value.(*affinityEntry).object)
	t.lru.Remove(el)
}

// affinityPin sends a follow-up to the endpoint and key group that can see
// the stored object it names: the dispatcher resolves it at admission, the
// provider expands key to the keys of its group.
type affinityPin struct {
	object   string
	endpoint string
	key      string
	// noWait: fail at once when every key of the group is cooling down.
	noWait bool
}

// resolve returns the pin of a request that names a stored object the
// table remembers, or nil: the request names none, or none remembered (an
// object created by another process goes by strategy, as usual). A
// request the caller pinned to a key or endpoint keeps the caller's pin.
func (t *affinityTable) resolve(req messages.Request, now time.Time, noWait bool) *affinityPin {
	ref, ok := req.(messages.StoredObjectRef)
	if !ok {
		return nil
	}
	if call := req.CallInfo(); call.Key != "" || call.Endpoint != "" {
		return nil
	}
	for _, id := range ref.StoredObjects() {
		if e, ok := t.lookup(id, now); ok {
			return &affinityPin{object: id, endpoint: e.endpoint, key: e.key, noWait: noWait}
		}
	}
	return nil
}

// learn records the objects a successful answer reports, under the
// endpoint and key its meta names, and forgets the objects a successful
// deletion removed.
func (t *affinityTable) learn(req messages.Request, resp messages.Response, now time.Time) {
	switch r := req.(type) {
	case *messages.ResponseObjectRequest:
		if r.Action == messages.ResponseDelete {
			t.forget(r.ResponseID)
			return
		}
	case *messages.ConversationRequest:
		switch r.Action {
		case messages.ConversationDelete:
			t.forget(r.ConversationID)
			return
		case messages.ConversationDeleteItem:
			t.forget(r.ItemID)
		}
	}
	c, ok := resp.(messages.StoredObjectCreator)
	if !ok {
		return
	}
	meta := resp.ResponseMeta()
	if meta.Endpoint == "" || meta.Key == "" {
		return
	}
	for _, id := range c.CreatedObjects() {
		t.record(id, meta.Endpoint, meta.Key, now)
	}
}
