/*
 * test_errors.c: one test per status code that C can provoke (OMENDB_STATUS_INTERNAL is a bug,
 * so nothing here may return it). Every bad input is checked for:
 *   - the status returned;
 *   - an owned error in err_out with the same code and a non-empty message;
 *   - the same status again with err_out = NULL;
 *   - outputs left as they were (they are pre-filled with sentinels);
 *   - every fixture index unchanged (same len, dimensions, key kind and search result).
 * As it goes it prints a table "input -> status name" to stdout.
 */
#define _POSIX_C_SOURCE 200809L /* fork, waitpid, setrlimit */

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

enum { D = 4, N = 20, K = 5 };

static const size_t SENTINEL_SIZE = 0x5e5e5e5eu;
static const uint64_t SENTINEL_KEY = 0x5e5e5e5e5e5e5e5eull;
static const float SENTINEL_FLOAT = -12345.0f;

/* Fixtures: errors must leave each of them exactly as it was. */
static omendb_index *l2;    /* u64 keys 0..N-1, L2, D dimensions */
static omendb_index *cosix; /* u64 keys 0..N-1, cosine, D dimensions */
static omendb_index *strix; /* string keys "k0".."k19", L2, D dimensions */
static omendb_index *fresh; /* created with NULL options: empty, dimensions 0 */
static omendb_index *fixed; /* created with dimensions 8, empty */
static omendb_results *res_u64; /* 2 queries x k 3 on l2 */
static omendb_results *res_str; /* 1 query x k 3 on strix */
static float data[N * D];
static const float query[D] = {0.25f, -0.5f, 0.75f, 0.125f};

typedef struct {
    size_t len, dim, count;
    uint32_t kind;
    uint64_t key_hash[K];
    float dist[K];
} snapshot;

enum { FIXTURES = 5 };
static snapshot baseline[FIXTURES];

static omendb_index *fixture(int i) {
    omendb_index *all[FIXTURES] = {l2, cosix, strix, fresh, fixed};
    return all[i];
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static snapshot take_snapshot(const omendb_index *index) {
    snapshot s;
    memset(&s, 0, sizeof s);
    omendb_index_len(index, &s.len, NULL);
    omendb_index_dim(index, &s.dim, NULL);
    omendb_index_key_kind(index, &s.kind, NULL);
    omendb_results *r = NULL;
    if (omendb_index_search_results(index, query, 1, D, K, 0, &r, NULL) != OMENDB_STATUS_OK) {
        s.count = SIZE_MAX; /* the fixtures are all searchable with `query` */
        return s;
    }
    omendb_results_count(r, 0, &s.count, NULL);
    for (size_t i = 0; i < s.count && i < K; i++) {
        omendb_results_distance(r, 0, i, &s.dist[i], NULL);
        if (s.kind == OMENDB_KEY_KIND_STRING) {
            const char *key = NULL;
            size_t len = 0;
            omendb_results_key_str(r, 0, i, &key, &len, NULL);
            s.key_hash[i] = hash_bytes(key, len);
        } else {
            omendb_results_key(r, 0, i, &s.key_hash[i], NULL);
        }
    }
    omendb_results_free(r);
    return s;
}

static bool same_snapshot(const snapshot *a, const snapshot *b) {
    if (a->len != b->len || a->dim != b->dim || a->kind != b->kind || a->count != b->count) return false;
    for (size_t i = 0; i < a->count && i < K; i++) {
        if (a->key_hash[i] != b->key_hash[i] || a->dist[i] != b->dist[i]) return false;
    }
    return true;
}

static void fail_at(const char *file, int line, const char *input, const char *what) {
    check_failures++;
    fprintf(stderr, "%s:%d: %s: %s\n", file, line, input, what);
}

static void expect_result(const char *file, int line, omendb_status want, const char *input,
                          omendb_status got, omendb_error *err, omendb_status got_without_err) {
    printf("%-72s -> %s\n", input, omendb_status_name((uint32_t)got));
    if (got != want) fail_at(file, line, input, omendb_status_name((uint32_t)want));
    if (got_without_err != got) fail_at(file, line, input, "a different status with err_out = NULL");
    if (want == OMENDB_STATUS_OK) {
        if (err != NULL) fail_at(file, line, input, "success left an error in err_out");
    } else if (err == NULL) {
        fail_at(file, line, input, "no error object in err_out");
    } else {
        if (omendb_error_code(err) != got) fail_at(file, line, input, "error code differs from status");
        if (omendb_error_message(err) == NULL || omendb_error_message(err)[0] == '\0')
            fail_at(file, line, input, "empty error message");
    }
    omendb_error_free(err);
    for (int i = 0; i < FIXTURES; i++) {
        snapshot now = take_snapshot(fixture(i));
        if (!same_snapshot(&now, &baseline[i])) fail_at(file, line, input, "a fixture index changed");
    }
}

/*
 * EXPECT(status, "input", call): runs `call` twice, once with err_out = &err and once with
 * err_out = NULL; `call` names its err_out argument ERR_OUT.
 */
#define EXPECT(want, input, call)                                                           \
    do {                                                                                    \
        omendb_error *expect_err_ = NULL;                                                   \
        omendb_error **ERR_OUT = &expect_err_;                                              \
        omendb_status expect_first_ = (call);                                               \
        ERR_OUT = NULL;                                                                     \
        omendb_status expect_second_ = (call);                                              \
        expect_result(__FILE__, __LINE__, (want), (input), expect_first_, expect_err_,      \
                      expect_second_);                                                      \
    } while (0)

static omendb_index *make_index(uint32_t metric, uint64_t dim) {
    omendb_options *opts = NULL;
    omendb_index *index = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK_OK(omendb_options_set_metric(opts, metric, &ERR));
    CHECK_OK(omendb_options_set_dim(opts, dim, &ERR));
    CHECK_OK(omendb_index_create(opts, &index, &ERR));
    omendb_options_free(opts);
    return index;
}

static void setup(void) {
    uint64_t rng = 7;
    check_rand_fill(&rng, data, N * D);
    uint64_t keys[N];
    char names[N][8];
    const char *name_ptrs[N];
    for (size_t i = 0; i < N; i++) {
        keys[i] = i;
        snprintf(names[i], sizeof names[i], "k%zu", i);
        name_ptrs[i] = names[i];
    }
    l2 = make_index(OMENDB_METRIC_L2, D);
    cosix = make_index(OMENDB_METRIC_COSINE, 0);
    strix = make_index(OMENDB_METRIC_L2, D);
    fresh = NULL;
    CHECK_OK(omendb_index_create(NULL, &fresh, &ERR));
    fixed = make_index(OMENDB_METRIC_L2, 8);
    CHECK_OK(omendb_index_add_batch(l2, keys, N, data, D, &ERR));
    CHECK_OK(omendb_index_add_batch(cosix, keys, N, data, D, &ERR));
    CHECK_OK(omendb_index_add_batch_str(strix, name_ptrs, NULL, N, data, D, &ERR));
    float two[2 * D];
    memcpy(two, query, sizeof query);
    memcpy(two + D, data, D * sizeof(float));
    CHECK_OK(omendb_index_search_results(l2, two, 2, D, 3, 0, &res_u64, &ERR));
    CHECK_OK(omendb_index_search_results(strix, query, 1, D, 3, 0, &res_str, &ERR));
    for (int i = 0; i < FIXTURES; i++) baseline[i] = take_snapshot(fixture(i));
    CHECK(baseline[0].len == N && baseline[0].count == K);
    CHECK(baseline[2].kind == OMENDB_KEY_KIND_STRING && baseline[2].count == K);
    CHECK(baseline[3].dim == 0 && baseline[3].count == 0);
    CHECK(baseline[4].dim == 8 && baseline[4].len == 0);
}

static void teardown(void) {
    omendb_results_free(res_u64);
    omendb_results_free(res_str);
    for (int i = 0; i < FIXTURES; i++) omendb_index_free(fixture(i));
}

static bool has_key(const omendb_index *index, uint64_t key) {
    bool found = false;
    omendb_index_contains(index, key, &found, NULL);
    return found;
}

static bool has_str(const omendb_index *index, const char *key) {
    bool found = false;
    omendb_index_contains_str(index, key, strlen(key), &found, NULL);
    return found;
}

static bool untouched_u64(const uint64_t *a, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != SENTINEL_KEY) return false;
    return true;
}

static bool untouched_float(const float *a, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != SENTINEL_FLOAT) return false;
    return true;
}

static void fill_sentinels(uint64_t *keys, float *dists, size_t n) {
    for (size_t i = 0; i < n; i++) {
        keys[i] = SENTINEL_KEY;
        dists[i] = SENTINEL_FLOAT;
    }
}

static void test_null_pointer(void) {
    size_t len = SENTINEL_SIZE;
    uint64_t first = SENTINEL_KEY;
    uint64_t keys2[2] = {100, 101};
    float vecs2[2 * D] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint64_t out_keys[K];
    float out_dists[K];
    fill_sentinels(out_keys, out_dists, K);
    omendb_results *new_res = (omendb_results *)&len; /* a stale value that must survive */
    const char *names_with_null[2] = {"fine", NULL};
    size_t name_lens[2] = {4, 3};

    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_len(index=NULL)",
           omendb_index_len(NULL, &len, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_len(len_out=NULL)",
           omendb_index_len(l2, NULL, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_dim(dim_out=NULL)",
           omendb_index_dim(l2, NULL, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_metric(metric_out=NULL)",
           omendb_index_metric(l2, NULL, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_key_kind(kind_out=NULL)",
           omendb_index_key_kind(l2, NULL, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_memory_bytes(bytes_out=NULL)",
           omendb_index_memory_bytes(l2, NULL, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_compact(index=NULL)",
           omendb_index_compact(NULL, ERR_OUT));
    CHECK(len == SENTINEL_SIZE);

    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_options_create(options_out=NULL)",
           omendb_options_create(NULL, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_options_set_m(options=NULL, 16)",
           omendb_options_set_m(NULL, 16, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_options_set_seed(options=NULL)",
           omendb_options_set_seed(NULL, 1, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_create(index_out=NULL)",
           omendb_index_create(NULL, NULL, ERR_OUT));

    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_add_batch(index=NULL)",
           omendb_index_add_batch(NULL, keys2, 2, vecs2, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_add_batch(keys=NULL, n=2)",
           omendb_index_add_batch(l2, NULL, 2, vecs2, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_add_batch(vectors=NULL, n=2)",
           omendb_index_add_batch(l2, keys2, 2, NULL, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_add_batch(fresh index, vectors=NULL, n=2)",
           omendb_index_add_batch(fresh, keys2, 2, NULL, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_upsert_batch(keys=NULL, n=2)",
           omendb_index_upsert_batch(l2, NULL, 2, vecs2, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_add_batch_str(keys=NULL, n=2)",
           omendb_index_add_batch_str(strix, NULL, NULL, 2, vecs2, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_add_batch_str(keys[1]=NULL, key_lens=NULL)",
           omendb_index_add_batch_str(strix, names_with_null, NULL, 2, vecs2, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_add_batch_str(keys[1]=NULL, key_lens[1]=3)",
           omendb_index_add_batch_str(strix, names_with_null, name_lens, 2, vecs2, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_upsert_batch_str(vectors=NULL, n=1)",
           omendb_index_upsert_batch_str(strix, names_with_null, NULL, 1, NULL, D, ERR_OUT));
    CHECK(!has_str(strix, "fine"));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_add_auto(vectors=NULL, n=1)",
           omendb_index_add_auto(l2, NULL, 1, D, &first, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_add_auto(first_key_out=NULL)",
           omendb_index_add_auto(fresh, vecs2, 1, D, NULL, ERR_OUT));
    CHECK(first == SENTINEL_KEY);
    CHECK(!has_key(l2, 100) && !has_key(l2, 101));

    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_remove(index=NULL)",
           omendb_index_remove(NULL, 1, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_remove_str(key=NULL, len=2)",
           omendb_index_remove_str(strix, NULL, 2, ERR_OUT));
    bool found = true;
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_contains(found_out=NULL)",
           omendb_index_contains(l2, 1, NULL, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_contains_str(key=NULL, len=2)",
           omendb_index_contains_str(strix, NULL, 2, &found, ERR_OUT));
    CHECK(found == true);

    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_search(index=NULL)",
           omendb_index_search(NULL, query, 1, D, K, 0, out_keys, out_dists, K, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_search(queries=NULL, n=1)",
           omendb_index_search(l2, NULL, 1, D, K, 0, out_keys, out_dists, K, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_search(keys_out=NULL)",
           omendb_index_search(l2, query, 1, D, K, 0, NULL, out_dists, K, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_search(distances_out=NULL)",
           omendb_index_search(l2, query, 1, D, K, 0, out_keys, NULL, K, ERR_OUT));
    CHECK(untouched_u64(out_keys, K) && untouched_float(out_dists, K));

    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_search_results(results_out=NULL)",
           omendb_index_search_results(l2, query, 1, D, K, 0, NULL, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_index_search_results(queries=NULL, n=1)",
           omendb_index_search_results(l2, NULL, 1, D, K, 0, &new_res, ERR_OUT));
    CHECK(new_res == (omendb_results *)&len);

    const float *dists_ptr = NULL;
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_results_num_queries(results=NULL)",
           omendb_results_num_queries(NULL, &len, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_results_count(results=NULL)",
           omendb_results_count(NULL, 0, &len, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_results_count(count_out=NULL)",
           omendb_results_count(res_u64, 0, NULL, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_results_key(key_out=NULL)",
           omendb_results_key(res_u64, 0, 0, NULL, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_results_distance(distance_out=NULL)",
           omendb_results_distance(res_u64, 0, 0, NULL, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_results_key_str(key_out=NULL)",
           omendb_results_key_str(res_str, 0, 0, NULL, &len, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_results_distances(distances_out=NULL)",
           omendb_results_distances(res_u64, NULL, &len, ERR_OUT));
    EXPECT(OMENDB_STATUS_NULL_POINTER, "omendb_results_distances(len_out=NULL)",
           omendb_results_distances(res_u64, &dists_ptr, NULL, ERR_OUT));
    CHECK(len == SENTINEL_SIZE);
    CHECK(dists_ptr == NULL);
}

static void test_invalid_argument(void) {
    uint64_t out_keys[2 * K];
    float out_dists[2 * K];
    fill_sentinels(out_keys, out_dists, 2 * K);
    omendb_results *new_res = (omendb_results *)out_keys;
    uint64_t keys2[2] = {100, 101};
    float vecs2[2 * D] = {1, 2, 3, 4, 5, 6, 7, 8};
    float queries2[2 * D] = {1, 2, 3, 4, 5, 6, 7, 8};

    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_index_search(k=0)",
           omendb_index_search(l2, query, 1, D, 0, 0, out_keys, out_dists, K, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_index_search_results(k=0)",
           omendb_index_search_results(l2, query, 1, D, 0, 0, &new_res, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_index_search(n=2, k=SIZE_MAX/2+1: n*k overflows)",
           omendb_index_search(l2, queries2, 2, D, SIZE_MAX / 2 + 1, 0, out_keys, out_dists, 2 * K, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_index_search_results(fresh index, n=1, dim=0)",
           omendb_index_search_results(fresh, query, 1, 0, K, 0, &new_res, ERR_OUT));
    CHECK(untouched_u64(out_keys, 2 * K) && untouched_float(out_dists, 2 * K));
    CHECK(new_res == (omendb_results *)out_keys);

    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_index_add_batch(fresh index, n=2, dim=0)",
           omendb_index_add_batch(fresh, keys2, 2, vecs2, 0, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_index_add_batch(n=1, dim=0)",
           omendb_index_add_batch(l2, keys2, 1, vecs2, 0, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_index_add_batch(n=SIZE_MAX/2: n*dim overflows)",
           omendb_index_add_batch(l2, keys2, SIZE_MAX / 2, vecs2, D, ERR_OUT));
    uint64_t first = SENTINEL_KEY;
    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_index_add_auto(fresh index, n=1, dim=0)",
           omendb_index_add_auto(fresh, vecs2, 1, 0, &first, ERR_OUT));
    CHECK(first == SENTINEL_KEY);

    /* Dimensions above the limit of 65536, on an index that takes them from the first batch. */
    float *wide = check_alloc(65537 * sizeof(float));
    for (size_t i = 0; i < 65537; i++) wide[i] = 1.0f;
    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_index_add_batch(fresh index, dim=65537)",
           omendb_index_add_batch(fresh, keys2, 1, wide, 65537, ERR_OUT));
    free(wide);

    /* A misaligned output pointer (the C standard leaves such a cast undefined; x86 is lenient). */
    _Alignas(8) unsigned char raw[2 * sizeof(size_t)];
    memset(raw, 0x5e, sizeof raw);
    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_index_len(len_out misaligned by 1 byte)",
           omendb_index_len(l2, (size_t *)(void *)(raw + 1), ERR_OUT));
    for (size_t i = 0; i < sizeof raw; i++) CHECK(raw[i] == 0x5e);

    /* Options: a rejected value leaves them unchanged. */
    omendb_options *opts = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK_OK(omendb_options_set_metric(opts, OMENDB_METRIC_COSINE, &ERR));
    CHECK_OK(omendb_options_set_dim(opts, 3, &ERR));
    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_options_set_metric(7)",
           omendb_options_set_metric(opts, 7, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_options_set_metric(UINT32_MAX)",
           omendb_options_set_metric(opts, UINT32_MAX, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_options_set_m(1)",
           omendb_options_set_m(opts, 1, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_options_set_m(513)",
           omendb_options_set_m(opts, 513, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_options_set_dim(65537)",
           omendb_options_set_dim(opts, 65537, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_options_set_ef_construction(0)",
           omendb_options_set_ef_construction(opts, 0, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_options_set_ef_search(0)",
           omendb_options_set_ef_search(opts, 0, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_ARGUMENT, "omendb_options_set_ef_search(1048577)",
           omendb_options_set_ef_search(opts, 1048577, ERR_OUT));
    omendb_index *index = NULL;
    CHECK_OK(omendb_index_create(opts, &index, &ERR));
    omendb_options_free(opts);
    uint32_t metric = 0;
    size_t dim = 0;
    CHECK_OK(omendb_index_metric(index, &metric, &ERR));
    CHECK_OK(omendb_index_dim(index, &dim, &ERR));
    CHECK(metric == OMENDB_METRIC_COSINE && dim == 3);
    omendb_index_free(index);
}

static void test_dimension_mismatch(void) {
    uint64_t out_keys[K];
    float out_dists[K];
    fill_sentinels(out_keys, out_dists, K);
    omendb_results *new_res = NULL;
    uint64_t key = 100;
    const char *name[1] = {"new"};
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};

    EXPECT(OMENDB_STATUS_DIMENSION_MISMATCH, "omendb_index_add_batch(dim=5 on a 4-d index)",
           omendb_index_add_batch(l2, &key, 1, v, 5, ERR_OUT));
    EXPECT(OMENDB_STATUS_DIMENSION_MISMATCH, "omendb_index_upsert_batch(dim=3 on a 4-d index)",
           omendb_index_upsert_batch(l2, &key, 1, v, 3, ERR_OUT));
    EXPECT(OMENDB_STATUS_DIMENSION_MISMATCH, "omendb_index_add_batch_str(dim=3 on a 4-d index)",
           omendb_index_add_batch_str(strix, name, NULL, 1, v, 3, ERR_OUT));
    EXPECT(OMENDB_STATUS_DIMENSION_MISMATCH, "omendb_index_add_batch(dim=4, index created with dim 8)",
           omendb_index_add_batch(fixed, &key, 1, v, 4, ERR_OUT));
    EXPECT(OMENDB_STATUS_DIMENSION_MISMATCH, "omendb_index_search(dim=3 on a 4-d index)",
           omendb_index_search(l2, v, 1, 3, K, 0, out_keys, out_dists, K, ERR_OUT));
    EXPECT(OMENDB_STATUS_DIMENSION_MISMATCH, "omendb_index_search(dim=0, n=1 on a 4-d index)",
           omendb_index_search(l2, v, 1, 0, K, 0, out_keys, out_dists, K, ERR_OUT));
    EXPECT(OMENDB_STATUS_DIMENSION_MISMATCH, "omendb_index_search_results(dim=5 on a 4-d index)",
           omendb_index_search_results(l2, v, 1, 5, K, 0, &new_res, ERR_OUT));
    EXPECT(OMENDB_STATUS_DIMENSION_MISMATCH, "omendb_index_search_results(dim=4, index created with dim 8)",
           omendb_index_search_results(fixed, v, 1, 4, K, 0, &new_res, ERR_OUT));
    CHECK(untouched_u64(out_keys, K) && untouched_float(out_dists, K));
    CHECK(new_res == NULL);
    CHECK(!has_key(l2, 100) && !has_str(strix, "new"));
}

static void test_non_finite(void) {
    uint64_t keys2[2] = {100, 101};
    uint64_t out_keys[2 * K];
    float out_dists[2 * K];
    fill_sentinels(out_keys, out_dists, 2 * K);
    omendb_results *new_res = NULL;
    static const struct {
        const char *name;
        float value;
    } bad[3] = {{"NaN", NAN}, {"+inf", INFINITY}, {"-inf", -INFINITY}};
    char input[128];

    for (size_t b = 0; b < 3; b++) {
        float v[2 * D] = {1, 2, 3, 4, 5, 6, 7, 8};
        v[D + 2] = bad[b].value; /* record 1, component 2: record 0 is fine but must not be added */
        snprintf(input, sizeof input, "omendb_index_add_batch(L2, record 1 holds %s)", bad[b].name);
        EXPECT(OMENDB_STATUS_NON_FINITE, input, omendb_index_add_batch(l2, keys2, 2, v, D, ERR_OUT));
        snprintf(input, sizeof input, "omendb_index_add_batch(cosine, record 1 holds %s)", bad[b].name);
        EXPECT(OMENDB_STATUS_NON_FINITE, input, omendb_index_add_batch(cosix, keys2, 2, v, D, ERR_OUT));
        snprintf(input, sizeof input, "omendb_index_add_batch(fresh index, record 1 holds %s)", bad[b].name);
        EXPECT(OMENDB_STATUS_NON_FINITE, input, omendb_index_add_batch(fresh, keys2, 2, v, D, ERR_OUT));
        snprintf(input, sizeof input, "omendb_index_search(query 1 of 2 holds %s)", bad[b].name);
        EXPECT(OMENDB_STATUS_NON_FINITE, input,
               omendb_index_search(l2, v, 2, D, K, 0, out_keys, out_dists, 2 * K, ERR_OUT));
        snprintf(input, sizeof input, "omendb_index_search_results(query 1 of 2 holds %s)", bad[b].name);
        EXPECT(OMENDB_STATUS_NON_FINITE, input, omendb_index_search_results(l2, v, 2, D, K, 0, &new_res, ERR_OUT));
    }
    {
        /* Finite but too large for f32 distances under L2 (beyond +-1e16): refused the same way. */
        float huge[2 * D] = {1, 2, 3, 4, 5, 6, 1e20f, 8};
        EXPECT(OMENDB_STATUS_NON_FINITE, "omendb_index_add_batch(L2, record 1 holds 1e20)",
               omendb_index_add_batch(l2, keys2, 2, huge, D, ERR_OUT));
        EXPECT(OMENDB_STATUS_NON_FINITE, "omendb_index_search(L2, query 1 of 2 holds 1e20)",
               omendb_index_search(l2, huge, 2, D, K, 0, out_keys, out_dists, 2 * K, ERR_OUT));
    }
    float v[D] = {1, 2, 3, NAN};
    const char *name[1] = {"new"};
    EXPECT(OMENDB_STATUS_NON_FINITE, "omendb_index_add_batch_str(NaN)",
           omendb_index_add_batch_str(strix, name, NULL, 1, v, D, ERR_OUT));
    uint64_t first = SENTINEL_KEY;
    EXPECT(OMENDB_STATUS_NON_FINITE, "omendb_index_add_auto(NaN)",
           omendb_index_add_auto(fresh, v, 1, D, &first, ERR_OUT));
    CHECK(first == SENTINEL_KEY);
    CHECK(untouched_u64(out_keys, 2 * K) && untouched_float(out_dists, 2 * K));
    CHECK(new_res == NULL);
    CHECK(!has_key(l2, 100) && !has_key(cosix, 100));
}

static void test_zero_vector(void) {
    uint64_t keys2[2] = {100, 101};
    float v[2 * D] = {1, 2, 3, 4, 0, 0, 0, 0};
    float zero[D] = {0, 0, 0, 0};
    float neg_zero[D] = {-0.0f, 0, -0.0f, 0};
    uint64_t out_keys[K];
    float out_dists[K];
    fill_sentinels(out_keys, out_dists, K);
    omendb_results *new_res = NULL;
    uint64_t first = SENTINEL_KEY;

    EXPECT(OMENDB_STATUS_ZERO_VECTOR, "omendb_index_add_batch(cosine, record 1 is all zeros)",
           omendb_index_add_batch(cosix, keys2, 2, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_ZERO_VECTOR, "omendb_index_upsert_batch(cosine, record 1 is all zeros)",
           omendb_index_upsert_batch(cosix, keys2, 2, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_ZERO_VECTOR, "omendb_index_add_batch(cosine, -0.0 and 0.0)",
           omendb_index_add_batch(cosix, keys2, 1, neg_zero, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_ZERO_VECTOR, "omendb_index_add_auto(cosine, zeros)",
           omendb_index_add_auto(cosix, zero, 1, D, &first, ERR_OUT));
    EXPECT(OMENDB_STATUS_ZERO_VECTOR, "omendb_index_search(cosine, zero query)",
           omendb_index_search(cosix, zero, 1, D, K, 0, out_keys, out_dists, K, ERR_OUT));
    EXPECT(OMENDB_STATUS_ZERO_VECTOR, "omendb_index_search_results(cosine, zero query)",
           omendb_index_search_results(cosix, zero, 1, D, K, 0, &new_res, ERR_OUT));
    CHECK(first == SENTINEL_KEY);
    CHECK(untouched_u64(out_keys, K) && untouched_float(out_dists, K));
    CHECK(new_res == NULL);
    CHECK(!has_key(cosix, 100));
}

static void test_invalid_key(void) {
    float v[2 * D] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint64_t out_keys[K];
    float out_dists[K];
    fill_sentinels(out_keys, out_dists, K);
    const char *empty[1] = {""};
    size_t zero_len = 0;
    const char *good_and_empty[2] = {"good", ""};
    char *long_key = check_alloc(65537);
    memset(long_key, 'x', 65537);
    const char *long_keys[1] = {long_key};
    size_t long_len = 65537;
    uint64_t no_key = OMENDB_NO_KEY;
    uint64_t good_and_no_key[2] = {100, OMENDB_NO_KEY};
    const char *name[1] = {"k1"};
    uint64_t key = SENTINEL_KEY;
    const char *skey = NULL;
    size_t skey_len = SENTINEL_SIZE;

    EXPECT(OMENDB_STATUS_INVALID_KEY, "omendb_index_add_batch_str(key \"\" with key_lens[0]=0)",
           omendb_index_add_batch_str(strix, empty, &zero_len, 1, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_KEY, "omendb_index_add_batch_str(keys {\"good\", \"\"}, NUL-terminated)",
           omendb_index_add_batch_str(strix, good_and_empty, NULL, 2, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_KEY, "omendb_index_add_batch_str(key of 65537 bytes)",
           omendb_index_add_batch_str(strix, long_keys, &long_len, 1, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_KEY, "omendb_index_upsert_batch_str(key \"\")",
           omendb_index_upsert_batch_str(strix, empty, NULL, 1, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_KEY, "omendb_index_add_batch(key OMENDB_NO_KEY)",
           omendb_index_add_batch(l2, &no_key, 1, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_KEY, "omendb_index_add_batch(keys {100, OMENDB_NO_KEY})",
           omendb_index_add_batch(l2, good_and_no_key, 2, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_KEY, "omendb_index_upsert_batch(key OMENDB_NO_KEY)",
           omendb_index_upsert_batch(l2, &no_key, 1, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_KEY, "omendb_index_add_batch_str(string key on a u64 index)",
           omendb_index_add_batch_str(l2, name, NULL, 1, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_KEY, "omendb_index_add_batch(u64 key on a string index)",
           omendb_index_add_batch(strix, good_and_no_key, 1, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_KEY, "omendb_index_remove(OMENDB_NO_KEY)",
           omendb_index_remove(l2, OMENDB_NO_KEY, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_KEY, "omendb_index_remove(u64 key on a string index)",
           omendb_index_remove(strix, 1, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_KEY, "omendb_index_remove_str(\"k1\" on a u64 index)",
           omendb_index_remove_str(l2, "k1", 2, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_KEY, "omendb_index_search(on a string-key index)",
           omendb_index_search(strix, query, 1, D, K, 0, out_keys, out_dists, K, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_KEY, "omendb_results_key(results of a string-key index)",
           omendb_results_key(res_str, 0, 0, &key, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_KEY, "omendb_results_key_str(results of a u64-key index)",
           omendb_results_key_str(res_u64, 0, 0, &skey, &skey_len, ERR_OUT));
    CHECK(untouched_u64(out_keys, K) && untouched_float(out_dists, K));
    CHECK(key == SENTINEL_KEY && skey == NULL && skey_len == SENTINEL_SIZE);
    CHECK(!has_str(strix, "good") && !has_key(l2, 100));
    free(long_key);
}

static void test_invalid_utf8(void) {
    float v[2 * D] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const struct {
        const char *what;
        const char *bytes;
    } bad[] = {
        {"bytes 0xff 0xfe", "\xff\xfe"},
        {"a truncated sequence 0xc3", "ok\xc3"},
        {"an overlong encoding 0xc0 0xaf", "\xc0\xaf"},
        {"a UTF-16 surrogate 0xed 0xa0 0x80", "\xed\xa0\x80"},
    };
    char input[160];
    bool found = true;
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        const char *keys[2] = {"good", bad[b].bytes};
        size_t lens[2] = {4, strlen(bad[b].bytes)};
        snprintf(input, sizeof input, "omendb_index_add_batch_str(key 1 is %s)", bad[b].what);
        EXPECT(OMENDB_STATUS_INVALID_UTF8, input, omendb_index_add_batch_str(strix, keys, lens, 2, v, D, ERR_OUT));
        snprintf(input, sizeof input, "omendb_index_add_batch_str(key 1 is %s, NUL-terminated)", bad[b].what);
        EXPECT(OMENDB_STATUS_INVALID_UTF8, input, omendb_index_add_batch_str(strix, keys, NULL, 2, v, D, ERR_OUT));
    }
    const char *ff[1] = {"\xff\xfe"};
    EXPECT(OMENDB_STATUS_INVALID_UTF8, "omendb_index_upsert_batch_str(key bytes 0xff 0xfe)",
           omendb_index_upsert_batch_str(strix, ff, NULL, 1, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_UTF8, "omendb_index_add_batch_str(fresh index, key bytes 0xff 0xfe)",
           omendb_index_add_batch_str(fresh, ff, NULL, 1, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_UTF8, "omendb_index_contains_str(key bytes 0xff 0xfe)",
           omendb_index_contains_str(strix, "\xff\xfe", 2, &found, ERR_OUT));
    EXPECT(OMENDB_STATUS_INVALID_UTF8, "omendb_index_remove_str(key bytes 0xff 0xfe)",
           omendb_index_remove_str(strix, "\xff\xfe", 2, ERR_OUT));
    CHECK(found == true);
    CHECK(!has_str(strix, "good"));
}

static void test_duplicate_key(void) {
    float v[3 * D] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    uint64_t existing = 3;
    uint64_t new_then_existing[2] = {100, 3};
    uint64_t repeat[3] = {100, 101, 100};
    const char *s_existing[2] = {"new", "k3"};
    const char *s_repeat[3] = {"x", "y", "x"};

    EXPECT(OMENDB_STATUS_DUPLICATE_KEY, "omendb_index_add_batch(key 3, already stored)",
           omendb_index_add_batch(l2, &existing, 1, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_DUPLICATE_KEY, "omendb_index_add_batch(keys {100, 3}: 3 already stored)",
           omendb_index_add_batch(l2, new_then_existing, 2, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_DUPLICATE_KEY, "omendb_index_add_batch(keys {100, 101, 100})",
           omendb_index_add_batch(l2, repeat, 3, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_DUPLICATE_KEY, "omendb_index_upsert_batch(keys {100, 101, 100})",
           omendb_index_upsert_batch(l2, repeat, 3, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_DUPLICATE_KEY, "omendb_index_add_batch_str(keys {\"new\", \"k3\"}: k3 stored)",
           omendb_index_add_batch_str(strix, s_existing, NULL, 2, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_DUPLICATE_KEY, "omendb_index_add_batch_str(keys {\"x\", \"y\", \"x\"})",
           omendb_index_add_batch_str(strix, s_repeat, NULL, 3, v, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_DUPLICATE_KEY, "omendb_index_upsert_batch_str(keys {\"x\", \"y\", \"x\"})",
           omendb_index_upsert_batch_str(strix, s_repeat, NULL, 3, v, D, ERR_OUT));
    CHECK(!has_key(l2, 100) && !has_key(l2, 101));
    CHECK(!has_str(strix, "new") && !has_str(strix, "x") && !has_str(strix, "y"));

    /* Automatic keys skip a key added by hand: they continue past the largest in use. */
    omendb_index *index = NULL;
    CHECK_OK(omendb_index_create(NULL, &index, &ERR));
    uint64_t one = 1, first = SENTINEL_KEY;
    CHECK_OK(omendb_index_add_batch(index, &one, 1, v, D, &ERR));
    CHECK_OK(omendb_index_add_auto(index, v, 3, D, &first, &ERR));
    CHECK(first == 2);
    size_t len = 0;
    CHECK_OK(omendb_index_len(index, &len, &ERR));
    CHECK(len == 4);
    CHECK(!has_key(index, 0) && has_key(index, 2) && has_key(index, 4));
    omendb_index_free(index);
}

/* A failed first batch must leave an index created with dimensions 0 as it was. */
static void test_failed_first_batch_leaves_dim_unset(void) {
    float v[3 * D] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    uint64_t repeat[3] = {1, 2, 1};
    omendb_index *index = NULL;
    CHECK_OK(omendb_index_create(NULL, &index, &ERR));
    CHECK(omendb_index_add_batch(index, repeat, 3, v, D, NULL) == OMENDB_STATUS_DUPLICATE_KEY);
    size_t dim = SENTINEL_SIZE, len = SENTINEL_SIZE;
    uint32_t kind = 99;
    CHECK_OK(omendb_index_dim(index, &dim, &ERR));
    CHECK_OK(omendb_index_len(index, &len, &ERR));
    CHECK_OK(omendb_index_key_kind(index, &kind, &ERR));
    CHECK(len == 0 && kind == OMENDB_KEY_KIND_NONE);
    CHECK(dim == 0);
    /* So a first batch of another width is still welcome. */
    uint64_t key = 5;
    CHECK_OK(omendb_index_add_batch(index, &key, 1, v, 3, &ERR));
    CHECK_OK(omendb_index_dim(index, &dim, &ERR));
    CHECK(dim == 3);
    /* The same for a first batch refused for a key (OMENDB_NO_KEY) or a string key (""). */
    omendb_index *other = NULL;
    CHECK_OK(omendb_index_create(NULL, &other, &ERR));
    uint64_t no_key = OMENDB_NO_KEY;
    const char *empty[1] = {""};
    CHECK(omendb_index_add_batch(other, &no_key, 1, v, D, NULL) == OMENDB_STATUS_INVALID_KEY);
    CHECK(omendb_index_add_batch_str(other, empty, NULL, 1, v, D, NULL) == OMENDB_STATUS_INVALID_KEY);
    CHECK_OK(omendb_index_dim(other, &dim, &ERR));
    CHECK_OK(omendb_index_key_kind(other, &kind, &ERR));
    CHECK(dim == 0 && kind == OMENDB_KEY_KIND_NONE);
    omendb_index_free(other);
    omendb_index_free(index);
}

static void test_key_not_found(void) {
    EXPECT(OMENDB_STATUS_KEY_NOT_FOUND, "omendb_index_remove(key 12345, never added)",
           omendb_index_remove(l2, 12345, ERR_OUT));
    EXPECT(OMENDB_STATUS_KEY_NOT_FOUND, "omendb_index_remove_str(\"nope\", never added)",
           omendb_index_remove_str(strix, "nope", 4, ERR_OUT));
    EXPECT(OMENDB_STATUS_KEY_NOT_FOUND, "omendb_index_remove_str(\"k1\" with len 1, i.e. \"k\")",
           omendb_index_remove_str(strix, "k1", 1, ERR_OUT));
    EXPECT(OMENDB_STATUS_KEY_NOT_FOUND, "omendb_index_remove(key 1 on an empty index)",
           omendb_index_remove(fresh, 1, ERR_OUT));

    /* A key removed once is not found the second time. */
    omendb_index *index = NULL;
    CHECK_OK(omendb_index_create(NULL, &index, &ERR));
    uint64_t key = 9;
    CHECK_OK(omendb_index_add_batch(index, &key, 1, query, D, &ERR));
    CHECK_OK(omendb_index_remove(index, 9, &ERR));
    EXPECT(OMENDB_STATUS_KEY_NOT_FOUND, "omendb_index_remove(key 9, already removed)",
           omendb_index_remove(index, 9, ERR_OUT));
    omendb_index_free(index);
}

static void test_buffer_too_small(void) {
    float queries[2 * D] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint64_t out_keys[2 * K];
    float out_dists[2 * K];
    fill_sentinels(out_keys, out_dists, 2 * K);
    EXPECT(OMENDB_STATUS_BUFFER_TOO_SMALL, "omendb_index_search(n=2, k=5, out_len=9)",
           omendb_index_search(l2, queries, 2, D, K, 0, out_keys, out_dists, 2 * K - 1, ERR_OUT));
    EXPECT(OMENDB_STATUS_BUFFER_TOO_SMALL, "omendb_index_search(n=1, k=5, out_len=0)",
           omendb_index_search(l2, queries, 1, D, K, 0, out_keys, out_dists, 0, ERR_OUT));
    EXPECT(OMENDB_STATUS_BUFFER_TOO_SMALL, "omendb_index_search(n=1, k=SIZE_MAX, out_len=10)",
           omendb_index_search(l2, queries, 1, D, SIZE_MAX, 0, out_keys, out_dists, 2 * K, ERR_OUT));
    CHECK(untouched_u64(out_keys, 2 * K) && untouched_float(out_dists, 2 * K));
}

static void test_out_of_range(void) {
    size_t count = SENTINEL_SIZE;
    float dist = SENTINEL_FLOAT;
    uint64_t key = SENTINEL_KEY;
    const char *skey = NULL;
    size_t skey_len = SENTINEL_SIZE;
    EXPECT(OMENDB_STATUS_OUT_OF_RANGE, "omendb_results_count(query=2 of 2)",
           omendb_results_count(res_u64, 2, &count, ERR_OUT));
    EXPECT(OMENDB_STATUS_OUT_OF_RANGE, "omendb_results_count(query=SIZE_MAX)",
           omendb_results_count(res_u64, SIZE_MAX, &count, ERR_OUT));
    EXPECT(OMENDB_STATUS_OUT_OF_RANGE, "omendb_results_distance(rank=3, k=3)",
           omendb_results_distance(res_u64, 0, 3, &dist, ERR_OUT));
    EXPECT(OMENDB_STATUS_OUT_OF_RANGE, "omendb_results_distance(query=2 of 2)",
           omendb_results_distance(res_u64, 2, 0, &dist, ERR_OUT));
    EXPECT(OMENDB_STATUS_OUT_OF_RANGE, "omendb_results_key(rank=3, k=3)",
           omendb_results_key(res_u64, 1, 3, &key, ERR_OUT));
    EXPECT(OMENDB_STATUS_OUT_OF_RANGE, "omendb_results_key(query=2 of 2)",
           omendb_results_key(res_u64, 2, 0, &key, ERR_OUT));
    EXPECT(OMENDB_STATUS_OUT_OF_RANGE, "omendb_results_key_str(rank=3, k=3)",
           omendb_results_key_str(res_str, 0, 3, &skey, &skey_len, ERR_OUT));
    EXPECT(OMENDB_STATUS_OUT_OF_RANGE, "omendb_results_key_str(query=1 of 1)",
           omendb_results_key_str(res_str, 1, 0, &skey, &skey_len, ERR_OUT));

    /* A rank below k but past the hits found (k = 25 on 20 records) is out of range too. */
    omendb_results *few = NULL;
    CHECK_OK(omendb_index_search_results(l2, query, 1, D, N + 5, 0, &few, &ERR));
    CHECK_OK(omendb_results_count(few, 0, &count, &ERR));
    CHECK(count == N);
    EXPECT(OMENDB_STATUS_OUT_OF_RANGE, "omendb_results_key(rank=20, k=25, 20 hits)",
           omendb_results_key(few, 0, N, &key, ERR_OUT));
    EXPECT(OMENDB_STATUS_OUT_OF_RANGE, "omendb_results_distance(rank=20, k=25, 20 hits)",
           omendb_results_distance(few, 0, N, &dist, ERR_OUT));
    omendb_results_free(few);
    CHECK(dist == SENTINEL_FLOAT && key == SENTINEL_KEY && skey == NULL && skey_len == SENTINEL_SIZE);
}

static void test_empty_inputs_are_ok(void) {
    uint64_t first = SENTINEL_KEY;
    omendb_results *res = NULL;
    EXPECT(OMENDB_STATUS_OK, "omendb_index_add_batch(keys=NULL, n=0, vectors=NULL)",
           omendb_index_add_batch(l2, NULL, 0, NULL, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_OK, "omendb_index_add_batch(keys=NULL, n=0, vectors=NULL, dim=0)",
           omendb_index_add_batch(l2, NULL, 0, NULL, 0, ERR_OUT));
    EXPECT(OMENDB_STATUS_OK, "omendb_index_add_batch(fresh index, keys=NULL, n=0, vectors=NULL)",
           omendb_index_add_batch(fresh, NULL, 0, NULL, 7, ERR_OUT));
    EXPECT(OMENDB_STATUS_OK, "omendb_index_upsert_batch(keys=NULL, n=0, vectors=NULL)",
           omendb_index_upsert_batch(l2, NULL, 0, NULL, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_OK, "omendb_index_add_batch_str(keys=NULL, key_lens=NULL, n=0, vectors=NULL)",
           omendb_index_add_batch_str(strix, NULL, NULL, 0, NULL, D, ERR_OUT));
    EXPECT(OMENDB_STATUS_OK, "omendb_index_search(queries=NULL, n=0, outputs NULL, out_len=0)",
           omendb_index_search(l2, NULL, 0, D, K, 0, NULL, NULL, 0, ERR_OUT));
    EXPECT(OMENDB_STATUS_OK, "omendb_index_search(n=1, k=5, out_len=10: larger is fine)",
           omendb_index_search(l2, query, 1, D, K, 0, (uint64_t[2 * K]){0}, (float[2 * K]){0}, 2 * K, ERR_OUT));
    bool found_no_key = true, found_empty = true;
    EXPECT(OMENDB_STATUS_OK, "omendb_index_contains(OMENDB_NO_KEY) (found = false)",
           omendb_index_contains(l2, OMENDB_NO_KEY, &found_no_key, ERR_OUT));
    EXPECT(OMENDB_STATUS_OK, "omendb_index_contains_str(\"\", len 0) (found = false)",
           omendb_index_contains_str(strix, "", 0, &found_empty, ERR_OUT));
    CHECK(!found_no_key && !found_empty);
    CHECK_OK(omendb_index_search_results(l2, NULL, 0, D, K, 0, &res, &ERR));
    size_t n = SENTINEL_SIZE;
    CHECK_OK(omendb_results_num_queries(res, &n, &ERR));
    CHECK(n == 0);
    omendb_results_free(res);
    CHECK_OK(omendb_index_add_auto(fresh, NULL, 0, D, &first, &ERR));
    CHECK(first == 0);
}

/*
 * "No call aborts the process": a k so large that the results object cannot be allocated.
 * Run in a child process, before this process starts any thread, since it may abort.
 */
static void test_huge_k_does_not_abort(void) {
#if SIZE_MAX > UINT32_MAX
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core); /* an abort here should not leave a core file */
        omendb_index *index = NULL;
        uint64_t key = 1;
        omendb_results *res = NULL;
        if (omendb_index_create(NULL, &index, NULL) != OMENDB_STATUS_OK ||
            omendb_index_add_batch(index, &key, 1, query, D, NULL) != OMENDB_STATUS_OK)
            _exit(2);
        omendb_status st = omendb_index_search_results(index, query, 1, D, (size_t)1 << 40, 0, &res, NULL);
        printf("%-72s -> %s\n", "omendb_index_search_results(k=2^40, 1 record)", omendb_status_name((uint32_t)st));
        omendb_results_free(res);
        omendb_index_free(index);
        fflush(stdout);
        _exit(0);
    }
    int wstatus = 0;
    CHECK(pid > 0 && waitpid(pid, &wstatus, 0) == pid);
    if (WIFSIGNALED(wstatus))
        printf("%-72s -> process killed by signal %d\n", "omendb_index_search_results(k=2^40, 1 record)",
               WTERMSIG(wstatus));
    CHECK(!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 2);
    /* The child must not be killed by an abort: an allocation it cannot make is an error. */
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
#endif
}

int main(void) {
    printf("%-72s -> %s\n", "input", "status");
    RUN(test_huge_k_does_not_abort);
    setup();
    if (check_failures != 0) {
        fprintf(stderr, "setup failed\n");
        teardown();
        return 1;
    }
    RUN(test_null_pointer);
    RUN(test_invalid_argument);
    RUN(test_dimension_mismatch);
    RUN(test_non_finite);
    RUN(test_zero_vector);
    RUN(test_invalid_key);
    RUN(test_invalid_utf8);
    RUN(test_duplicate_key);
    RUN(test_failed_first_batch_leaves_dim_unset);
    RUN(test_key_not_found);
    RUN(test_buffer_too_small);
    RUN(test_out_of_range);
    RUN(test_empty_inputs_are_ok);
    teardown();
    return check_finish();
}
