# The C side of OmenDB: build the library, check the committed header, compile and run the C
# contract tests (also under valgrind), run the demo, install with a pkg-config file.
#
#   make lib              cargo build --release (target/release/libomendb.{so,a}, omendb), and the
#                         link libomendb.so.0 -> libomendb.so there (the SONAME programs look for)
#   make header-check     regenerate include/omendb.h and fail if it differs from the commit
#   make ctests           compile ctests/test_*.c and demo.c (C11), ctests/test_cxx.cpp (C++17)
#   make ctest-run        run every test binary
#   make valgrind         run every test binary under valgrind
#   make demo             the sample-data demo from C, Go and Python (ctests/data)
#   make install PREFIX=/usr/local   (DESTDIR honoured): lib/libomendb.so.X.Y.Z with its links
#                         .so.X and .so, lib/libomendb.a, include/omendb.h,
#                         lib/pkgconfig/omendb.pc, bin/omendb, bin/omendb-server
#   make uninstall PREFIX=/usr/local   removes exactly those
#   make install-check    the library as a user gets it: SONAME and exported symbols checked,
#                         installed into a temporary prefix, a C and a Go program built from
#                         outside the repository through pkg-config only, then uninstalled
#   make python-dist-check  the Python sdist and wheel (manylinux, < 3 MB), each installed into a
#                         fresh venv outside the repository and tested there
#   make lint             cargo clippy (all targets, warnings denied) and cargo doc (warnings denied)
#   make test             every test: lint, Rust (the server's HTTP tests too), header check, C under
#                         valgrind, install-check, pytest, python-dist-check, go test -race
#
# Build outputs go to ctests/build/ (gitignored).

CC       ?= cc
CXX      ?= g++
CARGO    ?= cargo
VALGRIND ?= valgrind
PREFIX   ?= /usr/local
PYTHON   ?= .venv/bin/python

LIBDIR   := target/release
SO       := $(LIBDIR)/libomendb.so
STATIC   := $(LIBDIR)/libomendb.a
HEADER   := include/omendb.h
BUILD    := ctests/build
VERSION  := $(shell sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR    := $(firstword $(subst ., ,$(VERSION)))
SONAME   := libomendb.so.$(MAJOR)
GO_TAGS  := -tags omendb_checkout

WARN     := -Wall -Wextra -Werror
CFLAGS_T := -std=c11 $(WARN) -pedantic -g -O1 -Iinclude
CXXFLAGS_T := -std=c++17 $(WARN) -pedantic -g -O1 -Iinclude
# An absolute rpath, so the test binaries find the library wherever they are run from.
LDFLAGS_T := -L$(LIBDIR) -Wl,-rpath,$(CURDIR)/$(LIBDIR) -lomendb -lpthread -lm

C_TESTS  := $(patsubst ctests/%.c,$(BUILD)/%,$(wildcard ctests/test_*.c))
CXX_TEST := $(BUILD)/test_cxx
TESTS    := $(C_TESTS) $(CXX_TEST)

# Rust's runtime keeps some memory until exit (thread-locals, the rayon pool, whose threads
# are never joined): valgrind lists it as "still reachable" or, for the threads' own blocks,
# "possibly lost". Only definite and indirect leaks, and memory errors, fail; nothing is
# suppressed. Valgrind runs one thread at a time; its default hand-over lets a thread that
# loops (test_threads' searchers) take the lock back again and again, so a writer waiting out
# a grace period starved for over an hour on a 2-core CI machine: --fair-sched=yes hands the
# lock over in turn (that test: 18-23 s). Each binary also gets VALGRIND_TIMEOUT seconds, so a
# hang fails with its name instead of eating the CI run.
VALGRIND_TIMEOUT ?= 900
VALGRIND_FLAGS := --fair-sched=yes --error-exitcode=1 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
	--track-origins=yes --quiet

DEMO_ARGS := ctests/data/sample.fvecs ctests/data/sample_words.txt

.PHONY: all lint lib header-check ctests ctest-run valgrind demo install uninstall install-check python-dist-check test setup setup-python check-aarch64 clean

all: ctests

lib:
	$(CARGO) build --release
	@ln -sf libomendb.so $(LIBDIR)/$(SONAME)

# build.rs rewrites the header only when src/ffi or cbindgen.toml changed; touching the
# latter makes cargo run it, so a hand-edited header is caught too.
header-check:
	touch cbindgen.toml
	$(CARGO) build --release
	git diff --exit-code -- $(HEADER)

# For a fresh checkout, where a rule below needs the library before `lib` ran.
$(SO):
	$(CARGO) build --release
	@ln -sf libomendb.so $(LIBDIR)/$(SONAME)

# The demo is compiled here too, with the same warnings: it is documentation that must build.
ctests: lib
	@$(MAKE) --no-print-directory $(TESTS) $(BUILD)/demo

$(BUILD):
	mkdir -p $@

$(BUILD)/test_%: ctests/test_%.c ctests/check.h $(HEADER) $(SO) | $(BUILD)
	$(CC) $(CFLAGS_T) $< -o $@ $(LDFLAGS_T)

$(CXX_TEST): ctests/test_cxx.cpp $(HEADER) $(SO) | $(BUILD)
	$(CXX) $(CXXFLAGS_T) $< -o $@ $(LDFLAGS_T)

$(BUILD)/demo: ctests/demo.c $(HEADER) $(SO) | $(BUILD)
	$(CC) $(CFLAGS_T) $< -o $@ $(LDFLAGS_T)

ctest-run: ctests
	@status=0; for t in $(TESTS); do \
		echo "== $$t"; $$t || { echo "FAILED: $$t"; status=1; }; \
	done; exit $$status

valgrind: ctests
	@status=0; for t in $(TESTS) "$(BUILD)/demo $(DEMO_ARGS)"; do \
		echo "== valgrind $$t"; \
		OMENDB_UNDER_VALGRIND=1 timeout -s KILL $(VALGRIND_TIMEOUT) $(VALGRIND) $(VALGRIND_FLAGS) $$t >$(BUILD)/valgrind.out 2>&1; rc=$$?; \
		if [ $$rc -eq 0 ]; then echo "   valgrind clean; last line: $$(tail -n 1 $(BUILD)/valgrind.out)"; \
		elif [ $$rc -eq 137 ]; then cat $(BUILD)/valgrind.out; echo "FAILED: $$t still running after $(VALGRIND_TIMEOUT) s (killed)"; status=1; \
		else cat $(BUILD)/valgrind.out; echo "FAILED (exit $$rc): $$t"; status=1; fi; \
	done; exit $$status

# The main job on the bundled sample: the same index built and searched from C, Go and Python.
demo: lib setup-python
	@$(MAKE) --no-print-directory $(BUILD)/demo
	@echo "== C (ctests/demo.c)"
	$(BUILD)/demo $(DEMO_ARGS)
	@echo "== Go (bindings/go/examples/demo)"
	cd bindings/go && go run $(GO_TAGS) ./examples/demo -vectors ../../ctests/data/sample.fvecs -words ../../ctests/data/sample_words.txt
	@echo "== Python (bindings/python/examples/demo.py)"
	PYTHONPATH=bindings/python $(PYTHON) bindings/python/examples/demo.py

$(BUILD)/omendb.pc: omendb.pc.in Cargo.toml | $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' omendb.pc.in >$@

# The shared library is installed under its full version, with the SONAME link the loader
# follows and the unversioned one the linker (-lomendb) follows; the static archive without
# its debug sections (the release profile keeps line tables for profiling: 63 MB -> a few).
INSTALL_LIB := $(DESTDIR)$(PREFIX)/lib
install: lib
	$(CARGO) build --release -p omendb-server
	@rm -f $(BUILD)/omendb.pc
	@$(MAKE) --no-print-directory $(BUILD)/omendb.pc PREFIX='$(PREFIX)'
	install -d $(INSTALL_LIB)/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 755 -s $(SO) $(INSTALL_LIB)/libomendb.so.$(VERSION)
	ln -sf libomendb.so.$(VERSION) $(INSTALL_LIB)/$(SONAME)
	ln -sf $(SONAME) $(INSTALL_LIB)/libomendb.so
	install -m 644 $(STATIC) $(INSTALL_LIB)/libomendb.a
	strip --strip-debug $(INSTALL_LIB)/libomendb.a
	install -m 644 $(HEADER) $(DESTDIR)$(PREFIX)/include/omendb.h
	install -m 644 $(BUILD)/omendb.pc $(INSTALL_LIB)/pkgconfig/omendb.pc
	install -m 755 -s $(LIBDIR)/omendb $(DESTDIR)$(PREFIX)/bin/omendb
	install -m 755 -s $(LIBDIR)/omendb-server $(DESTDIR)$(PREFIX)/bin/omendb-server

uninstall:
	rm -f $(INSTALL_LIB)/libomendb.so.$(VERSION) $(INSTALL_LIB)/$(SONAME) $(INSTALL_LIB)/libomendb.so \
		$(INSTALL_LIB)/libomendb.a $(INSTALL_LIB)/pkgconfig/omendb.pc \
		$(DESTDIR)$(PREFIX)/include/omendb.h $(DESTDIR)$(PREFIX)/bin/omendb $(DESTDIR)$(PREFIX)/bin/omendb-server

# What a user of an installed library relies on, checked on the installed files: the SONAME,
# only omendb_* symbols exported, pkg-config's flags and version, a C program (the demo) and a
# Go program (the Go demo in a module of its own, the binding through a replace directive, no
# build tag: `#cgo pkg-config: omendb`) built in a temporary directory outside the repository
# with PKG_CONFIG_PATH alone, run with LD_LIBRARY_PATH alone; then uninstall leaves nothing.
# The prefix is the same path on every run, and the Go program is built with a build cache of
# its own: Go's cache keeps the -L flags pkg-config gave when the binding was first built (the
# key does not cover them), so a prefix that moved between runs, or a developer's own install
# elsewhere, left a link against the wrong directory.
INSTALL_CHECK_PREFIX ?= $(or $(TMPDIR),/tmp)/omendb-install-check
install-check: lib
	@set -e; tmp=$$(mktemp -d); prefix="$(INSTALL_CHECK_PREFIX)"; \
	trap 'rm -rf "$$tmp" "$$prefix"' EXIT; rm -rf "$$prefix"; \
	$(MAKE) --no-print-directory install PREFIX="$$prefix" >/dev/null; \
	lib="$$prefix/lib/$(SONAME)"; \
	soname=$$(readelf -d "$$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p'); \
	echo "SONAME: $$soname"; test "$$soname" = "$(SONAME)"; \
	others=$$(nm -D --defined-only "$$lib" | awk '{print $$3}' | grep -v '^omendb_' || true); \
	if [ -n "$$others" ]; then echo "exported symbols other than omendb_*:"; echo "$$others"; exit 1; fi; \
	echo "exported: $$(nm -D --defined-only "$$lib" | grep -c ' omendb_') symbols, all omendb_*"; \
	export PKG_CONFIG_PATH="$$prefix/lib/pkgconfig"; \
	flags=$$(pkg-config --cflags --libs omendb); echo "pkg-config --cflags --libs omendb: $$flags"; \
	test "$$(pkg-config --modversion omendb)" = "$(VERSION)"; \
	mkdir "$$tmp/c" "$$tmp/go"; cp ctests/demo.c "$$tmp/c/"; \
	(cd "$$tmp/c" && $(CC) -std=c11 $(WARN) -pedantic demo.c -o demo $$flags); \
	echo "== C program, outside the repository"; \
	LD_LIBRARY_PATH="$$prefix/lib" "$$tmp/c/demo" $(DEMO_ARGS) | tail -n 3; \
	cp bindings/go/examples/demo/*.go "$$tmp/go/"; \
	printf 'module example.com/omendbdemo\n\ngo 1.24\n\nrequire github.com/omendb/omendb/bindings/go v0.0.0\n\nreplace github.com/omendb/omendb/bindings/go => %s\n' "$(CURDIR)/bindings/go" >"$$tmp/go/go.mod"; \
	(cd "$$tmp/go" && GOCACHE="$(INSTALL_CHECK_PREFIX)-gocache" GOFLAGS=-mod=mod go build -o demo .); \
	echo "== Go program, outside the repository"; \
	LD_LIBRARY_PATH="$$prefix/lib" "$$tmp/go/demo" -vectors ctests/data/sample.fvecs -words ctests/data/sample_words.txt | tail -n 3; \
	"$$prefix/bin/omendb" --version; "$$prefix/bin/omendb" serve --version; \
	$(MAKE) --no-print-directory uninstall PREFIX="$$prefix" >/dev/null; \
	left=$$(find "$$prefix" -type f -o -type l); \
	if [ -n "$$left" ]; then echo "left after uninstall: $$left"; exit 1; fi; \
	echo "install-check: ok"

# The Rust and C parts of the test suite (valgrind runs every C test binary, so they are not
# run a second time without it).
# Every test. The Rust tests read ../shared/data (or $$OMENDB_DATA) for the recall checks.
test: setup header-check lint
	$(CARGO) test --release --workspace
	@$(MAKE) --no-print-directory valgrind
	@$(MAKE) --no-print-directory install-check
	@echo "== Python: pytest"
	PYTHONPATH=bindings/python $(PYTHON) -m pytest bindings/python/tests -q
	@$(MAKE) --no-print-directory python-dist-check
	@echo "== Go: vet and test -race"
	cd bindings/go && go vet $(GO_TAGS) ./... && go test $(GO_TAGS) -race -count=1 ./...
	@$(MAKE) --no-print-directory check-aarch64
	@$(MAKE) --no-print-directory fuzz-check

# The lints of Cargo.toml's [lints] and clippy's defaults, and rustdoc (broken links), with
# every warning an error.
# (clippy ships with the toolchain on these machines; where it is missing the step says so.)
lint:
	@if $(CARGO) clippy --version >/dev/null 2>&1; then \
		echo "== cargo clippy --release --workspace --all-targets -- -D warnings"; \
		$(CARGO) clippy --release --workspace --all-targets -- -D warnings; \
	else echo "== clippy is not installed: lint skipped (rustup component add clippy)"; fi
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --release --workspace

# The Python package as users install it: sdist, wheel from the sdist, manylinux tag, size,
# and the tests against each installed into a fresh venv (bindings/python/dist_check.sh).
python-dist-check: setup-python
	PYTHON=$(PYTHON) bash bindings/python/dist_check.sh

# Installs valgrind and the Python venv when missing (see .ci/setup).
setup:
	bash .ci/setup

setup-python:
	bash .ci/setup python

# The aarch64 build (NEON kernels) must at least type-check; skipped with a notice where
# rustup cannot add the target (it is not a package registry).
check-aarch64:
	@if rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1; then \
		echo "== cargo check --target aarch64-unknown-linux-gnu"; \
		$(CARGO) check --release --lib --no-default-features --target aarch64-unknown-linux-gnu; \
	else echo "== aarch64 target not installable here: type-check skipped"; fi

clean:
	rm -rf $(BUILD)

# ---------------------------------------------------------------------------------------------
# Reliability (RELIABILITY.md): fuzzing, sanitizers, soak. Only `fuzz-check` is part of
# `make test`; the others need the nightly toolchain (with rust-src) and, for fuzzing,
# cargo-fuzz (`cargo install cargo-fuzz`). On stable, `cargo test` (tests/fuzz_replay.rs)
# runs every committed seed and regression input, and a bounded set of mutations of them,
# through the same fuzz target bodies.
#
#   make fuzz-smoke   build the cargo-fuzz targets in tests/fuzz and run each FUZZ_SECONDS (20),
#                     from the committed seeds and regression inputs only (a fresh corpus in
#                     ctests/build/fuzz-corpus)
#   make fuzz-check   fuzz-smoke where rustup has a nightly toolchain and cargo-fuzz is
#                     installed, else a notice (it never installs either)
#   make asan         the C tests, compiled with -fsanitize=address, against a Rust library
#                     built with -Zsanitizer=address (std included, -Zbuild-std)
#   make tsan         tests/concurrency.rs under ThreadSanitizer (-Zsanitizer=thread, -Zbuild-std)
#   make soak         the full soak test (tests/soak.rs, 20 cycles x 100,000 vectors; minutes)

NIGHTLY      ?= +nightly
HOST_TRIPLE  := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
FUZZ_DIR     := tests/fuzz
FUZZ_TARGETS := filter_parse metadata_parse index_differential file_load
FUZZ_SECONDS ?= 20
ASAN_TARGET  := target/asan
ASAN_LIBDIR  := $(ASAN_TARGET)/$(HOST_TRIPLE)/release
ASAN_BUILD   := $(BUILD)/asan
# Instrumentation changes what gcc can prove about snprintf sizes: its -Wformat-truncation
# notes (false positives in the tests' fixed-size name buffers) stay warnings here.
ASAN_CFLAGS  := -fsanitize=address -fno-omit-frame-pointer -Wno-error=format-truncation
# allocator_may_return_null: an allocation too large to make must reach the library as a
# failure (test_errors.c asks for k = 2^40 and expects an error, not an abort).
ASAN_OPTIONS_RUN := detect_leaks=1:allocator_may_return_null=1:abort_on_error=0:halt_on_error=1

.PHONY: fuzz-smoke fuzz-check asan tsan soak

fuzz-smoke: | $(BUILD)
	@command -v cargo-fuzz >/dev/null 2>&1 || { echo "fuzz-smoke: needs cargo-fuzz (cargo install cargo-fuzz) and a nightly toolchain"; exit 1; }
	cargo $(NIGHTLY) fuzz build --fuzz-dir $(FUZZ_DIR) -O -a
	@status=0; for t in $(FUZZ_TARGETS); do \
		case $$t in \
			filter_parse) extra="-dict=$(FUZZ_DIR)/dict/filter.dict -max_len=1024";; \
			metadata_parse) extra="-dict=$(FUZZ_DIR)/dict/json.dict -max_len=1024";; \
			file_load) extra="-max_len=65536";; \
			*) extra="-max_len=2048";; \
		esac; \
		seeds=""; for d in seeds regressions; do [ -d $(FUZZ_DIR)/$$d/$$t ] && seeds="$$seeds $(FUZZ_DIR)/$$d/$$t"; done; \
		corpus=$(BUILD)/fuzz-corpus/$$t; rm -rf $$corpus; mkdir -p $$corpus; \
		echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
		cargo $(NIGHTLY) fuzz run --fuzz-dir $(FUZZ_DIR) -O -a $$t $$corpus $$seeds -- \
			$$extra -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 >$(BUILD)/fuzz-$$t.log 2>&1 \
			|| { tail -n 60 $(BUILD)/fuzz-$$t.log; echo "FAILED: fuzz $$t (log: $(BUILD)/fuzz-$$t.log)"; status=1; continue; }; \
		grep -E '^stat::number_of_executed_units|^Done' $(BUILD)/fuzz-$$t.log | tr '\n' ' '; echo; \
	done; exit $$status

# `cargo +nightly` is not run to find out: a rustup that auto-installs would download nightly.
fuzz-check:
	@if command -v cargo-fuzz >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1 \
		&& rustup toolchain list 2>/dev/null | grep -q '^nightly'; then \
		$(MAKE) --no-print-directory fuzz-smoke; \
	else echo "== fuzz-smoke skipped: needs rustup's nightly toolchain and cargo-fuzz (the committed fuzz inputs ran in cargo test: tests/fuzz_replay.rs)"; fi

# The library and std instrumented by rustc, the C tests by cc; both use the compiler's ASan
# runtime, linked into the test executables.
asan: | $(BUILD)
	RUSTFLAGS="-Zsanitizer=address" $(CARGO) $(NIGHTLY) build --release --lib -Zbuild-std \
		--target $(HOST_TRIPLE) --target-dir $(ASAN_TARGET)
	@mkdir -p $(ASAN_BUILD)
	@set -e; for src in ctests/test_*.c; do \
		t=$(ASAN_BUILD)/$$(basename $$src .c); \
		$(CC) $(CFLAGS_T) $(ASAN_CFLAGS) $$src -o $$t \
			-L$(ASAN_LIBDIR) -Wl,-rpath,$(CURDIR)/$(ASAN_LIBDIR) -lomendb -lpthread -lm; \
	done
	$(CXX) $(CXXFLAGS_T) $(ASAN_CFLAGS) ctests/test_cxx.cpp -o $(ASAN_BUILD)/test_cxx \
		-L$(ASAN_LIBDIR) -Wl,-rpath,$(CURDIR)/$(ASAN_LIBDIR) -lomendb -lpthread -lm
	@status=0; for t in $(ASAN_BUILD)/test_*; do \
		case $$t in *.out) continue;; esac; \
		echo "== asan $$t"; \
		ASAN_OPTIONS=$(ASAN_OPTIONS_RUN) $$t >$$t.out 2>&1; rc=$$?; \
		if [ $$rc -eq 0 ]; then echo "   clean; last line: $$(tail -n 1 $$t.out)"; \
		else tail -n 80 $$t.out; echo "FAILED (exit $$rc): $$t"; status=1; fi; \
	done; exit $$status

tsan:
	RUSTFLAGS="-Zsanitizer=thread" $(CARGO) $(NIGHTLY) test -Zbuild-std --target $(HOST_TRIPLE) \
		--target-dir target/tsan --test concurrency

soak:
	$(CARGO) test --release --test soak -- --ignored --nocapture
