package omendb

// #include "omendb.h"
import "C"

import "errors"

// Status is an omendb_status: the result code of a C call. The numbers are the C API's
// and are stable.
type Status uint32

// The status codes of include/omendb.h (OMENDB_STATUS_*).
const (
	StatusOK                 Status = C.OMENDB_STATUS_OK
	StatusInternal           Status = C.OMENDB_STATUS_INTERNAL
	StatusNullPointer        Status = C.OMENDB_STATUS_NULL_POINTER
	StatusInvalidArgument    Status = C.OMENDB_STATUS_INVALID_ARGUMENT
	StatusDimensionMismatch  Status = C.OMENDB_STATUS_DIMENSION_MISMATCH
	StatusNonFinite          Status = C.OMENDB_STATUS_NON_FINITE
	StatusZeroVector         Status = C.OMENDB_STATUS_ZERO_VECTOR
	StatusInvalidKey         Status = C.OMENDB_STATUS_INVALID_KEY
	StatusInvalidUTF8        Status = C.OMENDB_STATUS_INVALID_UTF8
	StatusDuplicateKey       Status = C.OMENDB_STATUS_DUPLICATE_KEY
	StatusKeyNotFound        Status = C.OMENDB_STATUS_KEY_NOT_FOUND
	StatusBufferTooSmall     Status = C.OMENDB_STATUS_BUFFER_TOO_SMALL
	StatusOutOfRange         Status = C.OMENDB_STATUS_OUT_OF_RANGE
	StatusIO                 Status = C.OMENDB_STATUS_IO
	StatusCorrupt            Status = C.OMENDB_STATUS_CORRUPT
	StatusUnsupportedVersion Status = C.OMENDB_STATUS_UNSUPPORTED_VERSION
	StatusFilterSyntax       Status = C.OMENDB_STATUS_FILTER_SYNTAX
	StatusLocked             Status = C.OMENDB_STATUS_LOCKED
)

// String returns the C name of the status, such as "OMENDB_STATUS_KEY_NOT_FOUND".
func (s Status) String() string { return StatusName(s) }

// StatusName returns the C name of a status code, such as "OMENDB_STATUS_NULL_POINTER", or
// "OMENDB_STATUS_UNKNOWN" (omendb_status_name).
func StatusName(code Status) string { return C.GoString(C.omendb_status_name(C.uint32_t(code))) }

// Error is a failed call: the C status code and the message of the C error object (or, for
// the few checks the binding makes itself before calling C, a message of its own under the
// code C would have given).
type Error struct {
	Code    Status
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "omendb: " + e.Code.String()
	}
	return "omendb: " + e.Code.String() + ": " + e.Message
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, omendb.ErrDuplicateKey) matches any error of that status whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && e != nil && t.Code == e.Code
}

// Sentinels, one per status, for errors.Is.
var (
	ErrInternal          = &Error{Code: StatusInternal}
	ErrNullPointer       = &Error{Code: StatusNullPointer}
	ErrInvalidArgument   = &Error{Code: StatusInvalidArgument}
	ErrDimensionMismatch = &Error{Code: StatusDimensionMismatch}
	ErrNonFinite         = &Error{Code: StatusNonFinite}
	ErrZeroVector        = &Error{Code: StatusZeroVector}
	ErrInvalidKey        = &Error{Code: StatusInvalidKey}
	ErrInvalidUTF8       = &Error{Code: StatusInvalidUTF8}
	ErrDuplicateKey      = &Error{Code: StatusDuplicateKey}
	ErrKeyNotFound       = &Error{Code: StatusKeyNotFound}
	ErrBufferTooSmall    = &Error{Code: StatusBufferTooSmall}
	ErrOutOfRange        = &Error{Code: StatusOutOfRange}
	// ErrIO: a file operation failed (Save, Load).
	ErrIO = &Error{Code: StatusIO}
	// ErrCorrupt: Load found no valid OmenDB index in the file.
	ErrCorrupt = &Error{Code: StatusCorrupt}
	// ErrUnsupportedVersion: Load found a file of a newer format version.
	ErrUnsupportedVersion = &Error{Code: StatusUnsupportedVersion}
	// ErrFilterSyntax: ParseFilter was given text that does not parse; the message names the
	// byte offset at fault.
	ErrFilterSyntax = &Error{Code: StatusFilterSyntax}
	// ErrLocked: New with a Path found the directory open for writing elsewhere (another
	// process, or another Index in this one); the message names the holder's pid.
	ErrLocked = &Error{Code: StatusLocked}
)

// ErrClosed is returned by every method of an Index or Results after Close. It has no C
// status: the binding never passes a freed (or NULL) handle to C.
var ErrClosed = errors.New("omendb: use of a closed handle")

// argError is an error the binding raises itself, before calling C, where the C call could
// not be made safely (a Go slice shorter than the lengths it would be described by, or a
// negative count). It carries the status C gives for the same mistake.
func argError(code Status, msg string) error { return &Error{Code: code, Message: msg} }

// check turns a status and the error object written to *cerr into an error value, and frees
// the error object.
func check(st C.omendb_status, cerr **C.omendb_error) error {
	e := *cerr
	if e == nil {
		if st == C.OMENDB_STATUS_OK {
			return nil
		}
		return &Error{Code: Status(st)}
	}
	*cerr = nil
	err := &Error{Code: Status(C.omendb_error_code(e)), Message: C.GoString(C.omendb_error_message(e))}
	C.omendb_error_free(e)
	if err.Code == StatusOK {
		err.Code = Status(st)
	}
	if err.Code == StatusOK {
		return nil
	}
	return err
}
