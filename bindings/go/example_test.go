package omendb_test

import (
	"errors"
	"fmt"

	omendb "github.com/omendb/omendb/bindings/go"
)

func ExampleNew() {
	idx, err := omendb.New(omendb.Options{Dim: 3, Metric: omendb.Cosine})
	if err != nil {
		panic(err)
	}
	defer idx.Close()
	dim, _ := idx.Dim()
	metric, _ := idx.Metric()
	n, _ := idx.Len()
	fmt.Println(dim, metric, n)
	// Output: 3 cosine 0
}

func ExampleIndex_Search() {
	idx, err := omendb.New(omendb.Options{Dim: 2})
	if err != nil {
		panic(err)
	}
	defer idx.Close()
	// Three records, row-major: key 10 at (0, 0), key 20 at (1, 0), key 30 at (0, 3).
	if err := idx.AddBatch([]uint64{10, 20, 30}, []float32{0, 0, 1, 0, 0, 3}); err != nil {
		panic(err)
	}
	hits, err := idx.Search([]float32{0.9, 0}, 2)
	if err != nil {
		panic(err)
	}
	for _, h := range hits {
		fmt.Printf("key %d, squared L2 %.2f\n", h.Key, h.Distance)
	}
	// Output:
	// key 20, squared L2 0.01
	// key 10, squared L2 0.81
}

func ExampleIndex_AddStrings() {
	idx, err := omendb.New(omendb.Options{Metric: omendb.Cosine}) // Dim 0: taken from the first batch
	if err != nil {
		panic(err)
	}
	defer idx.Close()
	err = idx.AddStrings([]string{"north", "east", "north-east"}, []float32{
		0, 1,
		1, 0,
		1, 1,
	})
	if err != nil {
		panic(err)
	}
	hits, err := idx.Search([]float32{0.1, 1}, 2)
	if err != nil {
		panic(err)
	}
	for _, h := range hits {
		fmt.Printf("%s %.3f\n", h.StrKey, h.Distance)
	}
	ok, _ := idx.ContainsString("east")
	fmt.Println("contains east:", ok)
	// Output:
	// north 0.005
	// north-east 0.226
	// contains east: true
}

func ExampleIndex_AddAuto() {
	idx, err := omendb.New(omendb.Options{})
	if err != nil {
		panic(err)
	}
	defer idx.Close()
	first, _ := idx.AddAuto([]float32{1, 1, 2, 2}, 2) // two records of 2 floats
	fmt.Println("first key:", first)
	first, _ = idx.AddAuto([]float32{3, 3, 4, 4, 5, 5}, 2)
	fmt.Println("first key:", first)
	hits, _ := idx.Search([]float32{4.1, 4}, 1)
	fmt.Println("nearest:", hits[0].Key)
	// Output:
	// first key: 0
	// first key: 2
	// nearest: 3
}

func ExampleError() {
	idx, err := omendb.New(omendb.Options{Dim: 2})
	if err != nil {
		panic(err)
	}
	defer idx.Close()
	_ = idx.AddBatch([]uint64{1}, []float32{1, 2})
	err = idx.AddBatch([]uint64{1}, []float32{3, 4})
	fmt.Println(errors.Is(err, omendb.ErrDuplicateKey))
	var e *omendb.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code)
	}
	_, err = idx.Search([]float32{1, 2, 3}, 1)
	fmt.Println(errors.Is(err, omendb.ErrDimensionMismatch))
	idx.Close()
	_, err = idx.Len()
	fmt.Println(errors.Is(err, omendb.ErrClosed))
	// Output:
	// true
	// OMENDB_STATUS_DUPLICATE_KEY
	// true
	// true
}
