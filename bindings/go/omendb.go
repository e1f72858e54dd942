// Package omendb is the Go binding of OmenDB, an embedded vector database (HNSW index) with
// a C API (include/omendb.h, libomendb.so).
//
// The binding mirrors the C API: each method makes the C call of the same name and turns its
// status and owned error object into an error value (*Error, matched with errors.Is against
// the Err* sentinels). The only logic of its own is marshalling:
//
//   - Vectors are flat row-major []float32 slices read in place by C. The row count comes
//     from the call (len(keys), n, or the explicit dim of AddAuto) and the dimension is
//     len(vectors) / rows; C then checks it against the index's dimension. A length that
//     does not split into whole rows is reported as ErrDimensionMismatch before calling C,
//     since C would otherwise read only part of the slice.
//   - String keys are copied into one C-allocated block (pointers, lengths, bytes) for the
//     call, so no Go pointer is stored in memory handed to C.
//   - Search and SearchBatch return only the hits found: a row may be shorter than k (a
//     small index, or a filter that few records match) and is never padded. Their buffers
//     are sized by min(k, Len()), never by k, so a huge k costs no memory; for an index of
//     string keys they go through omendb_results, which C sizes the same way. SearchInto
//     fills the caller's n*k buffers and pads each row with NoKey and +Inf.
//   - A negative int (an Options field, a count, k, a query or rank index) is rejected
//     before any C call with an *Error naming it, never converted to a huge size_t.
//
// An Index is safe for concurrent use by many goroutines, Close included: each method holds a
// read lock on the handle during its C call and Close takes the write lock, frees the handle
// and marks the Index closed, after which every method returns ErrClosed. A finalizer frees an
// Index that was never closed, but only as a safety net: call Close.
package omendb

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -lomendb -Wl,-rpath,${SRCDIR}/../../target/release

// No C function of the API keeps a pointer it was given past the call, and none calls back
// into Go. Both directives together let the compiler keep out-parameters (status, error
// pointer, counts) on the Go stack instead of allocating them on every call.
#cgo noescape omendb_index_create
#cgo nocallback omendb_index_create
#cgo noescape omendb_index_add_batch
#cgo nocallback omendb_index_add_batch
#cgo noescape omendb_index_upsert_batch
#cgo nocallback omendb_index_upsert_batch
#cgo noescape omendb_index_add_batch_str
#cgo nocallback omendb_index_add_batch_str
#cgo noescape omendb_index_upsert_batch_str
#cgo nocallback omendb_index_upsert_batch_str
#cgo noescape omendb_index_add_auto
#cgo nocallback omendb_index_add_auto
#cgo noescape omendb_index_remove
#cgo nocallback omendb_index_remove
#cgo noescape omendb_index_remove_str
#cgo nocallback omendb_index_remove_str
#cgo noescape omendb_index_contains
#cgo nocallback omendb_index_contains
#cgo noescape omendb_index_contains_str
#cgo nocallback omendb_index_contains_str
#cgo noescape omendb_index_len
#cgo nocallback omendb_index_len
#cgo noescape omendb_index_dim
#cgo nocallback omendb_index_dim
#cgo noescape omendb_index_metric
#cgo nocallback omendb_index_metric
#cgo noescape omendb_index_key_kind
#cgo nocallback omendb_index_key_kind
#cgo noescape omendb_index_memory_bytes
#cgo nocallback omendb_index_memory_bytes
#cgo noescape omendb_index_compact
#cgo nocallback omendb_index_compact
#cgo noescape omendb_index_search
#cgo nocallback omendb_index_search
#cgo noescape omendb_index_search_results
#cgo nocallback omendb_index_search_results
#cgo noescape omendb_options_create
#cgo nocallback omendb_options_create
#cgo noescape omendb_options_set_dim
#cgo nocallback omendb_options_set_dim
#cgo noescape omendb_options_set_metric
#cgo nocallback omendb_options_set_metric
#cgo noescape omendb_options_set_m
#cgo nocallback omendb_options_set_m
#cgo noescape omendb_options_set_ef_construction
#cgo nocallback omendb_options_set_ef_construction
#cgo noescape omendb_options_set_ef_search
#cgo nocallback omendb_options_set_ef_search
#cgo noescape omendb_options_set_seed
#cgo nocallback omendb_options_set_seed
#cgo noescape omendb_options_set_dtype
#cgo nocallback omendb_options_set_dtype
#cgo noescape omendb_options_set_rerank
#cgo nocallback omendb_options_set_rerank
#cgo noescape omendb_options_set_pq_m
#cgo nocallback omendb_options_set_pq_m
#cgo noescape omendb_options_set_full_precision_dir
#cgo nocallback omendb_options_set_full_precision_dir
#cgo noescape omendb_index_save
#cgo nocallback omendb_index_save
#cgo noescape omendb_index_load
#cgo nocallback omendb_index_load
#cgo noescape omendb_results_num_queries
#cgo nocallback omendb_results_num_queries
#cgo noescape omendb_results_count
#cgo nocallback omendb_results_count
#cgo noescape omendb_results_distance
#cgo nocallback omendb_results_distance
#cgo noescape omendb_results_key
#cgo nocallback omendb_results_key
#cgo noescape omendb_results_key_str
#cgo nocallback omendb_results_key_str
#cgo noescape omendb_results_distances
#cgo nocallback omendb_results_distances
#cgo noescape omendb_filter_parse
#cgo nocallback omendb_filter_parse
#cgo noescape omendb_index_add_records
#cgo nocallback omendb_index_add_records
#cgo noescape omendb_index_upsert_records
#cgo nocallback omendb_index_upsert_records
#cgo noescape omendb_index_add_records_str
#cgo nocallback omendb_index_add_records_str
#cgo noescape omendb_index_upsert_records_str
#cgo nocallback omendb_index_upsert_records_str
#cgo noescape omendb_index_search_filtered
#cgo nocallback omendb_index_search_filtered
#cgo noescape omendb_index_text_search
#cgo nocallback omendb_index_text_search
#cgo noescape omendb_index_hybrid_search
#cgo nocallback omendb_index_hybrid_search
#cgo noescape omendb_index_metadata
#cgo nocallback omendb_index_metadata
#cgo noescape omendb_index_metadata_str
#cgo nocallback omendb_index_metadata_str

#include <stdlib.h>
#include "omendb.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"
)

// Metric is the distance of an index (OMENDB_METRIC_*).
type Metric uint32

// The metrics. L2 is the zero value and the library's default.
const (
	L2     Metric = C.OMENDB_METRIC_L2     // squared Euclidean distance
	IP     Metric = C.OMENDB_METRIC_IP     // inner product: distance = 1 - a.b
	Cosine Metric = C.OMENDB_METRIC_COSINE // distance = 1 - cos(a, b)
)

func (m Metric) String() string {
	switch m {
	case L2:
		return "L2"
	case IP:
		return "IP"
	case Cosine:
		return "Cosine"
	}
	return fmt.Sprintf("Metric(%d)", uint32(m))
}

// KeyKind is the kind of key an index holds (OMENDB_KEY_KIND_*).
type KeyKind uint32

// The key kinds. An index takes its kind from its first record.
const (
	KeyKindNone   KeyKind = C.OMENDB_KEY_KIND_NONE
	KeyKindU64    KeyKind = C.OMENDB_KEY_KIND_U64
	KeyKindString KeyKind = C.OMENDB_KEY_KIND_STRING
)

func (k KeyKind) String() string {
	switch k {
	case KeyKindNone:
		return "None"
	case KeyKindU64:
		return "U64"
	case KeyKindString:
		return "String"
	}
	return fmt.Sprintf("KeyKind(%d)", uint32(k))
}

// NoKey is OMENDB_NO_KEY (UINT64_MAX): never a valid key; SearchInto writes it where a query
// found fewer than k hits.
const NoKey uint64 = math.MaxUint64

// Version returns the library's version, "MAJOR.MINOR.PATCH" (omendb_version).
func Version() string { return C.GoString(C.omendb_version()) }

// StatusName returns the C name of a status code, such as "OMENDB_STATUS_NULL_POINTER", or
// "OMENDB_STATUS_UNKNOWN" (omendb_status_name).
func StatusName(code Status) string { return C.GoString(C.omendb_status_name(C.uint32_t(code))) }

// check turns a status and the error object written to *cerr into an error value, and frees
// the error object.
func check(st C.omendb_status, cerr **C.omendb_error) error {
	e := *cerr
	if e == nil {
		if st == C.OMENDB_STATUS_OK {
			return nil
		}
		return &Error{Code: Status(st)}
	}
	*cerr = nil
	err := &Error{Code: Status(C.omendb_error_code(e)), Message: C.GoString(C.omendb_error_message(e))}
	C.omendb_error_free(e)
	if err.Code == StatusOK {
		err.Code = Status(st)
	}
	if err.Code == StatusOK {
		return nil
	}
	return err
}

// Dtype is how an index stores its vectors (OMENDB_DTYPE_*); see omendb_options_set_dtype.
// Other than F32, the graph is built and searched on compact codes and each search re-scores
// its best Rerank * k candidates at full precision (distances are exact). Int8 and PQ learn
// from the first batch added, which must hold at least 256 / 1024 vectors (else
// ErrInvalidArgument). Quantized indexes cannot be saved yet.
type Dtype uint32

// The storage types.
const (
	F32    Dtype = C.OMENDB_DTYPE_F32    // 4 bytes a dimension (the default)
	F16    Dtype = C.OMENDB_DTYPE_F16    // IEEE half floats
	Int8   Dtype = C.OMENDB_DTYPE_INT8   // 8-bit codes, ranges learned per dimension
	Binary Dtype = C.OMENDB_DTYPE_BINARY // one bit a dimension: above the mean or not
	PQ     Dtype = C.OMENDB_DTYPE_PQ     // product quantization, PQM bytes a vector
)

// Options are the settings of New. A zero field keeps the library's default: dimensions
// taken from the first batch added, metric L2, M 16, EfConstruction 200, EfSearch 64, a
// fixed seed, dtype F32, Rerank 4, PQM dim / 8, full-precision vectors in memory.
// A negative value is rejected by New itself (ErrInvalidArgument naming the field and the
// value); other out-of-range values are rejected by C with ErrInvalidArgument.
type Options struct {
	Dim            int    // vector dimensions, 1..=65536; 0 = set by the first batch
	Metric         Metric // L2, IP or Cosine
	M              int    // links per node on the upper layers, 2..=512
	EfConstruction int    // beam width while inserting
	EfSearch       int    // default beam width of a search (ef = 0)
	Seed           uint64 // seed of the level sampler; 0 keeps the library's fixed seed
	Dtype          Dtype  // F32, F16, Int8, Binary or PQ
	Rerank         int    // quantized: re-score the best Rerank * k candidates, 1..=1024
	PQM            int    // PQ sub-spaces, a divisor of Dim; 0 = Dim / 8
	// FullPrecisionDir, when set, keeps a quantized index's full-precision vectors in an
	// unlinked, memory-mapped temporary file in this directory (page cache) instead of
	// anonymous memory.
	FullPrecisionDir string
}

// Index is an HNSW vector index (omendb_index). Create it with New and free it with Close.
// All methods may be called from many goroutines at once.
type Index struct {
	mu sync.RWMutex
	h  *C.omendb_index
}

// New creates an empty index with the given options (omendb_options_create, the
// omendb_options_set_* setters for the non-zero fields, omendb_index_create).
func New(o Options) (*Index, error) {
	for _, f := range []struct {
		name string
		v    int
	}{{"Dim", o.Dim}, {"M", o.M}, {"EfConstruction", o.EfConstruction}, {"EfSearch", o.EfSearch},
		{"Rerank", o.Rerank}, {"PQM", o.PQM}} {
		if f.v < 0 {
			return nil, argError(StatusInvalidArgument, fmt.Sprintf("Options.%s = %d must not be negative", f.name, f.v))
		}
	}
	var opts *C.omendb_options
	var cerr *C.omendb_error
	if err := check(C.omendb_options_create(&opts, &cerr), &cerr); err != nil {
		return nil, err
	}
	defer C.omendb_options_free(opts)
	if o.Dim != 0 {
		if err := check(C.omendb_options_set_dim(opts, C.uint64_t(o.Dim), &cerr), &cerr); err != nil {
			return nil, err
		}
	}
	if err := check(C.omendb_options_set_metric(opts, C.uint32_t(o.Metric), &cerr), &cerr); err != nil {
		return nil, err
	}
	if o.M != 0 {
		if err := check(C.omendb_options_set_m(opts, C.uint64_t(o.M), &cerr), &cerr); err != nil {
			return nil, err
		}
	}
	if o.EfConstruction != 0 {
		if err := check(C.omendb_options_set_ef_construction(opts, C.uint64_t(o.EfConstruction), &cerr), &cerr); err != nil {
			return nil, err
		}
	}
	if o.EfSearch != 0 {
		if err := check(C.omendb_options_set_ef_search(opts, C.uint64_t(o.EfSearch), &cerr), &cerr); err != nil {
			return nil, err
		}
	}
	if o.Seed != 0 {
		if err := check(C.omendb_options_set_seed(opts, C.uint64_t(o.Seed), &cerr), &cerr); err != nil {
			return nil, err
		}
	}
	if err := check(C.omendb_options_set_dtype(opts, C.uint32_t(o.Dtype), &cerr), &cerr); err != nil {
		return nil, err
	}
	if o.Rerank != 0 {
		if err := check(C.omendb_options_set_rerank(opts, C.uint64_t(o.Rerank), &cerr), &cerr); err != nil {
			return nil, err
		}
	}
	if o.PQM != 0 {
		if err := check(C.omendb_options_set_pq_m(opts, C.uint64_t(o.PQM), &cerr), &cerr); err != nil {
			return nil, err
		}
	}
	if o.FullPrecisionDir != "" {
		dir := C.CString(o.FullPrecisionDir)
		err := check(C.omendb_options_set_full_precision_dir(opts, dir, C.size_t(len(o.FullPrecisionDir)), &cerr), &cerr)
		C.free(unsafe.Pointer(dir))
		if err != nil {
			return nil, err
		}
	}
	var h *C.omendb_index
	if err := check(C.omendb_index_create(opts, &h, &cerr), &cerr); err != nil {
		return nil, err
	}
	idx := &Index{h: h}
	runtime.SetFinalizer(idx, (*Index).Close)
	return idx, nil
}

// Close frees the index (omendb_index_free). It waits for running calls to finish; later
// calls return ErrClosed. Closing twice is harmless.
func (idx *Index) Close() error {
	if idx == nil {
		return nil
	}
	idx.mu.Lock()
	defer idx.mu.Unlock()
	if idx.h != nil {
		C.omendb_index_free(idx.h)
		idx.h = nil
		runtime.SetFinalizer(idx, nil)
	}
	return nil
}

// acquire read-locks the handle for one C call; release must follow.
func (idx *Index) acquire() (*C.omendb_index, error) {
	if idx == nil {
		return nil, ErrClosed
	}
	idx.mu.RLock()
	if idx.h == nil {
		idx.mu.RUnlock()
		return nil, ErrClosed
	}
	return idx.h, nil
}

func (idx *Index) release() {
	idx.mu.RUnlock()
	runtime.KeepAlive(idx)
}

// rowDim is the dimension of `rows` rows held in `total` floats.
func rowDim(total, rows int, what string) (C.size_t, error) {
	if rows < 0 {
		return 0, argError(StatusInvalidArgument, fmt.Sprintf("negative count %d of %s", rows, what))
	}
	if rows == 0 {
		if total != 0 {
			return 0, argError(StatusDimensionMismatch, fmt.Sprintf("%d floats for 0 %s", total, what))
		}
		return 0, nil
	}
	if total%rows != 0 {
		return 0, argError(StatusDimensionMismatch, fmt.Sprintf("%d floats do not split into %d %s", total, rows, what))
	}
	return C.size_t(total / rows), nil
}

func floatPtr(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

func u64Ptr(s []uint64) *C.uint64_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.uint64_t)(unsafe.Pointer(&s[0]))
}

// strPtr lends a Go string's bytes to C for the duration of one call (C only reads them).
func strPtr(s string) *C.char {
	if len(s) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s)))
}

// cStrings is a C copy of string keys: one malloc'd block holding the pointer array, the
// length array and the bytes, so that C never sees a Go pointer stored in memory.
type cStrings struct {
	block unsafe.Pointer
	ptrs  **C.char
	lens  *C.size_t
}

func newCStrings(ids []string) cStrings {
	n := len(ids)
	if n == 0 {
		return cStrings{}
	}
	total := 0
	for _, s := range ids {
		total += len(s)
	}
	ptrSize := unsafe.Sizeof((*C.char)(nil))
	lenSize := unsafe.Sizeof(C.size_t(0))
	head := uintptr(n) * (ptrSize + lenSize)
	block := C.malloc(C.size_t(head + uintptr(total) + 1))
	ptrs := unsafe.Slice((**C.char)(block), n)
	lens := unsafe.Slice((*C.size_t)(unsafe.Add(block, uintptr(n)*ptrSize)), n)
	bytes := unsafe.Slice((*byte)(unsafe.Add(block, head)), total+1)
	off := 0
	for i, s := range ids {
		copy(bytes[off:], s)
		ptrs[i] = (*C.char)(unsafe.Pointer(&bytes[off]))
		lens[i] = C.size_t(len(s))
		off += len(s)
	}
	return cStrings{block: block, ptrs: &ptrs[0], lens: &lens[0]}
}

func (c cStrings) free() { C.free(c.block) }

// AddBatch adds records with u64 keys: keys[i] names row i of vectors (row-major,
// len(vectors) / len(keys) floats each). All or nothing (omendb_index_add_batch).
func (idx *Index) AddBatch(keys []uint64, vectors []float32) error {
	h, err := idx.acquire()
	if err != nil {
		return err
	}
	defer idx.release()
	dim, err := rowDim(len(vectors), len(keys), "keys")
	if err != nil {
		return err
	}
	var cerr *C.omendb_error
	st := C.omendb_index_add_batch(h, u64Ptr(keys), C.size_t(len(keys)), floatPtr(vectors), dim, &cerr)
	runtime.KeepAlive(keys)
	runtime.KeepAlive(vectors)
	return check(st, &cerr)
}

// UpsertBatch is AddBatch where a key already stored gets the new vector
// (omendb_index_upsert_batch).
func (idx *Index) UpsertBatch(keys []uint64, vectors []float32) error {
	h, err := idx.acquire()
	if err != nil {
		return err
	}
	defer idx.release()
	dim, err := rowDim(len(vectors), len(keys), "keys")
	if err != nil {
		return err
	}
	var cerr *C.omendb_error
	st := C.omendb_index_upsert_batch(h, u64Ptr(keys), C.size_t(len(keys)), floatPtr(vectors), dim, &cerr)
	runtime.KeepAlive(keys)
	runtime.KeepAlive(vectors)
	return check(st, &cerr)
}

// AddStrings adds records with string keys (valid UTF-8, 1..=65536 bytes, NUL allowed): ids[i]
// names row i of vectors. All or nothing (omendb_index_add_batch_str).
func (idx *Index) AddStrings(ids []string, vectors []float32) error {
	h, err := idx.acquire()
	if err != nil {
		return err
	}
	defer idx.release()
	dim, err := rowDim(len(vectors), len(ids), "ids")
	if err != nil {
		return err
	}
	keys := newCStrings(ids)
	defer keys.free()
	var cerr *C.omendb_error
	st := C.omendb_index_add_batch_str(h, keys.ptrs, keys.lens, C.size_t(len(ids)), floatPtr(vectors), dim, &cerr)
	runtime.KeepAlive(vectors)
	return check(st, &cerr)
}

// UpsertStrings is AddStrings where a key already stored gets the new vector
// (omendb_index_upsert_batch_str).
func (idx *Index) UpsertStrings(ids []string, vectors []float32) error {
	h, err := idx.acquire()
	if err != nil {
		return err
	}
	defer idx.release()
	dim, err := rowDim(len(vectors), len(ids), "ids")
	if err != nil {
		return err
	}
	keys := newCStrings(ids)
	defer keys.free()
	var cerr *C.omendb_error
	st := C.omendb_index_upsert_batch_str(h, keys.ptrs, keys.lens, C.size_t(len(ids)), floatPtr(vectors), dim, &cerr)
	runtime.KeepAlive(vectors)
	return check(st, &cerr)
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

// Save writes the index to the file at path (omendb_index_save), atomically: the bytes go
// to a temporary file in the same directory, which is fsynced and renamed over path, so a
// crash at any moment leaves the previous file or the new one, whole. Calls that change the
// index wait while the bytes are written; searches keep running. Errors: ErrIO (the message
// names the path and the OS error), ErrInvalidUTF8.
func (idx *Index) Save(path string) error {
	h, err := idx.acquire()
	if err != nil {
		return err
	}
	defer idx.release()
	var cerr *C.omendb_error
	st := C.omendb_index_save(h, strPtr(path), C.size_t(len(path)), &cerr)
	runtime.KeepAlive(path)
	return check(st, &cerr)
}

// Load reads an index saved by Save into memory (omendb_index_load); it answers exactly as
// the saved index did. Close it like one made by New. Errors: ErrIO (cannot open or read),
// ErrCorrupt (not an OmenDB index file, truncated or damaged), ErrUnsupportedVersion
// (written by a newer OmenDB), ErrInvalidUTF8.
func Load(path string) (*Index, error) {
	var h *C.omendb_index
	var cerr *C.omendb_error
	st := C.omendb_index_load(strPtr(path), C.size_t(len(path)), &h, &cerr)
	runtime.KeepAlive(path)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	idx := &Index{h: h}
	runtime.SetFinalizer(idx, (*Index).Close)
	return idx, nil
}

// Open opens an index file read-only with its vectors and graph served straight from a
// memory mapping of the file (omendb_index_open): nothing of them is copied, so a large index
// opens fast and pages load on demand. It answers every search exactly as Load's index would;
// calls that change it (Add*, Upsert*, Remove*, Compact) fail with ErrInvalidArgument ("index
// opened read-only"). The file must not be rewritten in place while open (Save to the same
// path is safe: it renames a new file over it). Close unmaps it. Errors: as Load.
func Open(path string) (*Index, error) {
	var h *C.omendb_index
	var cerr *C.omendb_error
	st := C.omendb_index_open(strPtr(path), C.size_t(len(path)), &h, &cerr)
	runtime.KeepAlive(path)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	idx := &Index{h: h}
	runtime.SetFinalizer(idx, (*Index).Close)
	return idx, nil
}

// ReadOnly reports whether the index was opened with Open (omendb_index_is_read_only).
func (idx *Index) ReadOnly() (bool, error) {
	h, err := idx.acquire()
	if err != nil {
		return false, err
	}
	defer idx.release()
	var ro C.bool
	var cerr *C.omendb_error
	if err := check(C.omendb_index_is_read_only(h, &ro, &cerr), &cerr); err != nil {
		return false, err
	}
	return bool(ro), nil
}

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
	dim, err := rowDim(len(queries), n, "queries")
	if err != nil {
		return nil, err
	}
	if k < 0 || ef < 0 {
		return nil, argError(StatusInvalidArgument, fmt.Sprintf("k = %d and ef = %d must not be negative", k, ef))
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
	st := C.omendb_index_search(h, floatPtr(queries), C.size_t(n), dim, C.size_t(k), C.size_t(ef),
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
	st := C.omendb_index_search_results(h, floatPtr(queries), C.size_t(n), dim, C.size_t(k), C.size_t(ef), &res, &cerr)
	runtime.KeepAlive(queries)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	return res, nil
}

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
	dim, err := rowDim(len(queries), n, "queries")
	if err != nil {
		return err
	}
	if k < 0 || ef < 0 {
		return argError(StatusInvalidArgument, fmt.Sprintf("k = %d and ef = %d must not be negative", k, ef))
	}
	outLen := min(len(keys), len(distances))
	var cerr *C.omendb_error
	st := C.omendb_index_search(h, floatPtr(queries), C.size_t(n), dim, C.size_t(k), C.size_t(ef),
		u64Ptr(keys), floatPtr(distances), C.size_t(outLen), &cerr)
	runtime.KeepAlive(queries)
	runtime.KeepAlive(keys)
	runtime.KeepAlive(distances)
	return check(st, &cerr)
}

// Results is an omendb_results: the hits of a batch of searches, owned by C, for either kind
// of key. Made by SearchResults, freed by Close (a finalizer is the safety net). Safe for
// concurrent use.
type Results struct {
	mu sync.RWMutex
	h  *C.omendb_results
}

// SearchResults searches like SearchBatch and returns the C results object itself
// (omendb_index_search_results).
func (idx *Index) SearchResults(queries []float32, n, k, ef int) (*Results, error) {
	h, err := idx.acquire()
	if err != nil {
		return nil, err
	}
	defer idx.release()
	dim, err := rowDim(len(queries), n, "queries")
	if err != nil {
		return nil, err
	}
	if k < 0 || ef < 0 {
		return nil, argError(StatusInvalidArgument, fmt.Sprintf("k = %d and ef = %d must not be negative", k, ef))
	}
	res, err := searchResults(h, queries, n, dim, k, ef)
	if err != nil {
		return nil, err
	}
	r := &Results{h: res}
	runtime.SetFinalizer(r, (*Results).Close)
	return r, nil
}

// Close frees the results (omendb_results_free). Closing twice is harmless.
func (r *Results) Close() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h != nil {
		C.omendb_results_free(r.h)
		r.h = nil
		runtime.SetFinalizer(r, nil)
	}
	return nil
}

func (r *Results) acquire() (*C.omendb_results, error) {
	if r == nil {
		return nil, ErrClosed
	}
	r.mu.RLock()
	if r.h == nil {
		r.mu.RUnlock()
		return nil, ErrClosed
	}
	return r.h, nil
}

func (r *Results) release() {
	r.mu.RUnlock()
	runtime.KeepAlive(r)
}

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

// ---- filters, records with metadata and texts, filtered / text / hybrid search ----

// Filter is a parsed metadata filter (omendb_filter). Create it with ParseFilter and free it
// with Close. A Filter may be used by many goroutines at once; Close waits for searches using
// it to finish.
type Filter struct {
	mu sync.RWMutex
	h  *C.omendb_filter
}

// ParseFilter parses filter text (omendb_filter_parse). Grammar (keywords case-insensitive):
// `field = | != | < | <= | > | >= literal`, `field IN (v1, v2, ...)`, `field CONTAINS "s"`,
// `EXISTS field`, `NOT f`, `f AND f`, `f OR f`, parentheses; literals are double-quoted
// strings, integers, floats, TRUE and FALSE. Text that does not parse gives ErrFilterSyntax,
// whose message names the byte offset at fault.
func ParseFilter(text string) (*Filter, error) {
	var h *C.omendb_filter
	var cerr *C.omendb_error
	st := C.omendb_filter_parse(strPtr(text), C.size_t(len(text)), &h, &cerr)
	runtime.KeepAlive(text)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	f := &Filter{h: h}
	runtime.SetFinalizer(f, (*Filter).Close)
	return f, nil
}

// Close frees the filter (omendb_filter_free). Closing twice is harmless.
func (f *Filter) Close() error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.h != nil {
		C.omendb_filter_free(f.h)
		f.h = nil
		runtime.SetFinalizer(f, nil)
	}
	return nil
}

// acquire read-locks the filter for one C call; a nil *Filter gives a NULL handle (allowed
// where the C function takes an optional filter). release must follow when ok.
func (f *Filter) acquire() (*C.omendb_filter, error) {
	if f == nil {
		return nil, nil
	}
	f.mu.RLock()
	if f.h == nil {
		f.mu.RUnlock()
		return nil, ErrClosed
	}
	return f.h, nil
}

func (f *Filter) release() {
	if f != nil {
		f.mu.RUnlock()
		runtime.KeepAlive(f)
	}
}

// payloads is a C copy of optional per-record strings: nil items give NULL arrays (no
// record has one), and an empty string gives a NULL entry (that record has none).
func payloads(items []string, n int, what string) (cStrings, error) {
	if items == nil {
		return cStrings{}, nil
	}
	if len(items) != n {
		return cStrings{}, argError(StatusInvalidArgument, fmt.Sprintf("%d %s for %d records", len(items), what, n))
	}
	c := newCStrings(items)
	if n > 0 {
		ptrs := unsafe.Slice(c.ptrs, n)
		for i, s := range items {
			if s == "" {
				ptrs[i] = nil
			}
		}
	}
	return c, nil
}

// records marshals the common part of the four record calls and makes the call.
func (idx *Index) records(n int, vectors []float32, metadata, texts []string,
	call func(h *C.omendb_index, dim C.size_t, meta, text cStrings, cerr **C.omendb_error) C.omendb_status) error {
	h, err := idx.acquire()
	if err != nil {
		return err
	}
	defer idx.release()
	dim, err := rowDim(len(vectors), n, "records")
	if err != nil {
		return err
	}
	meta, err := payloads(metadata, n, "metadata entries")
	if err != nil {
		return err
	}
	defer meta.free()
	text, err := payloads(texts, n, "texts")
	if err != nil {
		return err
	}
	defer text.free()
	var cerr *C.omendb_error
	st := call(h, dim, meta, text, &cerr)
	runtime.KeepAlive(vectors)
	return check(st, &cerr)
}

// AddRecords adds records with u64 keys, as AddBatch, each with optional metadata (a JSON
// object whose fields filters test) and text (searched by TextSearch and HybridSearch). A nil
// metadata or texts slice means none for every record; an empty string, none for that record.
// All or nothing; bad metadata gives ErrInvalidArgument (omendb_index_add_records).
func (idx *Index) AddRecords(keys []uint64, vectors []float32, metadata, texts []string) error {
	err := idx.records(len(keys), vectors, metadata, texts, func(h *C.omendb_index, dim C.size_t, m, t cStrings, cerr **C.omendb_error) C.omendb_status {
		return C.omendb_index_add_records(h, u64Ptr(keys), C.size_t(len(keys)), floatPtr(vectors), dim, m.ptrs, m.lens, t.ptrs, t.lens, cerr)
	})
	runtime.KeepAlive(keys)
	return err
}

// UpsertRecords is AddRecords where a key already stored gets the new vector, metadata and
// text (omendb_index_upsert_records).
func (idx *Index) UpsertRecords(keys []uint64, vectors []float32, metadata, texts []string) error {
	err := idx.records(len(keys), vectors, metadata, texts, func(h *C.omendb_index, dim C.size_t, m, t cStrings, cerr **C.omendb_error) C.omendb_status {
		return C.omendb_index_upsert_records(h, u64Ptr(keys), C.size_t(len(keys)), floatPtr(vectors), dim, m.ptrs, m.lens, t.ptrs, t.lens, cerr)
	})
	runtime.KeepAlive(keys)
	return err
}

// AddRecordStrings is AddRecords with string keys (omendb_index_add_records_str).
func (idx *Index) AddRecordStrings(ids []string, vectors []float32, metadata, texts []string) error {
	keys := newCStrings(ids)
	defer keys.free()
	return idx.records(len(ids), vectors, metadata, texts, func(h *C.omendb_index, dim C.size_t, m, t cStrings, cerr **C.omendb_error) C.omendb_status {
		return C.omendb_index_add_records_str(h, keys.ptrs, keys.lens, C.size_t(len(ids)), floatPtr(vectors), dim, m.ptrs, m.lens, t.ptrs, t.lens, cerr)
	})
}

// UpsertRecordStrings is UpsertRecords with string keys (omendb_index_upsert_records_str).
func (idx *Index) UpsertRecordStrings(ids []string, vectors []float32, metadata, texts []string) error {
	keys := newCStrings(ids)
	defer keys.free()
	return idx.records(len(ids), vectors, metadata, texts, func(h *C.omendb_index, dim C.size_t, m, t cStrings, cerr **C.omendb_error) C.omendb_status {
		return C.omendb_index_upsert_records_str(h, keys.ptrs, keys.lens, C.size_t(len(ids)), floatPtr(vectors), dim, m.ptrs, m.lens, t.ptrs, t.lens, cerr)
	})
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

// SearchFiltered returns the k nearest records to query among those whose metadata matches
// f, nearest first: min(k, matching records) hits (omendb_index_search_filtered). f must not
// be nil (ErrNullPointer).
func (idx *Index) SearchFiltered(query []float32, k int, f *Filter) ([]Result, error) {
	h, err := idx.acquire()
	if err != nil {
		return nil, err
	}
	defer idx.release()
	if f == nil {
		return nil, argError(StatusNullPointer, "filter is nil")
	}
	if k < 0 {
		return nil, argError(StatusInvalidArgument, fmt.Sprintf("k = %d must not be negative", k))
	}
	fh, err := f.acquire()
	if err != nil {
		return nil, err
	}
	defer f.release()
	kind, err := keyKind(h)
	if err != nil {
		return nil, err
	}
	var cerr *C.omendb_error
	var res *C.omendb_results
	st := C.omendb_index_search_filtered(h, floatPtr(query), 1, C.size_t(len(query)), C.size_t(k), 0, fh, &res, &cerr)
	runtime.KeepAlive(query)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	return oneRow(res, kind)
}

// TextSearch returns the k best records for query by BM25 over the records' texts, best
// first, among those matching f (nil: all records) (omendb_index_text_search). Each
// Result's Distance field holds the BM25 score: higher is better.
func (idx *Index) TextSearch(query string, k int, f *Filter) ([]Result, error) {
	h, err := idx.acquire()
	if err != nil {
		return nil, err
	}
	defer idx.release()
	if k < 0 {
		return nil, argError(StatusInvalidArgument, fmt.Sprintf("k = %d must not be negative", k))
	}
	fh, err := f.acquire()
	if err != nil {
		return nil, err
	}
	defer f.release()
	kind, err := keyKind(h)
	if err != nil {
		return nil, err
	}
	var cerr *C.omendb_error
	var res *C.omendb_results
	st := C.omendb_index_text_search(h, strPtr(query), C.size_t(len(query)), C.size_t(k), fh, &res, &cerr)
	runtime.KeepAlive(query)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	return oneRow(res, kind)
}

// Fusion selects how HybridSearch combines its vector and text result lists
// (OMENDB_FUSION_*).
type Fusion uint32

// The fusions.
const (
	// FusionRRF: reciprocal rank fusion, score = sum over both lists of 1 / (param + rank),
	// rank from 1; param is the RRF constant (0 means 60).
	FusionRRF Fusion = C.OMENDB_FUSION_RRF
	// FusionWeighted: param * minmax(-distance) + (1 - param) * minmax(bm25); param is alpha
	// in [0, 1], the weight of the vector side.
	FusionWeighted Fusion = C.OMENDB_FUSION_WEIGHTED
)

// HybridSearch fuses a vector search for vector and a BM25 search for text (both restricted
// to records matching f; nil: all) into the k best records, best first
// (omendb_index_hybrid_search). Each Result's Distance field holds the fused score: higher is
// better. An unknown fusion or a param out of range gives ErrInvalidArgument.
func (idx *Index) HybridSearch(vector []float32, text string, k int, f *Filter, fusion Fusion, param float32) ([]Result, error) {
	h, err := idx.acquire()
	if err != nil {
		return nil, err
	}
	defer idx.release()
	if k < 0 {
		return nil, argError(StatusInvalidArgument, fmt.Sprintf("k = %d must not be negative", k))
	}
	fh, err := f.acquire()
	if err != nil {
		return nil, err
	}
	defer f.release()
	kind, err := keyKind(h)
	if err != nil {
		return nil, err
	}
	var cerr *C.omendb_error
	var res *C.omendb_results
	st := C.omendb_index_hybrid_search(h, floatPtr(vector), C.size_t(len(vector)), strPtr(text), C.size_t(len(text)),
		C.size_t(k), 0, fh, C.uint32_t(fusion), C.float(param), &res, &cerr)
	runtime.KeepAlive(vector)
	runtime.KeepAlive(text)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	return oneRow(res, kind)
}

func takeString(s *C.char, n C.size_t) string {
	defer C.omendb_string_free(s)
	return C.GoStringN(s, C.int(n))
}

// Metadata returns the metadata of the record with u64 key `key` as a JSON object ("{}" when
// it has none) (omendb_index_metadata). ErrKeyNotFound if the key is not stored.
func (idx *Index) Metadata(key uint64) (string, error) {
	h, err := idx.acquire()
	if err != nil {
		return "", err
	}
	defer idx.release()
	var cerr *C.omendb_error
	var s *C.char
	var n C.size_t
	if err := check(C.omendb_index_metadata(h, C.uint64_t(key), &s, &n, &cerr), &cerr); err != nil {
		return "", err
	}
	return takeString(s, n), nil
}

// MetadataString is Metadata for a string key (omendb_index_metadata_str).
func (idx *Index) MetadataString(id string) (string, error) {
	h, err := idx.acquire()
	if err != nil {
		return "", err
	}
	defer idx.release()
	var cerr *C.omendb_error
	var s *C.char
	var n C.size_t
	st := C.omendb_index_metadata_str(h, strPtr(id), C.size_t(len(id)), &s, &n, &cerr)
	runtime.KeepAlive(id)
	if err := check(st, &cerr); err != nil {
		return "", err
	}
	return takeString(s, n), nil
}
