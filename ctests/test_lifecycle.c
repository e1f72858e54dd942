/*
 * test_lifecycle.c: the life of each C object. Options are created, set and freed; an index is
 * created (with NULL options = the defaults, or dimensions fixed up front), filled, inspected,
 * edited and freed; results are read through every accessor; every _free accepts NULL; the
 * library version matches the header; every status has its name.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static omendb_index *new_index(uint32_t metric, uint64_t dim) {
    omendb_options *opts = NULL;
    omendb_index *index = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK_OK(omendb_options_set_metric(opts, metric, &ERR));
    CHECK_OK(omendb_options_set_dim(opts, dim, &ERR));
    CHECK_OK(omendb_index_create(opts, &index, &ERR));
    omendb_options_free(opts); /* the index keeps its own copy */
    return index;
}

static size_t index_len(const omendb_index *index) {
    size_t len = (size_t)-1;
    CHECK_OK(omendb_index_len(index, &len, &ERR));
    return len;
}

static bool has_key(const omendb_index *index, uint64_t key) {
    bool found = false;
    CHECK_OK(omendb_index_contains(index, key, &found, &ERR));
    return found;
}

static bool has_str(const omendb_index *index, const char *key) {
    bool found = false;
    CHECK_OK(omendb_index_contains_str(index, key, strlen(key), &found, &ERR));
    return found;
}

static void test_version(void) {
    char expected[64];
    snprintf(expected, sizeof expected, "%d.%d.%d", OMENDB_VERSION_MAJOR, OMENDB_VERSION_MINOR,
             OMENDB_VERSION_PATCH);
    CHECK(omendb_version() != NULL);
    CHECK(strcmp(omendb_version(), OMENDB_VERSION) == 0);
    CHECK(strcmp(OMENDB_VERSION, expected) == 0);
    CHECK(omendb_version() == omendb_version()); /* static */
}

static void test_status_names(void) {
#define NAMED(code) { code, #code }
    static const struct {
        uint32_t code;
        const char *name;
    } statuses[] = {
        NAMED(OMENDB_STATUS_OK),
        NAMED(OMENDB_STATUS_INTERNAL),
        NAMED(OMENDB_STATUS_NULL_POINTER),
        NAMED(OMENDB_STATUS_INVALID_ARGUMENT),
        NAMED(OMENDB_STATUS_DIMENSION_MISMATCH),
        NAMED(OMENDB_STATUS_NON_FINITE),
        NAMED(OMENDB_STATUS_ZERO_VECTOR),
        NAMED(OMENDB_STATUS_INVALID_KEY),
        NAMED(OMENDB_STATUS_INVALID_UTF8),
        NAMED(OMENDB_STATUS_DUPLICATE_KEY),
        NAMED(OMENDB_STATUS_KEY_NOT_FOUND),
        NAMED(OMENDB_STATUS_BUFFER_TOO_SMALL),
        NAMED(OMENDB_STATUS_OUT_OF_RANGE),
        NAMED(OMENDB_STATUS_IO),
        NAMED(OMENDB_STATUS_CORRUPT),
        NAMED(OMENDB_STATUS_UNSUPPORTED_VERSION),
        NAMED(OMENDB_STATUS_FILTER_SYNTAX),
        NAMED(OMENDB_STATUS_LOCKED),
    };
#undef NAMED
    size_t n = sizeof statuses / sizeof statuses[0];
    for (size_t i = 0; i < n; i++) {
        CHECK(statuses[i].code == i); /* numbers are stable and dense */
        const char *name = omendb_status_name(statuses[i].code);
        CHECK(name != NULL && strcmp(name, statuses[i].name) == 0);
        CHECK(name == omendb_status_name(statuses[i].code)); /* static */
    }
    CHECK(strcmp(omendb_status_name((uint32_t)n), "OMENDB_STATUS_UNKNOWN") == 0);
    CHECK(strcmp(omendb_status_name(UINT32_MAX), "OMENDB_STATUS_UNKNOWN") == 0);
    CHECK(OMENDB_STATUS_OK == 0);
}

static void test_free_null_and_error_accessors(void) {
    omendb_index_free(NULL);
    omendb_options_free(NULL);
    omendb_results_free(NULL);
    omendb_error_free(NULL);
    CHECK(omendb_error_code(NULL) == OMENDB_STATUS_OK);
    CHECK(omendb_error_message(NULL) != NULL && omendb_error_message(NULL)[0] == '\0');
}

static void test_error_object(void) {
    omendb_error *err = NULL;
    size_t len = 7;
    CHECK(omendb_index_len(NULL, &len, &err) == OMENDB_STATUS_NULL_POINTER);
    CHECK(err != NULL);
    CHECK(omendb_error_code(err) == OMENDB_STATUS_NULL_POINTER);
    CHECK(strlen(omendb_error_message(err)) > 0);
    CHECK(len == 7);
    omendb_error_free(err);

    /* On success err_out is set to NULL, whatever it held. */
    omendb_index *index = new_index(OMENDB_METRIC_L2, 0);
    err = (omendb_error *)&len; /* a stale value the call must overwrite */
    CHECK(omendb_index_len(index, &len, &err) == OMENDB_STATUS_OK);
    CHECK(err == NULL);
    CHECK(len == 0);
    omendb_index_free(index);
}

static void test_options(void) {
    omendb_options *opts = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK(opts != NULL);
    CHECK_OK(omendb_options_set_dim(opts, 12, &ERR));
    CHECK_OK(omendb_options_set_metric(opts, OMENDB_METRIC_IP, &ERR));
    CHECK_OK(omendb_options_set_m(opts, 8, &ERR));
    CHECK_OK(omendb_options_set_ef_construction(opts, 50, &ERR));
    CHECK_OK(omendb_options_set_ef_search(opts, 20, &ERR));
    CHECK_OK(omendb_options_set_seed(opts, 42, &ERR));
    /* Boundaries of the documented ranges are accepted. */
    CHECK_OK(omendb_options_set_m(opts, 2, &ERR));
    CHECK_OK(omendb_options_set_m(opts, 512, &ERR));
    CHECK_OK(omendb_options_set_dim(opts, 65536, &ERR));
    CHECK_OK(omendb_options_set_ef_search(opts, 1048576, &ERR));
    CHECK_OK(omendb_options_set_ef_construction(opts, 1, &ERR));
    CHECK_OK(omendb_options_set_dim(opts, 12, &ERR));
    CHECK_OK(omendb_options_set_m(opts, 8, &ERR));
    /* A rejected value leaves the options as they were. */
    CHECK(omendb_options_set_dim(opts, 65537, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(omendb_options_set_metric(opts, 3, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);

    omendb_index *a = NULL, *b = NULL;
    CHECK_OK(omendb_index_create(opts, &a, &ERR));
    CHECK_OK(omendb_index_create(opts, &b, &ERR)); /* options can be used again */
    omendb_options_free(opts);

    size_t dim = 0;
    uint32_t metric = 99, kind = 99;
    CHECK_OK(omendb_index_dim(a, &dim, &ERR));
    CHECK_OK(omendb_index_metric(a, &metric, &ERR));
    CHECK_OK(omendb_index_key_kind(a, &kind, &ERR));
    CHECK(dim == 12);
    CHECK(metric == OMENDB_METRIC_IP);
    CHECK(kind == OMENDB_KEY_KIND_NONE);
    CHECK(index_len(a) == 0);
    CHECK(a != b);
    omendb_index_free(a);
    omendb_index_free(b);
}

static void test_defaults_and_first_batch_sets_dim(void) {
    omendb_index *index = NULL;
    CHECK_OK(omendb_index_create(NULL, &index, &ERR));
    size_t dim = 99, mem0 = 0, mem1 = 0;
    uint32_t metric = 99, kind = 99;
    CHECK_OK(omendb_index_dim(index, &dim, &ERR));
    CHECK_OK(omendb_index_metric(index, &metric, &ERR));
    CHECK_OK(omendb_index_key_kind(index, &kind, &ERR));
    CHECK_OK(omendb_index_memory_bytes(index, &mem0, &ERR));
    CHECK(dim == 0);
    CHECK(metric == OMENDB_METRIC_L2);
    CHECK(kind == OMENDB_KEY_KIND_NONE);
    CHECK(index_len(index) == 0);
    CHECK(!has_key(index, 1));

    enum { N = 40, D = 6 };
    uint64_t keys[N];
    float vectors[N * D];
    uint64_t rng = 1;
    for (size_t i = 0; i < N; i++) keys[i] = 1000 + i;
    check_rand_fill(&rng, vectors, N * D);
    CHECK_OK(omendb_index_add_batch(index, keys, N, vectors, D, &ERR));

    CHECK_OK(omendb_index_dim(index, &dim, &ERR));
    CHECK_OK(omendb_index_key_kind(index, &kind, &ERR));
    CHECK_OK(omendb_index_memory_bytes(index, &mem1, &ERR));
    CHECK(dim == D);
    CHECK(kind == OMENDB_KEY_KIND_U64);
    CHECK(index_len(index) == N);
    CHECK(mem1 > mem0);
    CHECK(mem1 >= N * D * sizeof(float));
    for (size_t i = 0; i < N; i++) CHECK(has_key(index, keys[i]));
    CHECK(!has_key(index, 999));

    /* Every record is its own nearest neighbour, at distance 0. */
    uint64_t hit = 0;
    float dist = -1;
    CHECK_OK(omendb_index_search(index, &vectors[7 * D], 1, D, 1, 0, &hit, &dist, 1, &ERR));
    CHECK(hit == keys[7]);
    CHECK(dist == 0.0f);

    /* Remove, compact, len. */
    CHECK_OK(omendb_index_remove(index, keys[7], &ERR));
    CHECK(!has_key(index, keys[7]));
    CHECK(index_len(index) == N - 1);
    CHECK(omendb_index_remove(index, keys[7], NULL) == OMENDB_STATUS_KEY_NOT_FOUND);
    CHECK_OK(omendb_index_search(index, &vectors[7 * D], 1, D, 1, 0, &hit, &dist, 1, &ERR));
    CHECK(hit != keys[7]);
    for (size_t i = 0; i < 10; i++) CHECK_OK(omendb_index_remove(index, keys[20 + i], &ERR));
    CHECK_OK(omendb_index_compact(index, &ERR));
    CHECK(index_len(index) == N - 11);
    CHECK(has_key(index, keys[0]) && has_key(index, keys[39]) && !has_key(index, keys[25]));

    /* A removed key can be added again. */
    CHECK_OK(omendb_index_add_batch(index, &keys[7], 1, &vectors[7 * D], D, &ERR));
    CHECK(has_key(index, keys[7]));
    CHECK(index_len(index) == N - 10);
    omendb_index_free(index);
}

static void test_upsert(void) {
    omendb_index *index = new_index(OMENDB_METRIC_L2, 2);
    uint64_t keys[3] = {1, 2, 3};
    float v[6] = {0, 0, 10, 0, 20, 0};
    CHECK_OK(omendb_index_add_batch(index, keys, 3, v, 2, &ERR));
    /* Key 1 moves next to (30, 0); key 4 is new. */
    uint64_t up_keys[2] = {1, 4};
    float up[4] = {30, 0, -10, 0};
    CHECK_OK(omendb_index_upsert_batch(index, up_keys, 2, up, 2, &ERR));
    CHECK(index_len(index) == 4);
    float q[2] = {31, 0};
    uint64_t hits[2];
    float dists[2];
    CHECK_OK(omendb_index_search(index, q, 1, 2, 2, 0, hits, dists, 2, &ERR));
    CHECK(hits[0] == 1 && dists[0] == 1.0f);
    CHECK(hits[1] == 3);
    omendb_index_free(index);
}

static void test_add_auto(void) {
    omendb_index *index = NULL;
    CHECK_OK(omendb_index_create(NULL, &index, &ERR));
    float v[12];
    uint64_t rng = 2, first = 99;
    check_rand_fill(&rng, v, 12);
    CHECK_OK(omendb_index_add_auto(index, v, 3, 2, &first, &ERR));
    CHECK(first == 0);
    CHECK_OK(omendb_index_add_auto(index, v + 6, 3, 2, &first, &ERR));
    CHECK(first == 3);
    CHECK(index_len(index) == 6);
    for (uint64_t k = 0; k < 6; k++) CHECK(has_key(index, k));
    omendb_index_free(index);
}

static void test_string_keys(void) {
    omendb_index *index = new_index(OMENDB_METRIC_COSINE, 0);
    /* NUL-terminated keys (key_lens NULL)... */
    const char *words[3] = {"north", "south", "\xc3\xa9t\xc3\xa9"}; /* "été" in UTF-8 */
    float v[6] = {0, 1, 0, -1, 1, 0};
    CHECK_OK(omendb_index_add_batch_str(index, words, NULL, 3, v, 2, &ERR));
    /* ...and keys with explicit lengths, one holding a NUL byte. */
    const char *more[2] = {"a\0b", "northeast-and-then-some"};
    size_t lens[2] = {3, 9};
    float w[4] = {-1, 0, 1, 1};
    CHECK_OK(omendb_index_add_batch_str(index, more, lens, 2, w, 2, &ERR));

    uint32_t kind = 0;
    CHECK_OK(omendb_index_key_kind(index, &kind, &ERR));
    CHECK(kind == OMENDB_KEY_KIND_STRING);
    CHECK(index_len(index) == 5);
    CHECK(has_str(index, "north") && has_str(index, "south") && has_str(index, "\xc3\xa9t\xc3\xa9"));
    CHECK(has_str(index, "northeast"));
    CHECK(!has_str(index, "northeast-and-then-some"));
    CHECK(!has_str(index, "a"));
    bool found = false;
    CHECK_OK(omendb_index_contains_str(index, "a\0b", 3, &found, &ERR));
    CHECK(found);
    CHECK(!has_key(index, 1)); /* a u64 probe of a string index finds nothing */

    /* The NUL-holding key comes back whole through omendb_results_key_str. */
    omendb_results *res = NULL;
    float q[2] = {-2, 0};
    CHECK_OK(omendb_index_search_results(index, q, 1, 2, 1, 0, &res, &ERR));
    const char *key = NULL;
    size_t key_len = 0;
    CHECK_OK(omendb_results_key_str(res, 0, 0, &key, &key_len, &ERR));
    CHECK(key_len == 3 && key != NULL && memcmp(key, "a\0b", 4) == 0);
    CHECK_OK(omendb_results_key_str(res, 0, 0, &key, NULL, &ERR)); /* len_out is optional */
    omendb_results_free(res);

    /* The longest key allowed is 65536 bytes. */
    char *long_key = check_alloc(65536);
    memset(long_key, 'k', 65536);
    size_t long_len = 65536;
    const char *long_keys[1] = {long_key};
    float lv[2] = {0.5f, 0.5f};
    CHECK_OK(omendb_index_add_batch_str(index, long_keys, &long_len, 1, lv, 2, &ERR));
    CHECK_OK(omendb_index_contains_str(index, long_key, long_len, &found, &ERR));
    CHECK(found);
    CHECK_OK(omendb_index_remove_str(index, long_key, long_len, &ERR));
    free(long_key);

    CHECK_OK(omendb_index_remove_str(index, "south", 5, &ERR));
    CHECK(!has_str(index, "south"));
    CHECK(index_len(index) == 4);
    CHECK(omendb_index_remove_str(index, "south", 5, NULL) == OMENDB_STATUS_KEY_NOT_FOUND);

    /* Upsert by string key. */
    const char *north[1] = {"north"};
    float down[2] = {0, -3};
    CHECK_OK(omendb_index_upsert_batch_str(index, north, NULL, 1, down, 2, &ERR));
    CHECK(index_len(index) == 4);
    float below[2] = {0, -1};
    CHECK_OK(omendb_index_search_results(index, below, 1, 2, 1, 0, &res, &ERR));
    CHECK_OK(omendb_results_key_str(res, 0, 0, &key, &key_len, &ERR));
    CHECK(key_len == 5 && strcmp(key, "north") == 0);
    omendb_results_free(res);
    omendb_index_free(index);
}

static void test_results_u64(void) {
    omendb_index *index = new_index(OMENDB_METRIC_L2, 1);
    uint64_t keys[3] = {10, 20, 30};
    float v[3] = {1, 2, 3};
    CHECK_OK(omendb_index_add_batch(index, keys, 3, v, 1, &ERR));
    float q[2] = {0, 2.25f};
    omendb_results *res = NULL;
    CHECK_OK(omendb_index_search_results(index, q, 2, 1, 5, 0, &res, &ERR));
    CHECK(res != NULL);

    size_t n = 0, count = 0;
    CHECK_OK(omendb_results_num_queries(res, &n, &ERR));
    CHECK(n == 2);
    CHECK_OK(omendb_results_count(res, 0, &count, &ERR));
    CHECK(count == 3);
    CHECK_OK(omendb_results_count(res, 1, &count, &ERR));
    CHECK(count == 3);

    uint64_t key = 0;
    float dist = -1;
    static const uint64_t want0[3] = {10, 20, 30}, want1[3] = {20, 30, 10};
    static const float dist0[3] = {1, 4, 9}, dist1[3] = {0.0625f, 0.5625f, 1.5625f};
    for (size_t r = 0; r < 3; r++) {
        CHECK_OK(omendb_results_key(res, 0, r, &key, &ERR));
        CHECK(key == want0[r]);
        CHECK_OK(omendb_results_distance(res, 0, r, &dist, &ERR));
        CHECK(dist == dist0[r]);
        CHECK_OK(omendb_results_key(res, 1, r, &key, &ERR));
        CHECK(key == want1[r]);
        CHECK_OK(omendb_results_distance(res, 1, r, &dist, &ERR));
        CHECK(dist == dist1[r]);
    }

    const float *all = NULL;
    size_t all_len = 0;
    CHECK_OK(omendb_results_distances(res, &all, &all_len, &ERR));
    /* Rows are min(k, records) = 3 wide, not k = 5: the object is sized by what can match. */
    CHECK(all != NULL && all_len == 2 * 3);
    if (all != NULL && all_len == 6) {
        CHECK(all[0] == 1 && all[1] == 4 && all[2] == 9);
        CHECK(all[3] == 0.0625f && all[4] == 0.5625f && all[5] == 1.5625f);
    }
    const char *skey = NULL;
    CHECK(omendb_results_key_str(res, 0, 0, &skey, NULL, NULL) == OMENDB_STATUS_INVALID_KEY);
    CHECK(skey == NULL);
    omendb_results_free(res);

    /* No queries: an empty results object. */
    CHECK_OK(omendb_index_search_results(index, NULL, 0, 1, 5, 0, &res, &ERR));
    CHECK_OK(omendb_results_num_queries(res, &n, &ERR));
    CHECK(n == 0);
    CHECK_OK(omendb_results_distances(res, &all, &all_len, &ERR));
    CHECK(all_len == 0);
    omendb_results_free(res);
    omendb_index_free(index);
}

static void test_empty_index_search(void) {
    omendb_index *index = NULL;
    CHECK_OK(omendb_index_create(NULL, &index, &ERR));
    float q[6] = {1, 2, 3, 4, 5, 6};
    uint64_t keys[4] = {1, 2, 3, 4};
    float dists[4] = {0, 0, 0, 0};
    CHECK_OK(omendb_index_search(index, q, 2, 3, 2, 0, keys, dists, 4, &ERR));
    for (size_t i = 0; i < 4; i++) CHECK(keys[i] == OMENDB_NO_KEY && isinf(dists[i]) && dists[i] > 0);
    omendb_results *res = NULL;
    size_t count = 9;
    CHECK_OK(omendb_index_search_results(index, q, 2, 3, 2, 0, &res, &ERR));
    CHECK_OK(omendb_results_count(res, 1, &count, &ERR));
    CHECK(count == 0);
    omendb_results_free(res);
    /* Searching did not fix the dimensions. */
    size_t dim = 9;
    CHECK_OK(omendb_index_dim(index, &dim, &ERR));
    CHECK(dim == 0);
    omendb_index_free(index);
}

int main(void) {
    RUN(test_version);
    RUN(test_status_names);
    RUN(test_free_null_and_error_accessors);
    RUN(test_error_object);
    RUN(test_options);
    RUN(test_defaults_and_first_batch_sets_dim);
    RUN(test_upsert);
    RUN(test_add_auto);
    RUN(test_string_keys);
    RUN(test_results_u64);
    RUN(test_empty_index_search);
    return check_finish();
}
