/*
 * test_multimodal.c: metadata filters, BM25 text search and hybrid search through the C API.
 * 1000 random records (16 dimensions, fixed seed) with metadata {"cat": i % 100, "even": bool}
 * and a text each: filtered searches at 50%, 10%, 1% and 0% selectivity give min(k, matches)
 * hits, all matching, equal to brute force computed here where the library scans exactly; a
 * filter syntax error is OMENDB_STATUS_FILTER_SYNTAX naming the byte; bad metadata is
 * OMENDB_STATUS_INVALID_ARGUMENT and stores nothing; text search ranks the document holding
 * the query words first; hybrid search with both fusions; string keys and upsert; metadata
 * and texts read back (omendb_index_get_text: as given, NUL bytes included, NULL for none,
 * replaced by an upsert, gone with a remove); NULL handling of every function.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

enum { N = 1000, D = 16, K = 20 };

static float base[N * D];
static float query[D];
static char meta_buf[N][48];
static const char *meta[N];
static char text_buf[N][64];
static const char *texts[N];
static uint64_t keys[N];

static double l2(const float *a, const float *b) {
    double s = 0;
    for (size_t i = 0; i < D; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s;
}

static const char *words[] = {"apple", "river", "stone", "cloud", "music", "green", "paper", "light"};

static omendb_index *build(void) {
    uint64_t rng = 42;
    for (size_t i = 0; i < N * D; i++) base[i] = check_rand_float(&rng);
    for (size_t i = 0; i < D; i++) query[i] = check_rand_float(&rng);
    for (size_t i = 0; i < N; i++) {
        keys[i] = i;
        snprintf(meta_buf[i], sizeof meta_buf[i], "{\"cat\": %zu, \"even\": %s}", i % 100, i % 2 ? "false" : "true");
        meta[i] = meta_buf[i];
        snprintf(text_buf[i], sizeof text_buf[i], "%s %s %s", words[i % 8], words[(i / 8) % 8], words[(i / 64) % 8]);
        texts[i] = text_buf[i];
    }
    /* One record has the rare words of the text query; every tenth has no text. */
    snprintf(text_buf[123], sizeof text_buf[123], "the zebra met a giraffe");
    snprintf(text_buf[456], sizeof text_buf[456], "a zebra alone");
    for (size_t i = 5; i < N; i += 10) texts[i] = NULL;
    omendb_index *index = NULL;
    CHECK_OK(omendb_index_create(NULL, &index, &ERR));
    CHECK_OK(omendb_index_add_records(index, keys, N / 2, base, D, meta, NULL, texts, NULL, &ERR));
    size_t meta_lens[N];
    for (size_t i = 0; i < N; i++) meta_lens[i] = strlen(meta[i]);
    CHECK_OK(omendb_index_add_records(index, keys + N / 2, N - N / 2, base + (N / 2) * D, D, meta + N / 2, meta_lens + N / 2,
                                      texts + N / 2, NULL, &ERR));
    return index;
}

static omendb_filter *parse(const char *text) {
    omendb_filter *f = NULL;
    CHECK_OK(omendb_filter_parse(text, strlen(text), &f, &ERR));
    return f;
}

/* Filter "cat < limit": brute force the nearest matches and compare. */
static void check_selectivity(omendb_index *index, size_t limit) {
    char text[32];
    snprintf(text, sizeof text, "cat < %zu", limit);
    omendb_filter *f = parse(text);
    omendb_results *r = NULL;
    CHECK_OK(omendb_index_search_filtered(index, query, 1, D, K, 64, f, &r, &ERR));
    size_t matches = 0;
    uint64_t truth[K];
    double best[K];
    for (size_t j = 0; j < K; j++) best[j] = INFINITY;
    for (size_t i = 0; i < N; i++) {
        if (i % 100 >= limit) continue;
        matches++;
        double d = l2(query, &base[i * D]);
        if (d >= best[K - 1]) continue;
        size_t j = K - 1;
        while (j > 0 && best[j - 1] > d) {
            best[j] = best[j - 1];
            truth[j] = truth[j - 1];
            j--;
        }
        best[j] = d;
        truth[j] = i;
    }
    size_t want = matches < K ? matches : K, count = 99;
    CHECK_OK(omendb_results_count(r, 0, &count, &ERR));
    CHECK(count == want);
    size_t found = 0;
    float prev = -INFINITY;
    for (size_t rank = 0; rank < count; rank++) {
        uint64_t key = 0;
        float d = 0;
        CHECK_OK(omendb_results_key(r, 0, rank, &key, &ERR));
        CHECK_OK(omendb_results_distance(r, 0, rank, &d, &ERR));
        CHECK(key < N && key % 100 < limit);
        CHECK(d >= prev);
        prev = d;
        for (size_t j = 0; j < want; j++) found += truth[j] == key;
    }
    double recall = want ? (double)found / want : 1.0;
    fprintf(stderr, "     cat < %-3zu: %zu matches, %zu hits, recall %.2f\n", limit, matches, count, recall);
    /* 100 matches or fewer are scanned exactly; the 50% filter goes through the graph. */
    CHECK(matches > 100 ? recall >= 0.9 : recall == 1.0);
    omendb_results_free(r);
    omendb_filter_free(f);
}

static void test_filtered_search(void) {
    omendb_index *index = build();
    size_t len = 0;
    CHECK_OK(omendb_index_len(index, &len, &ERR));
    CHECK(len == N);
    check_selectivity(index, 50);
    check_selectivity(index, 10);
    check_selectivity(index, 1);
    check_selectivity(index, 0);

    /* A batch of queries (searched in parallel) equals the queries one by one. */
    omendb_filter *f = parse("even = TRUE AND cat IN (2, 4, 6, 8, 10, 12)");
    omendb_results *batch = NULL, *one = NULL;
    CHECK_OK(omendb_index_search_filtered(index, base, 8, D, 5, 0, f, &batch, &ERR));
    for (size_t q = 0; q < 8; q++) {
        CHECK_OK(omendb_index_search_filtered(index, &base[q * D], 1, D, 5, 0, f, &one, &ERR));
        size_t c1 = 0, c2 = 0;
        CHECK_OK(omendb_results_count(batch, q, &c1, &ERR));
        CHECK_OK(omendb_results_count(one, 0, &c2, &ERR));
        CHECK(c1 == 5 && c2 == 5);
        for (size_t rank = 0; rank < c1 && rank < c2; rank++) {
            uint64_t a = 0, b = 1;
            CHECK_OK(omendb_results_key(batch, q, rank, &a, &ERR));
            CHECK_OK(omendb_results_key(one, 0, rank, &b, &ERR));
            CHECK(a == b);
            CHECK(a % 2 == 0 && a % 100 >= 2 && a % 100 <= 12);
        }
        omendb_results_free(one);
        one = NULL;
    }
    omendb_results_free(batch);
    omendb_filter_free(f);

    /* Metadata reads back as JSON. */
    char *json = NULL;
    size_t json_len = 0;
    CHECK_OK(omendb_index_metadata(index, 7, &json, &json_len, &ERR));
    CHECK(json != NULL && json_len == strlen(json) && strstr(json, "cat") && strstr(json, "even"));
    omendb_string_free(json);
    omendb_error *err = NULL;
    json = NULL;
    CHECK(omendb_index_metadata(index, 999999, &json, NULL, &err) == OMENDB_STATUS_KEY_NOT_FOUND);
    CHECK(json == NULL);
    omendb_error_free(err);
    omendb_index_free(index);
}

static void test_filter_syntax_error(void) {
    omendb_filter *f = NULL;
    omendb_error *err = NULL;
    const char *bad = "cat >= )";
    CHECK(omendb_filter_parse(bad, strlen(bad), &f, &err) == OMENDB_STATUS_FILTER_SYNTAX);
    CHECK(f == NULL);
    CHECK(omendb_error_code(err) == OMENDB_STATUS_FILTER_SYNTAX);
    CHECK(strstr(omendb_error_message(err), "at byte 7") != NULL);
    omendb_error_free(err);
    err = NULL;
    CHECK(omendb_filter_parse("", 0, &f, &err) == OMENDB_STATUS_FILTER_SYNTAX);
    omendb_error_free(err);
    err = NULL;
    CHECK(omendb_filter_parse("a = \"\xff\"", 7, &f, &err) == OMENDB_STATUS_INVALID_UTF8);
    omendb_error_free(err);
    CHECK(f == NULL);
    /* The length bounds the text: no NUL terminator needed. */
    CHECK_OK(omendb_filter_parse("cat = 1 garbage", 7, &f, &ERR));
    omendb_filter_free(f);
}

static void test_bad_metadata(void) {
    omendb_index *index = NULL;
    CHECK_OK(omendb_index_create(NULL, &index, &ERR));
    uint64_t k[3] = {1, 2, 3};
    float v[3 * 4] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
    const char *bads[] = {"[1, 2]", "{not json", "{\"a\": [1, null]}", "42"};
    for (size_t b = 0; b < sizeof bads / sizeof bads[0]; b++) {
        const char *m[3] = {"{\"a\": 1}", NULL, bads[b]};
        omendb_error *err = NULL;
        CHECK(omendb_index_add_records(index, k, 3, v, 4, m, NULL, NULL, NULL, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
        CHECK(strstr(omendb_error_message(err), "record 2") != NULL);
        omendb_error_free(err);
    }
    size_t len = 99;
    CHECK_OK(omendb_index_len(index, &len, &ERR));
    CHECK(len == 0);
    /* Invalid UTF-8 in a text. */
    const char *t[3] = {"ok", "\xc3", "ok"};
    size_t tl[3] = {2, 1, 2};
    omendb_error *err = NULL;
    CHECK(omendb_index_add_records(index, k, 3, v, 4, NULL, NULL, t, tl, &err) == OMENDB_STATUS_INVALID_UTF8);
    omendb_error_free(err);
    CHECK_OK(omendb_index_len(index, &len, &ERR));
    CHECK(len == 0);
    omendb_index_free(index);
}

static void test_text_and_hybrid(void) {
    omendb_index *index = build();
    omendb_results *r = NULL;
    const char *q = "zebra giraffe";
    CHECK_OK(omendb_index_text_search(index, q, strlen(q), 10, NULL, &r, &ERR));
    size_t count = 0;
    CHECK_OK(omendb_results_count(r, 0, &count, &ERR));
    CHECK(count == 2);
    uint64_t key = 0;
    float s0 = 0, s1 = 0;
    CHECK_OK(omendb_results_key(r, 0, 0, &key, &ERR));
    CHECK(key == 123);
    CHECK_OK(omendb_results_distance(r, 0, 0, &s0, &ERR));
    CHECK_OK(omendb_results_distance(r, 0, 1, &s1, &ERR));
    CHECK(s0 > s1 && s1 > 0); /* scores: higher is better */
    omendb_results_free(r);

    /* A filter restricts text search: 123 has cat 23. */
    omendb_filter *f = parse("cat != 23");
    CHECK_OK(omendb_index_text_search(index, q, strlen(q), 10, f, &r, &ERR));
    CHECK_OK(omendb_results_count(r, 0, &count, &ERR));
    CHECK(count == 1);
    CHECK_OK(omendb_results_key(r, 0, 0, &key, &ERR));
    CHECK(key == 456);
    omendb_results_free(r);

    /* A word no record holds: no hits. */
    CHECK_OK(omendb_index_text_search(index, "xylophone", 9, 10, NULL, &r, &ERR));
    CHECK_OK(omendb_results_count(r, 0, &count, &ERR));
    CHECK(count == 0);
    omendb_results_free(r);

    /* Hybrid: both fusions give k hits in descending score order. */
    const char *hq = "apple river";
    uint32_t fusions[2] = {OMENDB_FUSION_RRF, OMENDB_FUSION_WEIGHTED};
    float params[2] = {0.0f, 0.5f};
    for (size_t i = 0; i < 2; i++) {
        CHECK_OK(omendb_index_hybrid_search(index, query, D, hq, strlen(hq), 10, 0, NULL, fusions[i], params[i], &r, &ERR));
        CHECK_OK(omendb_results_count(r, 0, &count, &ERR));
        CHECK(count == 10);
        float prev = INFINITY;
        for (size_t rank = 0; rank < count; rank++) {
            float s = 0;
            CHECK_OK(omendb_results_distance(r, 0, rank, &s, &ERR));
            CHECK(s <= prev && s > 0);
            prev = s;
        }
        omendb_results_free(r);
        /* With a filter every hit matches. */
        CHECK_OK(omendb_index_hybrid_search(index, query, D, hq, strlen(hq), 10, 0, f, fusions[i], params[i], &r, &ERR));
        CHECK_OK(omendb_results_count(r, 0, &count, &ERR));
        CHECK(count == 10);
        for (size_t rank = 0; rank < count; rank++) {
            CHECK_OK(omendb_results_key(r, 0, rank, &key, &ERR));
            CHECK(key % 100 != 23);
        }
        omendb_results_free(r);
    }
    /* RRF with k = 60 given explicitly equals the default (0). */
    omendb_results *a = NULL, *b = NULL;
    CHECK_OK(omendb_index_hybrid_search(index, query, D, hq, strlen(hq), 10, 0, NULL, OMENDB_FUSION_RRF, 0.0f, &a, &ERR));
    CHECK_OK(omendb_index_hybrid_search(index, query, D, hq, strlen(hq), 10, 0, NULL, OMENDB_FUSION_RRF, 60.0f, &b, &ERR));
    const float *da = NULL, *db = NULL;
    size_t la = 0, lb = 0;
    CHECK_OK(omendb_results_distances(a, &da, &la, &ERR));
    CHECK_OK(omendb_results_distances(b, &db, &lb, &ERR));
    CHECK(la == 10 && lb == 10 && memcmp(da, db, 10 * sizeof(float)) == 0);
    CHECK(fabsf(da[0] - 2.0f / 61.0f) < 0.02f); /* at most 2 / (60 + 1) */
    omendb_results_free(a);
    omendb_results_free(b);

    omendb_error *err = NULL;
    r = NULL;
    CHECK(omendb_index_hybrid_search(index, query, D, hq, strlen(hq), 10, 0, NULL, 7, 0, &r, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    omendb_error_free(err);
    err = NULL;
    CHECK(omendb_index_hybrid_search(index, query, D, hq, strlen(hq), 10, 0, NULL, OMENDB_FUSION_WEIGHTED, 1.5f, &r, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    omendb_error_free(err);
    err = NULL;
    CHECK(omendb_index_hybrid_search(index, query, D, hq, strlen(hq), 10, 0, NULL, OMENDB_FUSION_RRF, -1.0f, &r, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    omendb_error_free(err);
    err = NULL;
    CHECK(omendb_index_hybrid_search(index, query, D - 1, hq, strlen(hq), 10, 0, NULL, OMENDB_FUSION_RRF, 0, &r, &err) == OMENDB_STATUS_DIMENSION_MISMATCH);
    omendb_error_free(err);
    err = NULL;
    CHECK(omendb_index_text_search(index, q, strlen(q), 0, NULL, &r, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    omendb_error_free(err);
    CHECK(r == NULL);
    omendb_filter_free(f);
    omendb_index_free(index);
}

static void test_string_keys_and_upsert(void) {
    omendb_index *index = NULL;
    CHECK_OK(omendb_index_create(NULL, &index, &ERR));
    const char *ids[3] = {"a", "bb", "ccc"};
    size_t id_lens[3] = {1, 2, 3};
    float v[3 * 4] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
    const char *m[3] = {"{\"lang\": \"en\"}", "{\"lang\": \"de\"}", NULL};
    const char *t[3] = {"hello world", NULL, "hallo welt"};
    CHECK_OK(omendb_index_add_records_str(index, ids, NULL, 3, v, 4, m, NULL, t, NULL, &ERR));
    omendb_error *err = NULL;
    CHECK(omendb_index_add_records_str(index, ids, id_lens, 1, v, 4, m, NULL, NULL, NULL, &err) == OMENDB_STATUS_DUPLICATE_KEY);
    omendb_error_free(err);

    omendb_filter *f = parse("lang = \"de\"");
    omendb_results *r = NULL;
    size_t count = 0, klen = 0;
    const char *key = NULL;
    CHECK_OK(omendb_index_search_filtered(index, v, 1, 4, 3, 0, f, &r, &ERR));
    CHECK_OK(omendb_results_count(r, 0, &count, &ERR));
    CHECK(count == 1);
    CHECK_OK(omendb_results_key_str(r, 0, 0, &key, &klen, &ERR));
    CHECK(klen == 2 && memcmp(key, "bb", 2) == 0);
    omendb_results_free(r);

    /* Upsert "ccc" with German metadata: now two match. */
    const char *m2[1] = {"{\"lang\": \"de\"}"};
    CHECK_OK(omendb_index_upsert_records_str(index, ids + 2, id_lens + 2, 1, v + 8, 4, m2, NULL, t + 2, NULL, &ERR));
    CHECK_OK(omendb_index_search_filtered(index, v, 1, 4, 3, 0, f, &r, &ERR));
    CHECK_OK(omendb_results_count(r, 0, &count, &ERR));
    CHECK(count == 2);
    omendb_results_free(r);
    char *json = NULL;
    CHECK_OK(omendb_index_metadata_str(index, "ccc", 3, &json, NULL, &ERR));
    CHECK(json != NULL && strstr(json, "de") != NULL);
    omendb_string_free(json);
    CHECK_OK(omendb_index_text_search(index, "welt", 4, 5, NULL, &r, &ERR));
    CHECK_OK(omendb_results_count(r, 0, &count, &ERR));
    CHECK(count == 1);
    omendb_results_free(r);
    omendb_filter_free(f);
    omendb_index_free(index);

    /* u64 upsert replaces metadata. */
    CHECK_OK(omendb_index_create(NULL, &index, &ERR));
    uint64_t k[1] = {9};
    const char *mA[1] = {"{\"x\": 1}"}, *mB[1] = {"{\"x\": 2}"};
    CHECK_OK(omendb_index_upsert_records(index, k, 1, v, 4, mA, NULL, NULL, NULL, &ERR));
    CHECK_OK(omendb_index_upsert_records(index, k, 1, v, 4, mB, NULL, NULL, NULL, &ERR));
    f = parse("x = 2");
    CHECK_OK(omendb_index_search_filtered(index, v, 1, 4, 3, 0, f, &r, &ERR));
    CHECK_OK(omendb_results_count(r, 0, &count, &ERR));
    CHECK(count == 1);
    omendb_results_free(r);
    omendb_filter_free(f);
    omendb_index_free(index);
}

/* The text is what was given, whole: a NUL byte inside included. */
static bool text_is(const omendb_index *index, uint64_t key, const char *want, size_t want_len) {
    char *text = NULL;
    size_t len = 0;
    bool same = false;
    CHECK_OK(omendb_index_get_text(index, key, &text, &len, &ERR));
    if (text != NULL) {
        same = len == want_len && memcmp(text, want, len) == 0 && text[len] == '\0';
    }
    omendb_string_free(text);
    return same;
}

static void test_texts_read_back(void) {
    omendb_index *index = build();
    char *text = (char *)"untouched";
    size_t len = 7;
    /* Texts come back as given (here NUL-terminated; with lengths below). */
    CHECK(text_is(index, 123, "the zebra met a giraffe", 23));
    CHECK(text_is(index, 700, text_buf[700], strlen(text_buf[700])));
    /* A record without a text: OK, NULL and 0. */
    CHECK_OK(omendb_index_get_text(index, 5, &text, &len, &ERR));
    CHECK(text == NULL && len == 0);
    text = (char *)"untouched";
    CHECK_OK(omendb_index_get_text(index, 15, &text, NULL, &ERR));
    CHECK(text == NULL);
    /* An unknown key: KEY_NOT_FOUND, nothing written. */
    omendb_error *err = NULL;
    text = (char *)"untouched";
    len = 7;
    CHECK(omendb_index_get_text(index, 999999, &text, &len, &err) == OMENDB_STATUS_KEY_NOT_FOUND);
    CHECK(err != NULL && omendb_error_code(err) == OMENDB_STATUS_KEY_NOT_FOUND);
    CHECK(strcmp(text, "untouched") == 0 && len == 7);
    omendb_error_free(err);

    /* An upsert replaces the text (with a NUL byte inside, given by length), one without a
     * text drops it, a remove takes the record and its text. */
    const char with_nul[] = {'a', ' ', 'b', '\0', 'c', ' ', 'z', 'e', 'b', 'r', 'a'};
    const char *t[2] = {with_nul, NULL};
    size_t t_lens[2] = {sizeof with_nul, 0};
    uint64_t k[2] = {123, 124};
    CHECK_OK(omendb_index_upsert_records(index, k, 2, base, D, NULL, NULL, t, t_lens, &ERR));
    CHECK(text_is(index, 123, with_nul, sizeof with_nul));
    CHECK_OK(omendb_index_get_text(index, 124, &text, &len, &ERR));
    CHECK(text == NULL && len == 0);
    CHECK_OK(omendb_index_remove(index, 123, &ERR));
    CHECK(omendb_index_get_text(index, 123, &text, NULL, NULL) == OMENDB_STATUS_KEY_NOT_FOUND);
    omendb_index_free(index);

    /* String keys, and the empty text (a text all the same). */
    CHECK_OK(omendb_index_create(NULL, &index, &ERR));
    const char *ids[3] = {"a", "bb", "ccc"};
    float v[3 * 4] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
    const char *texts3[3] = {"hello world", "", NULL};
    CHECK_OK(omendb_index_add_records_str(index, ids, NULL, 3, v, 4, NULL, NULL, texts3, NULL, &ERR));
    CHECK_OK(omendb_index_get_text_str(index, "a", 1, &text, &len, &ERR));
    CHECK(text != NULL && len == 11 && strcmp(text, "hello world") == 0);
    omendb_string_free(text);
    CHECK_OK(omendb_index_get_text_str(index, "bb", 2, &text, &len, &ERR));
    CHECK(text != NULL && len == 0 && text[0] == '\0');
    omendb_string_free(text);
    CHECK_OK(omendb_index_get_text_str(index, "ccc", 3, &text, &len, &ERR));
    CHECK(text == NULL && len == 0);
    err = NULL;
    CHECK(omendb_index_get_text_str(index, "zz", 2, &text, &len, &err) == OMENDB_STATUS_KEY_NOT_FOUND);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_get_text(index, 1, &text, &len, &err) == OMENDB_STATUS_KEY_NOT_FOUND);
    omendb_error_free(err), err = NULL;
    const char not_utf8[] = {'a', (char)0xFF};
    CHECK(omendb_index_get_text_str(index, not_utf8, 2, &text, &len, &err) == OMENDB_STATUS_INVALID_UTF8);
    omendb_error_free(err);
    omendb_index_free(index);
}

static void test_null_handling(void) {
    const omendb_status NP = OMENDB_STATUS_NULL_POINTER;
    omendb_index *index = NULL;
    CHECK_OK(omendb_index_create(NULL, &index, &ERR));
    float v[4] = {1, 0, 0, 0};
    uint64_t k[1] = {1};
    const char *sk[1] = {"a"};
    omendb_filter *f = parse("x = 1");
    omendb_results *r = NULL;
    char *json = NULL;
    omendb_error *err = NULL;

    CHECK(omendb_filter_parse("x = 1", 5, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_filter_parse(NULL, 5, &f, &err) == NP);
    omendb_error_free(err), err = NULL;
    omendb_filter_free(NULL);
    omendb_string_free(NULL);

    CHECK(omendb_index_add_records(NULL, k, 1, v, 4, NULL, NULL, NULL, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_add_records(index, NULL, 1, v, 4, NULL, NULL, NULL, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_add_records(index, k, 1, NULL, 4, NULL, NULL, NULL, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_upsert_records(NULL, k, 1, v, 4, NULL, NULL, NULL, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_add_records_str(NULL, sk, NULL, 1, v, 4, NULL, NULL, NULL, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_add_records_str(index, NULL, NULL, 1, v, 4, NULL, NULL, NULL, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_upsert_records_str(NULL, sk, NULL, 1, v, 4, NULL, NULL, NULL, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    /* NULL entries mean "none for that record"; an empty batch with NULL arrays is fine. */
    const char *none[1] = {NULL};
    CHECK_OK(omendb_index_add_records(index, k, 1, v, 4, none, NULL, none, NULL, &ERR));
    CHECK_OK(omendb_index_add_records(index, NULL, 0, NULL, 4, NULL, NULL, NULL, NULL, &ERR));
    CHECK_OK(omendb_index_metadata(index, 1, &json, NULL, &ERR));
    CHECK(json != NULL && strcmp(json, "{}") == 0);
    omendb_string_free(json);

    CHECK(omendb_index_search_filtered(NULL, v, 1, 4, 1, 0, f, &r, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_search_filtered(index, v, 1, 4, 1, 0, NULL, &r, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_search_filtered(index, v, 1, 4, 1, 0, f, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_search_filtered(index, NULL, 1, 4, 1, 0, f, &r, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_text_search(NULL, "a", 1, 1, NULL, &r, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_text_search(index, NULL, 1, 1, NULL, &r, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_text_search(index, "a", 1, 1, NULL, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_hybrid_search(NULL, v, 4, "a", 1, 1, 0, NULL, 0, 0, &r, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_hybrid_search(index, NULL, 4, "a", 1, 1, 0, NULL, 0, 0, &r, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_hybrid_search(index, v, 4, NULL, 1, 1, 0, NULL, 0, 0, &r, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_hybrid_search(index, v, 4, "a", 1, 1, 0, NULL, 0, 0, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_metadata(NULL, 1, &json, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_metadata(index, 1, NULL, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_metadata_str(index, NULL, 1, &json, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_get_text(NULL, 1, &json, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_get_text(index, 1, NULL, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_get_text_str(NULL, "a", 1, &json, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_get_text_str(index, NULL, 1, &json, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(omendb_index_get_text_str(index, "a", 1, NULL, NULL, &err) == NP);
    omendb_error_free(err), err = NULL;
    CHECK(r == NULL);
    /* err_out NULL is allowed everywhere. */
    CHECK(omendb_index_text_search(NULL, "a", 1, 1, NULL, &r, NULL) == NP);
    omendb_filter_free(f);
    omendb_index_free(index);
}

int main(void) {
    RUN(test_filtered_search);
    RUN(test_filter_syntax_error);
    RUN(test_bad_metadata);
    RUN(test_text_and_hybrid);
    RUN(test_string_keys_and_upsert);
    RUN(test_texts_read_back);
    RUN(test_null_handling);
    return check_finish();
}
