/*
 * test_quant.c: quantized indexes through the C API. Every dtype finds a stored vector first,
 * at its exact distance (re-ranked at full precision); the options setters validate their
 * input; int8 and PQ refuse a first batch too small to train on; PQ refuses sub-space counts
 * that do not divide the dimensions; full-precision vectors can live in a file; saving a
 * quantized index is refused with a clear status. Neighbour codes beside the links (8 and 4
 * bits): stored vectors found first, the same answers after a save and a load, a mapped open
 * without them, and their setter's checks.
 */
#include <math.h>
#include <string.h>

#include "check.h"

#define DIM 128
#define N 1200

static float *data(uint64_t seed) {
    float *v = check_alloc(sizeof(float) * N * DIM);
    check_rand_fill(&seed, v, (size_t)N * DIM);
    return v;
}

static omendb_index *create(uint32_t dtype, uint64_t rerank, const char *dir) {
    omendb_options *opts = NULL;
    omendb_index *index = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK_OK(omendb_options_set_dtype(opts, dtype, &ERR));
    CHECK_OK(omendb_options_set_rerank(opts, rerank, &ERR));
    if (dir) CHECK_OK(omendb_options_set_full_precision_dir(opts, dir, strlen(dir), &ERR));
    CHECK_OK(omendb_index_create(opts, &index, &ERR));
    omendb_options_free(opts);
    return index;
}

static void check_finds_itself(omendb_index *index, const float *vectors) {
    uint64_t keys[10];
    float dists[10];
    for (size_t probe = 0; probe < 5; probe++) {
        size_t i = probe * 211;
        /* ef 128: a parallel build of random 128-d data is not deterministic, and at the default
           ef a stored vector is missed now and then (seen with int8 in Python, 1 build in 20). */
        CHECK_OK(omendb_index_search(index, vectors + i * DIM, 1, DIM, 10, 128, keys, dists, 10, &ERR));
        CHECK(keys[0] == i);
        CHECK(fabsf(dists[0]) < 1e-5f);
        for (int j = 1; j < 10; j++) CHECK(dists[j] >= dists[j - 1]);
    }
}

static void test_every_dtype_finds_stored_vectors(void) {
    uint32_t dtypes[] = {OMENDB_DTYPE_F32, OMENDB_DTYPE_F16, OMENDB_DTYPE_INT8, OMENDB_DTYPE_BINARY, OMENDB_DTYPE_PQ};
    float *v = data(1);
    uint64_t *keys = check_alloc(sizeof(uint64_t) * N);
    for (size_t i = 0; i < N; i++) keys[i] = i;
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
        omendb_index *index = create(dtypes[d], 8, NULL);
        CHECK_OK(omendb_index_add_batch(index, keys, N, v, DIM, &ERR));
        check_finds_itself(index, v);
        omendb_index_free(index);
    }
    free(keys);
    free(v);
}

static void test_setters_validate(void) {
    omendb_options *opts = NULL;
    omendb_error *err = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK(omendb_options_set_dtype(opts, 5, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(omendb_error_message(err), "dtype 5") != NULL);
    omendb_error_free(err);
    err = NULL;
    CHECK(omendb_options_set_dtype(NULL, OMENDB_DTYPE_INT8, NULL) == OMENDB_STATUS_NULL_POINTER);
    CHECK(omendb_options_set_rerank(opts, 0, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(omendb_options_set_rerank(opts, 1025, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(omendb_options_set_full_precision_dir(opts, NULL, 3, NULL) == OMENDB_STATUS_NULL_POINTER);
    CHECK(omendb_options_set_full_precision_dir(opts, "\xff", 1, NULL) == OMENDB_STATUS_INVALID_UTF8);
    /* PQ: 12 sub-spaces do not divide 128 dimensions. */
    CHECK_OK(omendb_options_set_dtype(opts, OMENDB_DTYPE_PQ, &ERR));
    CHECK_OK(omendb_options_set_dim(opts, DIM, &ERR));
    CHECK_OK(omendb_options_set_pq_m(opts, 12, &ERR));
    omendb_index *index = NULL;
    CHECK(omendb_index_create(opts, &index, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(index == NULL);
    CHECK(err != NULL && strstr(omendb_error_message(err), "12 sub-spaces do not divide dim 128") != NULL);
    omendb_error_free(err);
    omendb_options_free(opts);
}

static void test_training_needs_a_large_first_batch(void) {
    float *v = data(2);
    uint64_t *keys = check_alloc(sizeof(uint64_t) * N);
    for (size_t i = 0; i < N; i++) keys[i] = i;
    omendb_index *index = create(OMENDB_DTYPE_INT8, 4, NULL);
    omendb_error *err = NULL;
    CHECK(omendb_index_add_batch(index, keys, 100, v, DIM, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(omendb_error_message(err), "at least 256 vectors") != NULL);
    omendb_error_free(err);
    size_t len = 1;
    CHECK_OK(omendb_index_len(index, &len, &ERR));
    CHECK(len == 0);
    CHECK_OK(omendb_index_add_batch(index, keys, N, v, DIM, &ERR));
    check_finds_itself(index, v);
    omendb_index_free(index);
    free(keys);
    free(v);
}

static void test_full_precision_in_a_file_and_save(void) {
    float *v = data(3);
    uint64_t *keys = check_alloc(sizeof(uint64_t) * N);
    for (size_t i = 0; i < N; i++) keys[i] = i;
    omendb_index *index = create(OMENDB_DTYPE_BINARY, 16, "/tmp");
    CHECK_OK(omendb_index_add_batch(index, keys, N, v, DIM, &ERR));
    check_finds_itself(index, v);
    const char *path = "/tmp/omendb-ctest-quant.omendb";
    CHECK_OK(omendb_index_save(index, path, strlen(path), &ERR));
    omendb_index_free(index);
    /* Saved (format version 3): loaded and opened, it still finds every vector. */
    omendb_index *loaded = NULL;
    CHECK_OK(omendb_index_load(path, strlen(path), &loaded, &ERR));
    check_finds_itself(loaded, v);
    omendb_index_free(loaded);
    omendb_index *opened = NULL;
    CHECK_OK(omendb_index_open(path, strlen(path), &opened, &ERR));
    check_finds_itself(opened, v);
    omendb_index_free(opened);
    remove(path);

    index = create(OMENDB_DTYPE_F16, 4, "/nonexistent-omendb-dir");
    CHECK(omendb_index_add_batch(index, keys, N, v, DIM, NULL) == OMENDB_STATUS_IO);
    omendb_index_free(index);
    free(keys);
    free(v);
}

static void search_all(omendb_index *index, const float *vectors, uint64_t *keys, float *dists) {
    /* 20 queries, k 10, ef 32: the answers compared before and after a save. */
    CHECK_OK(omendb_index_search(index, vectors, 20, DIM, 10, 32, keys, dists, 200, &ERR));
}

static void test_neighbor_codes(void) {
    float *v = data(4);
    uint64_t *keys = check_alloc(sizeof(uint64_t) * N);
    for (size_t i = 0; i < N; i++) keys[i] = i;
    uint32_t widths[] = {8, 4};
    for (int w = 0; w < 2; w++) {
        omendb_options *opts = NULL;
        omendb_index *index = NULL;
        CHECK_OK(omendb_options_create(&opts, &ERR));
        CHECK_OK(omendb_options_set_neighbor_codes(opts, widths[w], &ERR));
        CHECK_OK(omendb_index_create(opts, &index, &ERR));
        omendb_options_free(opts);
        /* Two batches: the codes are learned from the first 300; a load must keep them
           (learned again from all the records, they would answer differently). */
        CHECK_OK(omendb_index_add_batch(index, keys, 300, v, DIM, &ERR));
        CHECK_OK(omendb_index_add_batch(index, keys + 300, N - 300, v + 300 * DIM, DIM, &ERR));
        check_finds_itself(index, v);
        char *json = NULL;
        CHECK_OK(omendb_index_stats(index, &json, NULL, &ERR));
        CHECK(strstr(json, "\"neighbor_codes_in_use\":true") != NULL);
        /* Each node keeps its own code (the default layout). */
        CHECK(strstr(json, "\"neighbor_codes_layout\":\"per_node\"") != NULL);
        omendb_string_free(json);
        uint64_t before_keys[200], after_keys[200];
        float before_dists[200], after_dists[200];
        search_all(index, v, before_keys, before_dists);
        const char *path = "/tmp/omendb-ctest-codes.omendb";
        CHECK_OK(omendb_index_save(index, path, strlen(path), &ERR));
        omendb_index_free(index);
        /* Format version 8 keeps the codes' ranges: a load answers exactly as before. */
        omendb_index *loaded = NULL;
        CHECK_OK(omendb_index_load(path, strlen(path), &loaded, &ERR));
        search_all(loaded, v, after_keys, after_dists);
        CHECK(memcmp(before_keys, after_keys, sizeof before_keys) == 0);
        CHECK(memcmp(before_dists, after_dists, sizeof before_dists) == 0);
        omendb_index_free(loaded);
        /* Mapped, the codes go to memory beside the mapping, derived from its vectors at
           open: the same answers again. */
        omendb_index *opened = NULL;
        CHECK_OK(omendb_index_open(path, strlen(path), &opened, &ERR));
        search_all(opened, v, after_keys, after_dists);
        CHECK(memcmp(before_keys, after_keys, sizeof before_keys) == 0);
        CHECK(memcmp(before_dists, after_dists, sizeof before_dists) == 0);
        CHECK_OK(omendb_index_stats(opened, &json, NULL, &ERR));
        CHECK(strstr(json, "\"neighbor_codes_in_use\":true") != NULL);
        omendb_string_free(json);
        omendb_index_free(opened);
        remove(path);
    }

    omendb_options *opts = NULL;
    omendb_error *err = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK(omendb_options_set_neighbor_codes(opts, 3, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(omendb_error_message(err), "0, 4 or 8") != NULL);
    omendb_error_free(err);
    err = NULL;
    CHECK(omendb_options_set_neighbor_codes(NULL, 8, NULL) == OMENDB_STATUS_NULL_POINTER);
    /* Codes of codes: refused when the index is created. */
    CHECK_OK(omendb_options_set_neighbor_codes(opts, 8, &ERR));
    CHECK_OK(omendb_options_set_dtype(opts, OMENDB_DTYPE_INT8, &ERR));
    omendb_index *index = NULL;
    CHECK(omendb_index_create(opts, &index, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(index == NULL);
    CHECK(err != NULL && strstr(omendb_error_message(err), "f32 only") != NULL);
    omendb_error_free(err);
    omendb_options_free(opts);
    free(keys);
    free(v);
}

int main(void) {
    RUN(test_every_dtype_finds_stored_vectors);
    RUN(test_setters_validate);
    RUN(test_training_needs_a_large_first_batch);
    RUN(test_full_precision_in_a_file_and_save);
    RUN(test_neighbor_codes);
    return check_finish();
}
