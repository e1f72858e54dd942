package omendb

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
)

func mustNew(t testing.TB, o Options) *Index {
	t.Helper()
	idx, err := New(o)
	if err != nil {
		t.Fatalf("New(%+v): %v", o, err)
	}
	t.Cleanup(func() { idx.Close() })
	return idx
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustLen(t testing.TB, idx *Index, want int) {
	t.Helper()
	n, err := idx.Len()
	must(t, err)
	if n != want {
		t.Fatalf("Len() = %d, want %d", n, want)
	}
}

func row(v []float32, dim, i int) []float32 { return v[i*dim : (i+1)*dim] }

func TestVersionAndStatusNames(t *testing.T) {
	if v := Version(); !regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(v) {
		t.Fatalf("Version() = %q", v)
	}
	names := map[Status]string{
		StatusOK:                 "OMENDB_STATUS_OK",
		StatusInternal:           "OMENDB_STATUS_INTERNAL",
		StatusNullPointer:        "OMENDB_STATUS_NULL_POINTER",
		StatusInvalidArgument:    "OMENDB_STATUS_INVALID_ARGUMENT",
		StatusDimensionMismatch:  "OMENDB_STATUS_DIMENSION_MISMATCH",
		StatusNonFinite:          "OMENDB_STATUS_NON_FINITE",
		StatusZeroVector:         "OMENDB_STATUS_ZERO_VECTOR",
		StatusInvalidKey:         "OMENDB_STATUS_INVALID_KEY",
		StatusInvalidUTF8:        "OMENDB_STATUS_INVALID_UTF8",
		StatusDuplicateKey:       "OMENDB_STATUS_DUPLICATE_KEY",
		StatusKeyNotFound:        "OMENDB_STATUS_KEY_NOT_FOUND",
		StatusBufferTooSmall:     "OMENDB_STATUS_BUFFER_TOO_SMALL",
		StatusOutOfRange:         "OMENDB_STATUS_OUT_OF_RANGE",
		StatusIO:                 "OMENDB_STATUS_IO",
		StatusCorrupt:            "OMENDB_STATUS_CORRUPT",
		StatusUnsupportedVersion: "OMENDB_STATUS_UNSUPPORTED_VERSION",
		StatusFilterSyntax:       "OMENDB_STATUS_FILTER_SYNTAX",
		StatusLocked:             "OMENDB_STATUS_LOCKED",
		Status(9999):             "OMENDB_STATUS_UNKNOWN",
	}
	for code, want := range names {
		if got := StatusName(code); got != want {
			t.Errorf("StatusName(%d) = %q, want %q", code, got, want)
		}
		if got := code.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", code, got, want)
		}
	}
}

func TestRoundTripU64(t *testing.T) {
	const dim, n = 8, 50
	idx := mustNew(t, Options{Dim: dim, Metric: L2, M: 8, EfConstruction: 64, EfSearch: 32, Seed: 7})
	kind, err := idx.KeyKind()
	must(t, err)
	if kind != KeyKindNone {
		t.Fatalf("KeyKind() before any add = %v", kind)
	}
	vecs := randomVectors(1, n, dim)
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = uint64(1000 + 7*i)
	}
	// Batches of fewer than 32 are inserted one by one, so the graph is the same every run
	// (a batch of 50 is inserted in parallel, and with M 8 / EfSearch 32 an exact self-match is
	// then occasionally missed: that belongs to the recall test, not to a round trip).
	for i := 0; i < n; i += 10 {
		must(t, idx.AddBatch(keys[i:i+10], vecs[i*dim:(i+10)*dim]))
	}
	mustLen(t, idx, n)
	if d, err := idx.Dim(); err != nil || d != dim {
		t.Fatalf("Dim() = %d, %v", d, err)
	}
	if m, err := idx.Metric(); err != nil || m != L2 {
		t.Fatalf("Metric() = %v, %v", m, err)
	}
	if k, err := idx.KeyKind(); err != nil || k != KeyKindU64 {
		t.Fatalf("KeyKind() = %v, %v", k, err)
	}
	if b, err := idx.MemoryBytes(); err != nil || b <= 0 {
		t.Fatalf("MemoryBytes() = %d, %v", b, err)
	}
	for i, key := range keys {
		ok, err := idx.Contains(key)
		must(t, err)
		if !ok {
			t.Fatalf("Contains(%d) = false", key)
		}
		hits, err := idx.Search(row(vecs, dim, i), 3)
		must(t, err)
		if len(hits) != 3 || hits[0].Key != key || hits[0].Distance != 0 || hits[0].StrKey != "" {
			t.Fatalf("Search(row %d) = %+v, want key %d first at distance 0", i, hits, key)
		}
		if !(hits[0].Distance <= hits[1].Distance && hits[1].Distance <= hits[2].Distance) {
			t.Fatalf("hits not sorted: %+v", hits)
		}
	}
	if ok, err := idx.Contains(1); err != nil || ok {
		t.Fatalf("Contains(1) = %v, %v", ok, err)
	}
	// k larger than the index: only the stored records come back.
	hits, err := idx.Search(row(vecs, dim, 0), 2*n)
	must(t, err)
	if len(hits) != n {
		t.Fatalf("Search(k=%d) gave %d hits, want %d", 2*n, len(hits), n)
	}
	// SearchBatch agrees with Search row by row.
	rows, err := idx.SearchBatch(vecs[:5*dim], 5, 4, 0)
	must(t, err)
	for i, r := range rows {
		one, err := idx.Search(row(vecs, dim, i), 4)
		must(t, err)
		if !reflect.DeepEqual(r, one) {
			t.Fatalf("SearchBatch row %d = %+v, Search = %+v", i, r, one)
		}
	}
	// SearchInto writes the raw C rows.
	keysOut := make([]uint64, 2*n)
	distOut := make([]float32, 2*n)
	must(t, idx.SearchInto(row(vecs, dim, 0), 1, 2*n, 0, keysOut, distOut))
	if keysOut[0] != keys[0] || keysOut[n-1] == NoKey || keysOut[n] != NoKey || !math.IsInf(float64(distOut[n]), 1) {
		t.Fatalf("SearchInto rows: keys %v dists %v", keysOut, distOut)
	}
	// The results object works for u64 keys too.
	res, err := idx.SearchResults(vecs[:2*dim], 2, 3, 0)
	must(t, err)
	defer res.Close()
	if nq, err := res.NumQueries(); err != nil || nq != 2 {
		t.Fatalf("NumQueries() = %d, %v", nq, err)
	}
	for q := 0; q < 2; q++ {
		c, err := res.Count(q)
		must(t, err)
		if c != 3 {
			t.Fatalf("Count(%d) = %d", q, c)
		}
		k, err := res.Key(q, 0)
		must(t, err)
		d, err := res.Distance(q, 0)
		must(t, err)
		if k != keys[q] || d != 0 {
			t.Fatalf("results hit (%d, 0) = %d at %v", q, k, d)
		}
	}
	all, err := res.Distances()
	must(t, err)
	if len(all) != 6 || all[0] != 0 || all[3] != 0 {
		t.Fatalf("Distances() = %v", all)
	}
}

func TestRoundTripStrings(t *testing.T) {
	const dim = 4
	ids := []string{"alpha", "βeta", "日本語", "with\x00nul", "x", strings.Repeat("k", 65536)}
	vecs := randomVectors(2, len(ids), dim)
	idx := mustNew(t, Options{Metric: Cosine})
	if d, err := idx.Dim(); err != nil || d != 0 {
		t.Fatalf("Dim() of a fresh index with Dim 0 = %d, %v", d, err)
	}
	must(t, idx.AddStrings(ids, vecs))
	mustLen(t, idx, len(ids))
	if d, err := idx.Dim(); err != nil || d != dim {
		t.Fatalf("Dim() after the first batch = %d, %v", d, err)
	}
	if k, err := idx.KeyKind(); err != nil || k != KeyKindString {
		t.Fatalf("KeyKind() = %v, %v", k, err)
	}
	for i, id := range ids {
		ok, err := idx.ContainsString(id)
		must(t, err)
		if !ok {
			t.Fatalf("ContainsString(%q) = false", id)
		}
		hits, err := idx.Search(row(vecs, dim, i), 2)
		must(t, err)
		if len(hits) != 2 || hits[0].StrKey != id || hits[0].Key != 0 || math.Abs(float64(hits[0].Distance)) > 1e-5 {
			t.Fatalf("Search(row %d) = %+v, want %q first", i, hits, id)
		}
	}
	if ok, err := idx.ContainsString("with"); err != nil || ok {
		t.Fatalf(`ContainsString("with") = %v, %v`, ok, err)
	}
	rows, err := idx.SearchBatch(vecs, len(ids), 1, 0)
	must(t, err)
	for i, r := range rows {
		if len(r) != 1 || r[0].StrKey != ids[i] {
			t.Fatalf("SearchBatch row %d = %+v", i, r)
		}
	}
	res, err := idx.SearchResults(row(vecs, dim, 3), 1, 1, 0)
	must(t, err)
	if s, err := res.KeyString(0, 0); err != nil || s != ids[3] {
		t.Fatalf("KeyString(0, 0) = %q, %v", s, err)
	}
	must(t, res.Close())
	must(t, idx.RemoveString("βeta"))
	mustLen(t, idx, len(ids)-1)
	if ok, err := idx.ContainsString("βeta"); err != nil || ok {
		t.Fatalf("ContainsString after RemoveString = %v, %v", ok, err)
	}
}

func TestAddAuto(t *testing.T) {
	const dim = 6
	idx := mustNew(t, Options{})
	vecs := randomVectors(3, 30, dim)
	first, err := idx.AddAuto(vecs[:10*dim], dim)
	must(t, err)
	if first != 0 {
		t.Fatalf("first AddAuto = %d, want 0", first)
	}
	first, err = idx.AddAuto(vecs[10*dim:], dim)
	must(t, err)
	if first != 10 {
		t.Fatalf("second AddAuto = %d, want 10", first)
	}
	mustLen(t, idx, 30)
	for i := 0; i < 30; i++ {
		hits, err := idx.Search(row(vecs, dim, i), 1)
		must(t, err)
		if hits[0].Key != uint64(i) {
			t.Fatalf("row %d found as key %d", i, hits[0].Key)
		}
	}
}

// bruteForce returns the k nearest rows of data to q under m.
func bruteForce(data []float32, dim int, q []float32, k int, m Metric) []uint64 {
	n := len(data) / dim
	type hit struct {
		i int
		d float64
	}
	hits := make([]hit, n)
	var qn float64
	for _, x := range q {
		qn += float64(x) * float64(x)
	}
	for i := 0; i < n; i++ {
		var l2, dot, vn float64
		for j, x := range row(data, dim, i) {
			d := float64(x) - float64(q[j])
			l2 += d * d
			dot += float64(x) * float64(q[j])
			vn += float64(x) * float64(x)
		}
		switch m {
		case L2:
			hits[i] = hit{i, l2}
		case Cosine:
			hits[i] = hit{i, 1 - dot/math.Sqrt(qn*vn)}
		default:
			hits[i] = hit{i, 1 - dot}
		}
	}
	sort.Slice(hits, func(a, b int) bool { return hits[a].d < hits[b].d })
	out := make([]uint64, k)
	for i := range out {
		out[i] = uint64(hits[i].i)
	}
	return out
}

func TestRecallAgainstBruteForce(t *testing.T) {
	const n, dim, nq, k = 2000, 32, 100, 10
	data := randomVectors(42, n, dim)
	queries := randomVectors(43, nq, dim)
	for _, m := range []Metric{L2, Cosine} {
		t.Run(m.String(), func(t *testing.T) {
			idx := mustNew(t, Options{Dim: dim, Metric: m, Seed: 1})
			first, err := idx.AddAuto(data, dim)
			must(t, err)
			if first != 0 {
				t.Fatal(first)
			}
			rows, err := idx.SearchBatch(queries, nq, k, 0)
			must(t, err)
			found := 0
			for i, r := range rows {
				exact := bruteForce(data, dim, row(queries, dim, i), k, m)
				set := map[uint64]bool{}
				for _, key := range exact {
					set[key] = true
				}
				for _, h := range r {
					if set[h.Key] {
						found++
					}
				}
				one, err := idx.Search(row(queries, dim, i), k)
				must(t, err)
				if !reflect.DeepEqual(one, r) {
					t.Fatalf("query %d: Search %v != SearchBatch %v", i, one, r)
				}
			}
			recall := float64(found) / float64(nq*k)
			t.Logf("%v recall@%d = %.4f", m, k, recall)
			if recall < 0.95 {
				t.Fatalf("recall@%d = %.4f < 0.95", k, recall)
			}
		})
	}
}

func TestUpsert(t *testing.T) {
	const dim = 4
	idx := mustNew(t, Options{Dim: dim})
	vecs := randomVectors(5, 10, dim)
	keys := []uint64{0, 1, 2, 3, 4}
	must(t, idx.AddBatch(keys, vecs[:5*dim]))
	// Keys 3 and 4 get new vectors, 5 is new.
	must(t, idx.UpsertBatch([]uint64{3, 4, 5}, vecs[6*dim:9*dim]))
	mustLen(t, idx, 6)
	for i, key := range []uint64{3, 4, 5} {
		hits, err := idx.Search(row(vecs, dim, 6+i), 1)
		must(t, err)
		if hits[0].Key != key || hits[0].Distance != 0 {
			t.Fatalf("after upsert, row %d found as %+v, want key %d", 6+i, hits[0], key)
		}
	}
	hits, err := idx.Search(row(vecs, dim, 3), 1)
	must(t, err)
	if hits[0].Key == 3 && hits[0].Distance == 0 {
		t.Fatalf("old vector of key 3 still stored")
	}
	if err := idx.UpsertBatch([]uint64{7, 7}, vecs[:2*dim]); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("UpsertBatch with a key twice: %v", err)
	}

	sidx := mustNew(t, Options{Dim: dim})
	must(t, sidx.AddStrings([]string{"a", "b"}, vecs[:2*dim]))
	must(t, sidx.UpsertStrings([]string{"b", "c"}, vecs[8*dim:10*dim]))
	mustLen(t, sidx, 3)
	for i, id := range []string{"b", "c"} {
		hits, err := sidx.Search(row(vecs, dim, 8+i), 1)
		must(t, err)
		if hits[0].StrKey != id {
			t.Fatalf("after UpsertStrings row %d found as %+v, want %q", 8+i, hits[0], id)
		}
	}
}

func TestRemoveAndCompact(t *testing.T) {
	const dim, n = 8, 300
	idx := mustNew(t, Options{Dim: dim})
	vecs := randomVectors(6, n, dim)
	_, err := idx.AddAuto(vecs, dim)
	must(t, err)
	for key := uint64(0); key < n; key += 2 {
		must(t, idx.Remove(key))
	}
	mustLen(t, idx, n/2)
	must(t, idx.Compact())
	mustLen(t, idx, n/2)
	for i := 0; i < n; i++ {
		ok, err := idx.Contains(uint64(i))
		must(t, err)
		if ok != (i%2 == 1) {
			t.Fatalf("Contains(%d) = %v", i, ok)
		}
		hits, err := idx.Search(row(vecs, dim, i), 10)
		must(t, err)
		for _, h := range hits {
			if h.Key%2 == 0 {
				t.Fatalf("search returned removed key %d", h.Key)
			}
		}
	}
	if err := idx.Remove(0); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("second Remove(0): %v", err)
	}
}

// snapshot is what an index answers to a fixed set of questions, to check that a failed
// call changed nothing.
func snapshot(t *testing.T, idx *Index, probes []float32, n int) string {
	t.Helper()
	size, err := idx.Len()
	must(t, err)
	rows, err := idx.SearchBatch(probes, n, 5, 0)
	must(t, err)
	return fmt.Sprint(size, rows)
}

func TestErrors(t *testing.T) {
	const dim = 4
	good := randomVectors(8, 3, dim)
	nan := []float32{1, float32(math.NaN()), 0, 0}
	inf := []float32{1, float32(math.Inf(1)), 0, 0}
	zero := make([]float32, dim)

	u64 := mustNew(t, Options{Dim: dim, Metric: Cosine})
	must(t, u64.AddBatch([]uint64{1, 2, 3}, good))
	str := mustNew(t, Options{Dim: dim})
	must(t, str.AddStrings([]string{"a", "b", "c"}, good))

	cases := []struct {
		name string
		idx  *Index
		want error
		call func(idx *Index) error
	}{
		{"add wrong dim", u64, ErrDimensionMismatch, func(i *Index) error { return i.AddBatch([]uint64{9}, make([]float32, dim+1)) }},
		{"add ragged rows", u64, ErrDimensionMismatch, func(i *Index) error { return i.AddBatch([]uint64{9, 10}, make([]float32, 2*dim+1)) }},
		{"add vectors without keys", u64, ErrDimensionMismatch, func(i *Index) error { return i.AddBatch(nil, good) }},
		{"add NaN", u64, ErrNonFinite, func(i *Index) error { return i.AddBatch([]uint64{9}, nan) }},
		{"add Inf", u64, ErrNonFinite, func(i *Index) error { return i.AddBatch([]uint64{9}, inf) }},
		{"add zero vector cosine", u64, ErrZeroVector, func(i *Index) error { return i.AddBatch([]uint64{9}, zero) }},
		{"add NoKey", u64, ErrInvalidKey, func(i *Index) error { return i.AddBatch([]uint64{NoKey}, good[:dim]) }},
		{"add duplicate stored", u64, ErrDuplicateKey, func(i *Index) error { return i.AddBatch([]uint64{9, 2}, good[:2*dim]) }},
		{"add duplicate in batch", u64, ErrDuplicateKey, func(i *Index) error { return i.AddBatch([]uint64{9, 9}, good[:2*dim]) }},
		{"add string to u64 index", u64, ErrInvalidKey, func(i *Index) error { return i.AddStrings([]string{"z"}, good[:dim]) }},
		{"add auto dim 0", u64, ErrInvalidArgument, func(i *Index) error { _, err := i.AddAuto(good, 0); return err }},
		{"add auto ragged", u64, ErrDimensionMismatch, func(i *Index) error { _, err := i.AddAuto(good[:5], dim); return err }},
		{"upsert NaN", u64, ErrNonFinite, func(i *Index) error { return i.UpsertBatch([]uint64{1}, nan) }},
		{"search wrong dim", u64, ErrDimensionMismatch, func(i *Index) error { _, err := i.Search(good[:dim-1], 1); return err }},
		{"search NaN", u64, ErrNonFinite, func(i *Index) error { _, err := i.Search(nan, 1); return err }},
		{"search zero cosine", u64, ErrZeroVector, func(i *Index) error { _, err := i.Search(zero, 1); return err }},
		{"search k=0", u64, ErrInvalidArgument, func(i *Index) error { _, err := i.Search(good[:dim], 0); return err }},
		{"search k<0", u64, ErrInvalidArgument, func(i *Index) error { _, err := i.Search(good[:dim], -1); return err }},
		{"search batch ragged", u64, ErrDimensionMismatch, func(i *Index) error { _, err := i.SearchBatch(good[:7], 2, 1, 0); return err }},
		{"search into small buffer", u64, ErrBufferTooSmall, func(i *Index) error {
			return i.SearchInto(good, 3, 2, 0, make([]uint64, 6), make([]float32, 5))
		}},
		{"search into string index", str, ErrInvalidKey, func(i *Index) error {
			return i.SearchInto(good[:dim], 1, 1, 0, make([]uint64, 1), make([]float32, 1))
		}},
		{"remove unknown", u64, ErrKeyNotFound, func(i *Index) error { return i.Remove(77) }},
		{"remove string from u64 index", u64, ErrInvalidKey, func(i *Index) error { return i.RemoveString("a") }},
		{"results out of range", u64, ErrOutOfRange, func(i *Index) error {
			r, err := i.SearchResults(good[:dim], 1, 1, 0)
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = r.Count(1)
			return err
		}},
		{"results distance out of range", u64, ErrOutOfRange, func(i *Index) error {
			r, err := i.SearchResults(good[:dim], 1, 1, 0)
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = r.Distance(0, 5)
			return err
		}},
		{"results string key of u64", u64, ErrInvalidKey, func(i *Index) error {
			r, err := i.SearchResults(good[:dim], 1, 1, 0)
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = r.KeyString(0, 0)
			return err
		}},
		{"results k=0", u64, ErrInvalidArgument, func(i *Index) error { _, err := i.SearchResults(good[:dim], 1, 0, 0); return err }},
		{"add empty string key", str, ErrInvalidKey, func(i *Index) error { return i.AddStrings([]string{""}, good[:dim]) }},
		{"add too long string key", str, ErrInvalidKey, func(i *Index) error {
			return i.AddStrings([]string{strings.Repeat("x", 65537)}, good[:dim])
		}},
		{"add invalid UTF-8", str, ErrInvalidUTF8, func(i *Index) error { return i.AddStrings([]string{"ok", "\xff\xfe"}, good[:2*dim]) }},
		{"add duplicate string", str, ErrDuplicateKey, func(i *Index) error { return i.AddStrings([]string{"new", "b"}, good[:2*dim]) }},
		{"add duplicate string in batch", str, ErrDuplicateKey, func(i *Index) error { return i.AddStrings([]string{"n", "n"}, good[:2*dim]) }},
		{"add u64 to string index", str, ErrInvalidKey, func(i *Index) error { return i.AddBatch([]uint64{5}, good[:dim]) }},
		{"upsert strings in batch twice", str, ErrDuplicateKey, func(i *Index) error { return i.UpsertStrings([]string{"a", "a"}, good[:2*dim]) }},
		{"remove unknown string", str, ErrKeyNotFound, func(i *Index) error { return i.RemoveString("nope") }},
		{"remove invalid UTF-8", str, ErrInvalidUTF8, func(i *Index) error { return i.RemoveString("\xff") }},
		{"remove u64 from string index", str, ErrInvalidKey, func(i *Index) error { return i.Remove(1) }},
		{"contains invalid UTF-8", str, ErrInvalidUTF8, func(i *Index) error { _, err := i.ContainsString("\xc3"); return err }},
		{"search strings wrong dim", str, ErrDimensionMismatch, func(i *Index) error { _, err := i.Search(make([]float32, dim+2), 1); return err }},
		{"search strings k=0", str, ErrInvalidArgument, func(i *Index) error { _, err := i.Search(good[:dim], 0); return err }},
	}
	probes := randomVectors(9, 2, dim)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot(t, c.idx, probes, 2)
			err := c.call(c.idx)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Message == "" || !strings.Contains(err.Error(), StatusName(e.Code)) {
				t.Fatalf("error %#v lacks a code name or message", err)
			}
			for _, other := range []error{ErrInternal, ErrNullPointer, ErrInvalidArgument, ErrDimensionMismatch, ErrNonFinite,
				ErrZeroVector, ErrInvalidKey, ErrInvalidUTF8, ErrDuplicateKey, ErrKeyNotFound, ErrBufferTooSmall, ErrOutOfRange, ErrIO, ErrCorrupt, ErrUnsupportedVersion, ErrFilterSyntax, ErrClosed} {
				if other != c.want && errors.Is(err, other) {
					t.Fatalf("%v also matches %v", err, other)
				}
			}
			if after := snapshot(t, c.idx, probes, 2); after != before {
				t.Fatalf("index changed by a failed call:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestOptionErrors(t *testing.T) {
	for _, o := range []Options{
		{Metric: 3}, {Metric: 99}, {Dim: 65537}, {Dim: -1}, {M: 1}, {M: 513}, {EfConstruction: -5}, {EfSearch: 1 << 21},
	} {
		idx, err := New(o)
		if !errors.Is(err, ErrInvalidArgument) || idx != nil {
			t.Errorf("New(%+v) = %v, %v; want ErrInvalidArgument", o, idx, err)
		}
	}
	idx := mustNew(t, Options{Dim: 65536, Metric: IP, M: 2, EfConstruction: 1, EfSearch: 1, Seed: math.MaxUint64})
	if m, err := idx.Metric(); err != nil || m != IP {
		t.Fatalf("Metric() = %v, %v", m, err)
	}
}

func TestEmptyIndexSearch(t *testing.T) {
	idx := mustNew(t, Options{})
	hits, err := idx.Search([]float32{1, 2, 3}, 5)
	must(t, err)
	if len(hits) != 0 {
		t.Fatalf("Search on an empty index = %+v", hits)
	}
	rows, err := idx.SearchBatch(nil, 0, 5, 0)
	must(t, err)
	if len(rows) != 0 {
		t.Fatalf("SearchBatch of 0 queries = %+v", rows)
	}
	must(t, idx.AddBatch(nil, nil))
	mustLen(t, idx, 0)
}

func TestCloseAndUseAfterClose(t *testing.T) {
	idx, err := New(Options{Dim: 2})
	must(t, err)
	must(t, idx.AddBatch([]uint64{1}, []float32{1, 2}))
	res, err := idx.SearchResults([]float32{1, 2}, 1, 1, 0)
	must(t, err)
	must(t, idx.Close())
	must(t, idx.Close())
	// The results object is independent of its index.
	if k, err := res.Key(0, 0); err != nil || k != 1 {
		t.Fatalf("results after the index's Close: %d, %v", k, err)
	}
	must(t, res.Close())
	must(t, res.Close())
	v := []float32{1, 2}
	calls := map[string]func() error{
		"AddBatch":           func() error { return idx.AddBatch([]uint64{2}, v) },
		"UpsertBatch":        func() error { return idx.UpsertBatch([]uint64{2}, v) },
		"AddStrings":         func() error { return idx.AddStrings([]string{"a"}, v) },
		"UpsertStrings":      func() error { return idx.UpsertStrings([]string{"a"}, v) },
		"AddAuto":            func() error { _, err := idx.AddAuto(v, 2); return err },
		"Remove":             func() error { return idx.Remove(1) },
		"RemoveString":       func() error { return idx.RemoveString("a") },
		"Contains":           func() error { _, err := idx.Contains(1); return err },
		"ContainsString":     func() error { _, err := idx.ContainsString("a"); return err },
		"Len":                func() error { _, err := idx.Len(); return err },
		"Dim":                func() error { _, err := idx.Dim(); return err },
		"Metric":             func() error { _, err := idx.Metric(); return err },
		"KeyKind":            func() error { _, err := idx.KeyKind(); return err },
		"MemoryBytes":        func() error { _, err := idx.MemoryBytes(); return err },
		"Compact":            func() error { return idx.Compact() },
		"Search":             func() error { _, err := idx.Search(v, 1); return err },
		"SearchEf":           func() error { _, err := idx.SearchEf(v, 1, 10); return err },
		"SearchBatch":        func() error { _, err := idx.SearchBatch(v, 1, 1, 0); return err },
		"SearchInto":         func() error { return idx.SearchInto(v, 1, 1, 0, make([]uint64, 1), make([]float32, 1)) },
		"SearchResults":      func() error { _, err := idx.SearchResults(v, 1, 1, 0); return err },
		"Results.NumQueries": func() error { _, err := res.NumQueries(); return err },
		"Results.Count":      func() error { _, err := res.Count(0); return err },
		"Results.Distance":   func() error { _, err := res.Distance(0, 0); return err },
		"Results.Key":        func() error { _, err := res.Key(0, 0); return err },
		"Results.KeyString":  func() error { _, err := res.KeyString(0, 0); return err },
		"Results.Distances":  func() error { _, err := res.Distances(); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	var nilIdx *Index
	if _, err := nilIdx.Len(); !errors.Is(err, ErrClosed) {
		t.Errorf("Len on a nil *Index: %v", err)
	}
	must(t, nilIdx.Close())
}

// TestFinalizer drops indexes without Close; the finalizer frees them (run under -race and
// cgocheck to catch a double free or a free during a call).
func TestFinalizer(t *testing.T) {
	for i := 0; i < 50; i++ {
		idx, err := New(Options{Dim: 8})
		must(t, err)
		_, err = idx.AddAuto(randomVectors(uint64(i), 20, 8), 8)
		must(t, err)
		_, err = idx.Search(randomVectors(uint64(i), 1, 8), 3)
		must(t, err)
		r, err := idx.SearchResults(randomVectors(uint64(i), 1, 8), 1, 3, 0)
		must(t, err)
		_ = r
	}
	runtime.GC()
	runtime.GC()
}

func TestConcurrentSearchWhileAdding(t *testing.T) {
	const dim, base, writers, perWriter, batch = 16, 500, 3, 20, 25
	idx := mustNew(t, Options{Dim: dim})
	data := randomVectors(10, base, dim)
	_, err := idx.AddAuto(data, dim)
	must(t, err)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 64)
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			q := randomVectors(uint64(100+g), 8, dim)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if i%3 == 0 {
					_, err = idx.SearchBatch(q, 8, 10, 0)
				} else {
					var hits []Result
					hits, err = idx.Search(q[(i%8)*dim:(i%8+1)*dim], 10)
					if err == nil && len(hits) != 10 {
						err = fmt.Errorf("got %d hits", len(hits))
					}
				}
				if err == nil {
					_, err = idx.Len()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	var writersWg sync.WaitGroup
	for w := 0; w < writers; w++ {
		writersWg.Add(1)
		go func(w int) {
			defer writersWg.Done()
			for b := 0; b < perWriter; b++ {
				keys := make([]uint64, batch)
				for i := range keys {
					keys[i] = uint64(1_000_000*(w+1) + b*batch + i)
				}
				if err := idx.AddBatch(keys, randomVectors(uint64(w*1000+b), batch, dim)); err != nil {
					errs <- err
					return
				}
				if err := idx.Remove(keys[0]); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	writersWg.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if !t.Failed() {
		mustLen(t, idx, base+writers*perWriter*(batch-1))
	}
}

func TestConcurrentClose(t *testing.T) {
	const dim = 8
	for round := 0; round < 5; round++ {
		idx, err := New(Options{Dim: dim})
		must(t, err)
		_, err = idx.AddAuto(randomVectors(11, 200, dim), dim)
		must(t, err)
		var wg sync.WaitGroup
		var bad sync.Map
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				q := randomVectors(uint64(g), 1, dim)
				for i := 0; i < 200; i++ {
					var err error
					switch i % 3 {
					case 0:
						_, err = idx.Search(q, 5)
					case 1:
						err = idx.AddBatch([]uint64{uint64(10_000 + g*1000 + i)}, q)
					default:
						err = idx.Close()
					}
					if err != nil && !errors.Is(err, ErrClosed) {
						bad.Store(err.Error(), true)
					}
				}
			}(g)
		}
		wg.Wait()
		bad.Range(func(k, _ any) bool { t.Errorf("unexpected error: %v", k); return true })
		if _, err := idx.Len(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Len after concurrent Close: %v", err)
		}
	}
}

// TestEveryHeaderFunctionIsWrapped parses include/omendb.h and checks that the package's
// non-test files call each function it declares.
func TestEveryHeaderFunctionIsWrapped(t *testing.T) {
	header, err := os.ReadFile("../../include/omendb.h")
	must(t, err)
	files, err := filepath.Glob("*.go")
	must(t, err)
	var src []byte
	for _, name := range files {
		if !strings.HasSuffix(name, "_test.go") {
			b, err := os.ReadFile(name)
			must(t, err)
			src = append(src, b...)
		}
	}
	decl := regexp.MustCompile(`(?m)^[A-Za-z_][A-Za-z0-9_ ]*[ *]\s*(omendb_[a-z0-9_]+)\s*\(`)
	seen := map[string]bool{}
	for _, m := range decl.FindAllStringSubmatch(string(header), -1) {
		seen[m[1]] = true
	}
	if len(seen) < 30 {
		t.Fatalf("found only %d functions in the header: parser broken?", len(seen))
	}
	var missing []string
	for name := range seen {
		if !strings.Contains(string(src), "C."+name+"(") {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("the package does not call: %v", missing)
	}
	t.Logf("%d header functions, all called from the package", len(seen))
}
