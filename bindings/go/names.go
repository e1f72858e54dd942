package omendb

// #include <stdlib.h>
// #include "omendb.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// The vocabulary of metric, dtype, fusion and sync names: one table in the C library
// (omendb_*_from_name, omendb_*_name) shared with the CLI and the Python binding, aliases
// included, so a name means the same thing everywhere.

// ParseMetric returns the metric named name, case-insensitive: "l2" (also "euclidean",
// "l2sq"), "ip" ("dot", "inner_product") or "cosine" ("cos", "angular")
// (omendb_metric_from_name). An unknown name gives ErrInvalidArgument, whose message lists
// the accepted ones.
func ParseMetric(name string) (Metric, error) {
	v, err := parseName(name, func(p *C.char, n C.size_t, out *C.uint32_t, e **C.omendb_error) C.omendb_status {
		return C.omendb_metric_from_name(p, n, out, e)
	})
	return Metric(v), err
}

// ParseDtype returns the dtype named name: "f32" ("float32"), "f16" ("float16", "half"),
// "int8" ("i8", "u8", "sq8"), "binary" ("bit", "b1") or "pq" (omendb_dtype_from_name).
func ParseDtype(name string) (Dtype, error) {
	v, err := parseName(name, func(p *C.char, n C.size_t, out *C.uint32_t, e **C.omendb_error) C.omendb_status {
		return C.omendb_dtype_from_name(p, n, out, e)
	})
	return Dtype(v), err
}

// ParseFusion returns the fusion named name: "rrf" ("reciprocal_rank") or "weighted"
// ("linear") (omendb_fusion_from_name).
func ParseFusion(name string) (Fusion, error) {
	v, err := parseName(name, func(p *C.char, n C.size_t, out *C.uint32_t, e **C.omendb_error) C.omendb_status {
		return C.omendb_fusion_from_name(p, n, out, e)
	})
	return Fusion(v), err
}

// ParseSync returns the sync mode named name: "always" ("full"), "batch" ("normal") or
// "off" ("none") (omendb_sync_from_name).
func ParseSync(name string) (Sync, error) {
	v, err := parseName(name, func(p *C.char, n C.size_t, out *C.uint32_t, e **C.omendb_error) C.omendb_status {
		return C.omendb_sync_from_name(p, n, out, e)
	})
	return Sync(v), err
}

func parseName(name string, parse func(*C.char, C.size_t, *C.uint32_t, **C.omendb_error) C.omendb_status) (uint32, error) {
	// A C copy: the call is made through a Go func value, so cgo cannot see that C only
	// reads the bytes for the call's duration.
	p := C.CString(name)
	defer C.free(unsafe.Pointer(p))
	var out C.uint32_t
	var cerr *C.omendb_error
	if err := check(parse(p, C.size_t(len(name)), &out, &cerr), &cerr); err != nil {
		return 0, err
	}
	return uint32(out), nil
}

// nameOr is the canonical name C gives a value, or "Type(n)" for one it does not know.
func nameOr(p *C.char, typ string, v uint32) string {
	if p == nil {
		return fmt.Sprintf("%s(%d)", typ, v)
	}
	return C.GoString(p)
}

// String returns the metric's canonical name: "l2", "ip" or "cosine" (omendb_metric_name).
func (m Metric) String() string {
	return nameOr(C.omendb_metric_name(C.uint32_t(m)), "Metric", uint32(m))
}

// String returns the dtype's canonical name: "f32", "f16", "int8", "binary" or "pq".
func (d Dtype) String() string {
	return nameOr(C.omendb_dtype_name(C.uint32_t(d)), "Dtype", uint32(d))
}

// String returns the fusion's canonical name: "rrf" or "weighted".
func (f Fusion) String() string {
	return nameOr(C.omendb_fusion_name(C.uint32_t(f)), "Fusion", uint32(f))
}

// String returns the sync mode's canonical name: "always", "batch" or "off".
func (s Sync) String() string {
	return nameOr(C.omendb_sync_name(C.uint32_t(s)), "Sync", uint32(s))
}
