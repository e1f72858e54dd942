package omendb

// #include "omendb.h"
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"time"
)

// Metric is the distance of an index (OMENDB_METRIC_*).
type Metric uint32

// The metrics. L2 is the zero value and the library's default.
const (
	L2     Metric = C.OMENDB_METRIC_L2     // squared Euclidean distance
	IP     Metric = C.OMENDB_METRIC_IP     // inner product: distance = 1 - a.b
	Cosine Metric = C.OMENDB_METRIC_COSINE // distance = 1 - cos(a, b)
)

// KeyKind is the kind of key an index holds (OMENDB_KEY_KIND_*).
type KeyKind uint32

// The key kinds. An index takes its kind from its first record.
const (
	KeyKindNone   KeyKind = C.OMENDB_KEY_KIND_NONE
	KeyKindU64    KeyKind = C.OMENDB_KEY_KIND_U64
	KeyKindString KeyKind = C.OMENDB_KEY_KIND_STRING
)

func (k KeyKind) String() string {
	switch k {
	case KeyKindNone:
		return "None"
	case KeyKindU64:
		return "U64"
	case KeyKindString:
		return "String"
	}
	return fmt.Sprintf("KeyKind(%d)", uint32(k))
}

// Dtype is how an index stores its vectors (OMENDB_DTYPE_*); see omendb_options_set_dtype.
// Other than F32, the graph is built and searched on compact codes and each search re-scores
// its best Rerank * k candidates at full precision (distances are exact). Int8 and PQ learn
// from the first batch added, which must hold at least 256 / 1024 vectors (else
// ErrInvalidArgument). Saved and loaded like F32 (the codec travels with the file).
type Dtype uint32

// The storage types.
const (
	F32    Dtype = C.OMENDB_DTYPE_F32    // 4 bytes a dimension (the default)
	F16    Dtype = C.OMENDB_DTYPE_F16    // IEEE half floats
	Int8   Dtype = C.OMENDB_DTYPE_INT8   // 8-bit codes, ranges learned per dimension
	Binary Dtype = C.OMENDB_DTYPE_BINARY // one bit a dimension: above the mean or not
	PQ     Dtype = C.OMENDB_DTYPE_PQ     // product quantization, PQM bytes a vector
)

// Sync says when a durable index's writes reach the disk (OMENDB_SYNC_*; see
// omendb_options_set_sync). A crash of the process alone loses no returned write in any mode.
type Sync uint32

// The sync modes. SyncAlways is the zero value and the library's default.
const (
	SyncAlways Sync = C.OMENDB_SYNC_ALWAYS // before each call returns (writers share one fsync)
	SyncBatch  Sync = C.OMENDB_SYNC_BATCH  // every SyncInterval, by a background thread
	SyncOff    Sync = C.OMENDB_SYNC_OFF    // when the OS writes back (and at checkpoints and Close)
)

// Options are the settings of New. A zero field keeps the library's default: dimensions
// taken from the first batch added, metric L2, M 16, EfConstruction 200, EfSearch 64, a
// fixed seed, dtype F32, Rerank 4, PQM dim / 8, full-precision vectors in memory, no
// neighbour codes.
// A negative value is rejected by New itself (ErrInvalidArgument naming the field and the
// value); other out-of-range values are rejected by C with ErrInvalidArgument.
type Options struct {
	Dim            int    // vector dimensions, 1..=65536; 0 = set by the first batch
	Metric         Metric // L2, IP or Cosine
	M              int    // links per node on the upper layers, 2..=512
	EfConstruction int    // beam width while inserting
	EfSearch       int    // default beam width of a search (ef = 0)
	Seed           uint64 // seed of the level sampler; 0 keeps the library's fixed seed
	Dtype          Dtype  // F32, F16, Int8, Binary or PQ
	Rerank         int    // quantized: re-score the best Rerank * k candidates, 1..=1024
	PQM            int    // PQ sub-spaces, a divisor of Dim; 0 = Dim / 8
	// NeighborCodes, F32 only: bits per dimension (8 or 4; 0 = none) of the codes searches
	// and inserts score neighbours with (omendb_options_set_neighbor_codes), before they
	// re-score the best nodes with the f32 vectors (distances stay exact). Each node keeps
	// its own code (about Dim or Dim/2 bytes, rounded up to whole 64- or 32-byte reads).
	// Saved with the index; Open, where it serves the records in place from the mapping,
	// makes them at open into memory beside the mapping.
	NeighborCodes int
	// FullPrecisionDir, when set, keeps a quantized index's full-precision vectors in an
	// unlinked, memory-mapped temporary file in this directory (page cache) instead of
	// anonymous memory.
	FullPrecisionDir string
	// Path, when set, makes the index durable, bound to this directory
	// (omendb_options_set_path): created if there is none there, else recovered (the newest
	// snapshot loaded, the write-ahead log after it replayed). Every add, upsert and remove is
	// in the log before it returns. With Path, a zero field (Metric L2 and Dtype F32
	// included) takes the stored value and a non-zero one must equal it (else
	// ErrInvalidArgument); the directory is locked while the index is open (a second New on
	// it gets ErrLocked).
	Path string
	// Sync: when a durable index's writes reach the disk.
	Sync Sync
	// SyncInterval: with SyncBatch, how often the log is synced, 1ms..=60s (0: 100 ms).
	SyncInterval time.Duration
	// CheckpointBytes: the log size past which a durable index checkpoints on its own
	// (0: the default, 256 MiB; negative: never).
	CheckpointBytes int64
	// Text, when set, is how texts and text queries are cut into terms and scored; nil keeps
	// the library's defaults (see DefaultTextOptions). Saved with the index.
	Text *TextOptions
}

// TextOptions are the tokenizer and BM25 settings of text search (omendb_options_set_text_case,
// _stemmer, _stop_words, _token_chars, _bm25). Start from DefaultTextOptions and change what
// differs: every field is set.
type TextOptions struct {
	Lowercase        bool     // fold case (Unicode)
	NormalizeUnicode bool     // NFKC before cutting terms
	Stemmer          string   // "english" or "none"
	StopWords        string   // "english", "none" or "custom" (then CustomStopWords)
	CustomStopWords  []string // with StopWords "custom": the words dropped
	MinTokenChars    int      // shortest term kept, in characters (>= 1)
	MaxTokenChars    int      // longest term kept (>= MinTokenChars, <= 65536)
	K1, B            float32  // BM25: term-frequency saturation (>= 0), length normalisation (0..1)
}

// DefaultTextOptions returns the library's defaults: lower-cased, NFKC-normalised, no stemmer,
// English stop words, terms of 2 to 255 characters, BM25 k1 1.5 and b 0.75.
func DefaultTextOptions() *TextOptions {
	return &TextOptions{Lowercase: true, NormalizeUnicode: true, Stemmer: "none", StopWords: "english", MinTokenChars: 2, MaxTokenChars: 255, K1: 1.5, B: 0.75}
}

// set calls every text setter on opts.
func (t *TextOptions) set(opts *C.omendb_options) error {
	var cerr *C.omendb_error
	if err := check(C.omendb_options_set_text_case(opts, C.bool(t.Lowercase), C.bool(t.NormalizeUnicode), &cerr), &cerr); err != nil {
		return err
	}
	st := C.omendb_options_set_stemmer(opts, strPtr(t.Stemmer), C.size_t(len(t.Stemmer)), &cerr)
	runtime.KeepAlive(t.Stemmer)
	if err := check(st, &cerr); err != nil {
		return err
	}
	switch t.StopWords {
	case "english", "":
		st = C.omendb_options_set_stop_words(opts, C.OMENDB_STOP_WORDS_ENGLISH, nil, nil, 0, &cerr)
	case "none":
		st = C.omendb_options_set_stop_words(opts, C.OMENDB_STOP_WORDS_NONE, nil, nil, 0, &cerr)
	case "custom":
		words := newCStrings(t.CustomStopWords)
		st = C.omendb_options_set_stop_words(opts, C.OMENDB_STOP_WORDS_CUSTOM, words.ptrs, words.lens, C.size_t(len(t.CustomStopWords)), &cerr)
		words.free()
	default:
		return argError(StatusInvalidArgument, fmt.Sprintf("TextOptions.StopWords %q: expected english, none or custom", t.StopWords))
	}
	if err := check(st, &cerr); err != nil {
		return err
	}
	if t.MinTokenChars < 0 || t.MaxTokenChars < 0 {
		return argError(StatusInvalidArgument, fmt.Sprintf("TextOptions token chars %d..%d must not be negative", t.MinTokenChars, t.MaxTokenChars))
	}
	if err := check(C.omendb_options_set_token_chars(opts, C.size_t(t.MinTokenChars), C.size_t(t.MaxTokenChars), &cerr), &cerr); err != nil {
		return err
	}
	return check(C.omendb_options_set_bm25(opts, C.float(t.K1), C.float(t.B), &cerr), &cerr)
}

// validate rejects a negative field before it becomes a huge size_t.
func (o Options) validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"Dim", o.Dim}, {"M", o.M}, {"EfConstruction", o.EfConstruction}, {"EfSearch", o.EfSearch},
		{"Rerank", o.Rerank}, {"PQM", o.PQM}, {"NeighborCodes", o.NeighborCodes}} {
		if f.v < 0 {
			return argError(StatusInvalidArgument, fmt.Sprintf("Options.%s = %d must not be negative", f.name, f.v))
		}
	}
	if uint64(o.NeighborCodes) > math.MaxUint32 {
		return argError(StatusInvalidArgument, fmt.Sprintf("Options.NeighborCodes = %d must be 0, 4 or 8", o.NeighborCodes))
	}
	return nil
}

// cOptions validates o and makes the C options object of New. The caller frees it with
// omendb_options_free; on failure nothing is left to free.
func (o Options) cOptions() (*C.omendb_options, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	var opts *C.omendb_options
	var cerr *C.omendb_error
	if err := check(C.omendb_options_create(&opts, &cerr), &cerr); err != nil {
		return nil, err
	}
	if err := o.set(opts); err != nil {
		C.omendb_options_free(opts)
		return nil, err
	}
	return opts, nil
}

// set calls the omendb_options_set_* setter of each non-zero field, and those of Metric and
// Dtype always unless Path is set (there a zero field takes the stored value), in field order;
// it stops at the first error.
func (o Options) set(opts *C.omendb_options) error {
	var cerr *C.omendb_error
	durable := o.Path != ""
	if o.Dim != 0 {
		if err := check(C.omendb_options_set_dim(opts, C.uint64_t(o.Dim), &cerr), &cerr); err != nil {
			return err
		}
	}
	if !durable || o.Metric != L2 {
		if err := check(C.omendb_options_set_metric(opts, C.uint32_t(o.Metric), &cerr), &cerr); err != nil {
			return err
		}
	}
	if o.M != 0 {
		if err := check(C.omendb_options_set_m(opts, C.uint64_t(o.M), &cerr), &cerr); err != nil {
			return err
		}
	}
	if o.EfConstruction != 0 {
		if err := check(C.omendb_options_set_ef_construction(opts, C.uint64_t(o.EfConstruction), &cerr), &cerr); err != nil {
			return err
		}
	}
	if o.EfSearch != 0 {
		if err := check(C.omendb_options_set_ef_search(opts, C.uint64_t(o.EfSearch), &cerr), &cerr); err != nil {
			return err
		}
	}
	if o.Seed != 0 {
		if err := check(C.omendb_options_set_seed(opts, C.uint64_t(o.Seed), &cerr), &cerr); err != nil {
			return err
		}
	}
	if !durable || o.Dtype != F32 {
		if err := check(C.omendb_options_set_dtype(opts, C.uint32_t(o.Dtype), &cerr), &cerr); err != nil {
			return err
		}
	}
	if o.Rerank != 0 {
		if err := check(C.omendb_options_set_rerank(opts, C.uint64_t(o.Rerank), &cerr), &cerr); err != nil {
			return err
		}
	}
	if o.PQM != 0 {
		if err := check(C.omendb_options_set_pq_m(opts, C.uint64_t(o.PQM), &cerr), &cerr); err != nil {
			return err
		}
	}
	if o.NeighborCodes != 0 {
		if err := check(C.omendb_options_set_neighbor_codes(opts, C.uint32_t(o.NeighborCodes), &cerr), &cerr); err != nil {
			return err
		}
	}
	if o.FullPrecisionDir != "" {
		dir := o.FullPrecisionDir
		st := C.omendb_options_set_full_precision_dir(opts, strPtr(dir), C.size_t(len(dir)), &cerr)
		runtime.KeepAlive(dir)
		if err := check(st, &cerr); err != nil {
			return err
		}
	}
	if durable {
		path := o.Path
		st := C.omendb_options_set_path(opts, strPtr(path), C.size_t(len(path)), &cerr)
		runtime.KeepAlive(path)
		if err := check(st, &cerr); err != nil {
			return err
		}
		interval := o.SyncInterval
		if interval == 0 {
			interval = 100 * time.Millisecond
		}
		ms := interval.Milliseconds()
		if ms < 1 || ms > 60000 {
			ms = 0 // out of range: C refuses it with ErrInvalidArgument
		}
		if err := check(C.omendb_options_set_sync(opts, C.uint32_t(o.Sync), C.uint32_t(ms), &cerr), &cerr); err != nil {
			return err
		}
		if o.CheckpointBytes != 0 {
			bytes := uint64(o.CheckpointBytes)
			if o.CheckpointBytes < 0 {
				bytes = 0
			}
			if err := check(C.omendb_options_set_checkpoint_bytes(opts, C.uint64_t(bytes), &cerr), &cerr); err != nil {
				return err
			}
		}
	}
	if o.Text != nil {
		return o.Text.set(opts)
	}
	return nil
}
