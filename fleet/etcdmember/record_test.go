package etcdmember

import (
	"testing"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeMember(t *testing.T) {
	const key = "/switchyard/fleet/Abc123"
	tests := []struct {
		name    string
		value   string
		want    *cluster.Member
		wantErr string
	}{
		{"member", `{"id":"Abc123","host":"10.0.0.7","port":8090,"kinds":["budget","cache"]}`,
			&cluster.Member{Id: "Abc123", Host: "10.0.0.7", Port: 8090, Kinds: []string{"budget", "cache"}}, ""},
		{"no kinds, unknown field ignored", `{"id":"Abc123","host":"h","port":1,"zone":"a"}`,
			&cluster.Member{Id: "Abc123", Host: "h", Port: 1}, ""},
		{"not JSON", `fleet@Abc123`, nil, "invalid character"},
		{"wrong type", `{"id":"Abc123","host":"h","port":"8090"}`, nil, "cannot unmarshal"},
		{"no id", `{"host":"h","port":8090}`, nil, "no id"},
		{"id not the key's", `{"id":"fleet@Abc123","host":"h","port":8090}`, nil, "does not match its key"},
		{"no host", `{"id":"Abc123","port":8090}`, nil, "no host"},
		{"port zero", `{"id":"Abc123","host":"h","port":0}`, nil, "port 0 out of range"},
		{"port too large", `{"id":"Abc123","host":"h","port":65536}`, nil, "port 65536 out of range"},
		{"empty kind", `{"id":"Abc123","host":"h","port":1,"kinds":[""]}`, nil, "empty kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeMember(key, []byte(tt.value))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestEncodeMemberRoundTrip(t *testing.T) {
	m := &cluster.Member{Id: "Abc123", Host: "127.0.0.1", Port: 41000, Kinds: []string{"budget"}}
	value, err := encodeMember(m)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"Abc123","host":"127.0.0.1","port":41000,"kinds":["budget"]}`, string(value))
	got, err := decodeMember("/switchyard/fleet/Abc123", value)
	require.NoError(t, err)
	assert.Equal(t, m, got)
}

// FuzzDecodeMember checks that any stored value either decodes into a
// member that satisfies decodeMember's rules and survives a round trip, or
// is rejected with an error; it never panics.
func FuzzDecodeMember(f *testing.F) {
	f.Add("/switchyard/fleet/Abc123", []byte(`{"id":"Abc123","host":"127.0.0.1","port":41000,"kinds":["budget","cache"]}`))
	f.Add("/switchyard/fleet/Abc123", []byte(`{"id":"Abc123","host":"h","port":65535}`))
	f.Add("/protoactor/fleet/fleet@Abc123", []byte(`{"id":"fleet@Abc123","host":"127.0.0.1","port":41000,"meta":{"id":"fleet@Abc123"},"alive":true}`))
	f.Add("/switchyard/fleet/x", []byte(`null`))
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		m, err := decodeMember(key, value)
		if err != nil {
			require.Nil(t, m)
			return
		}
		require.NotEmpty(t, m.Id)
		require.NotEmpty(t, m.Host)
		require.True(t, m.Port >= 1 && m.Port <= 65535)
		again, err := encodeMember(m)
		require.NoError(t, err)
		back, err := decodeMember(key, again)
		require.NoError(t, err)
		require.Equal(t, m, back)
	})
}
