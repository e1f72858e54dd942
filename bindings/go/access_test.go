package omendb

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"testing"
)

func TestGetCountRemove(t *testing.T) {
	const dim, n = 6, 60
	vecs := randomVectors(9, n, dim)
	for _, dtype := range []Dtype{F32, F16} {
		idx := mustNew(t, Options{Dim: dim, Dtype: dtype})
		keys := make([]uint64, n)
		meta := make([]string, n)
		for i := range keys {
			keys[i] = uint64(100 + i)
			meta[i] = map[bool]string{true: `{"even": true}`, false: `{"even": false}`}[i%2 == 0]
		}
		must(t, idx.AddRecords(keys, vecs, meta, nil))
		got, err := idx.Get(107)
		must(t, err)
		for j := range got {
			if math.Float32bits(got[j]) != math.Float32bits(vecs[7*dim+j]) {
				t.Fatalf("%v: Get(107)[%d] = %v, want %v", dtype, j, got[j], vecs[7*dim+j])
			}
		}
		many, err := idx.GetMany([]uint64{159, 100})
		must(t, err)
		if many[0] != vecs[59*dim] || many[dim] != vecs[0] {
			t.Fatalf("GetMany rows out of place")
		}
		if _, err := idx.GetMany([]uint64{100, 7}); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("GetMany with an unknown key: %v", err)
		}
		if _, err := idx.GetString("x"); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("GetString on u64 keys: %v", err)
		}
		even, err := ParseFilter("even = true")
		must(t, err)
		if c, err := idx.Count(even); err != nil || c != n/2 {
			t.Fatalf("Count(even) = %d, %v", c, err)
		}
		if c, err := idx.Count(nil); err != nil || c != n {
			t.Fatalf("Count(nil) = %d, %v", c, err)
		}
		if _, err := idx.RemoveBatch([]uint64{101, 5}); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("RemoveBatch with an unknown key: %v", err)
		}
		mustLen(t, idx, n)
		if r, err := idx.RemoveBatch([]uint64{101, 103}); err != nil || r != 2 {
			t.Fatalf("RemoveBatch = %d, %v", r, err)
		}
		if r, err := idx.RemoveWhere(even); err != nil || r != n/2 {
			t.Fatalf("RemoveWhere = %d, %v", r, err)
		}
		if c, _ := idx.Count(even); c != 0 {
			t.Fatalf("Count after RemoveWhere = %d", c)
		}
		mustLen(t, idx, n/2-2)
		if _, err := idx.RemoveWhere(nil); !errors.Is(err, ErrNullPointer) {
			t.Fatalf("RemoveWhere(nil): %v", err)
		}
		must(t, even.Close())
		must(t, idx.Close())
	}
}

func TestExactSearchIsBruteForce(t *testing.T) {
	const dim, n, k = 8, 400, 10
	vecs := randomVectors(11, n, dim)
	idx := mustNew(t, Options{Dim: dim, M: 2, EfConstruction: 4})
	defer idx.Close()
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = uint64(i)
	}
	must(t, idx.AddBatch(keys, vecs))
	queries := randomVectors(12, 20, dim)
	rows, err := idx.SearchBatch(queries, 20, k, EfExact)
	must(t, err)
	for q := 0; q < 20; q++ {
		type hit struct {
			key uint64
			d   float64
		}
		all := make([]hit, n)
		for i := 0; i < n; i++ {
			var d float64
			for j := 0; j < dim; j++ {
				x := float64(queries[q*dim+j]) - float64(vecs[i*dim+j])
				d += x * x
			}
			all[i] = hit{uint64(i), d}
		}
		sort.Slice(all, func(a, b int) bool { return all[a].d < all[b].d })
		for r := 0; r < k; r++ {
			if rows[q][r].Key != all[r].key {
				t.Fatalf("query %d rank %d: key %d, brute force %d", q, r, rows[q][r].Key, all[r].key)
			}
		}
	}
	if _, err := idx.SearchEf(queries[:dim], k, -2); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("ef -2: %v", err)
	}
}

func TestRangeSearchAndStats(t *testing.T) {
	const dim, n = 4, 200
	vecs := randomVectors(21, n, dim)
	idx := mustNew(t, Options{Dim: dim})
	defer idx.Close()
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = uint64(i)
	}
	must(t, idx.AddBatch(keys, vecs))
	q := vecs[:dim]
	dists := make([]float64, n)
	for i := 0; i < n; i++ {
		for j := 0; j < dim; j++ {
			x := float64(q[j]) - float64(vecs[i*dim+j])
			dists[i] += x * x
		}
	}
	sorted := append([]float64(nil), dists...)
	sort.Float64s(sorted)
	radius := float32((sorted[19] + sorted[20]) / 2) // midway: no rounding puts a record on the edge
	hits, err := idx.RangeSearch(q, radius, 0, nil)
	must(t, err)
	want := 0
	for _, d := range dists {
		if float32(d) <= radius {
			want++
		}
	}
	if len(hits) != want || want < 20 {
		t.Fatalf("RangeSearch found %d, brute force %d", len(hits), want)
	}
	if hits, _ := idx.RangeSearch(q, radius, 5, nil); len(hits) != 5 {
		t.Fatalf("RangeSearch with limit 5: %d hits", len(hits))
	}
	stats, err := idx.Stats()
	must(t, err)
	if stats["records"].(float64) != n || stats["dim"].(float64) != dim || stats["durable"] != nil {
		t.Fatalf("Stats() = %v", stats)
	}
}

func TestKeysAreASnapshotInKeyOrder(t *testing.T) {
	idx := mustNew(t, Options{Dim: 2})
	defer idx.Close()
	keys := []uint64{30, 10, 20, 40}
	metas := []string{`{"big": true}`, `{"big": false}`, `{"big": false}`, `{"big": true}`}
	must(t, idx.AddRecords(keys, randomVectors(5, 4, 2), metas, nil))
	got, err := idx.Keys(nil)
	must(t, err)
	if fmt.Sprint(got) != "[10 20 30 40]" {
		t.Fatalf("Keys(nil) = %v", got)
	}
	big, err := ParseFilter("big = true")
	must(t, err)
	defer big.Close()
	if got, _ := idx.Keys(big); fmt.Sprint(got) != "[30 40]" {
		t.Fatalf("Keys(big) = %v", got)
	}
	if _, err := idx.KeysString(nil); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("KeysString on u64 keys: %v", err)
	}
	named := mustNew(t, Options{Dim: 2})
	defer named.Close()
	must(t, named.AddStrings([]string{"b", "a\x00z", "c"}, randomVectors(6, 3, 2)))
	if got, err := named.KeysString(nil); err != nil || fmt.Sprintf("%q", got) != `["a\x00z" "b" "c"]` {
		t.Fatalf("KeysString = %q, %v", got, err)
	}
	// All: keys in order with their vectors. The first page (all four) was read before the
	// writes in the loop: the key added meanwhile does not appear, the removed one still does.
	var order []uint64
	for key, v := range idx.All(nil) {
		order = append(order, key)
		if len(v) != 2 {
			t.Fatalf("All: vector of %d floats", len(v))
		}
		if key == 10 {
			must(t, idx.Remove(30))
			must(t, idx.AddBatch([]uint64{5}, randomVectors(7, 1, 2)))
		}
	}
	if fmt.Sprint(order) != "[10 20 30 40]" {
		t.Fatalf("All(nil) gave %v", order)
	}
	var bigKeys []uint64
	for key := range idx.All(big) { // 30 is gone now: only 40 is big
		bigKeys = append(bigKeys, key)
	}
	if fmt.Sprint(bigKeys) != "[40]" {
		t.Fatalf("All(big) gave %v", bigKeys)
	}
	empty := mustNew(t, Options{Dim: 2})
	defer empty.Close()
	if got, err := empty.Keys(nil); err != nil || len(got) != 0 {
		t.Fatalf("Keys on an empty index = %v, %v", got, err)
	}
}

func TestAutoKeysSkipKeysInUse(t *testing.T) {
	idx := mustNew(t, Options{Dim: 2})
	defer idx.Close()
	must(t, idx.AddBatch([]uint64{4}, []float32{1, 2}))
	first, err := idx.AddAuto([]float32{1, 1, 2, 2}, 2)
	if err != nil || first != 5 {
		t.Fatalf("AddAuto after key 4 = %d, %v (want 5)", first, err)
	}
}
