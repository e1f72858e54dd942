// Package omendb is the Go binding of OmenDB, an embedded vector database (HNSW index) with
// a C API (include/omendb.h, libomendb.so).
//
// The binding mirrors the C API: each method makes the C call of the same name and turns its
// status and owned error object into an error value (*Error, matched with errors.Is against
// the Err* sentinels). The only logic of its own is marshalling:
//
//   - Vectors are flat row-major []float32 slices read in place by C. The row count comes
//     from the call (len(keys), n, or the explicit dim of AddAuto) and the dimension is
//     len(vectors) / rows; C then checks it against the index's dimension. A length that
//     does not split into whole rows is reported as ErrDimensionMismatch before calling C,
//     since C would otherwise read only part of the slice.
//   - String keys are copied into one C-allocated block (pointers, lengths, bytes) for the
//     call, so no Go pointer is stored in memory handed to C.
//   - Search and SearchBatch return only the hits found: a row may be shorter than k (a
//     small index, or a filter that few records match) and is never padded. Their buffers
//     are sized by min(k, Len()), never by k, so a huge k costs no memory; for an index of
//     string keys they go through omendb_results, which C sizes the same way. SearchInto
//     fills the caller's n*k buffers and pads each row with NoKey and +Inf.
//   - A negative int (an Options field, a count, k, a query or rank index) is rejected
//     before any C call with an *Error naming it, never converted to a huge size_t.
//
// An Index is safe for concurrent use by many goroutines, Close included: each method holds a
// read lock on the handle during its C call and Close takes the write lock, frees the handle
// and marks the Index closed, after which every method returns ErrClosed. A finalizer frees an
// Index that was never closed, but only as a safety net: call Close.
package omendb
