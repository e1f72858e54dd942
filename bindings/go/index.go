package omendb

// #include "omendb.h"
import "C"

import (
	"fmt"
	"runtime"
)

// Index is an HNSW vector index (omendb_index). Create it with New and free it with Close.
// All methods may be called from many goroutines at once.
type Index struct {
	handle handle[*C.omendb_index]
}

// New creates an empty index with the given options (omendb_options_create, the
// omendb_options_set_* setters for the non-zero fields, omendb_index_create).
func New(o Options) (*Index, error) {
	opts, err := o.cOptions()
	if err != nil {
		return nil, err
	}
	defer C.omendb_options_free(opts)
	var h *C.omendb_index
	var cerr *C.omendb_error
	if err := check(C.omendb_index_create(opts, &h, &cerr), &cerr); err != nil {
		return nil, err
	}
	return newIndex(h), nil
}

// newIndex wraps a handle made by omendb_index_create, _load or _open, with a finalizer as
// the safety net for an Index never closed.
func newIndex(h *C.omendb_index) *Index {
	idx := &Index{handle: handle[*C.omendb_index]{ptr: h}}
	runtime.SetFinalizer(idx, (*Index).Close)
	return idx
}

// Close frees the index (omendb_index_free). It waits for running calls to finish; later
// calls return ErrClosed. Closing twice is harmless.
func (idx *Index) Close() error {
	if idx == nil {
		return nil
	}
	idx.handle.close(func(h *C.omendb_index) {
		C.omendb_index_free(h)
		runtime.SetFinalizer(idx, nil)
	})
	return nil
}

// acquire read-locks the handle for one C call; release must follow.
func (idx *Index) acquire() (*C.omendb_index, error) {
	if idx == nil {
		return nil, ErrClosed
	}
	return idx.handle.acquire()
}

func (idx *Index) release() { idx.handle.release() }

// batch checks that vectors splits into `rows` rows and makes one of the four batch calls.
// call declares its own out-parameters: any passed in through a func value would escape to
// the heap, defeating the #cgo noescape annotations that keep them on the stack.
func (idx *Index) batch(rows int, vectors []float32, what string, call func(h *C.omendb_index, dim C.size_t) error) error {
	h, err := idx.acquire()
	if err != nil {
		return err
	}
	defer idx.release()
	dim, err := rowDim(len(vectors), rows, what)
	if err != nil {
		return err
	}
	err = call(h, dim)
	runtime.KeepAlive(vectors)
	return err
}

// AddBatch adds records with u64 keys: keys[i] names row i of vectors (row-major,
// len(vectors) / len(keys) floats each). All or nothing (omendb_index_add_batch).
func (idx *Index) AddBatch(keys []uint64, vectors []float32) error {
	err := idx.batch(len(keys), vectors, "keys", func(h *C.omendb_index, dim C.size_t) error {
		var cerr *C.omendb_error
		return check(C.omendb_index_add_batch(h, u64Ptr(keys), C.size_t(len(keys)), floatPtr(vectors), dim, &cerr), &cerr)
	})
	runtime.KeepAlive(keys)
	return err
}

// UpsertBatch is AddBatch where a key already stored gets the new vector
// (omendb_index_upsert_batch).
func (idx *Index) UpsertBatch(keys []uint64, vectors []float32) error {
	err := idx.batch(len(keys), vectors, "keys", func(h *C.omendb_index, dim C.size_t) error {
		var cerr *C.omendb_error
		return check(C.omendb_index_upsert_batch(h, u64Ptr(keys), C.size_t(len(keys)), floatPtr(vectors), dim, &cerr), &cerr)
	})
	runtime.KeepAlive(keys)
	return err
}

// AddStrings adds records with string keys (valid UTF-8, 1..=65536 bytes, NUL allowed): ids[i]
// names row i of vectors. All or nothing (omendb_index_add_batch_str).
func (idx *Index) AddStrings(ids []string, vectors []float32) error {
	return idx.batch(len(ids), vectors, "ids", func(h *C.omendb_index, dim C.size_t) error {
		keys := newCStrings(ids)
		defer keys.free()
		var cerr *C.omendb_error
		return check(C.omendb_index_add_batch_str(h, keys.ptrs, keys.lens, C.size_t(len(ids)), floatPtr(vectors), dim, &cerr), &cerr)
	})
}

// UpsertStrings is AddStrings where a key already stored gets the new vector
// (omendb_index_upsert_batch_str).
func (idx *Index) UpsertStrings(ids []string, vectors []float32) error {
	return idx.batch(len(ids), vectors, "ids", func(h *C.omendb_index, dim C.size_t) error {
		keys := newCStrings(ids)
		defer keys.free()
		var cerr *C.omendb_error
		return check(C.omendb_index_upsert_batch_str(h, keys.ptrs, keys.lens, C.size_t(len(ids)), floatPtr(vectors), dim, &cerr), &cerr)
	})
}

// AddAuto adds len(vectors) / dim records under automatic u64 keys counting up from 0 and
// returns the first key used: the batch holds first .. first+n-1 (omendb_index_add_auto).
func (idx *Index) AddAuto(vectors []float32, dim int) (first uint64, err error) {
	h, err := idx.acquire()
	if err != nil {
		return 0, err
	}
	defer idx.release()
	n := 0
	switch {
	case dim < 0 || (dim == 0 && len(vectors) > 0):
		return 0, argError(StatusInvalidArgument, fmt.Sprintf("dim must be at least 1, got %d", dim))
	case dim > 0 && len(vectors)%dim != 0:
		return 0, argError(StatusDimensionMismatch, fmt.Sprintf("%d floats do not split into rows of %d", len(vectors), dim))
	case dim > 0:
		n = len(vectors) / dim
	}
	var cerr *C.omendb_error
	var out C.uint64_t
	st := C.omendb_index_add_auto(h, floatPtr(vectors), C.size_t(n), C.size_t(dim), &out, &cerr)
	runtime.KeepAlive(vectors)
	if err := check(st, &cerr); err != nil {
		return 0, err
	}
	return uint64(out), nil
}

// Remove removes the record with u64 key `key` (omendb_index_remove).
func (idx *Index) Remove(key uint64) error {
	h, err := idx.acquire()
	if err != nil {
		return err
	}
	defer idx.release()
	var cerr *C.omendb_error
	return check(C.omendb_index_remove(h, C.uint64_t(key), &cerr), &cerr)
}

// RemoveString removes the record with string key `id` (omendb_index_remove_str).
func (idx *Index) RemoveString(id string) error {
	h, err := idx.acquire()
	if err != nil {
		return err
	}
	defer idx.release()
	var cerr *C.omendb_error
	st := C.omendb_index_remove_str(h, strPtr(id), C.size_t(len(id)), &cerr)
	runtime.KeepAlive(id)
	return check(st, &cerr)
}

// Contains reports whether u64 key `key` is stored (omendb_index_contains).
func (idx *Index) Contains(key uint64) (bool, error) {
	h, err := idx.acquire()
	if err != nil {
		return false, err
	}
	defer idx.release()
	var cerr *C.omendb_error
	var found C.bool
	if err := check(C.omendb_index_contains(h, C.uint64_t(key), &found, &cerr), &cerr); err != nil {
		return false, err
	}
	return bool(found), nil
}

// ContainsString reports whether string key `id` is stored (omendb_index_contains_str).
func (idx *Index) ContainsString(id string) (bool, error) {
	h, err := idx.acquire()
	if err != nil {
		return false, err
	}
	defer idx.release()
	var cerr *C.omendb_error
	var found C.bool
	st := C.omendb_index_contains_str(h, strPtr(id), C.size_t(len(id)), &found, &cerr)
	runtime.KeepAlive(id)
	if err := check(st, &cerr); err != nil {
		return false, err
	}
	return bool(found), nil
}

// Len returns the number of records (omendb_index_len).
func (idx *Index) Len() (int, error) {
	h, err := idx.acquire()
	if err != nil {
		return 0, err
	}
	defer idx.release()
	var cerr *C.omendb_error
	var n C.size_t
	if err := check(C.omendb_index_len(h, &n, &cerr), &cerr); err != nil {
		return 0, err
	}
	return int(n), nil
}

// Dim returns the vector dimensions: 0 while an index created with Dim 0 has no record yet
// (omendb_index_dim).
func (idx *Index) Dim() (int, error) {
	h, err := idx.acquire()
	if err != nil {
		return 0, err
	}
	defer idx.release()
	var cerr *C.omendb_error
	var d C.size_t
	if err := check(C.omendb_index_dim(h, &d, &cerr), &cerr); err != nil {
		return 0, err
	}
	return int(d), nil
}

// EfSearch returns the default beam width of searches that pass ef = 0
// (omendb_index_ef_search): Options.EfSearch, unless SetEfSearch changed it.
func (idx *Index) EfSearch() (int, error) {
	h, err := idx.acquire()
	if err != nil {
		return 0, err
	}
	defer idx.release()
	var cerr *C.omendb_error
	var ef C.size_t
	if err := check(C.omendb_index_ef_search(h, &ef, &cerr), &cerr); err != nil {
		return 0, err
	}
	return int(ef), nil
}

// SetEfSearch changes the default beam width of searches that pass ef = 0, 1 to 2^20
// (omendb_index_set_ef_search; hnswlib's set_ef). Save stores it, and so does a durable
// index's next checkpoint; the write-ahead log does not. Safe while other goroutines search.
func (idx *Index) SetEfSearch(ef int) error {
	if ef < 0 {
		return argError(StatusInvalidArgument, fmt.Sprintf("ef = %d must not be negative", ef))
	}
	h, err := idx.acquire()
	if err != nil {
		return err
	}
	defer idx.release()
	var cerr *C.omendb_error
	return check(C.omendb_index_set_ef_search(h, C.uint64_t(ef), &cerr), &cerr)
}

// Threads returns how many threads the index's batch calls use (omendb_index_threads): 0
// for one per core (the default), else what SetThreads set.
func (idx *Index) Threads() (int, error) {
	h, err := idx.acquire()
	if err != nil {
		return 0, err
	}
	defer idx.release()
	var cerr *C.omendb_error
	var n C.size_t
	if err := check(C.omendb_index_threads(h, &n, &cerr), &cerr); err != nil {
		return 0, err
	}
	return int(n), nil
}

// SetThreads sets how many threads the index's batch calls use (omendb_index_set_threads):
// 0 for one per core, shared by every index (the default), n from 1 to 1024 for a pool of n
// threads of this index's own. Not saved.
func (idx *Index) SetThreads(n int) error {
	if n < 0 {
		return argError(StatusInvalidArgument, fmt.Sprintf("threads = %d must not be negative", n))
	}
	h, err := idx.acquire()
	if err != nil {
		return err
	}
	defer idx.release()
	var cerr *C.omendb_error
	return check(C.omendb_index_set_threads(h, C.size_t(n), &cerr), &cerr)
}

// Metric returns the index's metric (omendb_index_metric).
func (idx *Index) Metric() (Metric, error) {
	h, err := idx.acquire()
	if err != nil {
		return 0, err
	}
	defer idx.release()
	var cerr *C.omendb_error
	var m C.uint32_t
	if err := check(C.omendb_index_metric(h, &m, &cerr), &cerr); err != nil {
		return 0, err
	}
	return Metric(m), nil
}

// KeyKind returns the kind of key the index holds; KeyKindNone before the first record
// (omendb_index_key_kind).
func (idx *Index) KeyKind() (KeyKind, error) {
	h, err := idx.acquire()
	if err != nil {
		return 0, err
	}
	defer idx.release()
	return keyKind(h)
}

func keyKind(h *C.omendb_index) (KeyKind, error) {
	var cerr *C.omendb_error
	var k C.uint32_t
	if err := check(C.omendb_index_key_kind(h, &k, &cerr), &cerr); err != nil {
		return 0, err
	}
	return KeyKind(k), nil
}

// MemoryBytes returns the approximate memory the index holds, in bytes
// (omendb_index_memory_bytes).
func (idx *Index) MemoryBytes() (int, error) {
	h, err := idx.acquire()
	if err != nil {
		return 0, err
	}
	defer idx.release()
	var cerr *C.omendb_error
	var b C.size_t
	if err := check(C.omendb_index_memory_bytes(h, &b, &cerr), &cerr); err != nil {
		return 0, err
	}
	return int(b), nil
}

// Checkpoint writes a checkpoint of a durable index (omendb_index_checkpoint): a snapshot of
// everything stored and a new, empty log, so reopening replays only what comes after.
// ErrInvalidArgument for an index without a Path.
func (idx *Index) Checkpoint() error {
	h, err := idx.acquire()
	if err != nil {
		return err
	}
	defer idx.release()
	var cerr *C.omendb_error
	return check(C.omendb_index_checkpoint(h, &cerr), &cerr)
}

// Recovery is what opening a durable index found in its log (omendb_index_recovery).
type Recovery struct {
	RecordsReplayed uint64 // log records replayed onto the snapshot
	BytesDropped    uint64 // torn or damaged log cut from its end
}

// Recovery reports what opening a durable index found in its log; zeros for a new directory
// or an index without a Path.
func (idx *Index) Recovery() (Recovery, error) {
	h, err := idx.acquire()
	if err != nil {
		return Recovery{}, err
	}
	defer idx.release()
	var r Recovery
	var replayed, dropped C.uint64_t
	var cerr *C.omendb_error
	err = check(C.omendb_index_recovery(h, &replayed, &dropped, &cerr), &cerr)
	r.RecordsReplayed, r.BytesDropped = uint64(replayed), uint64(dropped)
	return r, err
}

// Flush syncs a durable index's log to disk now (omendb_index_flush): what SyncBatch and
// SyncOff leave for later. A no-op without a Path.
func (idx *Index) Flush() error {
	h, err := idx.acquire()
	if err != nil {
		return err
	}
	defer idx.release()
	var cerr *C.omendb_error
	return check(C.omendb_index_flush(h, &cerr), &cerr)
}

// Compact repairs the graph around removed records now and makes their memory reusable
// (omendb_index_compact).
func (idx *Index) Compact() error {
	h, err := idx.acquire()
	if err != nil {
		return err
	}
	defer idx.release()
	var cerr *C.omendb_error
	return check(C.omendb_index_compact(h, &cerr), &cerr)
}
