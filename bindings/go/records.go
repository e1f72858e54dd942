package omendb

// #include "omendb.h"
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

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

// records marshals the common part of the four record calls and makes the call; call
// declares its own out-parameters, as batch's does.
func (idx *Index) records(n int, vectors []float32, metadata, texts []string,
	call func(h *C.omendb_index, dim C.size_t, meta, text cStrings) error) error {
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
	err = call(h, dim, meta, text)
	runtime.KeepAlive(vectors)
	return err
}

// AddRecords adds records with u64 keys, as AddBatch, each with optional metadata (a JSON
// object whose fields filters test) and text (searched by TextSearch and HybridSearch). A nil
// metadata or texts slice means none for every record; an empty string, none for that record.
// All or nothing; bad metadata gives ErrInvalidArgument (omendb_index_add_records).
func (idx *Index) AddRecords(keys []uint64, vectors []float32, metadata, texts []string) error {
	err := idx.records(len(keys), vectors, metadata, texts, func(h *C.omendb_index, dim C.size_t, m, t cStrings) error {
		var cerr *C.omendb_error
		return check(C.omendb_index_add_records(h, u64Ptr(keys), C.size_t(len(keys)), floatPtr(vectors), dim, m.ptrs, m.lens, t.ptrs, t.lens, &cerr), &cerr)
	})
	runtime.KeepAlive(keys)
	return err
}

// UpsertRecords is AddRecords where a key already stored gets the new vector, metadata and
// text (omendb_index_upsert_records).
func (idx *Index) UpsertRecords(keys []uint64, vectors []float32, metadata, texts []string) error {
	err := idx.records(len(keys), vectors, metadata, texts, func(h *C.omendb_index, dim C.size_t, m, t cStrings) error {
		var cerr *C.omendb_error
		return check(C.omendb_index_upsert_records(h, u64Ptr(keys), C.size_t(len(keys)), floatPtr(vectors), dim, m.ptrs, m.lens, t.ptrs, t.lens, &cerr), &cerr)
	})
	runtime.KeepAlive(keys)
	return err
}

// AddRecordStrings is AddRecords with string keys (omendb_index_add_records_str).
func (idx *Index) AddRecordStrings(ids []string, vectors []float32, metadata, texts []string) error {
	keys := newCStrings(ids)
	defer keys.free()
	return idx.records(len(ids), vectors, metadata, texts, func(h *C.omendb_index, dim C.size_t, m, t cStrings) error {
		var cerr *C.omendb_error
		return check(C.omendb_index_add_records_str(h, keys.ptrs, keys.lens, C.size_t(len(ids)), floatPtr(vectors), dim, m.ptrs, m.lens, t.ptrs, t.lens, &cerr), &cerr)
	})
}

// UpsertRecordStrings is UpsertRecords with string keys (omendb_index_upsert_records_str).
func (idx *Index) UpsertRecordStrings(ids []string, vectors []float32, metadata, texts []string) error {
	keys := newCStrings(ids)
	defer keys.free()
	return idx.records(len(ids), vectors, metadata, texts, func(h *C.omendb_index, dim C.size_t, m, t cStrings) error {
		var cerr *C.omendb_error
		return check(C.omendb_index_upsert_records_str(h, keys.ptrs, keys.lens, C.size_t(len(ids)), floatPtr(vectors), dim, m.ptrs, m.lens, t.ptrs, t.lens, &cerr), &cerr)
	})
}

// searchRow makes one of the record searches, each of which returns one row of hits in a
// results object: it checks k, read-locks f (nil: no filter, unless filterRequired) for the
// call, and copies the row into Go values. call declares its own out-parameters, as batch's
// does.
func (idx *Index) searchRow(k int, f *Filter, filterRequired bool,
	call func(h *C.omendb_index, fh *C.omendb_filter) (*C.omendb_results, error)) ([]Result, error) {
	h, err := idx.acquire()
	if err != nil {
		return nil, err
	}
	defer idx.release()
	if filterRequired && f == nil {
		return nil, argError(StatusNullPointer, "filter is nil")
	}
	if err := nonNegativeK(k); err != nil {
		return nil, err
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
	res, err := call(h, fh)
	if err != nil {
		return nil, err
	}
	return oneRow(res, kind)
}

// SearchFiltered returns the k nearest records to query among those whose metadata matches
// f, nearest first: min(k, matching records) hits (omendb_index_search_filtered). f must not
// be nil (ErrNullPointer).
func (idx *Index) SearchFiltered(query []float32, k int, f *Filter) ([]Result, error) {
	rows, err := idx.searchRow(k, f, true, func(h *C.omendb_index, fh *C.omendb_filter) (*C.omendb_results, error) {
		var res *C.omendb_results
		var cerr *C.omendb_error
		err := check(C.omendb_index_search_filtered(h, floatPtr(query), 1, C.size_t(len(query)), C.size_t(k), 0, fh, &res, &cerr), &cerr)
		return res, err
	})
	runtime.KeepAlive(query)
	return rows, err
}

// TextSearch returns the k best records for query by BM25 over the records' texts, best
// first, among those matching f (nil: all records) (omendb_index_text_search). Each
// Result's Distance field holds the BM25 score: higher is better.
func (idx *Index) TextSearch(query string, k int, f *Filter) ([]Result, error) {
	rows, err := idx.searchRow(k, f, false, func(h *C.omendb_index, fh *C.omendb_filter) (*C.omendb_results, error) {
		var res *C.omendb_results
		var cerr *C.omendb_error
		err := check(C.omendb_index_text_search(h, strPtr(query), C.size_t(len(query)), C.size_t(k), fh, &res, &cerr), &cerr)
		return res, err
	})
	runtime.KeepAlive(query)
	return rows, err
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
	rows, err := idx.searchRow(k, f, false, func(h *C.omendb_index, fh *C.omendb_filter) (*C.omendb_results, error) {
		var res *C.omendb_results
		var cerr *C.omendb_error
		err := check(C.omendb_index_hybrid_search(h, floatPtr(vector), C.size_t(len(vector)), strPtr(text), C.size_t(len(text)),
			C.size_t(k), 0, fh, C.uint32_t(fusion), C.float(param), &res, &cerr), &cerr)
		return res, err
	})
	runtime.KeepAlive(vector)
	runtime.KeepAlive(text)
	return rows, err
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

// Text returns the text of the record with u64 key `key` as it was given to AddRecords or
// UpsertRecords (the document TextSearch searches), and true; "" and false when the record has
// none, or was read from a file saved before texts were kept (format version 6 or older),
// which TextSearch still finds (omendb_index_get_text). ErrKeyNotFound if the key is not
// stored.
func (idx *Index) Text(key uint64) (string, bool, error) {
	h, err := idx.acquire()
	if err != nil {
		return "", false, err
	}
	defer idx.release()
	var cerr *C.omendb_error
	var s *C.char
	var n C.size_t
	if err := check(C.omendb_index_get_text(h, C.uint64_t(key), &s, &n, &cerr), &cerr); err != nil {
		return "", false, err
	}
	text, ok := takeText(s, n)
	return text, ok, nil
}

// TextString is Text for a string key (omendb_index_get_text_str).
func (idx *Index) TextString(id string) (string, bool, error) {
	h, err := idx.acquire()
	if err != nil {
		return "", false, err
	}
	defer idx.release()
	var cerr *C.omendb_error
	var s *C.char
	var n C.size_t
	st := C.omendb_index_get_text_str(h, strPtr(id), C.size_t(len(id)), &s, &n, &cerr)
	runtime.KeepAlive(id)
	if err := check(st, &cerr); err != nil {
		return "", false, err
	}
	text, ok := takeText(s, n)
	return text, ok, nil
}

// takeText is takeString for a text, which may be absent (NULL).
func takeText(s *C.char, n C.size_t) (string, bool) {
	if s == nil {
		return "", false
	}
	return takeString(s, n), true
}
