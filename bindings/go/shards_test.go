package omendb

import (
	"errors"
	"fmt"
	"testing"
)

// Three shards scored with their summed statistics give every record its score in one index
// of all records; Fuse fuses caller-held lists as HybridSearch does.
func TestShardsScoreAsOneIndex(t *testing.T) {
	words := []string{"river", "stone", "forest", "cloud", "ember", "harbor", "meadow"}
	newIndex := func() *Index {
		idx, err := New(Options{Dim: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { idx.Close() })
		return idx
	}
	whole := newIndex()
	shards := []*Index{newIndex(), newIndex(), newIndex()}
	for i := 0; i < 40; i++ {
		text := ""
		for j := 0; j <= i%6; j++ {
			text += words[(i*3+j*j)%len(words)] + " "
		}
		vec := []float32{float32(i), 1}
		for _, idx := range []*Index{whole, shards[i%3]} {
			if err := idx.AddRecords([]uint64{uint64(i)}, vec, nil, []string{text}); err != nil {
				t.Fatal(err)
			}
		}
	}
	query := "stone ember ember meadow"
	want, err := whole.TextStats(query)
	if err != nil || len(want.DocFreqs) != 3 || want.Docs != 40 {
		t.Fatalf("TextStats = %+v, %v", want, err)
	}
	sum := TextStats{DocFreqs: make([]uint64, 3)}
	for _, s := range shards {
		part, err := s.TextStats(query)
		if err != nil {
			t.Fatal(err)
		}
		if sum, err = sum.Add(part); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(sum) != fmt.Sprint(want) {
		t.Fatalf("summed %+v, one index %+v", sum, want)
	}
	one, err := whole.TextSearch(query, 40, nil)
	if err != nil || len(one) < 10 {
		t.Fatalf("TextSearch = %d hits, %v", len(one), err)
	}
	score := map[uint64]float32{}
	for _, r := range one {
		score[r.Key] = r.Distance
	}
	seen := 0
	for _, s := range shards {
		hits, err := s.TextSearchWithStats(query, 40, nil, sum)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range hits {
			if got, ok := score[r.Key]; !ok || got != r.Distance {
				t.Errorf("key %d: shard score %v, one index %v", r.Key, r.Distance, got)
			}
		}
		seen += len(hits)
	}
	if seen != len(one) {
		t.Errorf("shards found %d hits, one index %d", seen, len(one))
	}
	short := TextStats{Docs: sum.Docs, Tokens: sum.Tokens, DocFreqs: sum.DocFreqs[:2]}
	if _, err := shards[0].TextSearchWithStats(query, 5, nil, short); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("stats of 2 terms for a 3-term query: %v", err)
	}
	if _, err := sum.Add(short); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Add of mismatched stats: %v", err)
	}

	ids, scores, err := Fuse(FusionRRF, 0, []uint64{10, 20, 30}, []float32{0.1, 0.2, 0.3}, []uint64{30, 40, 10}, []float32{9, 5, 1}, 10)
	if err != nil || fmt.Sprint(ids) != "[10 30 20 40]" || scores[0] != scores[1] {
		t.Errorf("Fuse RRF = %v %v %v", ids, scores, err)
	}
	if _, _, err := Fuse(FusionWeighted, 2, []uint64{1}, []float32{0.1}, nil, nil, 3); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("alpha 2: %v", err)
	}
	if _, _, err := Fuse(FusionRRF, 0, []uint64{1, 2}, []float32{0.1}, nil, nil, 3); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("lengths differ: %v", err)
	}
}
