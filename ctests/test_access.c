/*
 * test_access.c: reading records back and acting on many at once.
 *   - omendb_index_get / _get_str / _get_batch give back the stored vector bit for bit
 *     (normalised under cosine), for f32 and a quantized dtype, after save and load too;
 *     bad input: unknown key, wrong dim, the other key kind, NULL buffers;
 *   - omendb_index_count with and without a filter;
 *   - omendb_index_remove_batch (all or nothing) and omendb_index_remove_where (count is 0
 *     after, and the freed slots are reused);
 *   - OMENDB_EF_EXACT equals a brute force over the stored vectors, with and without a filter.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

enum { D = 8, N = 300 };

static float vectors[N * D];

static omendb_index *make(uint32_t metric, uint32_t dtype) {
    omendb_options *opts = NULL;
    omendb_index *index = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK_OK(omendb_options_set_dim(opts, D, &ERR));
    CHECK_OK(omendb_options_set_metric(opts, metric, &ERR));
    CHECK_OK(omendb_options_set_dtype(opts, dtype, &ERR));
    CHECK_OK(omendb_index_create(opts, &index, &ERR));
    omendb_options_free(opts);
    uint64_t rng = 42;
    check_rand_fill(&rng, vectors, N * D);
    uint64_t keys[N];
    const char *metas[N];
    size_t lens[N];
    static const char *even = "{\"even\": true}", *odd = "{\"even\": false}";
    for (size_t i = 0; i < N; i++) {
        keys[i] = 1000 + i;
        metas[i] = i % 2 == 0 ? even : odd;
        lens[i] = strlen(metas[i]);
    }
    CHECK_OK(omendb_index_add_records(index, keys, N, vectors, D, metas, lens, NULL, NULL, &ERR));
    return index;
}

static void normalised(const float *v, float *out) {
    double norm = 0;
    for (size_t i = 0; i < D; i++) norm += (double)v[i] * v[i];
    for (size_t i = 0; i < D; i++) out[i] = (float)(v[i] / sqrt(norm));
}

static void test_get_gives_the_stored_vector(void) {
    for (uint32_t dtype = OMENDB_DTYPE_F32; dtype <= OMENDB_DTYPE_F16; dtype++) {
        omendb_index *index = make(OMENDB_METRIC_L2, dtype);
        float got[D];
        CHECK_OK(omendb_index_get(index, 1007, got, D, &ERR));
        CHECK(memcmp(got, &vectors[7 * D], sizeof got) == 0);
        float batch[3 * D];
        uint64_t keys[3] = {1299, 1000, 1150};
        CHECK_OK(omendb_index_get_batch(index, keys, 3, batch, D, &ERR));
        CHECK(memcmp(&batch[0], &vectors[299 * D], D * sizeof(float)) == 0);
        CHECK(memcmp(&batch[D], &vectors[0], D * sizeof(float)) == 0);
        CHECK(memcmp(&batch[2 * D], &vectors[150 * D], D * sizeof(float)) == 0);

        /* Bad input: nothing written. */
        float untouched[3 * D];
        memset(untouched, 0x7f, sizeof untouched);
        memcpy(batch, untouched, sizeof batch);
        omendb_error *err = NULL;
        uint64_t missing[3] = {1000, 5, 1001};
        CHECK(omendb_index_get_batch(index, missing, 3, batch, D, &err) == OMENDB_STATUS_KEY_NOT_FOUND);
        CHECK(err != NULL && strstr(omendb_error_message(err), "5") != NULL);
        omendb_error_free(err);
        CHECK(memcmp(batch, untouched, sizeof batch) == 0);
        CHECK(omendb_index_get(index, 5, got, D, NULL) == OMENDB_STATUS_KEY_NOT_FOUND);
        CHECK(omendb_index_get(index, 1007, got, D - 1, NULL) == OMENDB_STATUS_DIMENSION_MISMATCH);
        CHECK(omendb_index_get(index, 1007, NULL, D, NULL) == OMENDB_STATUS_NULL_POINTER);
        CHECK(omendb_index_get_str(index, "a", 1, got, D, NULL) == OMENDB_STATUS_INVALID_KEY);
        CHECK(omendb_index_get(NULL, 1007, got, D, NULL) == OMENDB_STATUS_NULL_POINTER);

        /* After save and load, the same bits. */
        const char *path = "/tmp/omendb-ctest-access.omendb";
        CHECK_OK(omendb_index_save(index, path, strlen(path), &ERR));
        omendb_index *loaded = NULL;
        CHECK_OK(omendb_index_load(path, strlen(path), &loaded, &ERR));
        CHECK_OK(omendb_index_get(loaded, 1007, got, D, &ERR));
        CHECK(memcmp(got, &vectors[7 * D], sizeof got) == 0);
        omendb_index_free(loaded);
        remove(path);
        omendb_index_free(index);
    }

    /* Cosine: the vector as stored, normalised. */
    omendb_index *index = make(OMENDB_METRIC_COSINE, OMENDB_DTYPE_F32);
    float got[D], want[D];
    CHECK_OK(omendb_index_get(index, 1003, got, D, &ERR));
    normalised(&vectors[3 * D], want);
    for (size_t i = 0; i < D; i++) CHECK(fabsf(got[i] - want[i]) < 1e-6f);
    omendb_index_free(index);
}

static void test_count_and_remove(void) {
    omendb_index *index = make(OMENDB_METRIC_L2, OMENDB_DTYPE_F32);
    omendb_filter *even = NULL;
    const char *text = "even = true";
    CHECK_OK(omendb_filter_parse(text, strlen(text), &even, &ERR));
    size_t count = 0;
    CHECK_OK(omendb_index_count(index, NULL, &count, &ERR));
    CHECK(count == N);
    CHECK_OK(omendb_index_count(index, even, &count, &ERR));
    CHECK(count == N / 2);

    /* remove_batch: all or nothing. */
    uint64_t some[3] = {1001, 1003, 4};
    CHECK(omendb_index_remove_batch(index, some, 3, NULL) == OMENDB_STATUS_KEY_NOT_FOUND);
    uint64_t twice[2] = {1001, 1001};
    CHECK(omendb_index_remove_batch(index, twice, 2, NULL) == OMENDB_STATUS_DUPLICATE_KEY);
    CHECK_OK(omendb_index_count(index, NULL, &count, &ERR));
    CHECK(count == N);
    CHECK_OK(omendb_index_remove_batch(index, some, 2, &ERR));
    CHECK_OK(omendb_index_count(index, NULL, &count, &ERR));
    CHECK(count == N - 2);

    /* remove_where: the matches go, and only they. */
    size_t removed = 0;
    CHECK_OK(omendb_index_remove_where(index, even, &removed, &ERR));
    CHECK(removed == N / 2);
    CHECK_OK(omendb_index_count(index, even, &count, &ERR));
    CHECK(count == 0);
    CHECK_OK(omendb_index_count(index, NULL, &count, &ERR));
    CHECK(count == N / 2 - 2);
    bool found = true;
    CHECK_OK(omendb_index_contains(index, 1000, &found, &ERR));
    CHECK(!found);
    CHECK_OK(omendb_index_remove_where(index, even, &removed, &ERR));
    CHECK(removed == 0);
    CHECK(omendb_index_remove_where(index, NULL, &removed, NULL) == OMENDB_STATUS_NULL_POINTER);

    /* The removed records' slots are reused. */
    CHECK_OK(omendb_index_compact(index, &ERR));
    size_t before = 0, after = 0;
    CHECK_OK(omendb_index_memory_bytes(index, &before, &ERR));
    uint64_t keys[N / 2];
    for (size_t i = 0; i < N / 2; i++) keys[i] = 5000 + i;
    CHECK_OK(omendb_index_add_batch(index, keys, N / 2, vectors, D, &ERR));
    CHECK_OK(omendb_index_memory_bytes(index, &after, &ERR));
    CHECK(after <= before + (before / 10));
    omendb_filter_free(even);
    omendb_index_free(index);
}

static void test_exact_search_is_brute_force(void) {
    omendb_index *index = make(OMENDB_METRIC_L2, OMENDB_DTYPE_F32);
    omendb_filter *odd = NULL;
    const char *text = "even = false";
    CHECK_OK(omendb_filter_parse(text, strlen(text), &odd, &ERR));
    uint64_t rng = 7;
    float q[D];
    size_t wrong = 0;
    for (int round = 0; round < 20; round++) {
        check_rand_fill(&rng, q, D);
        enum { K = 10 };
        for (int filtered = 0; filtered < 2; filtered++) {
            /* Brute force: the K nearest (of the odd rows when filtered). */
            uint64_t want[K];
            float want_d[K];
            size_t have = 0;
            for (size_t i = 0; i < N; i++) {
                if (filtered && i % 2 == 0) continue;
                float d = 0;
                for (size_t j = 0; j < D; j++) d += (q[j] - vectors[i * D + j]) * (q[j] - vectors[i * D + j]);
                size_t at = have < K ? have++ : K;
                while (at > 0 && want_d[at - 1] > d) {
                    if (at < K) {
                        want_d[at] = want_d[at - 1];
                        want[at] = want[at - 1];
                    }
                    at--;
                }
                if (at < K) {
                    want_d[at] = d;
                    want[at] = 1000 + i;
                }
            }
            omendb_results *res = NULL;
            if (filtered)
                CHECK_OK(omendb_index_search_filtered(index, q, 1, D, K, OMENDB_EF_EXACT, odd, &res, &ERR));
            else
                CHECK_OK(omendb_index_search_results(index, q, 1, D, K, OMENDB_EF_EXACT, &res, &ERR));
            for (size_t r = 0; r < K; r++) {
                uint64_t key = 0;
                float d = 0;
                CHECK_OK(omendb_results_key(res, 0, r, &key, &ERR));
                CHECK_OK(omendb_results_distance(res, 0, r, &d, &ERR));
                if (key != want[r] || fabsf(d - want_d[r]) > 1e-4f * (1 + want_d[r])) wrong++;
            }
            omendb_results_free(res);
        }
    }
    CHECK(wrong == 0);
    omendb_filter_free(odd);
    omendb_index_free(index);
}

static void test_range_search_and_stats(void) {
    omendb_index *index = make(OMENDB_METRIC_L2, OMENDB_DTYPE_F32);
    uint64_t rng = 99;
    float q[D];
    check_rand_fill(&rng, q, D);
    /* The radius: midway between the 25th and 26th smallest distances, so exactly 25 records
     * lie within it whatever the rounding of the kernel that computes them. */
    float d[N];
    for (size_t i = 0; i < N; i++) {
        d[i] = 0;
        for (size_t j = 0; j < D; j++) d[i] += (q[j] - vectors[i * D + j]) * (q[j] - vectors[i * D + j]);
    }
    float sorted[N];
    memcpy(sorted, d, sizeof d);
    for (size_t i = 1; i < N; i++)
        for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            float t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    float radius = (sorted[24] + sorted[25]) / 2;
    omendb_results *res = NULL;
    CHECK_OK(omendb_index_range_search(index, q, D, radius, 0, 0, NULL, &res, &ERR));
    size_t count = 0;
    CHECK_OK(omendb_results_count(res, 0, &count, &ERR));
    CHECK(count == 25);
    size_t outside = 0;
    for (size_t r = 0; r < count; r++) {
        uint64_t key = 0;
        CHECK_OK(omendb_results_key(res, 0, r, &key, &ERR));
        if (d[key - 1000] > radius) outside++;
    }
    CHECK(outside == 0);
    omendb_results_free(res);
    /* A limit, and a NaN radius. */
    CHECK_OK(omendb_index_range_search(index, q, D, radius, 10, 0, NULL, &res, &ERR));
    CHECK_OK(omendb_results_count(res, 0, &count, &ERR));
    CHECK(count == 10);
    omendb_results_free(res);
    res = NULL;
    CHECK(omendb_index_range_search(index, q, D, NAN, 0, 0, NULL, &res, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(res == NULL);
    CHECK(omendb_index_range_search(index, q, D - 1, radius, 0, 0, NULL, &res, NULL) == OMENDB_STATUS_DIMENSION_MISMATCH);

    char *json = NULL;
    size_t len = 0;
    CHECK_OK(omendb_index_stats(index, &json, &len, &ERR));
    CHECK(json != NULL && strlen(json) == len);
    CHECK(strstr(json, "\"records\":300") != NULL);
    CHECK(strstr(json, "\"dim\":8") != NULL);
    CHECK(strstr(json, "\"mean_layer0_degree\"") != NULL);
    omendb_string_free(json);
    omendb_index_free(index);
}

static void test_cursor_pages_through_a_snapshot(void) {
    omendb_index *index = make(OMENDB_METRIC_L2, OMENDB_DTYPE_F32);
    omendb_filter *even = NULL;
    CHECK_OK(omendb_filter_parse("even = true", 11, &even, &ERR));
    omendb_cursor *all = NULL, *evens = NULL;
    CHECK_OK(omendb_cursor_create(index, NULL, &all, &ERR));
    CHECK_OK(omendb_cursor_create(index, even, &evens, &ERR));
    /* Writes after the snapshot change nothing the cursors return. */
    CHECK_OK(omendb_index_remove(index, 1000, &ERR));
    uint64_t extra = 9;
    CHECK_OK(omendb_index_add_batch(index, &extra, 1, vectors, D, &ERR));
    size_t total = 0, remaining = 0;
    CHECK_OK(omendb_cursor_len(all, &total, &remaining, &ERR));
    CHECK(total == N && remaining == N);
    uint64_t page[64], previous = 0;
    size_t n = 0, seen = 0, out_of_order = 0;
    do {
        CHECK_OK(omendb_cursor_next(all, page, 64, &n, &ERR));
        for (size_t i = 0; i < n; i++) {
            if (page[i] != 1000 + seen + i || (seen + i > 0 && page[i] <= previous)) out_of_order++;
            previous = page[i];
        }
        seen += n;
    } while (n > 0);
    CHECK(seen == N && out_of_order == 0);
    CHECK_OK(omendb_cursor_len(all, &total, &remaining, &ERR));
    CHECK(remaining == 0);
    seen = 0;
    do {
        CHECK_OK(omendb_cursor_next(evens, page, 7, &n, &ERR));
        for (size_t i = 0; i < n; i++) out_of_order += page[i] % 2 != 0;
        seen += n;
    } while (n > 0);
    CHECK(seen == N / 2 && out_of_order == 0);
    /* The wrong call for the key kind, and a cursor that outlives its index. */
    const char *strs[4];
    size_t lens[4];
    CHECK(omendb_cursor_next_str(all, strs, lens, 4, &n, NULL) == OMENDB_STATUS_INVALID_KEY);
    omendb_cursor_free(evens);
    omendb_filter_free(even);
    omendb_index_free(index);
    CHECK_OK(omendb_cursor_len(all, &total, NULL, &ERR));
    CHECK(total == N);
    omendb_cursor_free(all);
    omendb_cursor_free(NULL);

    /* String keys. */
    omendb_index *named = NULL;
    CHECK_OK(omendb_index_create(NULL, &named, &ERR));
    const char *keys[3] = {"b", "a", "c"};
    CHECK_OK(omendb_index_add_batch_str(named, keys, NULL, 3, vectors, D, &ERR));
    omendb_cursor *c = NULL;
    CHECK_OK(omendb_index_remove_str(named, "c", 1, &ERR));
    CHECK_OK(omendb_cursor_create(named, NULL, &c, &ERR));
    CHECK_OK(omendb_cursor_next_str(c, strs, lens, 4, &n, &ERR));
    CHECK(n == 2 && lens[0] == 1 && strcmp(strs[0], "a") == 0 && strcmp(strs[1], "b") == 0);
    CHECK(omendb_cursor_next(c, page, 4, &n, NULL) == OMENDB_STATUS_INVALID_KEY);
    omendb_cursor_free(c);
    omendb_index_free(named);
}

int main(void) {
    RUN(test_get_gives_the_stored_vector);
    RUN(test_count_and_remove);
    RUN(test_exact_search_is_brute_force);
    RUN(test_range_search_and_stats);
    RUN(test_cursor_pages_through_a_snapshot);
    return check_finish();
}
