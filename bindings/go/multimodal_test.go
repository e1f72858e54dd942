package omendb

import (
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

func TestFilteredSearchAgainstBruteForce(t *testing.T) {
	const n, dim, k = 2000, 16, 10
	rng := rand.New(rand.NewSource(11))
	vectors := make([]float32, n*dim)
	for i := range vectors {
		vectors[i] = rng.Float32()*2 - 1
	}
	keys := make([]uint64, n)
	meta := make([]string, n)
	for i := range keys {
		keys[i] = uint64(i)
		meta[i] = fmt.Sprintf(`{"cat": %d}`, i%100)
	}
	idx, err := New(Options{})
	must(t, err)
	defer idx.Close()
	must(t, idx.AddRecords(keys, vectors, meta, nil))
	query := vectors[:dim]
	for _, limit := range []int{50, 10, 1} {
		f, err := ParseFilter(fmt.Sprintf("cat < %d", limit))
		must(t, err)
		hits, err := idx.SearchFiltered(query, k, f)
		must(t, err)
		type cand struct {
			key uint64
			d   float32
		}
		var all []cand
		for i := 0; i < n; i++ {
			if i%100 >= limit {
				continue
			}
			var d float32
			for j := 0; j < dim; j++ {
				x := query[j] - vectors[i*dim+j]
				d += x * x
			}
			all = append(all, cand{uint64(i), d})
		}
		sort.Slice(all, func(a, b int) bool { return all[a].d < all[b].d })
		want := min(k, len(all))
		if len(hits) != want {
			t.Fatalf("cat < %d: %d hits, want %d", limit, len(hits), want)
		}
		truth := map[uint64]bool{}
		for _, c := range all[:want] {
			truth[c.key] = true
		}
		found := 0
		for _, h := range hits {
			if h.Key%100 >= uint64(limit) {
				t.Fatalf("cat < %d: hit %d does not match", limit, h.Key)
			}
			if truth[h.Key] {
				found++
			}
		}
		if float64(found) < 0.9*float64(want) {
			t.Fatalf("cat < %d: recall %d/%d", limit, found, want)
		}
		must(t, f.Close())
		must(t, f.Close()) // twice is harmless
		if _, err := idx.SearchFiltered(query, k, f); !errors.Is(err, ErrClosed) {
			t.Fatalf("closed filter: %v", err)
		}
	}
	if _, err := idx.SearchFiltered(query, k, nil); !errors.Is(err, ErrNullPointer) {
		t.Fatalf("nil filter: %v", err)
	}
	js, err := idx.Metadata(7)
	must(t, err)
	if js != `{"cat":7}` && !strings.Contains(js, "cat") {
		t.Fatalf("metadata %q", js)
	}
	if _, err := idx.Metadata(99999); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("missing key: %v", err)
	}
}

func TestFilterSyntaxAndBadMetadata(t *testing.T) {
	_, err := ParseFilter("cat >= )")
	if !errors.Is(err, ErrFilterSyntax) || !strings.Contains(err.Error(), "at byte 7") {
		t.Fatalf("got %v", err)
	}
	idx, err := New(Options{})
	must(t, err)
	defer idx.Close()
	vecs := []float32{1, 0, 0, 1}
	err = idx.AddRecords([]uint64{1, 2}, vecs, []string{`{"a": 1}`, `[1]`}, nil)
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad metadata: %v", err)
	}
	if err := idx.AddRecords([]uint64{1, 2}, vecs, []string{`{}`}, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("short metadata: %v", err)
	}
	if n, _ := idx.Len(); n != 0 {
		t.Fatalf("len %d after failed adds", n)
	}
	// Empty strings: none for that record.
	must(t, idx.AddRecords([]uint64{1, 2}, vecs, []string{"", `{"a": 2}`}, []string{"", "some text"}))
	js, err := idx.Metadata(1)
	must(t, err)
	if js != "{}" {
		t.Fatalf("metadata of a record without: %q", js)
	}
}

func docIndex(t *testing.T, strs bool) (*Index, []float32) {
	docs := []string{
		"the quick brown fox jumps over the lazy dog",
		"a fast brown fox leaps over sleeping dogs",
		"vector databases index embeddings for similarity search",
		"hybrid search fuses vector similarity with keyword ranking",
	}
	meta := []string{`{"topic": "animals"}`, `{"topic": "animals"}`, `{"topic": "tech"}`, `{"topic": "tech"}`}
	rng := rand.New(rand.NewSource(3))
	vecs := make([]float32, len(docs)*8)
	for i := range vecs {
		vecs[i] = rng.Float32()*2 - 1
	}
	idx, err := New(Options{})
	must(t, err)
	if strs {
		must(t, idx.AddRecordStrings([]string{"d0", "d1", "d2", "d3"}, vecs, meta, docs))
	} else {
		must(t, idx.AddRecords([]uint64{0, 1, 2, 3}, vecs, meta, docs))
	}
	return idx, vecs
}

func TestTextComesBackAsGiven(t *testing.T) {
	for _, strs := range []bool{false, true} {
		idx, vecs := docIndex(t, strs)
		text := func(i int) (string, bool, error) {
			if strs {
				return idx.TextString(fmt.Sprintf("d%d", i))
			}
			return idx.Text(uint64(i))
		}
		if got, ok, err := text(2); err != nil || !ok || got != "vector databases index embeddings for similarity search" {
			t.Fatalf("strs %v: Text(2) = %q, %v, %v", strs, got, ok, err)
		}
		// Upserts replace the text (none given: none kept); a remove drops it.
		if strs {
			must(t, idx.UpsertRecordStrings([]string{"d0", "d1"}, vecs[:16], nil, []string{"nul \x00 and 東京", ""}))
			must(t, idx.RemoveString("d3"))
		} else {
			must(t, idx.UpsertRecords([]uint64{0, 1}, vecs[:16], nil, []string{"nul \x00 and 東京", ""}))
			must(t, idx.Remove(3))
		}
		if got, ok, err := text(0); err != nil || !ok || got != "nul \x00 and 東京" {
			t.Fatalf("strs %v: Text(0) after upsert = %q, %v, %v", strs, got, ok, err)
		}
		if got, ok, err := text(1); err != nil || ok || got != "" {
			t.Fatalf("strs %v: Text(1) of a record without a text = %q, %v, %v", strs, got, ok, err)
		}
		if _, _, err := text(3); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("strs %v: Text of a removed key: %v", strs, err)
		}
		// Saved, loaded and opened (memory-mapped): the texts come along.
		path := filepath.Join(t.TempDir(), "texts.omendb")
		must(t, idx.Save(path))
		must(t, idx.Close())
		for _, open := range []func(string) (*Index, error){Load, Open} {
			idx, err := open(path)
			must(t, err)
			if strs {
				got, ok, err := idx.TextString("d2")
				if err != nil || !ok || got != "vector databases index embeddings for similarity search" {
					t.Fatalf("reopened TextString(d2) = %q, %v, %v", got, ok, err)
				}
			} else {
				got, ok, err := idx.Text(0)
				if err != nil || !ok || got != "nul \x00 and 東京" {
					t.Fatalf("reopened Text(0) = %q, %v, %v", got, ok, err)
				}
			}
			must(t, idx.Close())
			if _, _, err := idx.Text(0); !errors.Is(err, ErrClosed) {
				t.Fatalf("Text after Close: %v", err)
			}
		}
	}
}

func TestTextAndHybridSearch(t *testing.T) {
	idx, vecs := docIndex(t, false)
	defer idx.Close()
	hits, err := idx.TextSearch("embeddings", 5, nil)
	must(t, err)
	if len(hits) != 1 || hits[0].Key != 2 || hits[0].Distance <= 0 {
		t.Fatalf("text search: %v", hits)
	}
	f, err := ParseFilter(`topic = "animals"`)
	must(t, err)
	defer f.Close()
	hits, err = idx.TextSearch("brown fox similarity", 5, f)
	must(t, err)
	if len(hits) != 2 || hits[0].Distance < hits[1].Distance {
		t.Fatalf("filtered text search: %v", hits)
	}
	for _, fu := range []struct {
		fusion Fusion
		param  float32
	}{{FusionRRF, 0}, {FusionWeighted, 0.5}} {
		hits, err = idx.HybridSearch(vecs[8:16], "brown fox", 3, nil, fu.fusion, fu.param)
		must(t, err)
		if len(hits) != 3 || (hits[0].Key != 1 && hits[1].Key != 1) || hits[0].Distance < hits[1].Distance {
			t.Fatalf("hybrid %v: %v", fu.fusion, hits)
		}
		hits, err = idx.HybridSearch(vecs[8:16], "brown fox", 3, f, fu.fusion, fu.param)
		must(t, err)
		for _, h := range hits {
			if h.Key > 1 {
				t.Fatalf("hybrid with filter: %v", hits)
			}
		}
	}
	if _, err := idx.HybridSearch(vecs[:8], "fox", 3, nil, Fusion(9), 0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("unknown fusion: %v", err)
	}
	if _, err := idx.HybridSearch(vecs[:8], "fox", 3, nil, FusionWeighted, 2); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("alpha 2: %v", err)
	}
	if _, err := idx.HybridSearch(vecs[:7], "fox", 3, nil, FusionRRF, 0); !errors.Is(err, ErrDimensionMismatch) {
		t.Fatalf("short vector: %v", err)
	}
}

func TestRecordStringsUpsertConcurrent(t *testing.T) {
	idx, vecs := docIndex(t, true)
	defer idx.Close()
	must(t, idx.UpsertRecordStrings([]string{"d0"}, vecs[:8], []string{`{"topic": "tech"}`}, []string{"embeddings too"}))
	js, err := idx.MetadataString("d0")
	must(t, err)
	if !strings.Contains(js, "tech") {
		t.Fatalf("metadata after upsert: %q", js)
	}
	f, err := ParseFilter(`topic = "tech"`)
	must(t, err)
	defer f.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				hits, err := idx.SearchFiltered(vecs[:8], 5, f)
				if err != nil || len(hits) != 3 || hits[0].StrKey != "d0" {
					t.Errorf("filtered: %v %v", hits, err)
					return
				}
				th, err := idx.TextSearch("embeddings", 5, f)
				if err != nil || len(th) != 2 {
					t.Errorf("text: %v %v", th, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	must(t, idx.UpsertRecords(nil, nil, nil, nil)) // an empty batch is fine
}
