package etcdmember

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"

	"github.com/asynkron/protoactor-go/cluster"
)

// record is the JSON value stored under a member's key.
type record struct {
	// ID is the member's ActorSystem.ID, also the last segment of its key.
	ID string `json:"id"`
	// Host and Port are the member's remote address.
	Host string `json:"host"`
	Port int    `json:"port"`
	// Kinds are the grain kinds the member hosts.
	Kinds []string `json:"kinds"`
}

// encodeMember returns the value stored for m.
func encodeMember(m *cluster.Member) ([]byte, error) {
	return json.Marshal(record{ID: m.Id, Host: m.Host, Port: int(m.Port), Kinds: m.Kinds})
}

// decodeMember parses the value stored under key. It rejects a value that
// is not a record, lacks an ID or host, has a port outside 1..65535, or
// whose ID is not the key's last segment.
func decodeMember(key string, value []byte) (*cluster.Member, error) {
	var r record
	if err := json.Unmarshal(value, &r); err != nil {
		return nil, fmt.Errorf("etcdmember: member %s: %w", key, err)
	}
	switch {
	case r.ID == "":
		return nil, fmt.Errorf("etcdmember: member %s: no id", key)
	case r.ID != path.Base(key):
		return nil, fmt.Errorf("etcdmember: member %s: id %q does not match its key", key, r.ID)
	case r.Host == "":
		return nil, fmt.Errorf("etcdmember: member %s: no host", key)
	case r.Port < 1 || r.Port > 65535:
		return nil, fmt.Errorf("etcdmember: member %s: port %d out of range", key, r.Port)
	}
	for _, k := range r.Kinds {
		if k == "" {
			return nil, errors.New("etcdmember: member " + key + ": empty kind")
		}
	}
	return &cluster.Member{Id: r.ID, Host: r.Host, Port: int32(r.Port), Kinds: r.Kinds}, nil
}
