package fleet

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
)

// playHealth plays script on a fresh healthCircuit (probe TTL 30 s, retry
// cap 1 s) on a manual clock and returns what each step answered, space
// separated. Steps: "+10s" advances the clock; "trip:a:10s:2" member a
// trips with a 10 s cooldown and K = 2 (answers "push" when a round
// started, "-" otherwise); "ask:a:3" member a asks for 3 slots (answers
// "<granted>/<state>/<retry>"); "ok:a" and "meh:a" report a success or a
// probe that proved nothing of the current round, "old:a" a success of
// the previous round (answers "push" when the circuit closed, "-"
// otherwise); "state" answers "<state>/<round>/<cooldown>".
func playHealth(t *testing.T, script string) string {
	t.Helper()
	clk := clocktest.New(t)
	c := &healthCircuit{probeTTL: 30 * time.Second, retryEvery: time.Second}
	short := map[fleetpb.HealthState]string{fleetpb.HealthState_HEALTH_CLOSED: "C", fleetpb.HealthState_HEALTH_OPEN: "O", fleetpb.HealthState_HEALTH_HALF_OPEN: "H"}
	pushed := func(b bool) string {
		if b {
			return "push"
		}
		return "-"
	}
	var out []string
	for _, step := range strings.Fields(script) {
		if d, ok := strings.CutPrefix(step, "+"); ok {
			dur, err := time.ParseDuration(d)
			require.NoError(t, err)
			clk.Advance(dur)
			continue
		}
		f := strings.Split(step, ":")
		now := clk.Now()
		switch f[0] {
		case "trip":
			require.Len(t, f, 4, step)
			d, err := time.ParseDuration(f[2])
			require.NoError(t, err)
			k, err := strconv.Atoi(f[3])
			require.NoError(t, err)
			out = append(out, pushed(c.trip(now, d, k, "5xx")))
		case "ask":
			require.Len(t, f, 3, step)
			n, err := strconv.Atoi(f[2])
			require.NoError(t, err)
			v := c.ask(now, f[1], n, 1)
			out = append(out, strconv.Itoa(int(v.Granted))+"/"+short[v.State]+"/"+time.Duration(v.RetryInNs).String())
		case "ok", "meh", "old":
			require.Len(t, f, 2, step)
			round := c.round
			if f[0] == "old" {
				round--
			}
			out = append(out, pushed(c.done(now, f[1], round, f[0] != "meh")))
		case "state":
			st, left := c.state(now)
			out = append(out, short[st]+"/"+strconv.FormatUint(c.round, 10)+"/"+left.String())
		default:
			require.Failf(t, "bad step", "%q", step)
		}
	}
	return strings.Join(out, " ")
}

// The fleet's circuit follows the nodes' breakers: a trip opens it for the
// reporter's cooldown, at most K slots go out after it, K successes close
// it, a failure (a trip) re-opens it, a probe that proved nothing or a
// slot never reported is given back.
func TestHealthCircuit(t *testing.T) {
	cases := []struct {
		name, script, want string
	}{
		{"closed grants nothing", "state ask:a:1", "C/0/0s 0/C/0s"},
		{"a trip opens it for the reporter's cooldown", "trip:a:10s:1 state +4s state ask:b:1",
			"push O/1/10s O/1/6s 0/O/6s"},
		{"a later trip never shortens the cooldown", "trip:a:10s:1 +2s trip:b:3s:1 state +3s trip:c:20s:1 state",
			"push - O/1/8s - O/1/20s"},
		{"after the cooldown at most K slots go out, first come", "trip:a:10s:2 +10s state ask:a:1 ask:b:5 ask:c:1",
			"push H/1/0s 1/H/0s 1/H/1s 0/H/1s"},
		{"K successes close it", "trip:a:10s:2 +10s ask:a:1 ask:b:1 ok:a state ok:b state",
			"push 1/H/0s 1/H/0s - H/1/0s push C/2/0s"},
		{"a failed probe re-opens it: a new round", "trip:a:10s:1 +10s ask:b:1 trip:b:20s:1 state ask:c:1",
			"push 1/H/0s push O/2/20s 0/O/20s"},
		{"a probe that proved nothing gives its slot back", "trip:a:10s:1 +10s ask:a:1 ask:b:1 meh:a ask:b:1 ok:b state",
			"push 1/H/0s 0/H/1s - 1/H/0s push C/2/0s"},
		{"a member without a slot proves nothing", "trip:a:10s:1 +10s ask:a:1 ok:b state ok:a state",
			"push 1/H/0s - H/1/0s push C/2/0s"},
		{"a report of an earlier round changes nothing", "trip:a:10s:1 +10s ask:a:1 trip:a:10s:1 +10s ask:a:1 old:a state",
			"push 1/H/0s push 1/H/0s - H/2/0s"},
		{"a slot never reported is given back after its TTL", "trip:a:10s:1 +10s ask:a:1 +20s ask:b:1 +10s ask:b:1 ok:a state",
			"push 1/H/0s 0/H/1s 1/H/0s - H/1/0s"},
		{"the retry hint is the first slot's expiry when sooner", "trip:a:10s:1 +10s ask:a:1 +29900ms ask:b:1",
			"push 1/H/0s 0/H/100ms"},
		{"closed again: the next trip starts a new round", "trip:a:10s:1 +10s ask:a:1 ok:a trip:b:10s:1 state",
			"push 1/H/0s push push O/3/10s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, playHealth(t, tc.script))
		})
	}
}

// held counts a member's slots; ask's K comes from the asker when the
// round has none.
func TestHealthCircuitHeldAndDefaultK(t *testing.T) {
	clk := clocktest.New(t)
	c := &healthCircuit{probeTTL: time.Minute, retryEvery: time.Second}
	require.True(t, c.trip(clk.Now(), time.Second, 0, "x"))
	clk.Advance(time.Second)
	v := c.ask(clk.Now(), "a", 3, 3)
	assert.Equal(t, int32(1), v.Granted, "a trip without K means one probe")
	assert.Equal(t, 1, c.held("a"))
	assert.Equal(t, 0, c.held("b"))
	c.probes = 0
	v = c.ask(clk.Now(), "b", 3, 3)
	assert.Equal(t, int32(2), v.Granted, "K from the asker")
}
