package omendb

// #include "omendb.h"
import "C"

import "runtime"

// Filter is a parsed metadata filter (omendb_filter). Create it with ParseFilter and free it
// with Close. A Filter may be used by many goroutines at once; Close waits for searches using
// it to finish.
type Filter struct {
	handle handle[*C.omendb_filter]
}

// ParseFilter parses filter text (omendb_filter_parse). Grammar (keywords case-insensitive):
// `field = | != | < | <= | > | >= literal`, `field IN (v1, v2, ...)`, `field CONTAINS "s"`,
// `EXISTS field`, `NOT f`, `f AND f`, `f OR f`, parentheses; literals are double-quoted
// strings, integers, floats, TRUE and FALSE. Text that does not parse gives ErrFilterSyntax,
// whose message names the byte offset at fault.
func ParseFilter(text string) (*Filter, error) {
	var h *C.omendb_filter
	var cerr *C.omendb_error
	st := C.omendb_filter_parse(strPtr(text), C.size_t(len(text)), &h, &cerr)
	runtime.KeepAlive(text)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	f := &Filter{handle: handle[*C.omendb_filter]{ptr: h}}
	runtime.SetFinalizer(f, (*Filter).Close)
	return f, nil
}

// Close frees the filter (omendb_filter_free). Closing twice is harmless.
func (f *Filter) Close() error {
	if f == nil {
		return nil
	}
	f.handle.close(func(h *C.omendb_filter) {
		C.omendb_filter_free(h)
		runtime.SetFinalizer(f, nil)
	})
	return nil
}

// acquire read-locks the filter for one C call; a nil *Filter gives a NULL handle (allowed
// where the C function takes an optional filter). release must follow when ok.
func (f *Filter) acquire() (*C.omendb_filter, error) {
	if f == nil {
		return nil, nil
	}
	return f.handle.acquire()
}

func (f *Filter) release() {
	if f != nil {
		f.handle.release()
	}
}
