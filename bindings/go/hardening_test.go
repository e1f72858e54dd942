package omendb

// Regression tests for issue #21 ("Hardening"), the Go parts: a huge k costs no memory, a
// negative int never reaches C as a wrapped huge number, rows are padded only by SearchInto,
// and Filter / Results survive Close racing their users.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// childEnv names the test a re-executed test binary is to run for inChild.
const childEnv = "OMENDB_HARDENING_CHILD"

// inChild runs body in a fresh process of this test binary, so that a fatal error there (the
// runtime's "out of memory", an abort in C) fails this test instead of killing `go test`.
// Only for top-level tests.
func inChild(t *testing.T, body func(t *testing.T)) {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		body(t)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	// The race detector sleeps a second at exit unless told not to.
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name(), "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	out, err := cmd.CombinedOutput()
	if len(out) > 3000 { // the head holds the test's log or the fatal error and its stack top
		out = append(out[:3000:3000], "\n..."...)
	}
	if err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("child process did not run %s:\n%s", t.Name(), out)
	}
}

// peakRSS is the process's peak resident memory (VmHWM) in bytes, or -1 where /proc has none.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}

const (
	goBudget  = 1 << 20 // Go allocations of a search returning a few hits: a few hundred bytes
	rssBudget = 1 << 28 // peak RSS of a child process (about 25 MiB with the race detector)
)

// withinBudget runs f and fails if it made Go allocate more than goBudget, or, in a child
// process of inChild (whose peak is its own), if the peak resident memory, C's allocations
// included, went past rssBudget.
func withinBudget(t *testing.T, what string, f func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > goBudget {
		t.Errorf("%s: Go allocated %d bytes, budget %d", what, got, goBudget)
	}
	if rss := peakRSS(); os.Getenv(childEnv) != "" && rss > rssBudget {
		t.Errorf("%s: peak RSS %d bytes, budget %d", what, rss, rssBudget)
	}
}

// twoRecords is a 4-dimensional index holding keys 1 ([1 0 0 0]) and 2 ([0 1 0 0]), u64 or
// string ("one", "two") keys, each with metadata and text.
func twoRecords(t *testing.T, strs bool) *Index {
	t.Helper()
	idx := mustNew(t, Options{Dim: 4})
	vecs := []float32{1, 0, 0, 0, 0, 1, 0, 0}
	meta := []string{`{"n": 1}`, `{"n": 2}`}
	texts := []string{"red apple", "green apple"}
	if strs {
		must(t, idx.AddRecordStrings([]string{"one", "two"}, vecs, meta, texts))
	} else {
		must(t, idx.AddRecords([]uint64{1, 2}, vecs, meta, texts))
	}
	return idx
}

// wantRow checks a row of a search nearer [1 0 0 0] than [0 1 0 0]: both records, key 1
// (or "one") first.
func wantRow(t *testing.T, what string, row []Result, strs bool) {
	t.Helper()
	ok := len(row) == 2 && row[0].Distance < row[1].Distance
	if strs {
		ok = ok && row[0].StrKey == "one" && row[1].StrKey == "two"
	} else {
		ok = ok && row[0].Key == 1 && row[1].Key == 2
	}
	if !ok {
		t.Errorf("%s = %+v, want the 2 records, nearest first", what, row)
	}
}

// Search / SearchBatch size their Go buffers by min(k, records), never by k: before, a k of
// 1<<32 made the runtime die of "out of memory" in makeslice.
func TestHugeKSearch(t *testing.T) {
	inChild(t, func(t *testing.T) {
		q := []float32{1, 0, 0, 0}
		qq := []float32{1, 0, 0, 0, 1, 0, 0, 0.5}
		for _, strs := range []bool{false, true} {
			idx := twoRecords(t, strs)
			withinBudget(t, "Search(q, 1<<32)", func() {
				row, err := idx.Search(q, 1<<32)
				must(t, err)
				wantRow(t, "Search(q, 1<<32)", row, strs)
				if len(row) == 2 && (row[0].Distance != 0 || row[1].Distance != 2) {
					t.Errorf("Search(q, 1<<32) distances %v and %v, want 0 and 2", row[0].Distance, row[1].Distance)
				}
			})
			withinBudget(t, "SearchEf(q, 1<<40, 1<<40)", func() {
				row, err := idx.SearchEf(q, 1<<40, 1<<40)
				must(t, err)
				wantRow(t, "SearchEf(q, 1<<40, 1<<40)", row, strs)
			})
			withinBudget(t, "SearchBatch(2 queries, k = 1<<40)", func() {
				rows, err := idx.SearchBatch(qq, 2, 1<<40, 0)
				must(t, err)
				if len(rows) != 2 {
					t.Fatalf("SearchBatch: %d rows", len(rows))
				}
				for _, row := range rows {
					wantRow(t, "SearchBatch row", row, strs)
				}
			})
			// n * k overflows an int (and a size_t) but n * min(k, records) does not.
			withinBudget(t, "SearchBatch(3 queries, k = MaxInt)", func() {
				rows, err := idx.SearchBatch(append(qq, q...), 3, math.MaxInt, 0)
				must(t, err)
				if len(rows) != 3 {
					t.Fatalf("SearchBatch: %d rows", len(rows))
				}
				for _, row := range rows {
					wantRow(t, "SearchBatch row", row, strs)
				}
			})
		}
	})
}

// The searches that return an omendb_results object: the C library sizes it by
// min(k, records), and the binding must not size anything by k either.
func TestHugeKResultObjects(t *testing.T) {
	inChild(t, func(t *testing.T) {
		const k = 1 << 40
		q := []float32{1, 0, 0, 0}
		for _, strs := range []bool{false, true} {
			idx := twoRecords(t, strs)
			withinBudget(t, "SearchResults", func() {
				res, err := idx.SearchResults(append([]float32{0, 1, 0, 0}, q...), 2, k, 0)
				must(t, err)
				defer res.Close()
				nq, err := res.NumQueries()
				must(t, err)
				d, err := res.Distances()
				must(t, err)
				if nq != 2 || len(d) != 2*2 {
					t.Fatalf("SearchResults: %d queries, %d distances; want 2 rows of min(k, records) = 2", nq, len(d))
				}
				for qi := 0; qi < 2; qi++ {
					if c, err := res.Count(qi); err != nil || c != 2 {
						t.Fatalf("Count(%d) = %d, %v", qi, c, err)
					}
				}
				if _, err := res.Distance(0, 2); !errors.Is(err, ErrOutOfRange) {
					t.Fatalf("Distance(0, 2): %v, want ErrOutOfRange", err)
				}
			})
			f, err := ParseFilter("n >= 1")
			must(t, err)
			defer f.Close()
			withinBudget(t, "SearchFiltered", func() {
				row, err := idx.SearchFiltered(q, k, f)
				must(t, err)
				wantRow(t, "SearchFiltered", row, strs)
			})
			withinBudget(t, "TextSearch", func() {
				hits, err := idx.TextSearch("apple", k, nil)
				must(t, err)
				if len(hits) != 2 {
					t.Errorf("TextSearch = %+v, want the 2 records", hits)
				}
				hits, err = idx.TextSearch("red", k, f)
				must(t, err)
				if len(hits) != 1 || (strs && hits[0].StrKey != "one") || (!strs && hits[0].Key != 1) {
					t.Errorf("TextSearch(red) = %+v, want record 1 only", hits)
				}
			})
			withinBudget(t, "HybridSearch", func() {
				for _, fu := range []Fusion{FusionRRF, FusionWeighted} {
					hits, err := idx.HybridSearch(q, "apple", k, f, fu, 0.5)
					must(t, err)
					if len(hits) != 2 {
						t.Errorf("HybridSearch(%v) = %+v, want the 2 records", fu, hits)
					}
				}
			})
		}
	})
}

// noWrap checks that err is an *Error with the given code whose message names want (the
// field or argument and its negative value) and holds no negative number wrapped to 2^64-x.
func noWrap(t *testing.T, what string, err error, code Status, want ...string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Errorf("%s: %v, want an *Error of %v", what, err, code)
		return
	}
	if strings.Contains(e.Message, "1844674407") {
		t.Errorf("%s: message %q holds a wrapped negative number", what, e.Message)
	}
	for _, w := range want {
		if !strings.Contains(e.Message, w) {
			t.Errorf("%s: message %q does not name %q", what, e.Message, w)
		}
	}
}

// Negative options were converted to uint64: Dim -1 was reported as 18446744073709551615.
func TestNegativeOptions(t *testing.T) {
	cases := []struct {
		field string
		o     Options
	}{
		{"Dim", Options{Dim: -1}},
		{"M", Options{M: -2}},
		{"EfConstruction", Options{EfConstruction: -3}},
		{"EfSearch", Options{EfSearch: -4}},
		{"Rerank", Options{Rerank: -5, Dtype: F16}},
		{"PQM", Options{PQM: -6, Dtype: PQ, Dim: 8}},
		{"Dim", Options{Dim: math.MinInt}},
	}
	for _, c := range cases {
		idx, err := New(c.o)
		if idx != nil {
			idx.Close()
			t.Errorf("New(%+v) made an index", c.o)
			continue
		}
		v := map[string]int{"Dim": c.o.Dim, "M": c.o.M, "EfConstruction": c.o.EfConstruction,
			"EfSearch": c.o.EfSearch, "Rerank": c.o.Rerank, "PQM": c.o.PQM}[c.field]
		noWrap(t, "New with "+c.field, err, StatusInvalidArgument, c.field, strconv.Itoa(v))
	}
}

// Negative indexes and counts elsewhere give a clear error naming the value.
func TestNegativeArguments(t *testing.T) {
	idx := twoRecords(t, false)
	res, err := idx.SearchResults([]float32{1, 0, 0, 0}, 1, 2, 0)
	must(t, err)
	defer res.Close()
	_, err = res.Count(-1)
	noWrap(t, "Count(-1)", err, StatusOutOfRange, "-1")
	_, err = res.Distance(-1, 0)
	noWrap(t, "Distance(-1, 0)", err, StatusOutOfRange, "-1")
	_, err = res.Distance(0, -2)
	noWrap(t, "Distance(0, -2)", err, StatusOutOfRange, "-2")
	_, err = res.Key(-3, 0)
	noWrap(t, "Key(-3, 0)", err, StatusOutOfRange, "-3")
	_, err = res.Key(0, -4)
	noWrap(t, "Key(0, -4)", err, StatusOutOfRange, "-4")
	sres, err := twoRecords(t, true).SearchResults([]float32{1, 0, 0, 0}, 1, 2, 0)
	must(t, err)
	defer sres.Close()
	_, err = sres.KeyString(-5, 0)
	noWrap(t, "KeyString(-5, 0)", err, StatusOutOfRange, "-5")
	_, err = sres.KeyString(0, -6)
	noWrap(t, "KeyString(0, -6)", err, StatusOutOfRange, "-6")
	if s, err := sres.KeyString(0, 1); err != nil || s != "two" {
		t.Errorf("KeyString(0, 1) = %q, %v", s, err)
	}

	q := []float32{1, 0, 0, 0}
	_, err = idx.AddAuto(make([]float32, 8), -4)
	noWrap(t, "AddAuto(dim -4)", err, StatusInvalidArgument, "-4")
	_, err = idx.SearchBatch(q, -1, 1, 0)
	noWrap(t, "SearchBatch(n -1)", err, StatusInvalidArgument, "-1")
	_, err = idx.SearchBatch(q, 1, -7, 0)
	noWrap(t, "SearchBatch(k -7)", err, StatusInvalidArgument, "-7")
	_, err = idx.SearchEf(q, 1, -8)
	noWrap(t, "SearchEf(ef -8)", err, StatusInvalidArgument, "-8")
	_, err = idx.SearchResults(q, 1, -9, 0)
	noWrap(t, "SearchResults(k -9)", err, StatusInvalidArgument, "-9")
	err = idx.SearchInto(q, 1, -10, 0, make([]uint64, 1), make([]float32, 1))
	noWrap(t, "SearchInto(k -10)", err, StatusInvalidArgument, "-10")
	err = idx.SearchInto(q, -11, 1, 0, make([]uint64, 1), make([]float32, 1))
	noWrap(t, "SearchInto(n -11)", err, StatusInvalidArgument, "-11")
	f, err := ParseFilter("n = 1")
	must(t, err)
	defer f.Close()
	_, err = idx.SearchFiltered(q, -12, f)
	noWrap(t, "SearchFiltered(k -12)", err, StatusInvalidArgument, "-12")
	_, err = idx.TextSearch("apple", -13, nil)
	noWrap(t, "TextSearch(k -13)", err, StatusInvalidArgument, "-13")
	_, err = idx.HybridSearch(q, "apple", -14, nil, FusionRRF, 0)
	noWrap(t, "HybridSearch(k -14)", err, StatusInvalidArgument, "-14")
}

// A search for a huge n with no query floats (so 0 floats each): C rejects it, and nothing
// is allocated by n first (before, the u64 path made n * k buffers and died of out of memory).
func TestHugeNWithoutQueries(t *testing.T) {
	inChild(t, func(t *testing.T) {
		for _, o := range []Options{{}, {Dim: 4}} {
			idx := mustNew(t, o)
			for _, n := range []int{3, 1 << 40} {
				withinBudget(t, "SearchBatch(nil, n, 1, 0)", func() {
					_, err := idx.SearchBatch(nil, n, 1, 0)
					// C's statuses: no dimension yet, or not the index's dimension.
					want := ErrInvalidArgument
					if o.Dim != 0 {
						want = ErrDimensionMismatch
					}
					if !errors.Is(err, want) {
						t.Errorf("SearchBatch(nil, %d, 1, 0) on %+v: %v, want %v", n, o, err, want)
					}
				})
			}
		}
	})
}

// Search and SearchBatch return only real hits (an empty index gives empty rows, and nothing
// is allocated by k); SearchInto pads each row with NoKey and +Inf.
func TestEmptyIndexRowsAndPadding(t *testing.T) {
	idx := mustNew(t, Options{Dim: 4})
	q := []float32{1, 0, 0, 0, 0, 1, 0, 0}
	withinBudget(t, "empty index, k = 1<<20", func() {
		hits, err := idx.Search(q[:4], 1<<20)
		must(t, err)
		if len(hits) != 0 {
			t.Errorf("Search on an empty index = %#v, want an empty row", hits)
		}
		rows, err := idx.SearchBatch(q, 2, 1<<20, 0)
		must(t, err)
		if len(rows) != 2 || len(rows[0]) != 0 || len(rows[1]) != 0 {
			t.Errorf("SearchBatch on an empty index = %+v, want 2 empty rows", rows)
		}
	})
	// The cap on k must not hide C's own checks.
	if _, err := idx.Search(q[:4], 0); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Search(k = 0) on an empty index: %v, want ErrInvalidArgument", err)
	}
	if _, err := idx.Search(q[:3], 1<<20); !errors.Is(err, ErrDimensionMismatch) {
		t.Errorf("Search(3 floats) on a 4-dimensional index: %v, want ErrDimensionMismatch", err)
	}
	keys := []uint64{7, 7, 7, 7, 7, 7}
	dists := []float32{-1, -1, -1, -1, -1, -1}
	must(t, idx.SearchInto(q, 2, 3, 0, keys, dists))
	for i := range keys {
		if keys[i] != NoKey || !math.IsInf(float64(dists[i]), 1) {
			t.Fatalf("SearchInto on an empty index: keys %v, distances %v; want NoKey and +Inf", keys, dists)
		}
	}

	must(t, idx.AddBatch([]uint64{1, 2}, []float32{1, 0, 0, 0, 0, 1, 0, 0}))
	rows, err := idx.SearchBatch(q, 2, 3, 0)
	must(t, err)
	if len(rows) != 2 || len(rows[0]) != 2 || len(rows[1]) != 2 || rows[0][0].Key != 1 || rows[1][0].Key != 2 {
		t.Fatalf("SearchBatch(k = 3) on 2 records = %+v, want rows of the 2 real hits", rows)
	}
	must(t, idx.SearchInto(q, 2, 3, 0, keys, dists))
	for i, want := range []uint64{1, 2, NoKey, 2, 1, NoKey} {
		if keys[i] != want || (want == NoKey) != math.IsInf(float64(dists[i]), 1) {
			t.Fatalf("SearchInto(k = 3) on 2 records: keys %v, distances %v", keys, dists)
		}
	}
	// A k above Len() gives the hits of k = Len(), padded to the k the buffers were sized for.
	big := make([]uint64, 2*50)
	bigD := make([]float32, 2*50)
	must(t, idx.SearchInto(q, 2, 50, 0, big, bigD))
	for i := range big {
		if j := i % 50; j >= 2 && big[i] != NoKey {
			t.Fatalf("SearchInto(k = 50): place %d holds key %d, want NoKey", i, big[i])
		}
	}
	if big[0] != 1 || big[1] != 2 || big[50] != 2 || big[51] != 1 {
		t.Fatalf("SearchInto(k = 50): rows start %v and %v", big[:2], big[50:52])
	}
}

// Close of a Filter or a Results object while other goroutines use it: every call returns
// its answer or ErrClosed, never a crash or a use of freed memory (run under -race).
func TestCloseFilterAndResultsWhileInUse(t *testing.T) {
	const dim, n = 8, 300
	idx := mustNew(t, Options{Dim: dim})
	keys := make([]uint64, n)
	meta := make([]string, n)
	texts := make([]string, n)
	for i := range keys {
		keys[i] = uint64(i)
		meta[i] = `{"n": ` + strconv.Itoa(i) + `}`
		texts[i] = "word" + strconv.Itoa(i%7) + " common"
	}
	vecs := randomVectors(5, n, dim)
	must(t, idx.AddRecords(keys, vecs, meta, texts))
	for round := 0; round < 4; round++ {
		f, err := ParseFilter("n < 150")
		must(t, err)
		res, err := idx.SearchResults(vecs[:4*dim], 4, 10, 0)
		must(t, err)
		var wg sync.WaitGroup
		var bad sync.Map
		start := make(chan struct{})
		for g := 0; g < 6; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				<-start
				q := row(vecs, dim, g)
				for i := 0; i < 60; i++ {
					var err error
					var hits []Result
					switch (g + i) % 6 {
					case 0:
						hits, err = idx.SearchFiltered(q, 5, f)
					case 1:
						hits, err = idx.TextSearch("common", 5, f)
					case 2:
						hits, err = idx.HybridSearch(q, "word3", 5, f, FusionRRF, 0)
					case 3:
						var c int
						if c, err = res.Count(g % 4); err == nil && c != 10 {
							bad.Store("Count = "+strconv.Itoa(c), true)
						}
					case 4:
						var d []float32
						if d, err = res.Distances(); err == nil && len(d) != 40 {
							bad.Store("len(Distances) = "+strconv.Itoa(len(d)), true)
						}
					default:
						_, err = res.Key(g%4, i%10)
					}
					for _, h := range hits {
						if h.Key >= 150 {
							bad.Store("hit "+strconv.FormatUint(h.Key, 10)+" does not match the filter", true)
						}
					}
					if err != nil && !errors.Is(err, ErrClosed) {
						bad.Store(err.Error(), true)
					}
					if g == 0 && i == 20 {
						if err := f.Close(); err != nil {
							bad.Store("Filter.Close: "+err.Error(), true)
						}
						if err := res.Close(); err != nil {
							bad.Store("Results.Close: "+err.Error(), true)
						}
					}
				}
			}(g)
		}
		close(start)
		wg.Wait()
		bad.Range(func(k, _ any) bool { t.Errorf("round %d: %v", round, k); return true })
		if _, err := idx.SearchFiltered(vecs[:dim], 5, f); !errors.Is(err, ErrClosed) {
			t.Fatalf("SearchFiltered with a closed filter: %v", err)
		}
		if _, err := res.Count(0); !errors.Is(err, ErrClosed) {
			t.Fatalf("Count of closed results: %v", err)
		}
		must(t, f.Close())
		must(t, res.Close())
	}
}
