package omendb

// #include "omendb.h"
import "C"

import (
	"errors"
	"math"
	"runtime"
)

// NoKey is OMENDB_NO_KEY (UINT64_MAX): never a valid key; SearchInto writes it where a query
// found fewer than k hits.
const NoKey uint64 = math.MaxUint64

// Result is one hit of a search. Key is set for an index of u64 keys, StrKey for an index
// of string keys (a string key is never empty, so StrKey == "" means a u64 hit).
type Result struct {
	Key      uint64
	StrKey   string
	Distance float32 // in the metric's units: squared L2, 1 - dot, 1 - cosine
}

// Search returns the k nearest records to query, nearest first, with the index's default
// beam width. Only real hits come back: min(k, Len()) of them, none from an empty index (no
// NoKey padding). A k above Len() costs no memory: it is lowered to Len() as the call starts.
func (idx *Index) Search(query []float32, k int) ([]Result, error) {
	return idx.SearchEf(query, k, 0)
}

// SearchEf is Search with beam width ef (0 = the index's EfSearch; raised to k by C).
func (idx *Index) SearchEf(query []float32, k, ef int) ([]Result, error) {
	rows, err := idx.SearchBatch(query, 1, k, ef)
	if err != nil {
		return nil, err
	}
	return rows[0], nil
}

// SearchBatch searches n queries (row-major in queries, len(queries) / n floats each) for
// their k nearest records each; C runs the queries in parallel. Row i holds query i's hits,
// nearest first: only real hits, so a row may be shorter than k (empty for an empty index).
// ef as in SearchEf. Nothing is sized by k: k is lowered to the record count (Len()) as the
// call starts, which gives the same hits. It calls omendb_index_search for an index of u64
// keys (or none yet) and omendb_index_search_results for an index of string keys.
func (idx *Index) SearchBatch(queries []float32, n, k, ef int) ([][]Result, error) {
	h, err := idx.acquire()
	if err != nil {
		return nil, err
	}
	defer idx.release()
	dim, err := searchArgs(queries, n, k, ef)
	if err != nil {
		return nil, err
	}
	if k, err = resultWidth(h, k); err != nil {
		return nil, err
	}
	kind, err := keyKind(h)
	if err != nil {
		return nil, err
	}
	// n queries of 0 floats (n > 0, no queries given) go to omendb_index_search_results,
	// whose checks reject them before anything is sized by n; searchU64 would allocate first.
	if kind != KeyKindString && (dim > 0 || n == 0) {
		rows, err := searchU64(h, queries, n, dim, k, ef)
		// ErrInvalidKey here means the index took string keys since keyKind: go on below.
		if !errors.Is(err, ErrInvalidKey) {
			return rows, err
		}
	}
	res, err := searchResults(h, queries, n, dim, k, ef)
	if err != nil {
		return nil, err
	}
	defer C.omendb_results_free(res)
	return resultRows(res)
}

// searchArgs checks what the batch searches share before any C call: that queries splits
// into n rows (their dimension is returned), and that k and ef are not negative.
func searchArgs(queries []float32, n, k, ef int) (C.size_t, error) {
	dim, err := rowDim(len(queries), n, "queries")
	if err != nil {
		return 0, err
	}
	if err := nonNegativeKEf(k, ef); err != nil {
		return 0, err
	}
	return dim, nil
}

// resultWidth is min(k, records in the index): the row width a search for k hits needs, by
// which the Go buffers are sized, never by k itself (C gives the same hits for any k at or
// above the record count). k = 0 stays 0 for C to reject; an empty index gives 1, so that C
// still checks the queries (and pads the one place with NoKey).
func resultWidth(h *C.omendb_index, k int) (int, error) {
	var cerr *C.omendb_error
	var n C.size_t
	if err := check(C.omendb_index_len(h, &n, &cerr), &cerr); err != nil {
		return 0, err
	}
	if uint64(k) > uint64(n) {
		return max(int(n), 1), nil
	}
	return k, nil
}

// searchU64 searches with caller-sized k: k must already be min(k, records) (resultWidth).
func searchU64(h *C.omendb_index, queries []float32, n int, dim C.size_t, k, ef int) ([][]Result, error) {
	if k > 0 && n > math.MaxInt/k {
		return nil, argError(StatusInvalidArgument, "n * k overflows")
	}
	keys := make([]uint64, n*k)
	dists := make([]float32, n*k)
	var cerr *C.omendb_error
	st := C.omendb_index_search(h, floatPtr(queries), C.size_t(n), dim, C.size_t(k), cEf(ef),
		u64Ptr(keys), floatPtr(dists), C.size_t(n*k), &cerr)
	runtime.KeepAlive(queries)
	runtime.KeepAlive(keys)
	runtime.KeepAlive(dists)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	hits := make([]Result, n*k)
	rows := make([][]Result, n)
	for i := range rows {
		row := hits[i*k : i*k : (i+1)*k]
		for j := i * k; j < (i+1)*k && keys[j] != NoKey; j++ {
			row = append(row, Result{Key: keys[j], Distance: dists[j]})
		}
		rows[i] = row
	}
	return rows, nil
}

func searchResults(h *C.omendb_index, queries []float32, n int, dim C.size_t, k, ef int) (*C.omendb_results, error) {
	var cerr *C.omendb_error
	var res *C.omendb_results
	st := C.omendb_index_search_results(h, floatPtr(queries), C.size_t(n), dim, C.size_t(k), cEf(ef), &res, &cerr)
	runtime.KeepAlive(queries)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	return res, nil
}

// SearchInto is omendb_index_search itself, for callers who reuse their output buffers:
// query i's hits go to keys[i*k:] and distances[i*k:], nearest first, and the rest of the
// row is padded with NoKey (UINT64_MAX, Python's omendb.NO_KEY) and +Inf; an empty index
// gives rows of padding only. Both slices must hold n*k elements (else ErrBufferTooSmall):
// they are the caller's, sized for the k passed, and nothing else is allocated by k. A k
// above Len() gives the same hits as k = Len() (the rest padding), so to get "everything"
// size the buffers for min(k, Len()). Only for an index of u64 keys (else ErrInvalidKey).
func (idx *Index) SearchInto(queries []float32, n, k, ef int, keys []uint64, distances []float32) error {
	h, err := idx.acquire()
	if err != nil {
		return err
	}
	defer idx.release()
	dim, err := searchArgs(queries, n, k, ef)
	if err != nil {
		return err
	}
	outLen := min(len(keys), len(distances))
	var cerr *C.omendb_error
	st := C.omendb_index_search(h, floatPtr(queries), C.size_t(n), dim, C.size_t(k), cEf(ef),
		u64Ptr(keys), floatPtr(distances), C.size_t(outLen), &cerr)
	runtime.KeepAlive(queries)
	runtime.KeepAlive(keys)
	runtime.KeepAlive(distances)
	return check(st, &cerr)
}
