package omendb

// #include <stdlib.h>
// #include "omendb.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// rowDim is the dimension of `rows` rows held in `total` floats.
func rowDim(total, rows int, what string) (C.size_t, error) {
	if rows < 0 {
		return 0, argError(StatusInvalidArgument, fmt.Sprintf("negative count %d of %s", rows, what))
	}
	if rows == 0 {
		if total != 0 {
			return 0, argError(StatusDimensionMismatch, fmt.Sprintf("%d floats for 0 %s", total, what))
		}
		return 0, nil
	}
	if total%rows != 0 {
		return 0, argError(StatusDimensionMismatch, fmt.Sprintf("%d floats do not split into %d %s", total, rows, what))
	}
	return C.size_t(total / rows), nil
}

// nonNegativeK rejects a negative k before it becomes a huge size_t.
func nonNegativeK(k int) error {
	if k < 0 {
		return argError(StatusInvalidArgument, fmt.Sprintf("k = %d must not be negative", k))
	}
	return nil
}

// nonNegativeKEf rejects a negative k or ef before either becomes a huge size_t.
func nonNegativeKEf(k, ef int) error {
	if k < 0 || (ef < 0 && ef != EfExact) {
		return argError(StatusInvalidArgument, fmt.Sprintf("k = %d and ef = %d must not be negative", k, ef))
	}
	return nil
}

// EfExact, passed as ef to any search, asks for an exact search (OMENDB_EF_EXACT): every
// record (matching the filter, if any) scored at full precision, no graph: recall 1, for a
// cost that grows with the records.
const EfExact = -1

// cEf is ef as C takes it: EfExact becomes OMENDB_EF_EXACT (SIZE_MAX).
func cEf(ef int) C.size_t {
	if ef == EfExact {
		return ^C.size_t(0)
	}
	return C.size_t(ef)
}

func floatPtr(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

func u64Ptr(s []uint64) *C.uint64_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.uint64_t)(unsafe.Pointer(&s[0]))
}

// strPtr lends a Go string's bytes to C for the duration of one call (C only reads them).
func strPtr(s string) *C.char {
	if len(s) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s)))
}

// cStrings is a C copy of string keys: one malloc'd block holding the pointer array, the
// length array and the bytes, so that C never sees a Go pointer stored in memory.
type cStrings struct {
	block unsafe.Pointer
	ptrs  **C.char
	lens  *C.size_t
}

func newCStrings(ids []string) cStrings {
	n := len(ids)
	if n == 0 {
		return cStrings{}
	}
	total := 0
	for _, s := range ids {
		total += len(s)
	}
	ptrSize := unsafe.Sizeof((*C.char)(nil))
	lenSize := unsafe.Sizeof(C.size_t(0))
	head := uintptr(n) * (ptrSize + lenSize)
	block := C.malloc(C.size_t(head + uintptr(total) + 1))
	ptrs := unsafe.Slice((**C.char)(block), n)
	lens := unsafe.Slice((*C.size_t)(unsafe.Add(block, uintptr(n)*ptrSize)), n)
	bytes := unsafe.Slice((*byte)(unsafe.Add(block, head)), total+1)
	off := 0
	for i, s := range ids {
		copy(bytes[off:], s)
		ptrs[i] = (*C.char)(unsafe.Pointer(&bytes[off]))
		lens[i] = C.size_t(len(s))
		off += len(s)
	}
	return cStrings{block: block, ptrs: &ptrs[0], lens: &lens[0]}
}

func (c cStrings) free() { C.free(c.block) }
