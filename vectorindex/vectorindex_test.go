package vectorindex

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testRNG returns a deterministic generator.
func testRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x7e57_5eed)) }

// randUnit returns a random unit vector (isotropic: normalised Gaussian).
func randUnit(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return unit(v)
}

// unit normalises v in place, the way Add does, and returns it.
func unit(v []float32) []float32 {
	inv, err := invNorm(v)
	if err != nil {
		panic(err)
	}
	for i, f := range v {
		v[i] = float32(float64(f) * inv)
	}
	return v
}

// perturb returns a unit vector whose cosine with the unit vector v is c
// (up to float32 rounding); its component orthogonal to v is random within
// the coordinates in support (all coordinates if support is nil).
func perturb(rng *rand.Rand, v []float32, c float64, support []int) []float32 {
	u := make([]float32, len(v))
	if support == nil {
		for i := range u {
			u[i] = float32(rng.NormFloat64())
		}
	} else {
		for _, i := range support {
			u[i] = float32(rng.NormFloat64())
		}
	}
	d := cos64(u, v) * norm64(u)
	for i := range u {
		u[i] -= float32(d * float64(v[i]))
	}
	unit(u)
	s := math.Sqrt(1 - c*c)
	q := make([]float32, len(v))
	for i := range q {
		q[i] = float32(c*float64(v[i]) + s*float64(u[i]))
	}
	return q
}

func norm64(a []float32) float64 {
	var s float64
	for _, f := range a {
		s += float64(f) * float64(f)
	}
	return math.Sqrt(s)
}

// cos64 is the reference cosine similarity, in float64.
func cos64(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s / (norm64(a) * norm64(b))
}

func TestNewRejectsBadDim(t *testing.T) {
	for _, dim := range []int{0, -1, math.MinInt} {
		t.Run(fmt.Sprint(dim), func(t *testing.T) {
			defer func() {
				assert.True(t, recover() != nil, "New(%d) did not panic", dim)
			}()
			New(dim)
		})
	}
}

func TestAddRejectsInvalidVectors(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	cases := []struct {
		name string
		vec  []float32
		want error
	}{
		{"nil", nil, ErrDimension},
		{"short", []float32{1, 0, 0}, ErrDimension},
		{"long", []float32{1, 0, 0, 0, 0}, ErrDimension},
		{"zero", []float32{0, 0, 0, 0}, ErrZeroVector},
		{"negative zero", []float32{float32(math.Copysign(0, -1)), 0, 0, 0}, ErrZeroVector},
		{"NaN", []float32{1, nan, 0, 0}, ErrNonFinite},
		{"+Inf", []float32{1, inf, 0, 0}, ErrNonFinite},
		{"-Inf", []float32{-inf, 0, 0, 0}, ErrNonFinite},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := New(4)
			require.NoError(t, x.Add(7, []float32{1, 0, 0, 0}))
			assert.ErrorIs(t, x.Add(8, c.vec), c.want, "Add(new id)")
			assert.ErrorIs(t, x.Add(7, c.vec), c.want, "Add(existing id)")
			assert.Equal(t, 1, x.Len(), "Len = %d after rejected adds, want 1", x.Len())
			// The rejected replacement left id 7's vector intact.
			id, sim, ok := x.Search([]float32{1, 0, 0, 0}, 0.999)
			if assert.True(t, ok, "Search = %d, %v, %v; want 7, 1, true", id, sim, ok) {
				assert.Equal(t, uint64(7), id, "Search = %d, %v, %v; want 7, 1, true", id, sim, ok)
				assert.Equal(t, float32(1), sim, "Search = %d, %v, %v; want 7, 1, true", id, sim, ok)
			}
		})
	}
}

func TestAddAcceptsExtremeMagnitudes(t *testing.T) {
	cases := []struct {
		name string
		vec  []float32
	}{
		{"huge", []float32{math.MaxFloat32, math.MaxFloat32, 0, 0}},
		{"denormal", []float32{math.SmallestNonzeroFloat32, 0, 0, 0}},
		{"negative", []float32{-3, 0, 0, -4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := New(4)
			require.NoError(t, x.Add(1, c.vec), "Add")
			id, sim, ok := x.Search(c.vec, 0.999)
			assert.False(t, !ok || id != 1 || math.Abs(float64(sim)-1) > 1e-6, "Search(self) = %d, %v, %v; want 1, 1, true", id, sim, ok)
		})
	}
}

func TestSearch(t *testing.T) {
	x := New(4)
	for id, v := range map[uint64][]float32{
		1: {1, 0, 0, 0},
		2: {0, 1, 0, 0},
		3: {1, 1, 0, 0},
		4: {-1, 0, 0, 0},
	} {
		require.NoError(t, x.Add(id, v))
	}
	cases := []struct {
		name      string
		q         []float32
		threshold float32
		wantID    uint64
		wantOK    bool
	}{
		{"identical", []float32{1, 0, 0, 0}, 0.99, 1, true},
		{"scaled query", []float32{5, 0, 0, 0}, 0.99, 1, true},
		{"threshold exactly 1", []float32{0, 3, 0, 0}, 1, 2, true},
		{"hit above threshold", []float32{1, 0.1, 0, 0}, 0.99, 1, true}, // cos 0.995
		{"miss below threshold", []float32{1, 0.1, 0, 0}, 0.996, 0, false},
		{"best of several above", []float32{1, 0.8, 0, 0}, 0.7, 3, true}, // 0.994 vs 0.781, 0.625
		{"orthogonal misses", []float32{0, 0, 1, 0}, 0.5, 0, false},
		{"threshold -1 ties to smallest id", []float32{0, 0, 1, 0}, -1, 1, true},
		{"opposite misses", []float32{0, -1, 0, 0}, 0.5, 0, false},
		{"threshold above 1", []float32{1, 0, 0, 0}, 1.01, 0, false},
		{"NaN threshold", []float32{1, 0, 0, 0}, float32(math.NaN()), 0, false},
		{"short query", []float32{1, 0, 0}, 0.5, 0, false},
		{"long query", []float32{1, 0, 0, 0, 0}, 0.5, 0, false},
		{"nil query", nil, 0.5, 0, false},
		{"zero query", []float32{0, 0, 0, 0}, -1, 0, false},
		{"NaN query", []float32{float32(math.NaN()), 0, 0, 0}, -1, 0, false},
		{"Inf query", []float32{float32(math.Inf(1)), 0, 0, 0}, -1, 0, false},
	}
	for _, c := range cases {
		for _, s := range []struct {
			name   string
			search func([]float32, float32) (uint64, float32, bool)
		}{{"Search", x.Search}, {"SearchExact", x.SearchExact}} {
			t.Run(c.name+"/"+s.name, func(t *testing.T) {
				id, sim, ok := s.search(c.q, c.threshold)
				require.Equal(t, c.wantOK, ok, "got %d, %v, %v; want id %d, ok %v", id, sim, ok, c.wantID, c.wantOK)
				require.Equal(t, c.wantID, id, "got %d, %v, %v; want id %d, ok %v", id, sim, ok, c.wantID, c.wantOK)
				if !ok {
					return
				}
				v, _ := x.stored(id)
				want := cos64(c.q, v)
				assert.False(t, math.Abs(float64(sim)-want) > 1e-6, "similarity %v, want %v", sim, want)
				assert.False(t, sim < c.threshold, "similarity %v below threshold %v", sim, c.threshold)
			})
		}
	}
}

func TestSearchEmptyIndex(t *testing.T) {
	x := New(3)
	for _, search := range []func([]float32, float32) (uint64, float32, bool){x.Search, x.SearchExact} {
		_, _, ok := search([]float32{1, 2, 3}, -1)
		assert.False(t, ok, "hit in an empty index")
	}
	x.Add(1, []float32{1, 2, 3})
	x.Remove(1)
	_, _, ok := x.Search([]float32{1, 2, 3}, -1)
	assert.False(t, ok, "hit in an emptied index")
}

// stored returns the stored (normalised) vector of id.
func (x *Index) stored(id uint64) ([]float32, bool) {
	slot, ok := x.slots[id]
	if !ok {
		return nil, false
	}
	return x.vec(int(slot)), true
}

func TestAddRemoveReplace(t *testing.T) {
	a, b, c := []float32{1, 0, 0}, []float32{0, 1, 0}, []float32{0, 0, 1}
	type step struct {
		op      string // "add", "remove", "search"
		id      uint64
		vec     []float32
		want    bool // remove: existed; search: hit
		wantLen int
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"add then find", []step{
			{"add", 1, a, false, 1},
			{"search", 1, a, true, 1},
		}},
		{"remove then miss", []step{
			{"add", 1, a, false, 1},
			{"add", 2, b, false, 2},
			{"remove", 1, nil, true, 1},
			{"search", 0, a, false, 1},
			{"search", 2, b, true, 1},
			{"remove", 1, nil, false, 1},
			{"remove", 99, nil, false, 1},
		}},
		{"replace moves the id", []step{
			{"add", 1, a, false, 1},
			{"add", 2, b, false, 2},
			{"add", 1, c, false, 2},
			{"search", 0, a, false, 2},
			{"search", 1, c, true, 2},
			{"search", 2, b, true, 2},
		}},
		{"remove first keeps the moved last", []step{
			{"add", 10, a, false, 1},
			{"add", 20, b, false, 2},
			{"add", 30, c, false, 3},
			{"remove", 10, nil, true, 2}, // 30 moves into slot 0
			{"search", 30, c, true, 2},
			{"search", 20, b, true, 2},
			{"add", 30, a, false, 2}, // replace the moved entry
			{"search", 30, a, true, 2},
			{"search", 0, c, false, 2},
		}},
		{"remove last", []step{
			{"add", 1, a, false, 1},
			{"add", 2, b, false, 2},
			{"remove", 2, nil, true, 1},
			{"search", 1, a, true, 1},
			{"search", 0, b, false, 1},
			{"add", 2, b, false, 2},
			{"search", 2, b, true, 2},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := New(3)
			for i, s := range tc.steps {
				switch s.op {
				case "add":
					err := x.Add(s.id, s.vec)
					require.NoError(t, err, "step %d: %v", i, err)
				case "remove":
					got := x.Remove(s.id)
					require.Equal(t, s.want, got, "step %d: Remove(%d) = %v, want %v", i, s.id, got, s.want)
				case "search":
					for _, search := range []func([]float32, float32) (uint64, float32, bool){x.Search, x.SearchExact} {
						id, _, ok := search(s.vec, 0.99)
						require.Equal(t, s.want, ok, "step %d: search %v = %d, %v; want %d, %v", i, s.vec, id, ok, s.id, s.want)
						require.Equal(t, s.id, id, "step %d: search %v = %d, %v; want %d, %v", i, s.vec, id, ok, s.id, s.want)
					}
				}
				require.Equal(t, s.wantLen, x.Len(), "step %d: Len = %d, want %d", i, x.Len(), s.wantLen)
				checkInvariants(t, x)
			}
		})
	}
}

// checkInvariants verifies the index's internal bookkeeping: the id↔slot
// maps agree, every signature matches its stored vector, and at most one
// spare chunk is kept.
func checkInvariants(t *testing.T, x *Index) {
	t.Helper()
	n := len(x.ids)
	require.Len(t, x.slots, n, "len(ids)=%d len(slots)=%d len(sigs)=%d", n, len(x.slots), len(x.sigs))
	require.Len(t, x.sigs, n*sigWords, "len(ids)=%d len(slots)=%d len(sigs)=%d", n, len(x.slots), len(x.sigs))
	for slot, id := range x.ids {
		got, ok := x.slots[id]
		require.True(t, ok, "ids[%d]=%d but slots[%d]=%d,%v", slot, id, id, got, ok)
		require.Equal(t, slot, int(got), "ids[%d]=%d but slots[%d]=%d,%v", slot, id, id, got, ok)
		var sig signature
		x.signer.sign(x.vec(slot), &sig)
		require.True(t, slices.Equal(sig[:], x.sigs[slot*sigWords:(slot+1)*sigWords]), "slot %d (id %d): stale signature", slot, id)
	}
	need := (n + chunkLen - 1) / chunkLen
	require.GreaterOrEqual(t, len(x.chunks), need, "%d chunks for %d entries", len(x.chunks), n)
	require.LessOrEqual(t, len(x.chunks), need+1, "%d chunks for %d entries", len(x.chunks), n)
}

// TestRandomOperations checks add/replace/remove, and swap-with-last in
// particular, against a model map, with Search and SearchExact both finding
// every stored vector under its own id.
func TestRandomOperations(t *testing.T) {
	cases := []struct {
		dim, ids, ops int
	}{
		{dim: 8, ids: 50, ops: 2000},
		{dim: 64, ids: 700, ops: 6000}, // several chunks, released and regrown
		{dim: 300, ids: 300, ops: 3000},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("dim=%d/ids=%d", c.dim, c.ids), func(t *testing.T) {
			if raceEnabled {
				c.ops /= 4
			}
			rng := testRNG(uint64(c.dim))
			x := New(c.dim)
			model := map[uint64][]float32{}
			for op := 1; op <= c.ops; op++ {
				id := rng.Uint64N(uint64(c.ids))
				// Drift towards full, then towards empty, and back.
				addP := 0.75
				if op/(c.ops/4)%2 == 1 {
					addP = 0.25
				}
				if rng.Float64() < addP {
					v := randUnit(rng, c.dim)
					require.NoError(t, x.Add(id, v))
					model[id] = unit(slices.Clone(v)) // as Add normalises it
				} else {
					_, had := model[id]
					got := x.Remove(id)
					require.Equal(t, had, got, "op %d: Remove(%d) = %v, want %v", op, id, got, had)
					delete(model, id)
				}
				if op%97 != 0 {
					continue
				}
				require.Len(t, model, x.Len(), "op %d: Len = %d, want %d", op, x.Len(), len(model))
				checkInvariants(t, x)
				for id, v := range model {
					got, ok := x.stored(id)
					require.True(t, ok, "op %d: id %d stores %v, want %v", op, id, got, v)
					require.True(t, slices.Equal(got, v), "op %d: id %d stores %v, want %v", op, id, got, v)
					eid, esim, eok := x.SearchExact(v, 0.9999)
					aid, asim, aok := x.Search(v, 0.9999)
					require.True(t, eok, "op %d: self-query of %d: Search %d,%v,%v SearchExact %d,%v,%v", op, id, aid, asim, aok, eid, esim, eok)
					require.Equal(t, id, eid, "op %d: self-query of %d: Search %d,%v,%v SearchExact %d,%v,%v", op, id, aid, asim, aok, eid, esim, eok)
					require.True(t, aok, "op %d: self-query of %d: Search %d,%v,%v SearchExact %d,%v,%v", op, id, aid, asim, aok, eid, esim, eok)
					require.Equal(t, id, aid, "op %d: self-query of %d: Search %d,%v,%v SearchExact %d,%v,%v", op, id, aid, asim, aok, eid, esim, eok)
					require.Equal(t, esim, asim, "op %d: self-query of %d: Search %d,%v,%v SearchExact %d,%v,%v", op, id, aid, asim, aok, eid, esim, eok)
				}
			}
		})
	}
}

// dataset is a set of stored vectors and queries for recall measurements.
type dataset struct {
	name        string
	dim         int
	n           int
	threshold   float32
	lo, hi      float64 // near queries have cosine in [lo, hi] with their source
	near        int     // number of near queries
	random      int     // number of random (unrelated) queries
	clusterSize int     // >0: stored vectors come in clusters around random centers...
	clusterCos  float64 // ...at this cosine to the center
	offset      float64 // >0: every stored vector is offset·m + noise for one fixed m (anisotropic data)
}

// build fills x and returns the queries (near ones first).
func (d dataset) build(rng *rand.Rand, x *Index) [][]float32 {
	var center, m []float32
	if d.offset > 0 {
		m = randUnit(rng, d.dim)
	}
	for i := 0; i < d.n; i++ {
		var v []float32
		switch {
		case d.clusterSize > 0:
			if i%d.clusterSize == 0 {
				center = randUnit(rng, d.dim)
			}
			v = perturb(rng, center, d.clusterCos, nil)
		case d.offset > 0:
			v = randUnit(rng, d.dim)
			for j := range v {
				v[j] += float32(d.offset) * m[j]
			}
		default:
			v = randUnit(rng, d.dim)
		}
		if err := x.Add(uint64(i)*7919+13, v); err != nil {
			panic(err)
		}
	}
	queries := make([][]float32, 0, d.near+d.random)
	for range d.near {
		src := x.vec(rng.IntN(d.n))
		queries = append(queries, perturb(rng, src, d.lo+(d.hi-d.lo)*rng.Float64(), nil))
	}
	for range d.random {
		queries = append(queries, randUnit(rng, d.dim))
	}
	return queries
}

// recallStats compares Search with SearchExact on queries.
type recallStats struct {
	exactHits, agreed, searchHits int
}

func (r recallStats) recall() float64 {
	if r.exactHits == 0 {
		return 1
	}
	return float64(r.agreed) / float64(r.exactHits)
}

// compare runs Search and SearchExact on q and reports a problem if Search
// returned something that is not a genuine hit with its exact similarity.
func compare(x *Index, q []float32, threshold float32, st *recallStats) error {
	eid, esim, eok := x.SearchExact(q, threshold)
	aid, asim, aok := x.Search(q, threshold)
	if eok {
		st.exactHits++
		if aok && aid == eid {
			st.agreed++
		}
	}
	if !aok {
		return nil
	}
	st.searchHits++
	v, stored := x.stored(aid)
	switch {
	case !stored:
		return fmt.Errorf("Search returned unknown id %d", aid)
	case asim < threshold:
		return fmt.Errorf("Search hit %d at %v below threshold %v", aid, asim, threshold)
	case math.Abs(float64(asim)-cos64(q, v)) > 1e-5:
		return fmt.Errorf("Search reported %v for %d, exact cosine is %v", asim, aid, cos64(q, v))
	case !eok || asim > esim:
		return fmt.Errorf("Search hit %d at %v beats SearchExact (%d, %v, %v)", aid, asim, eid, esim, eok)
	}
	return nil
}

func TestRecall(t *testing.T) {
	cases := []dataset{
		{name: "random/t=0.95", dim: 384, n: 20000, threshold: 0.95, lo: 0.94, hi: 0.99, near: 600, random: 200},
		{name: "random/t=0.90", dim: 384, n: 20000, threshold: 0.90, lo: 0.89, hi: 0.99, near: 400},
		{name: "random/t=0.80", dim: 128, n: 20000, threshold: 0.80, lo: 0.78, hi: 0.99, near: 400, random: 100},
		{name: "anisotropic/t=0.95", dim: 384, n: 10000, threshold: 0.95, lo: 0.94, hi: 0.99, near: 400, random: 100, offset: 1.5},
		{name: "clusters/t=0.90", dim: 384, n: 10000, threshold: 0.90, lo: 0.90, hi: 0.99, near: 400, clusterSize: 100, clusterCos: 0.92},
		{name: "tight clusters/t=0.90", dim: 384, n: 10000, threshold: 0.90, lo: 0.95, hi: 0.99, near: 400, clusterSize: 50, clusterCos: 0.97},
		{name: "huge clusters/t=0.90", dim: 384, n: 10000, threshold: 0.90, lo: 0.95, hi: 0.99, near: 400, clusterSize: 500, clusterCos: 0.97},
		{name: "small dim", dim: 24, n: 5000, threshold: 0.95, lo: 0.95, hi: 0.999, near: 400},
	}
	for _, d := range cases {
		t.Run(d.name, func(t *testing.T) {
			if raceEnabled {
				d.n, d.near, d.random = d.n/8, d.near/4, d.random/4
			}
			x := New(d.dim)
			queries := d.build(testRNG(uint64(d.n+d.dim)), x)
			var near, random recallStats
			for i, q := range queries {
				st := &near
				if i >= d.near {
					st = &random
				}
				err := compare(x, q, d.threshold, st)
				require.NoError(t, err, "query %d: %v", i, err)
			}
			t.Logf("near: %d exact hits, recall %.4f; random: %d exact hits, %d Search hits",
				near.exactHits, near.recall(), random.exactHits, random.searchHits)
			assert.GreaterOrEqual(t, near.exactHits, d.near/2, "only %d of %d near queries are exact hits; the test is not testing", near.exactHits, d.near)
			r := near.recall()
			assert.False(t, r < 0.99, "recall %.4f < 0.99 (%d of %d)", r, near.agreed, near.exactHits)
			assert.Equal(t, 0, random.searchHits, "random queries hit: Search %d, SearchExact %d", random.searchHits, random.exactHits)
			assert.Equal(t, 0, random.exactHits, "random queries hit: Search %d, SearchExact %d", random.searchHits, random.exactHits)
		})
	}
}

// TestSignatureDistance checks that signature distances estimate angles as
// sign random projections do, Hamming ≈ 256·θ/π, also for structured
// vectors (sparse, confined to a few coordinates, sharing a large common
// component) for which a fixed projection would be biased, and that the
// distance stays within hammingCutoff at that cosine.
func TestSignatureDistance(t *testing.T) {
	cases := []struct {
		name    string
		dim     int
		support int     // >0: vectors are nonzero on this many random coordinates only
		offset  float64 // >0: vectors share the component offset·m
	}{
		{name: "isotropic/768", dim: 768},
		{name: "isotropic/100", dim: 100},
		{name: "sparse2/768", dim: 768, support: 2},
		{name: "sparse8/384", dim: 384, support: 8},
		{name: "first8/384", dim: 384, support: -8},
		{name: "offset/384", dim: 384, offset: 3},
		{name: "sparse3/5", dim: 5, support: 3},
	}
	pairs := 400
	if raceEnabled {
		pairs = 100
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := testRNG(uint64(c.dim))
			s := newSigner(c.dim)
			var m []float32
			if c.offset > 0 {
				m = randUnit(rng, c.dim)
			}
			for _, cos := range []float64{0.99, 0.95, 0.9, 0.7, 0.3, 0} {
				want := sigBits * math.Acos(cos) / math.Pi
				var sum, sumSq float64
				worst := 0
				for range pairs {
					var support []int
					switch {
					case c.support > 0:
						support = rng.Perm(c.dim)[:c.support]
					case c.support < 0:
						support = rng.Perm(-c.support)
					}
					a := make([]float32, c.dim)
					if support == nil {
						a = randUnit(rng, c.dim)
					} else {
						for _, i := range support {
							a[i] = float32(rng.NormFloat64())
						}
						unit(a)
					}
					if m != nil {
						for i := range a {
							a[i] = float32(c.offset)*m[i] + a[i]
						}
						unit(a)
					}
					b := perturb(rng, a, cos, support)
					var sa, sb signature
					s.sign(a, &sa)
					s.sign(b, &sb)
					h := hamming(&sa, &sb)
					sum += float64(h)
					sumSq += float64(h * h)
					worst = max(worst, h)
				}
				mean := sum / float64(pairs)
				sd := math.Sqrt(sumSq/float64(pairs) - mean*mean)
				binomSD := math.Sqrt(sigBits * want / sigBits * (1 - want/sigBits))
				t.Logf("cos %.2f: mean %.1f (want %.1f) sd %.2f (binomial %.2f) max %d (cutoff %d)",
					cos, mean, want, sd, binomSD, worst, hammingCutoff(float32(cos)))
				assert.False(t, math.Abs(mean-want) > 2+0.04*want, "cos %.2f: mean distance %.1f, want %.1f", cos, mean, want)
				assert.False(t, sd > 1.3*binomSD+0.5, "cos %.2f: distance sd %.2f, binomial %.2f", cos, sd, binomSD)
				assert.LessOrEqual(t, worst, hammingCutoff(float32(cos)), "cos %.2f: distance %d beyond cutoff %d", cos, worst, hammingCutoff(float32(cos)))
			}
		})
	}
}

func TestSignatureDeterministic(t *testing.T) {
	rng := testRNG(1)
	a, b := New(384), New(384)
	for i := range 300 {
		v := randUnit(rng, 384)
		a.Add(uint64(i), v)
		b.Add(uint64(i), v)
	}
	require.True(t, slices.Equal(a.sigs, b.sigs), "two indexes computed different signatures")
	var s1, s2 signature
	v := randUnit(rng, 384)
	a.signer.sign(v, &s1)
	for i := range v {
		v[i] *= 3
	}
	a.signer.sign(v, &s2)
	d := hamming(&s1, &s2)
	assert.LessOrEqual(t, d, 2, "scaling a vector moved its signature by %d bits", d)
}

func TestDot(t *testing.T) {
	rng := testRNG(2)
	for n := 0; n <= 41; n++ {
		a, b := make([]float32, n), make([]float32, n+3) // b may be longer
		var want float64
		for i := range a {
			a[i], b[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			want += float64(a[i]) * float64(b[i])
		}
		got := dot(a, b)
		assert.False(t, math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)), "n=%d: dot = %v, want %v", n, got, want)
	}
}

func TestFWHT(t *testing.T) {
	rng := testRNG(3)
	for _, n := range []int{4, 8, 16, 256} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.IntN(9) - 4) // small integers: exact arithmetic
		}
		want := make([]float32, n)
		for i := range want {
			for j, v := range x {
				if popcount(i&j)%2 == 0 {
					want[i] += v
				} else {
					want[i] -= v
				}
			}
		}
		got := slices.Clone(x)
		fwht(got)
		assert.True(t, slices.Equal(got, want), "n=%d: fwht = %v, want %v", n, got, want)
	}
}

func popcount(v int) int {
	c := 0
	for ; v != 0; v &= v - 1 {
		c++
	}
	return c
}

func TestNoAllocations(t *testing.T) {
	rng := testRNG(4)
	x := New(384)
	for i := range 2000 {
		x.Add(uint64(i), randUnit(rng, 384))
	}
	hit := perturb(rng, x.vec(5), 0.97, nil)
	miss := randUnit(rng, 384)
	replace := randUnit(rng, 384)
	cases := []struct {
		name string
		f    func()
	}{
		{"Search hit", func() { x.Search(hit, 0.9) }},
		{"Search miss", func() { x.Search(miss, 0.9) }},
		{"Search low threshold", func() { x.Search(miss, -1) }},
		{"SearchExact", func() { x.SearchExact(hit, 0.9) }},
		{"Add existing id", func() { x.Add(7, replace) }},
	}
	for _, c := range cases {
		a := testing.AllocsPerRun(50, c.f)
		assert.Equal(t, float64(0), a, "%s: %v allocations per call, want 0", c.name, a)
	}
}

func TestBytesPerEntry(t *testing.T) {
	const n, dim = 20000, 64
	rng := testRNG(5)
	v := make([]float32, dim)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := New(dim)
	for range n {
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		x.Add(rng.Uint64(), v)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	measured := float64(after.HeapAlloc-before.HeapAlloc) / n
	runtime.KeepAlive(x)
	t.Logf("measured %.1f bytes/entry, BytesPerEntry %d", measured, x.BytesPerEntry())
	est := float64(x.BytesPerEntry())
	assert.False(t, math.Abs(measured-est) > 0.1*est, "measured %.1f bytes/entry, BytesPerEntry says %v", measured, est)
}
