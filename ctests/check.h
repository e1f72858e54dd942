/*
 * check.h: the small harness shared by the C contract tests (ctests/test_*.c).
 *
 * A test is a function `static void test_x(void)` run with RUN(test_x); CHECK(cond) records a
 * failed condition without stopping the test. The program ends with check_finish(), which
 * prints the line CI reads, "N passed, M failed" (N and M count tests), and returns the exit
 * status: 0 only when every test passed.
 */
#ifndef OMENDB_CTESTS_CHECK_H
#define OMENDB_CTESTS_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "omendb.h"

static int check_tests_passed;
static int check_tests_failed;
static int check_failures; /* failed CHECKs in the running test */

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            check_failures++;                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)

/*
 * A call that must succeed, written with `&ERR` as its err_out argument, for example
 * CHECK_OK(omendb_index_len(index, &len, &ERR)); on failure prints the status name and the
 * error's message, and frees the error.
 */
#define CHECK_OK(call_with_ERR)                                                             \
    do {                                                                                    \
        omendb_error *ERR = NULL;                                                           \
        omendb_status check_st_ = (call_with_ERR);                                          \
        if (check_st_ != OMENDB_STATUS_OK || ERR != NULL) {                                 \
            check_failures++;                                                               \
            fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__,              \
                    #call_with_ERR, omendb_status_name((uint32_t)check_st_),                \
                    omendb_error_message(ERR));                                             \
        }                                                                                   \
        omendb_error_free(ERR);                                                             \
    } while (0)

#define RUN(test)                                                     \
    do {                                                              \
        check_failures = 0;                                           \
        test();                                                       \
        if (check_failures == 0) {                                    \
            check_tests_passed++;                                     \
            fprintf(stderr, "ok   %s\n", #test);                      \
        } else {                                                      \
            check_tests_failed++;                                     \
            fprintf(stderr, "FAIL %s (%d checks)\n", #test, check_failures); \
        }                                                             \
    } while (0)

static inline int check_finish(void) {
    fflush(stderr);
    printf("%d passed, %d failed\n", check_tests_passed, check_tests_failed);
    fflush(stdout);
    return check_tests_failed == 0 ? 0 : 1;
}

/* Deterministic random numbers (splitmix64): the same data on every run and platform. */
static inline uint64_t check_rand_u64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static inline float check_rand_float(uint64_t *state) {
    return (float)((double)(check_rand_u64(state) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

/* Fills `n` floats with uniform values in [-1, 1). */
static inline void check_rand_fill(uint64_t *state, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = check_rand_float(state);
}

/* Allocates or aborts: a test that cannot allocate has nothing to report. */
static inline void *check_alloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (p == NULL) {
        fprintf(stderr, "out of memory (%zu bytes)\n", bytes);
        abort();
    }
    return p;
}

#endif /* OMENDB_CTESTS_CHECK_H */
