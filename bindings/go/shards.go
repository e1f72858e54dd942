package omendb

// #include "omendb.h"
import "C"

import (
	"errors"
	"fmt"
	"runtime"
)

// TextStats are the BM25 corpus statistics of one text query (omendb_index_text_stats):
// records with a text (Docs), their total length in terms (Tokens), and the number of texts
// holding each distinct query term, in sorted term order (DocFreqs). Summed over every index
// of a collection split in several (Add), they make each index score a text query as one
// index of all records would (TextSearchWithStats).
type TextStats struct {
	Docs     uint64
	Tokens   uint64
	DocFreqs []uint64
}

// Add returns the statistics of both corpora together. The term counts must match (the same
// query on indexes with the same text options), else ErrInvalidArgument.
func (s TextStats) Add(other TextStats) (TextStats, error) {
	if len(s.DocFreqs) != len(other.DocFreqs) {
		return TextStats{}, argError(StatusInvalidArgument,
			fmt.Sprintf("text statistics of %d and %d query terms cannot be added", len(s.DocFreqs), len(other.DocFreqs)))
	}
	sum := TextStats{Docs: s.Docs + other.Docs, Tokens: s.Tokens + other.Tokens, DocFreqs: make([]uint64, len(s.DocFreqs))}
	for i := range sum.DocFreqs {
		sum.DocFreqs[i] = s.DocFreqs[i] + other.DocFreqs[i]
	}
	return sum, nil
}

// TextStats returns this index's BM25 corpus statistics for query
// (omendb_index_text_stats).
func (idx *Index) TextStats(query string) (TextStats, error) {
	h, err := idx.acquire()
	if err != nil {
		return TextStats{}, err
	}
	defer idx.release()
	defer runtime.KeepAlive(query)
	var docs, tokens C.uint64_t
	var terms C.size_t
	var cerr *C.omendb_error
	// The term count first (no array), then the frequencies.
	err = check(C.omendb_index_text_stats(h, strPtr(query), C.size_t(len(query)), &docs, &tokens, nil, 0, &terms, &cerr), &cerr)
	if err != nil && !errors.Is(err, ErrBufferTooSmall) {
		return TextStats{}, err
	}
	freqs := make([]uint64, int(terms))
	err = check(C.omendb_index_text_stats(h, strPtr(query), C.size_t(len(query)), &docs, &tokens, u64Ptr(freqs), C.size_t(len(freqs)), &terms, &cerr), &cerr)
	if err != nil {
		return TextStats{}, err
	}
	return TextStats{Docs: uint64(docs), Tokens: uint64(tokens), DocFreqs: freqs}, nil
}

// TextSearchWithStats is TextSearch scored with stats, the statistics of the whole
// collection this index is a shard of (the Add of every shard's TextStats), so that each
// record gets the score it has in one index of all records
// (omendb_index_text_search_with_stats). Statistics that cannot be the collection's for this
// query (another number of terms, counts below this index's own) give ErrInvalidArgument.
func (idx *Index) TextSearchWithStats(query string, k int, f *Filter, stats TextStats) ([]Result, error) {
	rows, err := idx.searchRow(k, f, false, func(h *C.omendb_index, fh *C.omendb_filter) (*C.omendb_results, error) {
		var res *C.omendb_results
		var cerr *C.omendb_error
		err := check(C.omendb_index_text_search_with_stats(h, strPtr(query), C.size_t(len(query)), C.size_t(k), fh,
			C.uint64_t(stats.Docs), C.uint64_t(stats.Tokens), u64Ptr(stats.DocFreqs), C.size_t(len(stats.DocFreqs)), &res, &cerr), &cerr)
		return res, err
	})
	runtime.KeepAlive(query)
	runtime.KeepAlive(stats.DocFreqs)
	return rows, err
}

// Fuse applies the fusion of HybridSearch to two lists the caller holds (omendb_fuse): the
// vector list (ids and distances, closest first) and the text list (ids and BM25 scores,
// best first), for example each merged from several shards. It returns the min(k, distinct
// ids) best ids and their fused scores, descending (equal scores: lower id first).
func Fuse(fusion Fusion, param float32, vectorIDs []uint64, vectorDistances []float32, textIDs []uint64, textScores []float32, k int) ([]uint64, []float32, error) {
	if len(vectorIDs) != len(vectorDistances) || len(textIDs) != len(textScores) {
		return nil, nil, argError(StatusInvalidArgument, "ids and values differ in length")
	}
	if err := nonNegativeK(k); err != nil {
		return nil, nil, err
	}
	capacity := min(k, len(vectorIDs)+len(textIDs))
	ids := make([]uint64, capacity)
	scores := make([]float32, capacity)
	var n C.size_t
	var cerr *C.omendb_error
	err := check(C.omendb_fuse(C.uint32_t(fusion), C.float(param),
		u64Ptr(vectorIDs), floatPtr(vectorDistances), C.size_t(len(vectorIDs)),
		u64Ptr(textIDs), floatPtr(textScores), C.size_t(len(textIDs)),
		C.size_t(k), u64Ptr(ids), floatPtr(scores), C.size_t(capacity), &n, &cerr), &cerr)
	runtime.KeepAlive(vectorIDs)
	runtime.KeepAlive(vectorDistances)
	runtime.KeepAlive(textIDs)
	runtime.KeepAlive(textScores)
	if err != nil {
		return nil, nil, err
	}
	return ids[:n], scores[:n], nil
}
