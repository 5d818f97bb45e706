package vectorindex_test

import (
	"fmt"

	"github.com/switchyard-ai/switchyard/vectorindex"
)

func Example() {
	x := vectorindex.New(4)
	_ = x.Add(1, []float32{1, 0, 0, 0})
	_ = x.Add(2, []float32{0, 2, 0, 0}) // stored normalised
	if err := x.Add(3, []float32{0, 0, 0, 0}); err != nil {
		fmt.Println(err)
	}

	id, sim, ok := x.Search([]float32{0.9, 0.1, 0, 0}, 0.95)
	fmt.Printf("hit: id=%d similarity=%.3f ok=%v\n", id, sim, ok)

	_, _, ok = x.Search([]float32{0.5, 0.5, 0, 0}, 0.95) // cosine 0.707 with both
	fmt.Println("miss:", !ok)

	x.Remove(1)
	fmt.Println("len:", x.Len())
	// Output:
	// vectorindex: zero vector
	// hit: id=1 similarity=0.994 ok=true
	// miss: true
	// len: 1
}
