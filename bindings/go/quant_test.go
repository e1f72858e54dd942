package omendb

import (
	"errors"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func quantData(n, dim int, seed int64) []float32 {
	r := rand.New(rand.NewSource(seed))
	v := make([]float32, n*dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// Every dtype finds stored vectors first, at their exact distance (re-ranked at full precision).
func TestQuantizedDtypesFindStoredVectors(t *testing.T) {
	const n, dim = 1500, 128
	data := quantData(n, dim, 1)
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = uint64(i)
	}
	for _, dt := range []Dtype{F32, F16, Int8, Binary, PQ} {
		idx, err := New(Options{Dtype: dt, Rerank: 8})
		if err != nil {
			t.Fatalf("dtype %d: %v", dt, err)
		}
		if err := idx.AddBatch(keys, data); err != nil {
			t.Fatalf("dtype %d: %v", dt, err)
		}
		for _, i := range []int{0, 17, 1499} {
			// ef 128: a parallel build of random data is not deterministic, and at the default ef a
			// stored vector is missed now and then (seen with int8 in Python, 1 build in 20).
			hits, err := idx.SearchEf(data[i*dim:(i+1)*dim], 5, 128)
			if err != nil {
				t.Fatal(err)
			}
			if hits[0].Key != uint64(i) || math.Abs(float64(hits[0].Distance)) > 1e-4 {
				t.Errorf("dtype %d: query %d found %+v first", dt, i, hits[0])
			}
		}
		idx.Close()
	}
}

func TestQuantizedBadInput(t *testing.T) {
	if _, err := New(Options{Dtype: Dtype(9)}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("dtype 9: %v", err)
	}
	if _, err := New(Options{Dtype: Int8, Rerank: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("rerank -1: %v", err)
	}
	_, err := New(Options{Dim: 128, Dtype: PQ, PQM: 12})
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "12 sub-spaces do not divide dim 128") {
		t.Errorf("pq_m 12: %v", err)
	}
	idx, err := New(Options{Dtype: Int8})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	err = idx.AddBatch([]uint64{1, 2}, quantData(2, 16, 2))
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "at least 256 vectors") {
		t.Errorf("small int8 batch: %v", err)
	}
}

func TestQuantizedFullPrecisionFileAndNoSave(t *testing.T) {
	dir := t.TempDir()
	idx, err := New(Options{Dtype: Binary, Rerank: 16, FullPrecisionDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	data := quantData(800, 64, 3)
	keys := make([]uint64, 800)
	for i := range keys {
		keys[i] = uint64(i)
	}
	if err := idx.AddBatch(keys, data); err != nil {
		t.Fatal(err)
	}
	hits, err := idx.Search(data[64*5:64*6], 1)
	if err != nil || hits[0].Key != 5 {
		t.Fatalf("search: %v %+v", err, hits)
	}
	saveDir := t.TempDir()
	saved := filepath.Join(saveDir, "x.omendb")
	if err := idx.Save(saved); err != nil {
		t.Fatalf("save: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the vector file should be unlinked, found %d entries", len(entries))
	}
	for _, reopen := range []func(string) (*Index, error){Load, Open} {
		again, err := reopen(saved)
		if err != nil {
			t.Fatal(err)
		}
		got, err := again.Search(data[64*5:64*6], 3)
		want, _ := idx.Search(data[64*5:64*6], 3)
		if err != nil || len(got) != len(want) {
			t.Fatalf("reopened search: %v %+v", err, got)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("reopened hit %d: %+v, want %+v", i, got[i], want[i])
			}
		}
		again.Close()
	}
	bad, err := New(Options{Dtype: F16, FullPrecisionDir: filepath.Join(dir, "missing")})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.AddBatch([]uint64{1}, data[:64]); !errors.Is(err, ErrIO) {
		t.Errorf("missing dir: %v", err)
	}
}
