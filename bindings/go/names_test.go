package omendb

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestVocabularyIsTheCLibrarys(t *testing.T) {
	for name, want := range map[string]Metric{"l2": L2, "euclidean": L2, "L2SQ": L2, "ip": IP, "dot": IP, "inner_product": IP, "cosine": Cosine, "cos": Cosine, "Angular": Cosine} {
		got, err := ParseMetric(name)
		if err != nil || got != want {
			t.Errorf("ParseMetric(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	for name, want := range map[string]Dtype{"f32": F32, "float32": F32, "half": F16, "i8": Int8, "bit": Binary, "pq": PQ} {
		if got, err := ParseDtype(name); err != nil || got != want {
			t.Errorf("ParseDtype(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if got, err := ParseFusion("RRF"); err != nil || got != FusionRRF {
		t.Errorf("ParseFusion(RRF) = %v, %v", got, err)
	}
	if got, err := ParseSync("off"); err != nil || got != SyncOff {
		t.Errorf("ParseSync(off) = %v, %v", got, err)
	}
	_, err := ParseMetric("hamming")
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "cosine (cos, angular)") {
		t.Errorf("ParseMetric(hamming): %v; want ErrInvalidArgument listing the names", err)
	}
	if _, err := ParseFusion(""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("ParseFusion(\"\"): %v", err)
	}
	for _, c := range []struct{ got, want string }{
		{Cosine.String(), "cosine"}, {L2.String(), "l2"}, {Metric(9).String(), "Metric(9)"},
		{Int8.String(), "int8"}, {FusionWeighted.String(), "weighted"}, {SyncBatch.String(), "batch"},
	} {
		if c.got != c.want {
			t.Errorf("String() = %q, want %q", c.got, c.want)
		}
	}
}

func TestSetEfSearchChangesTheDefaultAndIsSaved(t *testing.T) {
	idx, err := New(Options{Dim: 4, EfSearch: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if ef, err := idx.EfSearch(); err != nil || ef != 32 {
		t.Fatalf("EfSearch() = %d, %v; want 32", ef, err)
	}
	if err := idx.SetEfSearch(200); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []int{0, -1, 1<<20 + 1} {
		if err := idx.SetEfSearch(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("SetEfSearch(%d): %v; want ErrInvalidArgument", bad, err)
		}
	}
	if err := idx.AddBatch([]uint64{1, 2}, []float32{1, 0, 0, 0, 0, 1, 0, 0}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ef.omendb")
	if err := idx.Save(path); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer loaded.Close()
	if ef, err := loaded.EfSearch(); err != nil || ef != 200 {
		t.Errorf("loaded EfSearch() = %d, %v; want 200", ef, err)
	}
}

func TestMarshalBinaryRoundTrips(t *testing.T) {
	idx, err := New(Options{Dim: 4, Metric: Cosine})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if err := idx.AddStrings([]string{"a", "b", "c"}, []float32{1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0}); err != nil {
		t.Fatal(err)
	}
	data, err := idx.MarshalBinary()
	if err != nil || len(data) == 0 {
		t.Fatalf("MarshalBinary: %d bytes, %v", len(data), err)
	}
	copyIdx, err := UnmarshalIndex(data)
	if err != nil {
		t.Fatal(err)
	}
	defer copyIdx.Close()
	want, _ := idx.Search([]float32{1, 0.2, 0, 0}, 3)
	got, err := copyIdx.Search([]float32{1, 0.2, 0, 0}, 3)
	if err != nil || len(got) != 3 {
		t.Fatalf("Search on the copy: %v, %v", got, err)
	}
	for i := range want {
		if got[i].StrKey != want[i].StrKey || got[i].Distance != want[i].Distance {
			t.Errorf("hit %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	data[len(data)/2] ^= 0xff
	if _, err := UnmarshalIndex(data); !errors.Is(err, ErrCorrupt) {
		t.Errorf("damaged bytes: %v, want ErrCorrupt", err)
	}
	if _, err := UnmarshalIndex(nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("no bytes: %v, want ErrCorrupt", err)
	}
}

func TestSetThreads(t *testing.T) {
	idx, err := New(Options{Dim: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if n, err := idx.Threads(); err != nil || n != 0 {
		t.Fatalf("Threads() = %d, %v; want 0", n, err)
	}
	if err := idx.SetThreads(2); err != nil {
		t.Fatal(err)
	}
	keys := make([]uint64, 100)
	vecs := make([]float32, 200)
	for i := range keys {
		keys[i] = uint64(i)
		vecs[2*i], vecs[2*i+1] = float32(i), 1
	}
	if err := idx.AddBatch(keys, vecs); err != nil {
		t.Fatal(err)
	}
	if n, _ := idx.Threads(); n != 2 {
		t.Errorf("Threads() = %d, want 2", n)
	}
	for _, bad := range []int{-1, 5000} {
		if err := idx.SetThreads(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("SetThreads(%d): %v; want ErrInvalidArgument", bad, err)
		}
	}
}

func TestMetadataNullAndListsOfNumbers(t *testing.T) {
	idx, err := New(Options{Dim: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	meta := []string{`{"scores":[1,2.5],"note":null}`, `{"scores":[2],"note":"x"}`, `{"note":0}`}
	if err := idx.AddRecords([]uint64{1, 2, 3}, []float32{1, 0, 0, 1, 1, 1}, meta, nil); err != nil {
		t.Fatal(err)
	}
	for filter, want := range map[string]int{"scores CONTAINS 2": 1, "scores CONTAINS 2.5": 1, "note = null": 1, "EXISTS note": 3, "note IN (null, 0)": 2} {
		f, err := ParseFilter(filter)
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		n, err := idx.Count(f)
		f.Close()
		if err != nil || n != want {
			t.Errorf("Count(%s) = %d, %v; want %d", filter, n, err, want)
		}
	}
	got, err := idx.Metadata(1)
	if err != nil || got != `{"note":null,"scores":[1,2.5]}` {
		t.Errorf("Metadata(1) = %s, %v", got, err)
	}
	if err := idx.AddRecords([]uint64{9}, []float32{1, 1}, []string{`{"v":[1,"a"]}`}, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("a mixed list: %v; want ErrInvalidArgument", err)
	}
}

func TestTextOptions(t *testing.T) {
	texts := []string{"Measuring the weather", "a measurement of THE rain", "the and of"}
	vecs := []float32{1, 0, 0, 1, 1, 1}
	search := func(idx *Index, q string) int {
		hits, err := idx.TextSearch(q, 5, nil)
		if err != nil {
			t.Fatalf("TextSearch(%q): %v", q, err)
		}
		return len(hits)
	}
	plain, err := New(Options{Dim: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	must(t, plain.AddRecords([]uint64{1, 2, 3}, vecs, nil, texts))
	if n := search(plain, "measure"); n != 0 {
		t.Errorf("default: %d hits for measure, want 0 (no stemmer)", n)
	}
	text := DefaultTextOptions()
	text.Stemmer = "english"
	text.StopWords = "custom"
	text.CustomStopWords = []string{"weather"}
	text.K1 = 0.9
	tuned, err := New(Options{Dim: 2, Text: text})
	if err != nil {
		t.Fatal(err)
	}
	defer tuned.Close()
	must(t, tuned.AddRecords([]uint64{1, 2, 3}, vecs, nil, texts))
	if n := search(tuned, "measure"); n != 2 {
		t.Errorf("stemmed: %d hits for measure, want 2", n)
	}
	if n := search(tuned, "the"); n != 3 {
		t.Errorf("custom stop words: %d hits for the, want 3", n)
	}
	if n := search(tuned, "weather"); n != 0 {
		t.Errorf("custom stop word weather: %d hits, want 0", n)
	}
	stats, err := tuned.Stats()
	if err != nil || stats["text"].(map[string]any)["stemmer"] != "english" || stats["bm25"].(map[string]any)["k1"] != 0.8999999761581421 {
		t.Errorf("Stats: %v, %v", stats, err)
	}
	bad := DefaultTextOptions()
	bad.B = 2
	if _, err := New(Options{Text: bad}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("b = 2: %v; want ErrInvalidArgument", err)
	}
	bad = DefaultTextOptions()
	bad.Stemmer = "klingon"
	if _, err := New(Options{Text: bad}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("stemmer klingon: %v; want ErrInvalidArgument", err)
	}
}
