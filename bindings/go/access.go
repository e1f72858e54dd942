package omendb

// #include <stdlib.h>
// #include "omendb.h"
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"unsafe"
)

// Get returns the stored vector of u64 key `key` (omendb_index_get): bit for bit what was
// added, normalised to length 1 under Cosine; for a quantized dtype the full-precision vector,
// not the code. ErrKeyNotFound if it is not stored.
func (idx *Index) Get(key uint64) ([]float32, error) {
	h, err := idx.acquire()
	if err != nil {
		return nil, err
	}
	defer idx.release()
	out, dim, err := vectorBuffer(h, 1)
	if err != nil {
		return nil, err
	}
	var cerr *C.omendb_error
	return out, check(C.omendb_index_get(h, C.uint64_t(key), floatPtr(out), dim, &cerr), &cerr)
}

// GetString is Get for a string key (omendb_index_get_str).
func (idx *Index) GetString(id string) ([]float32, error) {
	h, err := idx.acquire()
	if err != nil {
		return nil, err
	}
	defer idx.release()
	out, dim, err := vectorBuffer(h, 1)
	if err != nil {
		return nil, err
	}
	var cerr *C.omendb_error
	st := C.omendb_index_get_str(h, strPtr(id), C.size_t(len(id)), floatPtr(out), dim, &cerr)
	runtime.KeepAlive(id)
	return out, check(st, &cerr)
}

// GetMany returns the stored vectors of u64 keys, row-major (len(keys) * Dim floats), as Get
// gives each (omendb_index_get_batch). All or nothing: ErrKeyNotFound names the first key
// not stored.
func (idx *Index) GetMany(keys []uint64) ([]float32, error) {
	h, err := idx.acquire()
	if err != nil {
		return nil, err
	}
	defer idx.release()
	out, dim, err := vectorBuffer(h, len(keys))
	if err != nil {
		return nil, err
	}
	var cerr *C.omendb_error
	st := C.omendb_index_get_batch(h, u64Ptr(keys), C.size_t(len(keys)), floatPtr(out), dim, &cerr)
	runtime.KeepAlive(keys)
	return out, check(st, &cerr)
}

// vectorBuffer is room for n vectors of the index's dimensions.
func vectorBuffer(h *C.omendb_index, n int) ([]float32, C.size_t, error) {
	var cerr *C.omendb_error
	var dim C.size_t
	if err := check(C.omendb_index_dim(h, &dim, &cerr), &cerr); err != nil {
		return nil, 0, err
	}
	return make([]float32, n*int(dim)), dim, nil
}

// Count returns the number of records whose metadata matches f, exactly; all records when f
// is nil (omendb_index_count).
func (idx *Index) Count(f *Filter) (int, error) {
	return idx.countWith(f, func(h *C.omendb_index, fh *C.omendb_filter, n *C.size_t, cerr **C.omendb_error) C.omendb_status {
		return C.omendb_index_count(h, fh, n, cerr)
	})
}

// countWith runs a C call that takes the index, the filter (nil: NULL) and a size_t out,
// holding both handles for the call, and returns the count it wrote.
func (idx *Index) countWith(f *Filter, call func(*C.omendb_index, *C.omendb_filter, *C.size_t, **C.omendb_error) C.omendb_status) (int, error) {
	h, err := idx.acquire()
	if err != nil {
		return 0, err
	}
	defer idx.release()
	fh, err := f.acquire()
	if err != nil {
		return 0, err
	}
	defer f.release()
	var n C.size_t
	var cerr *C.omendb_error
	err = check(call(h, fh, &n, &cerr), &cerr)
	return int(n), err
}

// RemoveBatch removes the records of u64 keys, all or nothing: if one is not stored (or
// repeats), none is removed (omendb_index_remove_batch). It returns how many were removed.
func (idx *Index) RemoveBatch(keys []uint64) (int, error) {
	h, err := idx.acquire()
	if err != nil {
		return 0, err
	}
	defer idx.release()
	var cerr *C.omendb_error
	st := C.omendb_index_remove_batch(h, u64Ptr(keys), C.size_t(len(keys)), &cerr)
	runtime.KeepAlive(keys)
	if err := check(st, &cerr); err != nil {
		return 0, err
	}
	return len(keys), nil
}

// RemoveBatchString is RemoveBatch for string keys (omendb_index_remove_batch_str).
func (idx *Index) RemoveBatchString(ids []string) (int, error) {
	h, err := idx.acquire()
	if err != nil {
		return 0, err
	}
	defer idx.release()
	keys := newCStrings(ids)
	defer keys.free()
	var cerr *C.omendb_error
	if err := check(C.omendb_index_remove_batch_str(h, keys.ptrs, keys.lens, C.size_t(len(ids)), &cerr), &cerr); err != nil {
		return 0, err
	}
	return len(ids), nil
}

// RemoveWhere removes every record whose metadata matches f, all or nothing and as one change
// (other writers wait meanwhile), and returns how many (omendb_index_remove_where).
func (idx *Index) RemoveWhere(f *Filter) (int, error) {
	if f == nil {
		return 0, argError(StatusNullPointer, "RemoveWhere needs a filter (to remove every record, close the index and start anew)")
	}
	return idx.countWith(f, func(h *C.omendb_index, fh *C.omendb_filter, n *C.size_t, cerr **C.omendb_error) C.omendb_status {
		return C.omendb_index_remove_where(h, fh, n, cerr)
	})
}

// RangeSearch returns every record within radius of query (distance <= radius, in the
// metric's units), nearest first, at most limit of them (0: no limit), among those matching f
// (nil: all records) (omendb_index_range_search). Exact for indexes of up to 4,096 records;
// above, a graph search that deepens until it passes the radius.
func (idx *Index) RangeSearch(query []float32, radius float32, limit int, f *Filter) ([]Result, error) {
	if limit < 0 {
		return nil, argError(StatusInvalidArgument, fmt.Sprintf("limit = %d must not be negative", limit))
	}
	rows, err := idx.searchRow(1, f, false, func(h *C.omendb_index, fh *C.omendb_filter) (*C.omendb_results, error) {
		var res *C.omendb_results
		var cerr *C.omendb_error
		err := check(C.omendb_index_range_search(h, floatPtr(query), C.size_t(len(query)), C.float(radius), C.size_t(limit), 0, fh, &res, &cerr), &cerr)
		return res, err
	})
	runtime.KeepAlive(query)
	return rows, err
}

// Stats returns the index's statistics (omendb_index_stats), decoded from its JSON object:
// records, pending_removes, slots, dim, metric, dtype, m, ef_construction, ef_search,
// key_kind, levels, mean_layer0_degree, memory (bytes by part) and durable. It visits every
// record: O(records).
func (idx *Index) Stats() (map[string]any, error) {
	h, err := idx.acquire()
	if err != nil {
		return nil, err
	}
	defer idx.release()
	var cerr *C.omendb_error
	var s *C.char
	var n C.size_t
	if err := check(C.omendb_index_stats(h, &s, &n, &cerr), &cerr); err != nil {
		return nil, err
	}
	var stats map[string]any
	if err := json.Unmarshal([]byte(takeString(s, n)), &stats); err != nil {
		return nil, err
	}
	return stats, nil
}

// Keys returns the u64 keys of the records matching f (nil: every record), in ascending
// order, as they stand now (a cursor's snapshot: omendb_cursor_create, omendb_cursor_next).
// ErrInvalidKey for an index of string keys (use KeysString).
func (idx *Index) Keys(f *Filter) ([]uint64, error) {
	cur, total, err := idx.cursor(f)
	if err != nil {
		return nil, err
	}
	defer C.omendb_cursor_free(cur)
	keys := make([]uint64, total)
	var n C.size_t
	var cerr *C.omendb_error
	if total == 0 {
		var one [1]uint64
		return keys, check(C.omendb_cursor_next(cur, u64Ptr(one[:]), 1, &n, &cerr), &cerr)
	}
	if err := check(C.omendb_cursor_next(cur, u64Ptr(keys), C.size_t(total), &n, &cerr), &cerr); err != nil {
		return nil, err
	}
	return keys[:int(n)], nil
}

// KeysString returns the string keys of the records matching f (nil: every record), in the
// order of their UTF-8 bytes, as they stand now (omendb_cursor_next_str). ErrInvalidKey for
// an index of u64 keys.
func (idx *Index) KeysString(f *Filter) ([]string, error) {
	cur, total, err := idx.cursor(f)
	if err != nil {
		return nil, err
	}
	defer C.omendb_cursor_free(cur)
	keys := make([]string, 0, total)
	const page = 256
	ptrs := (*[page]*C.char)(C.malloc(C.size_t(page) * C.size_t(unsafe.Sizeof(uintptr(0)))))
	lens := (*[page]C.size_t)(C.malloc(C.size_t(page) * C.size_t(unsafe.Sizeof(C.size_t(0)))))
	defer C.free(unsafe.Pointer(ptrs))
	defer C.free(unsafe.Pointer(lens))
	for {
		var n C.size_t
		var cerr *C.omendb_error
		if err := check(C.omendb_cursor_next_str(cur, &ptrs[0], &lens[0], page, &n, &cerr), &cerr); err != nil {
			return nil, err
		}
		if n == 0 {
			return keys, nil
		}
		for i := 0; i < int(n); i++ {
			keys = append(keys, C.GoStringN(ptrs[i], C.int(lens[i])))
		}
	}
}

// cursor makes a cursor over the keys matching f and returns how many it holds.
func (idx *Index) cursor(f *Filter) (*C.omendb_cursor, int, error) {
	h, err := idx.acquire()
	if err != nil {
		return nil, 0, err
	}
	defer idx.release()
	fh, err := f.acquire()
	if err != nil {
		return nil, 0, err
	}
	defer f.release()
	var cur *C.omendb_cursor
	var cerr *C.omendb_error
	if err := check(C.omendb_cursor_create(h, fh, &cur, &cerr), &cerr); err != nil {
		return nil, 0, err
	}
	var total C.size_t
	if err := check(C.omendb_cursor_len(cur, &total, nil, &cerr), &cerr); err != nil {
		C.omendb_cursor_free(cur)
		return nil, 0, err
	}
	return cur, int(total), nil
}

// All iterates over the records matching f (nil: every record) with u64 keys, in ascending
// key order, yielding each key with its stored vector (as Get gives it):
//
//	for key, vector := range idx.All(nil) { ... }
//
// The keys are a snapshot taken when the loop starts (omendb_cursor_create); writes during
// the loop do not disturb it. Vectors are read 256 records at a time: a record removed before
// its page is read is skipped, one removed after is still yielded. The loop ends early if
// the index is closed or holds string keys: Keys reports such errors.
func (idx *Index) All(f *Filter) iter.Seq2[uint64, []float32] {
	return func(yield func(uint64, []float32) bool) {
		cur, _, err := idx.cursor(f)
		if err != nil {
			return
		}
		defer C.omendb_cursor_free(cur)
		var page [256]uint64
		for {
			var n C.size_t
			var cerr *C.omendb_error
			if check(C.omendb_cursor_next(cur, u64Ptr(page[:]), C.size_t(len(page)), &n, &cerr), &cerr) != nil || n == 0 {
				return
			}
			keys := page[:int(n)]
			vectors, err := idx.GetMany(keys)
			dim := 0
			if err == nil && len(keys) > 0 {
				dim = len(vectors) / len(keys)
			}
			for i, key := range keys {
				var v []float32
				if err == nil {
					v = vectors[i*dim : (i+1)*dim]
				} else if v, err = idx.Get(key); errors.Is(err, ErrKeyNotFound) {
					continue // removed after the snapshot
				} else if err != nil {
					return
				}
				if !yield(key, v) {
					return
				}
			}
		}
	}
}
