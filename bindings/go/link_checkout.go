//go:build omendb_checkout

package omendb

// The library of this source checkout (`make lib` or `cargo build --release` at the
// repository root), for working on OmenDB itself: `go test -tags omendb_checkout ./...`.
// The directory is recorded as the binary's rpath, so tests and `go run` need no
// LD_LIBRARY_PATH. Without the tag the package uses the installed library (link_pkgconfig.go).

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -lomendb -Wl,-rpath,${SRCDIR}/../../target/release
*/
import "C"
