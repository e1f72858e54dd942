/*
 * direct_c.c: the per-call cost of omendb_index_search called straight from C, to compare
 * with BenchmarkSearchTiny of the Go binding (bench_test.go). Same index and queries: 100
 * vectors of 8 floats and 64 queries from splitmix64 (seeds 1 and 2), uniform in [-1, 1),
 * added under keys 0..99 in batches of 10; k = 10, ef = 0 (the default 64). It also times
 * omendb_index_len, a call that does almost nothing, against BenchmarkLenTiny.
 *
 * Build and run from bindings/go (after `cargo build --release` at the repo root):
 *   gcc -O2 -std=c11 -Wall -Wextra -I../../include bench/direct_c.c \
 *       -L../../target/release -lomendb -Wl,-rpath,"$PWD/../../target/release" -o /tmp/direct_c
 *   /tmp/direct_c
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "omendb.h"

enum { DIM = 8, N = 100, K = 10, QUERIES = 64, CALLS = 200000, ROUNDS = 20, WARMUP = 10000 };

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void random_vectors(uint64_t seed, float *out, size_t len) {
    for (size_t i = 0; i < len; i++) {
        out[i] = (float)(splitmix64(&seed) >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
    }
}

static int fail(const char *what, omendb_status st, omendb_error *err) {
    fprintf(stderr, "%s: %s: %s\n", what, omendb_status_name(st), omendb_error_message(err));
    omendb_error_free(err);
    return 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void) {
    static float data[N * DIM], queries[QUERIES * DIM];
    random_vectors(1, data, N * DIM);
    random_vectors(2, queries, QUERIES * DIM);

    omendb_error *err = NULL;
    omendb_options *opts = NULL;
    omendb_index *index = NULL;
    omendb_status st = omendb_options_create(&opts, &err);
    if (st != OMENDB_STATUS_OK) return fail("options_create", st, err);
    st = omendb_options_set_dim(opts, DIM, &err);
    if (st != OMENDB_STATUS_OK) return fail("options_set_dim", st, err);
    st = omendb_index_create(opts, &index, &err);
    omendb_options_free(opts);
    if (st != OMENDB_STATUS_OK) return fail("index_create", st, err);
    for (size_t i = 0; i < N; i += 10) {
        uint64_t first = 0;
        st = omendb_index_add_auto(index, data + i * DIM, 10, DIM, &first, &err);
        if (st != OMENDB_STATUS_OK) return fail("add_auto", st, err);
    }

    /* 200000 calls in 20 rounds of 10000: the mean over all calls, and the best round (on a
     * busy machine the best round is the better estimate of the cost itself). */
    uint64_t keys[K];
    float dists[K];
    uint64_t checksum = 0;
    double total = 0, best = 1e9;
    for (int i = 0; i < WARMUP; i++) {
        st = omendb_index_search(index, queries + (size_t)(i % QUERIES) * DIM, 1, DIM, K, 0, keys, dists, K, &err);
        if (st != OMENDB_STATUS_OK) return fail("search", st, err);
    }
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        for (int i = 0; i < CALLS / ROUNDS; i++) {
            const float *q = queries + (size_t)(i % QUERIES) * DIM;
            st = omendb_index_search(index, q, 1, DIM, K, 0, keys, dists, K, &err);
            if (st != OMENDB_STATUS_OK) return fail("search", st, err);
            checksum += keys[0];
        }
        double t = now_s() - t0;
        total += t;
        if (t < best) best = t;
    }
    printf("omendb_index_search from C: %d calls, mean %.3f us/call, best round %.3f us/call (checksum %llu)\n",
           CALLS, total / CALLS * 1e6, best / (CALLS / ROUNDS) * 1e6, (unsigned long long)checksum);

    /* The cost of a call that does almost nothing, to compare with BenchmarkLenTiny. */
    size_t len = 0, lens = 0;
    total = 0;
    best = 1e9;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        for (int i = 0; i < CALLS / ROUNDS; i++) {
            st = omendb_index_len(index, &len, &err);
            if (st != OMENDB_STATUS_OK) return fail("len", st, err);
            lens += len;
        }
        double t = now_s() - t0;
        total += t;
        if (t < best) best = t;
    }
    printf("omendb_index_len from C:    %d calls, mean %.3f us/call, best round %.3f us/call (checksum %zu)\n",
           CALLS, total / CALLS * 1e6, best / (CALLS / ROUNDS) * 1e6, lens);
    omendb_index_free(index);
    return 0;
}
