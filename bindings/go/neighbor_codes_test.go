package omendb

import (
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// With neighbour codes (8 and 4 bits) stored vectors are found first at their exact distance,
// Stats reports the codes in use, and a load answers as the saved index did.
func TestNeighborCodesSearchSaveLoad(t *testing.T) {
	const n, dim = 1500, 48
	data := quantData(n, dim, 3)
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = uint64(i)
	}
	for _, bits := range []int{8, 4} {
		idx, err := New(Options{NeighborCodes: bits})
		if err != nil {
			t.Fatalf("%d bits: %v", bits, err)
		}
		// Two batches: the codes are learned from the first, and a load must keep them (learned
		// again from all 1,500 records, they would answer differently).
		if err := idx.AddBatch(keys[:300], data[:300*dim]); err != nil {
			t.Fatal(err)
		}
		if err := idx.AddBatch(keys[300:], data[300*dim:]); err != nil {
			t.Fatal(err)
		}
		stats, err := idx.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if stats["neighbor_codes"] != float64(bits) || stats["neighbor_codes_in_use"] != true {
			t.Errorf("%d bits: stats %v %v", bits, stats["neighbor_codes"], stats["neighbor_codes_in_use"])
		}
		var before [][]Result
		for _, i := range []int{0, 17, 1499} {
			hits, err := idx.SearchEf(data[i*dim:(i+1)*dim], 5, 128)
			if err != nil {
				t.Fatal(err)
			}
			if hits[0].Key != uint64(i) || math.Abs(float64(hits[0].Distance)) > 1e-4 {
				t.Errorf("%d bits: query %d found %+v first", bits, i, hits[0])
			}
			before = append(before, hits)
		}
		path := filepath.Join(t.TempDir(), "codes.omendb")
		if err := idx.Save(path); err != nil {
			t.Fatal(err)
		}
		idx.Close()
		loaded, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for j, i := range []int{0, 17, 1499} {
			hits, err := loaded.SearchEf(data[i*dim:(i+1)*dim], 5, 128)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(hits, before[j]) {
				t.Errorf("%d bits: query %d after load %+v, before %+v", bits, i, hits, before[j])
			}
		}
		loaded.Close()
	}
}

func TestNeighborCodesBadOptions(t *testing.T) {
	for _, bits := range []int{-1, 3, 16, math.MaxInt} {
		_, err := New(Options{NeighborCodes: bits})
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "NeighborCodes") && !strings.Contains(err.Error(), "neighbor_codes") {
			t.Errorf("%d bits: %v", bits, err)
		}
	}
	_, err := New(Options{Dtype: Int8, NeighborCodes: 8})
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "f32 only") {
		t.Errorf("int8 with codes: %v", err)
	}
}
