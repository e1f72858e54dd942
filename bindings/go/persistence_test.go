package omendb

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	const dim, n = 8, 300
	dir := t.TempDir()
	vecs := randomVectors(3, n, dim)
	queries := randomVectors(4, 20, dim)
	for _, strKeys := range []bool{false, true} {
		idx := mustNew(t, Options{Dim: dim, Metric: Cosine, M: 8, EfConstruction: 64, Seed: 5})
		ids := make([]string, n)
		keys := make([]uint64, n)
		for i := range keys {
			keys[i] = uint64(100 + i)
			ids[i] = "doc" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		}
		if strKeys {
			must(t, idx.AddStrings(ids, vecs))
			for i := 0; i < n; i += 7 {
				must(t, idx.RemoveString(ids[i]))
			}
		} else {
			must(t, idx.AddBatch(keys, vecs))
			for i := 0; i < n; i += 7 {
				must(t, idx.Remove(keys[i]))
			}
		}
		path := filepath.Join(dir, "index.omendb")
		must(t, idx.Save(path))
		loaded, err := Load(path)
		must(t, err)
		l1, _ := idx.Len()
		l2, _ := loaded.Len()
		if l1 != l2 || l1 != n-(n+6)/7 {
			t.Fatalf("len %d after load, %d before", l2, l1)
		}
		k1, _ := idx.KeyKind()
		k2, _ := loaded.KeyKind()
		m2, _ := loaded.Metric()
		if k1 != k2 || m2 != Cosine {
			t.Fatalf("key kind %v / metric %v after load", k2, m2)
		}
		r1, err := idx.SearchBatch(queries, 20, 10, 0)
		must(t, err)
		r2, err := loaded.SearchBatch(queries, 20, 10, 0)
		must(t, err)
		if !reflect.DeepEqual(r1, r2) {
			t.Fatalf("search results differ after load (string keys %v)", strKeys)
		}
		must(t, loaded.Close())
		must(t, idx.Close())
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.omendb")); !errors.Is(err, ErrIO) {
		t.Fatalf("missing file: %v", err)
	}
	foreign := filepath.Join(dir, "foreign.omendb")
	must(t, os.WriteFile(foreign, []byte("not an index at all"), 0o644))
	if _, err := Load(foreign); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("foreign file: %v", err)
	}

	idx := mustNew(t, Options{Dim: 4})
	defer idx.Close()
	must(t, idx.AddBatch([]uint64{1, 2}, []float32{1, 2, 3, 4, 5, 6, 7, 8}))
	good := filepath.Join(dir, "good.omendb")
	must(t, idx.Save(good))
	raw, err := os.ReadFile(good)
	must(t, err)
	bad := filepath.Join(dir, "bad.omendb")
	must(t, os.WriteFile(bad, raw[:len(raw)-1], 0o644))
	if _, err := Load(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated file: %v", err)
	}
	newer := append([]byte(nil), raw...)
	if v := binary.LittleEndian.Uint32(raw[8:]); v != 2 {
		t.Fatalf("format version %d, this test expects 2", v)
	}
	binary.LittleEndian.PutUint32(newer[8:], 9) // 3 to 8 are readable (quantized, binary, packed records, metadata kinds, texts, neighbour codes)
	binary.LittleEndian.PutUint32(newer[60:], crc32.Checksum(newer[:60], crc32.MakeTable(crc32.Castagnoli)))
	must(t, os.WriteFile(bad, newer, 0o644))
	if _, err := Load(bad); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("newer version: %v", err)
	}
	if _, err := Open(bad); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("open, newer version: %v", err)
	}
	if _, err := Open(foreign); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open, foreign file: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing.omendb")); !errors.Is(err, ErrIO) {
		t.Fatalf("open, missing file: %v", err)
	}
	if err := idx.Save(filepath.Join(dir, "no", "such", "dir.omendb")); !errors.Is(err, ErrIO) {
		t.Fatalf("save into a missing directory: %v", err)
	}
	must(t, idx.Close())
	if err := idx.Save(good); !errors.Is(err, ErrClosed) {
		t.Fatalf("save after close: %v", err)
	}
}

func TestOpenIsReadOnlyAndAnswersAsLoad(t *testing.T) {
	const dim, n = 8, 2000
	dir := t.TempDir()
	vecs := randomVectors(7, n, dim)
	queries := randomVectors(8, 10, dim)
	idx := mustNew(t, Options{Dim: dim, Metric: L2, M: 8, EfConstruction: 64, Seed: 2})
	defer idx.Close()
	keys := make([]uint64, n)
	meta := make([]string, n)
	texts := make([]string, n)
	for i := range keys {
		keys[i] = uint64(i)
		meta[i] = []string{`{"genre": "jazz"}`, `{"genre": "rock", "year": 1999}`, ""}[i%3]
		texts[i] = []string{"saxophone quartet", "piano trio live", ""}[i%3]
	}
	must(t, idx.AddRecords(keys, vecs, meta, texts))
	must(t, idx.Remove(4))
	path := filepath.Join(dir, "open.omendb")
	must(t, idx.Save(path))
	opened, err := Open(path)
	must(t, err)
	defer opened.Close()
	if ro, err := opened.ReadOnly(); err != nil || !ro {
		t.Fatalf("ReadOnly of an opened index: %v %v", ro, err)
	}
	if ro, err := idx.ReadOnly(); err != nil || ro {
		t.Fatalf("ReadOnly of a new index: %v %v", ro, err)
	}
	r1, err := idx.SearchBatch(queries, 10, 10, 0)
	must(t, err)
	r2, err := opened.SearchBatch(queries, 10, 10, 0)
	must(t, err)
	if !reflect.DeepEqual(r1, r2) {
		t.Fatal("search results differ between the index and the opened file")
	}
	f, err := ParseFilter(`genre = "rock" OR year >= 1999`)
	must(t, err)
	defer f.Close()
	f1, err := idx.SearchFiltered(queries[:dim], 10, f)
	must(t, err)
	f2, err := opened.SearchFiltered(queries[:dim], 10, f)
	must(t, err)
	t1, err := idx.TextSearch("piano live", 10, nil)
	must(t, err)
	t2, err := opened.TextSearch("piano live", 10, nil)
	must(t, err)
	if len(f1) != 10 || len(t1) != 10 || !reflect.DeepEqual(f1, f2) || !reflect.DeepEqual(t1, t2) {
		t.Fatalf("filtered or text search differ: %v %v / %v %v", f1, f2, t1, t2)
	}
	if err := opened.AddBatch([]uint64{99999}, vecs[:dim]); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("add to an opened index: %v", err)
	}
	if err := opened.Remove(5); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("remove from an opened index: %v", err)
	}
	if err := opened.Compact(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("compact of an opened index: %v", err)
	}
	must(t, opened.Save(filepath.Join(dir, "copy.omendb")))
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(filepath.Join(dir, "copy.omendb"))
	if !reflect.DeepEqual(a, b) {
		t.Fatal("saving an opened index changed the bytes")
	}
}
