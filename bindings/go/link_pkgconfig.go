//go:build !omendb_checkout

package omendb

// An installed libomendb (make install, or a distribution's package): the compiler and linker
// flags come from pkg-config's omendb.pc. Where the prefix is not on the default search paths:
//
//	PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig go build ...
//	LD_LIBRARY_PATH=$PREFIX/lib ./program    (or run ldconfig, or link with -rpath)
//
// To build against a source checkout instead, see link_checkout.go.

/*
#cgo pkg-config: omendb
*/
import "C"
