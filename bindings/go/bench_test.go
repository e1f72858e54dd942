package omendb

import "testing"

// The tiny index of the per-call overhead benchmark: the same data and queries as
// bench/direct_c.c (splitmix64 seeds 1 and 2), so the two numbers compare the binding's cost
// with a direct C call.
const (
	tinyDim     = 8
	tinyN       = 100
	tinyK       = 10
	tinyQueries = 64
)

func tinyIndex(b *testing.B) (*Index, []float32) {
	idx, err := New(Options{Dim: tinyDim})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { idx.Close() })
	data := randomVectors(1, tinyN, tinyDim)
	// Batches of 10 keep the graph deterministic, as in the C program.
	for i := 0; i < tinyN; i += 10 {
		if _, err := idx.AddAuto(data[i*tinyDim:(i+10)*tinyDim], tinyDim); err != nil {
			b.Fatal(err)
		}
	}
	return idx, randomVectors(2, tinyQueries, tinyDim)
}

// BenchmarkSearchTiny: one Search (k = 10) per iteration on 100 vectors of 8 floats, so the
// time is mostly per-call overhead: key-kind check, cgo call, result slices.
func BenchmarkSearchTiny(b *testing.B) {
	idx, queries := tinyIndex(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := (i % tinyQueries) * tinyDim
		hits, err := idx.Search(queries[q:q+tinyDim], tinyK)
		if err != nil || len(hits) != tinyK {
			b.Fatal(err, len(hits))
		}
	}
}

// BenchmarkSearchIntoTiny: the same search into reused buffers (one cgo call, no allocation).
func BenchmarkSearchIntoTiny(b *testing.B) {
	idx, queries := tinyIndex(b)
	keys := make([]uint64, tinyK)
	dists := make([]float32, tinyK)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := (i % tinyQueries) * tinyDim
		if err := idx.SearchInto(queries[q:q+tinyDim], 1, tinyK, 0, keys, dists); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSearchTinyStrings: Search on the same data under string keys (omendb_results path).
func BenchmarkSearchTinyStrings(b *testing.B) {
	idx, err := New(Options{Dim: tinyDim})
	if err != nil {
		b.Fatal(err)
	}
	defer idx.Close()
	data := randomVectors(1, tinyN, tinyDim)
	ids := make([]string, tinyN)
	for i := range ids {
		ids[i] = "key-" + string(rune('A'+i%26)) + string(rune('a'+i/26))
	}
	for i := 0; i < tinyN; i += 10 {
		if err := idx.AddStrings(ids[i:i+10], data[i*tinyDim:(i+10)*tinyDim]); err != nil {
			b.Fatal(err)
		}
	}
	queries := randomVectors(2, tinyQueries, tinyDim)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := (i % tinyQueries) * tinyDim
		if _, err := idx.Search(queries[q:q+tinyDim], tinyK); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLenTiny: Len, a C call that does almost nothing, so the time is the binding's
// fixed cost per call (read lock, cgo transition, status check); compare omendb_index_len
// in bench/direct_c.c.
func BenchmarkLenTiny(b *testing.B) {
	idx, _ := tinyIndex(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n, err := idx.Len(); err != nil || n != tinyN {
			b.Fatal(n, err)
		}
	}
}
