/*
 * test_shards.c: searching a collection split over several indexes as one (the calls that
 * omendb.ray is built on).
 *   - omendb_index_text_stats: docs, tokens and one document frequency per distinct query
 *     term; their sums over three shards equal one index's; BUFFER_TOO_SMALL tells the count;
 *   - omendb_index_text_search_with_stats with the sums: every shard's hits carry the score
 *     the record has in the one index (bit for bit); statistics that do not fit are refused;
 *   - omendb_fuse: RRF and weighted fusion of caller-held lists, as the hybrid search fuses;
 *     bad arguments refused.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"

#define N_DOCS 30
#define N_SHARDS 3

static const char *WORDS[] = {"river", "stone", "forest", "cloud", "ember", "harbor", "meadow"};

static void doc_text(int i, char *buf, size_t cap) {
    buf[0] = '\0';
    for (int j = 0; j <= i % 5; j++) {
        strncat(buf, WORDS[(i * 3 + j * j) % 7], cap - strlen(buf) - 2);
        strncat(buf, " ", cap - strlen(buf) - 1);
    }
}

static omendb_index *text_index(void) {
    omendb_options *opts = NULL;
    omendb_index *index = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK_OK(omendb_options_set_dim(opts, 2, &ERR));
    CHECK_OK(omendb_index_create(opts, &index, &ERR));
    omendb_options_free(opts);
    return index;
}

static void add_doc(omendb_index *index, int i) {
    char text[128];
    doc_text(i, text, sizeof text);
    uint64_t key = (uint64_t)i;
    float vector[2] = {1.0f + (float)i, 2.0f};
    const char *texts[1] = {text};
    size_t lens[1] = {strlen(text)};
    CHECK_OK(omendb_index_add_records(index, &key, 1, vector, 2, NULL, NULL, texts, lens, &ERR));
}

static void test_summed_statistics_score_as_one_index(void) {
    omendb_index *whole = text_index();
    omendb_index *shards[N_SHARDS];
    for (int s = 0; s < N_SHARDS; s++) shards[s] = text_index();
    for (int i = 0; i < N_DOCS; i++) {
        add_doc(whole, i);
        add_doc(shards[i % N_SHARDS], i);
    }
    const char *query = "stone ember ember meadow unknownword";
    size_t qlen = strlen(query);

    /* The count first, with no array: nothing but the count is written. */
    size_t terms = 0;
    uint64_t docs = 77, tokens = 77;
    omendb_error *err = NULL;
    CHECK(omendb_index_text_stats(whole, query, qlen, &docs, &tokens, NULL, 0, &terms, &err) == OMENDB_STATUS_BUFFER_TOO_SMALL);
    omendb_error_free(err);
    CHECK(terms == 4 && docs == 77 && tokens == 77);
    /* A query with no term: no array needed. */
    CHECK_OK(omendb_index_text_stats(whole, "the a", 5, &docs, &tokens, NULL, 0, &terms, &ERR));
    CHECK(terms == 0 && docs == N_DOCS);
    CHECK(omendb_index_text_stats(whole, query, qlen, NULL, &tokens, NULL, 0, &terms, NULL) == OMENDB_STATUS_NULL_POINTER);

    uint64_t want_df[4], sum_df[4] = {0}, df[4];
    uint64_t want_docs = 0, want_tokens = 0, sum_docs = 0, sum_tokens = 0;
    CHECK_OK(omendb_index_text_stats(whole, query, qlen, &want_docs, &want_tokens, want_df, 4, &terms, &ERR));
    CHECK(want_docs == N_DOCS && want_tokens > 0);
    for (int s = 0; s < N_SHARDS; s++) {
        CHECK_OK(omendb_index_text_stats(shards[s], query, qlen, &docs, &tokens, df, 4, &terms, &ERR));
        sum_docs += docs;
        sum_tokens += tokens;
        for (int t = 0; t < 4; t++) sum_df[t] += df[t];
    }
    CHECK(sum_docs == want_docs && sum_tokens == want_tokens);
    CHECK(memcmp(sum_df, want_df, sizeof want_df) == 0);
    CHECK(want_df[3] == 0); /* "unknownword" sorts last */

    omendb_results *one = NULL;
    CHECK_OK(omendb_index_text_search(whole, query, qlen, N_DOCS, NULL, &one, &ERR));
    size_t hits = 0;
    CHECK_OK(omendb_results_count(one, 0, &hits, &ERR));
    CHECK(hits > 5);
    float score_of[N_DOCS];
    for (int i = 0; i < N_DOCS; i++) score_of[i] = -1.0f;
    for (size_t r = 0; r < hits; r++) {
        uint64_t key = 0;
        float score = 0;
        CHECK_OK(omendb_results_key(one, 0, r, &key, &ERR));
        CHECK_OK(omendb_results_distance(one, 0, r, &score, &ERR));
        score_of[key] = score;
    }
    size_t shard_hits = 0;
    for (int s = 0; s < N_SHARDS; s++) {
        omendb_results *part = NULL;
        CHECK_OK(omendb_index_text_search_with_stats(shards[s], query, qlen, N_DOCS, NULL, sum_docs, sum_tokens, sum_df, 4, &part, &ERR));
        size_t n = 0;
        CHECK_OK(omendb_results_count(part, 0, &n, &ERR));
        for (size_t r = 0; r < n; r++) {
            uint64_t key = 0;
            float score = 0;
            CHECK_OK(omendb_results_key(part, 0, r, &key, &ERR));
            CHECK_OK(omendb_results_distance(part, 0, r, &score, &ERR));
            CHECK(key < N_DOCS && score == score_of[key]);
        }
        shard_hits += n;
        omendb_results_free(part);
    }
    CHECK(shard_hits == hits);

    /* Statistics that do not fit the query: too few terms, counts below the shard's own, a
     * frequency above the documents; the results pointer is left as it was. */
    omendb_results *const untouched = (omendb_results *)&err;
    omendb_results *bad = untouched;
    err = NULL;
    CHECK(omendb_index_text_search_with_stats(shards[0], query, qlen, 5, NULL, sum_docs, sum_tokens, sum_df, 3, &bad, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(omendb_error_message(err), "distinct terms") != NULL);
    omendb_error_free(err);
    err = NULL;
    CHECK(omendb_index_text_search_with_stats(shards[0], query, qlen, 5, NULL, 1, sum_tokens, sum_df, 4, &bad, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(omendb_error_message(err), "below this index's own") != NULL);
    omendb_error_free(err);
    err = NULL;
    uint64_t too_many[4] = {sum_df[0], sum_df[1], sum_df[2], sum_docs + 1};
    CHECK(omendb_index_text_search_with_stats(shards[0], query, qlen, 5, NULL, sum_docs, sum_tokens, too_many, 4, &bad, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(omendb_error_message(err), "exceeds") != NULL);
    omendb_error_free(err);
    CHECK(omendb_index_text_search_with_stats(shards[0], query, qlen, 5, NULL, sum_docs, sum_tokens, NULL, 4, &bad, NULL) == OMENDB_STATUS_NULL_POINTER);
    CHECK(bad == untouched);

    omendb_results_free(one);
    omendb_index_free(whole);
    for (int s = 0; s < N_SHARDS; s++) omendb_index_free(shards[s]);
}

static void test_fuse(void) {
    uint64_t vid[3] = {10, 20, 30};
    float vdist[3] = {0.1f, 0.2f, 0.3f};
    uint64_t tid[3] = {30, 40, 10};
    float tscore[3] = {9.0f, 5.0f, 1.0f};
    uint64_t ids[8];
    float scores[8];
    size_t n = 0;
    CHECK_OK(omendb_fuse(OMENDB_FUSION_RRF, 0.0f, vid, vdist, 3, tid, tscore, 3, 10, ids, scores, 8, &n, &ERR));
    CHECK(n == 4 && ids[0] == 10 && ids[1] == 30 && ids[2] == 20 && ids[3] == 40);
    CHECK(scores[0] == scores[1] && scores[0] > scores[2]);
    CHECK_OK(omendb_fuse(OMENDB_FUSION_WEIGHTED, 1.0f, vid, vdist, 3, tid, tscore, 3, 2, ids, scores, 8, &n, &ERR));
    CHECK(n == 2 && ids[0] == 10 && ids[1] == 20);

    omendb_error *err = NULL;
    n = 0;
    CHECK(omendb_fuse(OMENDB_FUSION_RRF, 0.0f, vid, vdist, 3, tid, tscore, 3, 10, ids, scores, 3, &n, &err) == OMENDB_STATUS_BUFFER_TOO_SMALL);
    CHECK(n == 4); /* the size needed */
    omendb_error_free(err);
    err = NULL;
    CHECK(omendb_fuse(OMENDB_FUSION_WEIGHTED, 1.5f, vid, vdist, 3, tid, tscore, 3, 10, ids, scores, 8, &n, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    omendb_error_free(err);
    err = NULL;
    CHECK(omendb_fuse(7, 0.0f, vid, vdist, 3, tid, tscore, 3, 10, ids, scores, 8, &n, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    omendb_error_free(err);
    CHECK(omendb_fuse(OMENDB_FUSION_RRF, 0.0f, vid, NULL, 3, tid, tscore, 3, 10, ids, scores, 8, &n, NULL) == OMENDB_STATUS_NULL_POINTER);
    CHECK(omendb_fuse(OMENDB_FUSION_RRF, 0.0f, vid, vdist, 3, tid, tscore, 3, 0, ids, scores, 8, &n, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK_OK(omendb_fuse(OMENDB_FUSION_RRF, 0.0f, NULL, NULL, 0, NULL, NULL, 0, 5, NULL, NULL, 0, &n, &ERR));
    CHECK(n == 0);
}

int main(void) {
    RUN(test_summed_statistics_score_as_one_index);
    RUN(test_fuse);
    return check_finish();
}
