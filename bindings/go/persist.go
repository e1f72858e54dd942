package omendb

// #include "omendb.h"
import "C"

import (
	"runtime"
	"unsafe"
)

// Save writes the index to the file at path (omendb_index_save), atomically: the bytes go
// to a temporary file in the same directory, which is fsynced and renamed over path, so a
// crash at any moment leaves the previous file or the new one, whole. Calls that change the
// index wait while the bytes are written; searches keep running. Errors: ErrIO (the message
// names the path and the OS error), ErrInvalidUTF8.
func (idx *Index) Save(path string) error {
	h, err := idx.acquire()
	if err != nil {
		return err
	}
	defer idx.release()
	var cerr *C.omendb_error
	st := C.omendb_index_save(h, strPtr(path), C.size_t(len(path)), &cerr)
	runtime.KeepAlive(path)
	return check(st, &cerr)
}

// Load reads an index saved by Save into memory (omendb_index_load); it answers exactly as
// the saved index did. Close it like one made by New. Errors: ErrIO (cannot open or read),
// ErrCorrupt (not an OmenDB index file, truncated or damaged), ErrUnsupportedVersion
// (written by a newer OmenDB), ErrInvalidUTF8.
func Load(path string) (*Index, error) {
	var h *C.omendb_index
	var cerr *C.omendb_error
	st := C.omendb_index_load(strPtr(path), C.size_t(len(path)), &h, &cerr)
	runtime.KeepAlive(path)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	return newIndex(h), nil
}

// Open opens an index file read-only with its vectors and graph served straight from a
// memory mapping of the file (omendb_index_open): nothing of them is copied, so a large index
// opens fast and pages load on demand. It answers every search exactly as Load's index would;
// calls that change it (Add*, Upsert*, Remove*, Compact) fail with ErrInvalidArgument ("index
// opened read-only"). The file must not be rewritten in place while open (Save to the same
// path is safe: it renames a new file over it). Close unmaps it. Errors: as Load.
func Open(path string) (*Index, error) {
	var h *C.omendb_index
	var cerr *C.omendb_error
	st := C.omendb_index_open(strPtr(path), C.size_t(len(path)), &h, &cerr)
	runtime.KeepAlive(path)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	return newIndex(h), nil
}

// ReadOnly reports whether the index was opened with Open (omendb_index_is_read_only).
func (idx *Index) ReadOnly() (bool, error) {
	h, err := idx.acquire()
	if err != nil {
		return false, err
	}
	defer idx.release()
	var ro C.bool
	var cerr *C.omendb_error
	if err := check(C.omendb_index_is_read_only(h, &ro, &cerr), &cerr); err != nil {
		return false, err
	}
	return bool(ro), nil
}

// MarshalBinary returns the index as bytes (omendb_index_serialize): what Save would write to
// a file, for keeping elsewhere (a database column, a message). UnmarshalIndex makes an index
// from them. It implements encoding.BinaryMarshaler.
func (idx *Index) MarshalBinary() ([]byte, error) {
	h, err := idx.acquire()
	if err != nil {
		return nil, err
	}
	defer idx.release()
	var p *C.uint8_t
	var n C.size_t
	var cerr *C.omendb_error
	if err := check(C.omendb_index_serialize(h, &p, &n, &cerr), &cerr); err != nil {
		return nil, err
	}
	defer C.omendb_bytes_free(p, n)
	return C.GoBytes(unsafe.Pointer(p), C.int(n)), nil
}

// UnmarshalIndex makes an index in memory from bytes made by MarshalBinary (or read from a
// file written by Save), checked as Load checks a file (omendb_index_deserialize). Errors:
// ErrCorrupt, ErrUnsupportedVersion.
func UnmarshalIndex(data []byte) (*Index, error) {
	var h *C.omendb_index
	var cerr *C.omendb_error
	var p *C.uint8_t
	if len(data) > 0 {
		p = (*C.uint8_t)(unsafe.Pointer(&data[0]))
	}
	st := C.omendb_index_deserialize(p, C.size_t(len(data)), &h, &cerr)
	runtime.KeepAlive(data)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	return newIndex(h), nil
}
