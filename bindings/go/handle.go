package omendb

import (
	"runtime"
	"sync"
)

// handle is the C pointer of an Index, Filter or Results, guarded so that the object is safe
// for concurrent use, Close included: each call holds a read lock while C uses the pointer and
// close takes the write lock, so close waits for the calls running, every later call gets
// ErrClosed, and closing twice is harmless. The binding never passes a freed or NULL pointer
// to C.
//
// P is the pointer type itself (*C.omendb_index, ...), not the struct it points to: cgo's
// opaque C structs cannot be type arguments.
type handle[P comparable] struct {
	mu  sync.RWMutex
	ptr P // nil once closed
}

// acquire read-locks the pointer for one C call; release must follow when err is nil.
func (h *handle[P]) acquire() (P, error) {
	h.mu.RLock()
	var closed P
	if h.ptr == closed {
		h.mu.RUnlock()
		return closed, ErrClosed
	}
	return h.ptr, nil
}

// release ends a call begun by acquire. h is a field of its owner, so keeping h alive keeps
// the owner alive: its finalizer cannot free the pointer while C still uses it.
func (h *handle[P]) release() {
	h.mu.RUnlock()
	runtime.KeepAlive(h)
}

// close calls free on the pointer, under the write lock, unless it is already closed.
func (h *handle[P]) close(free func(P)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var closed P
	if h.ptr != closed {
		free(h.ptr)
		h.ptr = closed
	}
}
