/*
 * test_threads.c: one index shared by five pthreads, as the header allows (every function
 * taking a `const omendb_index *` may run concurrently with any other but _free):
 *   - 2 inserters add disjoint key ranges in batches (one small batches, one batches of 40,
 *     which the library inserts in parallel itself);
 *   - 1 remover deletes half of the initial records, in order, and some of inserter A's
 *     records once they are visible, compacting now and then;
 *   - 2 searchers search without pause (one through omendb_index_search, one through
 *     omendb_index_search_results), checking that every call succeeds, that every key is one
 *     that was added, appears once, and was not removed before the search started, and that
 *     distances are sorted and exact for the key's vector.
 * Rows shorter than k while 500+ records are stored are a known library bug (counted, shown).
 * Afterwards len is exactly right and exactly the inserted-and-not-removed keys are contained.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

enum {
    D = 16,
    INITIAL = 1000,    /* keys 0 .. INITIAL-1 */
    REMOVED = 500,     /* the remover deletes keys 0 .. REMOVED-1 */
    PER_INSERTER = 600,
    K = 10,
};
static const uint64_t BASE_A = 100000, BASE_B = 200000;

static omendb_index *shared;
static atomic_bool writers_done;
static atomic_size_t removed_upto; /* every initial key below this has been removed */
static atomic_int errors;          /* failed calls and contract violations seen in threads */
static atomic_int short_rows;      /* searches that returned fewer than K hits */
static atomic_size_t searches;
static bool removed_a[PER_INSERTER]; /* written by the remover only, read after join */

static void thread_error(const char *who, const char *what, omendb_status st, omendb_error *err) {
    atomic_fetch_add(&errors, 1);
    fprintf(stderr, "%s: %s: %s: %s\n", who, what, omendb_status_name((uint32_t)st), omendb_error_message(err));
}

static void short_row(const char *who, size_t hits) {
    if (atomic_fetch_add(&short_rows, 1) < 5) fprintf(stderr, "%s: a row of %zu hits, not %d\n", who, hits, K);
}

static void vector_for(uint64_t key, float *out) {
    uint64_t rng = key * 2654435761u + 1;
    check_rand_fill(&rng, out, D);
}

static bool valid_key(uint64_t key) {
    return key < INITIAL || (key >= BASE_A && key < BASE_A + PER_INSERTER) ||
           (key >= BASE_B && key < BASE_B + PER_INSERTER);
}

typedef struct {
    const char *name;
    uint64_t base;
    size_t batch;
} inserter_args;

static void *inserter(void *p) {
    const inserter_args *a = p;
    uint64_t keys[64];
    float vectors[64 * D];
    for (size_t done = 0; done < PER_INSERTER;) {
        size_t n = PER_INSERTER - done < a->batch ? PER_INSERTER - done : a->batch;
        for (size_t i = 0; i < n; i++) {
            keys[i] = a->base + done + i;
            vector_for(keys[i], &vectors[i * D]);
        }
        omendb_error *err = NULL;
        omendb_status st = omendb_index_add_batch(shared, keys, n, vectors, D, &err);
        if (st != OMENDB_STATUS_OK) thread_error(a->name, "add_batch", st, err);
        omendb_error_free(err);
        done += n;
    }
    return NULL;
}

static void *remover(void *p) {
    (void)p;
    for (size_t j = 0; j < REMOVED; j++) {
        omendb_error *err = NULL;
        omendb_status st = omendb_index_remove(shared, j, &err);
        if (st != OMENDB_STATUS_OK) thread_error("remover", "remove initial key", st, err);
        omendb_error_free(err);
        atomic_store(&removed_upto, j + 1);

        /* Every third record of inserter A, if it is already there. */
        size_t a = j % PER_INSERTER;
        if (a % 3 == 0 && !removed_a[a]) {
            bool found = false;
            omendb_index_contains(shared, BASE_A + a, &found, NULL);
            if (found) {
                st = omendb_index_remove(shared, BASE_A + a, &err);
                if (st != OMENDB_STATUS_OK) thread_error("remover", "remove A key", st, err);
                omendb_error_free(err);
                removed_a[a] = true;
            }
        }
        if (j % 100 == 99) {
            st = omendb_index_compact(shared, NULL);
            if (st != OMENDB_STATUS_OK) thread_error("remover", "compact", st, NULL);
        }
        if (j % 16 == 0) sched_yield();
    }
    return NULL;
}

/* Hits of one query `q`: known keys, not removed before the search began, each once, sorted,
 * and at the exact distance of that key's vector (a slot read while being reused would not be). */
static void check_hits(const char *who, const float *q, size_t removed_before, const uint64_t *keys,
                       const float *dists, size_t count) {
    for (size_t r = 0; r < count; r++) {
        if (!valid_key(keys[r])) {
            thread_error(who, "a key that was never added", OMENDB_STATUS_OK, NULL);
            continue;
        }
        if (keys[r] < removed_before)
            thread_error(who, "a key removed before the search started", OMENDB_STATUS_OK, NULL);
        for (size_t e = 0; e < r; e++)
            if (keys[e] == keys[r]) thread_error(who, "a key twice in one row", OMENDB_STATUS_OK, NULL);
        if (isnan(dists[r]) || (r > 0 && dists[r] < dists[r - 1]))
            thread_error(who, "distances not sorted", OMENDB_STATUS_OK, NULL);
        float v[D];
        double exact = 0;
        vector_for(keys[r], v);
        for (size_t i = 0; i < D; i++) exact += ((double)q[i] - v[i]) * ((double)q[i] - v[i]);
        if (fabs(dists[r] - exact) > 1e-4 * (1.0 + exact))
            thread_error(who, "a distance that is not the key's", OMENDB_STATUS_OK, NULL);
    }
}

static void *searcher(void *p) {
    bool use_results = p != NULL;
    const char *who = use_results ? "searcher(results)" : "searcher(arrays)";
    uint64_t rng = use_results ? 11 : 12;
    float q[2 * D];
    uint64_t keys[2 * K];
    float dists[2 * K];
    /* At least a few rounds, then until the writers are done. */
    for (size_t round = 0; round < 20 || !atomic_load(&writers_done); round++) {
        check_rand_fill(&rng, q, 2 * D);
        size_t removed_before = atomic_load(&removed_upto);
        omendb_error *err = NULL;
        if (!use_results) {
            omendb_status st = omendb_index_search(shared, q, 2, D, K, 0, keys, dists, 2 * K, &err);
            if (st != OMENDB_STATUS_OK) thread_error(who, "search", st, err);
            omendb_error_free(err);
            for (size_t i = 0; st == OMENDB_STATUS_OK && i < 2; i++) {
                /* At least INITIAL - REMOVED records are always there: every row is full. */
                size_t hits = 0;
                while (hits < K && keys[i * K + hits] != OMENDB_NO_KEY) hits++;
                if (hits < K) short_row(who, hits);
                check_hits(who, &q[i * D], removed_before, &keys[i * K], &dists[i * K], hits);
            }
        } else {
            omendb_results *res = NULL;
            omendb_status st = omendb_index_search_results(shared, q, 2, D, K, 0, &res, &err);
            if (st != OMENDB_STATUS_OK) thread_error(who, "search_results", st, err);
            omendb_error_free(err);
            for (size_t i = 0; res != NULL && i < 2; i++) {
                size_t count = 0;
                omendb_results_count(res, i, &count, NULL);
                if (count != K) short_row(who, count);
                for (size_t r = 0; r < count; r++) {
                    omendb_results_key(res, i, r, &keys[r], NULL);
                    omendb_results_distance(res, i, r, &dists[r], NULL);
                }
                check_hits(who, &q[i * D], removed_before, keys, dists, count);
            }
            omendb_results_free(res);
        }
        /* Read-only calls, concurrent with the writers. */
        size_t len = 0, mem = 0;
        omendb_index_len(shared, &len, NULL);
        omendb_index_memory_bytes(shared, &mem, NULL);
        if (len < INITIAL - REMOVED || len > INITIAL + 2 * PER_INSERTER)
            thread_error(who, "len out of bounds", OMENDB_STATUS_OK, NULL);
        atomic_fetch_add(&searches, 1);
    }
    return NULL;
}

static void test_concurrent_insert_remove_search(void) {
    CHECK_OK(omendb_index_create(NULL, &shared, &ERR));
    uint64_t *keys = check_alloc(INITIAL * sizeof(uint64_t));
    float *vectors = check_alloc(INITIAL * D * sizeof(float));
    for (size_t i = 0; i < INITIAL; i++) {
        keys[i] = i;
        vector_for(i, &vectors[i * D]);
    }
    CHECK_OK(omendb_index_add_batch(shared, keys, INITIAL, vectors, D, &ERR));
    free(keys);
    free(vectors);

    inserter_args a = {"inserter A", BASE_A, 5}, b = {"inserter B", BASE_B, 40};
    pthread_t ins_a, ins_b, rem, s1, s2;
    static int results_flag = 1;
    CHECK(pthread_create(&s1, NULL, searcher, NULL) == 0);
    CHECK(pthread_create(&s2, NULL, searcher, &results_flag) == 0);
    CHECK(pthread_create(&ins_a, NULL, inserter, &a) == 0);
    CHECK(pthread_create(&ins_b, NULL, inserter, &b) == 0);
    CHECK(pthread_create(&rem, NULL, remover, NULL) == 0);
    pthread_join(ins_a, NULL);
    pthread_join(ins_b, NULL);
    pthread_join(rem, NULL);
    atomic_store(&writers_done, true);
    pthread_join(s1, NULL);
    pthread_join(s2, NULL);
    CHECK(atomic_load(&errors) == 0);
    fprintf(stderr, "     %zu search rounds ran during the writes\n", atomic_load(&searches));
    fprintf(stderr, "     %d rows shorter than k\n", atomic_load(&short_rows));
    /* A search concurrent with removes still returns k hits. */
    CHECK(atomic_load(&short_rows) == 0);

    size_t removed_from_a = 0;
    for (size_t i = 0; i < PER_INSERTER; i++) removed_from_a += removed_a[i];
    size_t len = 0;
    CHECK_OK(omendb_index_len(shared, &len, &ERR));
    CHECK(len == INITIAL - REMOVED + 2 * PER_INSERTER - removed_from_a);

    size_t wrong = 0;
    for (uint64_t k = 0; k < INITIAL; k++) {
        bool found = false;
        CHECK_OK(omendb_index_contains(shared, k, &found, &ERR));
        if (found != (k >= REMOVED)) wrong++;
    }
    for (size_t i = 0; i < PER_INSERTER; i++) {
        bool found_a = false, found_b = false;
        CHECK_OK(omendb_index_contains(shared, BASE_A + i, &found_a, &ERR));
        CHECK_OK(omendb_index_contains(shared, BASE_B + i, &found_b, &ERR));
        if (found_a == removed_a[i]) wrong++;
        if (!found_b) wrong++;
    }
    CHECK(wrong == 0);

    /* Each remaining record still finds itself. */
    size_t lost = 0;
    for (size_t i = 0; i < PER_INSERTER; i += 7) {
        float v[D];
        uint64_t hit = 0;
        float dist = 0;
        vector_for(BASE_B + i, v);
        CHECK_OK(omendb_index_search(shared, v, 1, D, 1, 0, &hit, &dist, 1, &ERR));
        if (hit != BASE_B + i) lost++;
    }
    CHECK(lost == 0);
    omendb_index_free(shared);
}

int main(void) {
    RUN(test_concurrent_insert_remove_search);
    return check_finish();
}
