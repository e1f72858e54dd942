/*
 * test_habits.c: what users of other vector libraries expect (issue #25): one vocabulary of
 * names, a default beam changed after creation, an index as bytes in memory.
 *   - omendb_{metric,dtype,fusion,sync}_from_name accept every canonical name and its
 *     aliases, case-insensitive, and refuse others with INVALID_ARGUMENT and a message that
 *     lists the accepted names; omendb_*_name gives the canonical name back, NULL for an
 *     unknown value; NULL pointers and bad UTF-8 are refused;
 *   - omendb_index_set_ef_search changes the default beam (range checked) and is saved;
 *   - omendb_index_set_threads / _threads: a pool of the index's own answers as the default;
 *   - metadata null and lists of numbers: stored, returned, filtered (= null, CONTAINS 3);
 *   - tokenizer and BM25 options: stemmer, custom stop words, case, token lengths, k1 and b
 *     change what text search matches; bad values are refused;
 *   - omendb_index_serialize / _deserialize / omendb_bytes_free: the bytes make an index that
 *     answers as the original; damaged bytes are CORRUPT; NULL arguments are refused.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

typedef omendb_status (*parse_fn)(const char *, size_t, uint32_t *, omendb_error **);

static int parses_to(parse_fn parse, const char *name, uint32_t want) {
    uint32_t got = 12345;
    omendb_error *err = NULL;
    omendb_status st = parse(name, strlen(name), &got, &err);
    omendb_error_free(err);
    return st == OMENDB_STATUS_OK && got == want;
}

static void test_names_and_aliases(void) {
    CHECK(parses_to(omendb_metric_from_name, "l2", OMENDB_METRIC_L2));
    CHECK(parses_to(omendb_metric_from_name, "Euclidean", OMENDB_METRIC_L2));
    CHECK(parses_to(omendb_metric_from_name, "dot", OMENDB_METRIC_IP));
    CHECK(parses_to(omendb_metric_from_name, "angular", OMENDB_METRIC_COSINE));
    CHECK(parses_to(omendb_metric_from_name, "COS", OMENDB_METRIC_COSINE));
    CHECK(parses_to(omendb_dtype_from_name, "float16", OMENDB_DTYPE_F16));
    CHECK(parses_to(omendb_dtype_from_name, "sq8", OMENDB_DTYPE_INT8));
    CHECK(parses_to(omendb_dtype_from_name, "pq", OMENDB_DTYPE_PQ));
    CHECK(parses_to(omendb_fusion_from_name, "weighted", OMENDB_FUSION_WEIGHTED));
    CHECK(parses_to(omendb_fusion_from_name, "reciprocal_rank", OMENDB_FUSION_RRF));
    CHECK(parses_to(omendb_sync_from_name, "batch", OMENDB_SYNC_BATCH));
    CHECK(parses_to(omendb_sync_from_name, "none", OMENDB_SYNC_OFF));
    CHECK(strcmp(omendb_metric_name(OMENDB_METRIC_COSINE), "cosine") == 0);
    CHECK(strcmp(omendb_dtype_name(OMENDB_DTYPE_BINARY), "binary") == 0);
    CHECK(strcmp(omendb_fusion_name(OMENDB_FUSION_RRF), "rrf") == 0);
    CHECK(strcmp(omendb_sync_name(OMENDB_SYNC_ALWAYS), "always") == 0);
    CHECK(omendb_metric_name(77) == NULL && omendb_dtype_name(77) == NULL);
    CHECK(omendb_fusion_name(77) == NULL && omendb_sync_name(77) == NULL);
}

static void test_bad_names(void) {
    uint32_t out = 99;
    omendb_error *err = NULL;
    CHECK(omendb_metric_from_name("hamming", 7, &out, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(omendb_error_message(err), "cosine (cos, angular)") != NULL);
    CHECK(out == 99);
    omendb_error_free(err);
    err = NULL;
    CHECK(omendb_fusion_from_name("", 0, &out, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    omendb_error_free(err);
    err = NULL;
    CHECK(omendb_dtype_from_name("\xff", 1, &out, &err) == OMENDB_STATUS_INVALID_UTF8);
    omendb_error_free(err);
    CHECK(omendb_sync_from_name("off", 3, NULL, NULL) == OMENDB_STATUS_NULL_POINTER);
    CHECK(omendb_metric_from_name(NULL, 2, &out, NULL) == OMENDB_STATUS_NULL_POINTER);
}

static void test_ef_search_setting(void) {
    omendb_options *opts = NULL;
    omendb_index *index = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK_OK(omendb_options_set_dim(opts, 4, &ERR));
    CHECK_OK(omendb_options_set_ef_search(opts, 24, &ERR));
    CHECK_OK(omendb_index_create(opts, &index, &ERR));
    omendb_options_free(opts);
    size_t ef = 0;
    CHECK_OK(omendb_index_ef_search(index, &ef, &ERR));
    CHECK(ef == 24);
    CHECK_OK(omendb_index_set_ef_search(index, 500, &ERR));
    CHECK(omendb_index_set_ef_search(index, 0, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(omendb_index_set_ef_search(index, (uint64_t)1 << 40, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(omendb_index_set_ef_search(NULL, 5, NULL) == OMENDB_STATUS_NULL_POINTER);
    CHECK_OK(omendb_index_ef_search(index, &ef, &ERR));
    CHECK(ef == 500);
    const float v[8] = {1, 0, 0, 0, 0, 1, 0, 0};
    const uint64_t keys[2] = {1, 2};
    CHECK_OK(omendb_index_add_batch(index, keys, 2, v, 4, &ERR));
    char path[64];
    snprintf(path, sizeof path, "/tmp/omendb-names-%ld.omendb", (long)getpid());
    CHECK_OK(omendb_index_save(index, path, strlen(path), &ERR));
    omendb_index_free(index);
    index = NULL;
    CHECK_OK(omendb_index_load(path, strlen(path), &index, &ERR));
    CHECK_OK(omendb_index_ef_search(index, &ef, &ERR));
    CHECK(ef == 500);
    omendb_index_free(index);
    remove(path);
}

static void test_serialize_round_trip(void) {
    omendb_options *opts = NULL;
    omendb_index *index = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK_OK(omendb_options_set_dim(opts, 4, &ERR));
    CHECK_OK(omendb_index_create(opts, &index, &ERR));
    omendb_options_free(opts);
    const float v[12] = {1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0};
    const uint64_t keys[3] = {7, 8, 9};
    CHECK_OK(omendb_index_add_batch(index, keys, 3, v, 4, &ERR));
    uint8_t *bytes = NULL;
    size_t len = 0;
    CHECK_OK(omendb_index_serialize(index, &bytes, &len, &ERR));
    CHECK(bytes != NULL && len > 64);
    omendb_index *copy = NULL;
    CHECK_OK(omendb_index_deserialize(bytes, len, &copy, &ERR));
    const float q[4] = {1, 0.9f, 0, 0};
    uint64_t a[3], b[3];
    float da[3], db[3];
    CHECK_OK(omendb_index_search(index, q, 1, 4, 3, 0, a, da, 3, &ERR));
    CHECK_OK(omendb_index_search(copy, q, 1, 4, 3, 0, b, db, 3, &ERR));
    CHECK(memcmp(a, b, sizeof a) == 0 && memcmp(da, db, sizeof da) == 0 && a[0] == 9);
    bytes[len / 2] ^= 0xFF;
    omendb_index *bad = NULL;
    omendb_error *err = NULL;
    CHECK(omendb_index_deserialize(bytes, len, &bad, &err) == OMENDB_STATUS_CORRUPT && bad == NULL);
    omendb_error_free(err);
    CHECK(omendb_index_deserialize(bytes, 0, &bad, NULL) == OMENDB_STATUS_CORRUPT);
    CHECK(omendb_index_deserialize(NULL, 5, &bad, NULL) == OMENDB_STATUS_NULL_POINTER);
    CHECK(omendb_index_serialize(index, NULL, &len, NULL) == OMENDB_STATUS_NULL_POINTER);
    omendb_bytes_free(bytes, len);
    omendb_bytes_free(NULL, 0);
    omendb_index_free(copy);
    omendb_index_free(index);
}

static void test_threads_setting(void) {
    enum { N = 600, DIM = 8 };
    static float v[N * DIM];
    uint64_t rng = 7, keys[N];
    check_rand_fill(&rng, v, N * DIM);
    for (size_t i = 0; i < N; i++) keys[i] = i;
    omendb_options *opts = NULL;
    omendb_index *index = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK_OK(omendb_index_create(opts, &index, &ERR));
    omendb_options_free(opts);
    size_t threads = 99;
    CHECK_OK(omendb_index_threads(index, &threads, &ERR));
    CHECK(threads == 0);
    CHECK_OK(omendb_index_set_threads(index, 2, &ERR));
    CHECK_OK(omendb_index_add_batch(index, keys, N, v, DIM, &ERR));
    static uint64_t a[20 * 3], b[20 * 3];
    static float da[20 * 3], db[20 * 3];
    CHECK_OK(omendb_index_search(index, v, 20, DIM, 3, 0, a, da, 20 * 3, &ERR));
    CHECK_OK(omendb_index_set_threads(index, 0, &ERR));
    CHECK_OK(omendb_index_search(index, v, 20, DIM, 3, 0, b, db, 20 * 3, &ERR));
    CHECK(memcmp(a, b, sizeof a) == 0);
    for (size_t q = 0; q < 20; q++) CHECK(a[q * 3] == q);
    CHECK(omendb_index_set_threads(index, 5000, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(omendb_index_threads(NULL, &threads, NULL) == OMENDB_STATUS_NULL_POINTER);
    CHECK_OK(omendb_index_set_threads(index, 3, &ERR));
    CHECK_OK(omendb_index_threads(index, &threads, &ERR));
    CHECK(threads == 3);
    omendb_index_free(index);
}

static size_t count_where(omendb_index *index, const char *text) {
    omendb_filter *f = NULL;
    size_t n = 999;
    CHECK_OK(omendb_filter_parse(text, strlen(text), &f, &ERR));
    CHECK_OK(omendb_index_count(index, f, &n, &ERR));
    omendb_filter_free(f);
    return n;
}

static void test_metadata_null_and_number_lists(void) {
    omendb_options *opts = NULL;
    omendb_index *index = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK_OK(omendb_index_create(opts, &index, &ERR));
    omendb_options_free(opts);
    const float v[6] = {1, 0, 0, 1, 1, 1};
    const uint64_t keys[3] = {1, 2, 3};
    const char *meta[3] = {"{\"s\": [1, 2.5], \"note\": null}", "{\"s\": [2], \"note\": \"x\"}", "{\"note\": 0}"};
    CHECK_OK(omendb_index_add_records(index, keys, 3, v, 2, meta, NULL, NULL, NULL, &ERR));
    CHECK(count_where(index, "s CONTAINS 2") == 1);
    CHECK(count_where(index, "s CONTAINS 2.5") == 1);
    CHECK(count_where(index, "note = null") == 1);
    CHECK(count_where(index, "note IN (NULL, 0)") == 2);
    CHECK(count_where(index, "EXISTS note") == 3);
    char *json = NULL;
    size_t len = 0;
    CHECK_OK(omendb_index_metadata(index, 1, &json, &len, &ERR));
    CHECK(json != NULL && strcmp(json, "{\"note\":null,\"s\":[1,2.5]}") == 0);
    omendb_string_free(json);
    const char *mixed[1] = {"{\"s\": [1, \"a\"]}"};
    const uint64_t key9[1] = {9};
    CHECK(omendb_index_add_records(index, key9, 1, v, 2, mixed, NULL, NULL, NULL, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    omendb_filter *f = NULL;
    CHECK(omendb_filter_parse("note < null", 11, &f, NULL) == OMENDB_STATUS_FILTER_SYNTAX && f == NULL);
    omendb_index_free(index);
}

static size_t text_hits(omendb_index *index, const char *query) {
    omendb_results *r = NULL;
    size_t n = 999;
    CHECK_OK(omendb_index_text_search(index, query, strlen(query), 5, NULL, &r, &ERR));
    CHECK_OK(omendb_results_count(r, 0, &n, &ERR));
    omendb_results_free(r);
    return n;
}

static void test_text_options(void) {
    omendb_options *opts = NULL;
    omendb_index *index = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK_OK(omendb_options_set_stemmer(opts, "English", 7, &ERR));
    const char *stop[1] = {"Weather"};
    CHECK_OK(omendb_options_set_stop_words(opts, OMENDB_STOP_WORDS_CUSTOM, stop, NULL, 1, &ERR));
    CHECK_OK(omendb_options_set_text_case(opts, true, true, &ERR));
    CHECK_OK(omendb_options_set_token_chars(opts, 1, 64, &ERR));
    CHECK_OK(omendb_options_set_bm25(opts, 0.9f, 0.5f, &ERR));
    CHECK(omendb_options_set_stemmer(opts, "klingon", 7, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(omendb_options_set_stop_words(opts, 9, NULL, NULL, 0, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(omendb_options_set_token_chars(opts, 5, 2, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(omendb_options_set_bm25(opts, -1.0f, 0.5f, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(omendb_options_set_bm25(opts, 1.0f, 1.5f, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK_OK(omendb_index_create(opts, &index, &ERR));
    omendb_options_free(opts);
    const float v[6] = {1, 0, 0, 1, 1, 1};
    const uint64_t keys[3] = {1, 2, 3};
    const char *texts[3] = {"Measuring the weather", "a measurement of THE rain", "the and of"};
    CHECK_OK(omendb_index_add_records(index, keys, 3, v, 2, NULL, NULL, texts, NULL, &ERR));
    CHECK(text_hits(index, "measure") == 2);  /* stemmed */
    CHECK(text_hits(index, "the") == 3);      /* not an English stop word here */
    CHECK(text_hits(index, "weather") == 0);  /* the custom one */
    char *json = NULL;
    CHECK_OK(omendb_index_stats(index, &json, NULL, &ERR));
    CHECK(json != NULL && strstr(json, "\"stemmer\":\"english\"") != NULL && strstr(json, "\"b\":0.5") != NULL);
    omendb_string_free(json);
    omendb_index_free(index);
}

int main(void) {
    RUN(test_names_and_aliases);
    RUN(test_bad_names);
    RUN(test_ef_search_setting);
    RUN(test_serialize_round_trip);
    RUN(test_threads_setting);
    RUN(test_metadata_null_and_number_lists);
    RUN(test_text_options);
    return check_finish();
}
