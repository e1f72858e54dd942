package omendb

// #include "omendb.h"
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Results is an omendb_results: the hits of a batch of searches, owned by C, for either kind
// of key. Made by SearchResults, freed by Close (a finalizer is the safety net). Safe for
// concurrent use.
type Results struct {
	handle handle[*C.omendb_results]
}

// SearchResults searches like SearchBatch and returns the C results object itself
// (omendb_index_search_results).
func (idx *Index) SearchResults(queries []float32, n, k, ef int) (*Results, error) {
	h, err := idx.acquire()
	if err != nil {
		return nil, err
	}
	defer idx.release()
	dim, err := searchArgs(queries, n, k, ef)
	if err != nil {
		return nil, err
	}
	res, err := searchResults(h, queries, n, dim, k, ef)
	if err != nil {
		return nil, err
	}
	r := &Results{handle: handle[*C.omendb_results]{ptr: res}}
	runtime.SetFinalizer(r, (*Results).Close)
	return r, nil
}

// Close frees the results (omendb_results_free). Closing twice is harmless.
func (r *Results) Close() error {
	if r == nil {
		return nil
	}
	r.handle.close(func(h *C.omendb_results) {
		C.omendb_results_free(h)
		runtime.SetFinalizer(r, nil)
	})
	return nil
}

// acquire read-locks the results for one C call; release must follow.
func (r *Results) acquire() (*C.omendb_results, error) {
	if r == nil {
		return nil, ErrClosed
	}
	return r.handle.acquire()
}

func (r *Results) release() { r.handle.release() }

// position rejects a negative query or rank of the results getters with ErrOutOfRange, the
// status C gives for one past the end, naming the value as given instead of as a wrapped
// size_t.
func position(query, rank int) error {
	switch {
	case query < 0:
		return argError(StatusOutOfRange, fmt.Sprintf("query %d is negative", query))
	case rank < 0:
		return argError(StatusOutOfRange, fmt.Sprintf("rank %d is negative", rank))
	}
	return nil
}

// NumQueries returns the number of queries (omendb_results_num_queries).
func (r *Results) NumQueries() (int, error) {
	h, err := r.acquire()
	if err != nil {
		return 0, err
	}
	defer r.release()
	var cerr *C.omendb_error
	var n C.size_t
	if err := check(C.omendb_results_num_queries(h, &n, &cerr), &cerr); err != nil {
		return 0, err
	}
	return int(n), nil
}

// Count returns the number of hits of query `query`: at most min(k, records)
// (omendb_results_count). A query not below NumQueries() (negative included) gives
// ErrOutOfRange.
func (r *Results) Count(query int) (int, error) {
	h, err := r.acquire()
	if err != nil {
		return 0, err
	}
	defer r.release()
	if err := position(query, 0); err != nil {
		return 0, err
	}
	var cerr *C.omendb_error
	var n C.size_t
	if err := check(C.omendb_results_count(h, C.size_t(query), &n, &cerr), &cerr); err != nil {
		return 0, err
	}
	return int(n), nil
}

// Distance returns the distance of hit `rank` of query `query` (omendb_results_distance).
// A query or rank out of range (negative included) gives ErrOutOfRange.
func (r *Results) Distance(query, rank int) (float32, error) {
	h, err := r.acquire()
	if err != nil {
		return 0, err
	}
	defer r.release()
	if err := position(query, rank); err != nil {
		return 0, err
	}
	var cerr *C.omendb_error
	var d C.float
	if err := check(C.omendb_results_distance(h, C.size_t(query), C.size_t(rank), &d, &cerr), &cerr); err != nil {
		return 0, err
	}
	return float32(d), nil
}

// Key returns the u64 key of hit `rank` of query `query`; ErrInvalidKey for string keys
// (omendb_results_key). A query or rank out of range (negative included) gives
// ErrOutOfRange.
func (r *Results) Key(query, rank int) (uint64, error) {
	h, err := r.acquire()
	if err != nil {
		return 0, err
	}
	defer r.release()
	if err := position(query, rank); err != nil {
		return 0, err
	}
	var cerr *C.omendb_error
	var k C.uint64_t
	if err := check(C.omendb_results_key(h, C.size_t(query), C.size_t(rank), &k, &cerr), &cerr); err != nil {
		return 0, err
	}
	return uint64(k), nil
}

// KeyString returns the string key of hit `rank` of query `query` (copied into Go memory);
// ErrInvalidKey for u64 keys (omendb_results_key_str). A query or rank out of range
// (negative included) gives ErrOutOfRange.
func (r *Results) KeyString(query, rank int) (string, error) {
	h, err := r.acquire()
	if err != nil {
		return "", err
	}
	defer r.release()
	if err := position(query, rank); err != nil {
		return "", err
	}
	var cerr *C.omendb_error
	var p *C.char
	var n C.size_t
	if err := check(C.omendb_results_key_str(h, C.size_t(query), C.size_t(rank), &p, &n, &cerr), &cerr); err != nil {
		return "", err
	}
	return C.GoStringN(p, C.int(n)), nil
}

// Distances returns a copy of all distances row by row (omendb_results_distances). Rows are
// w = len / NumQueries() wide, where w = min(k, records in the index when the search
// started), not k (0 for an empty index): query i's hits are at [i*w, i*w + Count(i)), the
// places after them holding +Inf.
func (r *Results) Distances() ([]float32, error) {
	h, err := r.acquire()
	if err != nil {
		return nil, err
	}
	defer r.release()
	var cerr *C.omendb_error
	var p *C.float
	var n C.size_t
	if err := check(C.omendb_results_distances(h, &p, &n, &cerr), &cerr); err != nil {
		return nil, err
	}
	if n == 0 {
		return []float32{}, nil
	}
	return append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(p)), int(n))...), nil
}

// ---- copying a results object into Go values, for Search* and the record searches ----

// resultRows copies a results object of string keys into Go values.
func resultRows(res *C.omendb_results) ([][]Result, error) {
	var cerr *C.omendb_error
	var nq C.size_t
	if err := check(C.omendb_results_num_queries(res, &nq, &cerr), &cerr); err != nil {
		return nil, err
	}
	var dptr *C.float
	var dlen C.size_t
	if err := check(C.omendb_results_distances(res, &dptr, &dlen, &cerr), &cerr); err != nil {
		return nil, err
	}
	rows := make([][]Result, int(nq))
	if nq == 0 {
		return rows, nil
	}
	dists := unsafe.Slice((*float32)(unsafe.Pointer(dptr)), int(dlen))
	k := int(dlen / nq) // the row width: min(k, records), not the k searched for
	for q := range rows {
		var count C.size_t
		if err := check(C.omendb_results_count(res, C.size_t(q), &count, &cerr), &cerr); err != nil {
			return nil, err
		}
		row := make([]Result, int(count))
		for r := range row {
			var kptr *C.char
			var klen C.size_t
			if err := check(C.omendb_results_key_str(res, C.size_t(q), C.size_t(r), &kptr, &klen, &cerr), &cerr); err != nil {
				return nil, err
			}
			row[r] = Result{StrKey: C.GoStringN(kptr, C.int(klen)), Distance: dists[q*k+r]}
		}
		rows[q] = row
	}
	return rows, nil
}

// oneRow copies query 0 of a results object (u64 or string keys) into Go values and frees it.
func oneRow(res *C.omendb_results, kind KeyKind) ([]Result, error) {
	defer C.omendb_results_free(res)
	var cerr *C.omendb_error
	var count C.size_t
	if err := check(C.omendb_results_count(res, 0, &count, &cerr), &cerr); err != nil {
		return nil, err
	}
	row := make([]Result, int(count))
	for r := range row {
		var d C.float
		if err := check(C.omendb_results_distance(res, 0, C.size_t(r), &d, &cerr), &cerr); err != nil {
			return nil, err
		}
		row[r].Distance = float32(d)
		if kind == KeyKindString {
			var kptr *C.char
			var klen C.size_t
			if err := check(C.omendb_results_key_str(res, 0, C.size_t(r), &kptr, &klen, &cerr), &cerr); err != nil {
				return nil, err
			}
			row[r].StrKey = C.GoStringN(kptr, C.int(klen))
		} else {
			var key C.uint64_t
			if err := check(C.omendb_results_key(res, 0, C.size_t(r), &key, &cerr), &cerr); err != nil {
				return nil, err
			}
			row[r].Key = uint64(key)
		}
	}
	return row, nil
}
