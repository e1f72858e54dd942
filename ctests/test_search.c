/*
 * test_search.c: search results checked against brute force computed here, in C, on random
 * data (3000 x 32, fixed seed; 1000 x 32 when OMENDB_UNDER_VALGRIND is set) for each metric: recall@10 >= 0.95 at ef = 64, distances in the
 * metric's units and sorted ascending, a batch of queries equal to the same queries one by one,
 * k larger than the index padded with OMENDB_NO_KEY / INFINITY, and string keys through
 * omendb_index_search_results.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

enum { MAX_N = 3000, D = 32, Q = 100, K = 10, EF = 64 };
static size_t N = MAX_N; /* records in the index */
static const double MIN_RECALL = 0.95;

static float *base;    /* N x D */
static float *queries; /* Q x D */
static uint64_t truth[Q][K];

static double dot(const float *a, const float *b) {
    double s = 0;
    for (size_t i = 0; i < D; i++) s += (double)a[i] * b[i];
    return s;
}

/* The distance the library documents for each metric. */
static double distance(uint32_t metric, const float *a, const float *b) {
    switch (metric) {
    case OMENDB_METRIC_L2: {
        double s = 0;
        for (size_t i = 0; i < D; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        return s;
    }
    case OMENDB_METRIC_IP:
        return 1.0 - dot(a, b);
    default:
        return 1.0 - dot(a, b) / sqrt(dot(a, a) * dot(b, b));
    }
}

/* Exact top K of every query, by insertion into a sorted list. */
static void brute_force(uint32_t metric) {
    for (size_t q = 0; q < Q; q++) {
        double best[K];
        for (size_t j = 0; j < K; j++) best[j] = INFINITY;
        for (size_t i = 0; i < N; i++) {
            double d = distance(metric, &queries[q * D], &base[i * D]);
            if (d >= best[K - 1]) continue;
            size_t j = K - 1;
            while (j > 0 && best[j - 1] > d) {
                best[j] = best[j - 1];
                truth[q][j] = truth[q][j - 1];
                j--;
            }
            best[j] = d;
            truth[q][j] = i;
        }
    }
}

static double recall_of(const uint64_t *found /* Q x K */) {
    size_t hits = 0;
    for (size_t q = 0; q < Q; q++)
        for (size_t i = 0; i < K; i++)
            for (size_t j = 0; j < K; j++)
                if (found[q * K + i] == truth[q][j]) hits++;
    return (double)hits / (Q * K);
}

static omendb_index *build(uint32_t metric, bool string_keys) {
    omendb_options *opts = NULL;
    omendb_index *index = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK_OK(omendb_options_set_metric(opts, metric, &ERR));
    CHECK_OK(omendb_index_create(opts, &index, &ERR));
    omendb_options_free(opts);
    if (string_keys) {
        static char names[MAX_N][16];
        static const char *ptrs[MAX_N];
        for (size_t i = 0; i < N; i++) {
            snprintf(names[i], sizeof names[i], "id-%zu", i);
            ptrs[i] = names[i];
        }
        CHECK_OK(omendb_index_add_batch_str(index, ptrs, NULL, N, base, D, &ERR));
    } else {
        /* Two batches: the second joins a graph that already has an entry point. */
        static uint64_t keys[MAX_N];
        for (size_t i = 0; i < N; i++) keys[i] = i;
        CHECK_OK(omendb_index_add_batch(index, keys, N / 3, base, D, &ERR));
        CHECK_OK(omendb_index_add_batch(index, keys + N / 3, N - N / 3, base + (N / 3) * D, D, &ERR));
    }
    size_t len = 0;
    CHECK_OK(omendb_index_len(index, &len, &ERR));
    CHECK(len == N);
    return index;
}

static void check_metric(uint32_t metric, const char *name) {
    brute_force(metric);
    omendb_index *index = build(metric, false);
    static uint64_t keys[Q * K], one_keys[K];
    static float dists[Q * K], one_dists[K];
    CHECK_OK(omendb_index_search(index, queries, Q, D, K, EF, keys, dists, Q * K, &ERR));

    double recall = recall_of(keys);
    fprintf(stderr, "     %-6s recall@%d at ef=%d: %.3f\n", name, K, EF, recall);
    CHECK(recall >= MIN_RECALL);

    size_t bad_order = 0, bad_dist = 0, bad_key = 0, batch_differs = 0;
    for (size_t q = 0; q < Q; q++) {
        for (size_t r = 0; r < K; r++) {
            uint64_t key = keys[q * K + r];
            if (key >= N) {
                bad_key++;
                continue;
            }
            double want = distance(metric, &queries[q * D], &base[key * D]);
            if (fabs(dists[q * K + r] - want) > 1e-4 * (1.0 + fabs(want))) bad_dist++;
            if (r > 0 && dists[q * K + r] < dists[q * K + r - 1]) bad_order++;
        }
        /* The batch is searched in parallel; each query alone must give the same answer. */
        CHECK_OK(omendb_index_search(index, &queries[q * D], 1, D, K, EF, one_keys, one_dists, K, &ERR));
        if (memcmp(one_keys, &keys[q * K], sizeof one_keys) != 0 ||
            memcmp(one_dists, &dists[q * K], sizeof one_dists) != 0)
            batch_differs++;
    }
    CHECK(bad_key == 0);
    CHECK(bad_dist == 0);
    CHECK(bad_order == 0);
    CHECK(batch_differs == 0);

    /* ef below k is raised to k: still k hits. ef = 0 is the index's default (64). */
    CHECK_OK(omendb_index_search(index, queries, 1, D, K, 1, one_keys, one_dists, K, &ERR));
    for (size_t r = 0; r < K; r++) CHECK(one_keys[r] < N);
    CHECK_OK(omendb_index_search(index, queries, 1, D, K, 0, one_keys, one_dists, K, &ERR));
    CHECK(memcmp(one_keys, keys, sizeof one_keys) == 0);

    /* Every record finds itself first (distance 0 up to rounding), for a few records. */
    for (size_t i = 0; i < N; i += 331) {
        CHECK_OK(omendb_index_search(index, &base[i * D], 1, D, 1, EF, one_keys, one_dists, 1, &ERR));
        if (metric != OMENDB_METRIC_IP) {
            CHECK(one_keys[0] == i);
            CHECK(fabsf(one_dists[0]) < 1e-4f);
        }
    }
    omendb_index_free(index);
}

static void test_recall_l2(void) { check_metric(OMENDB_METRIC_L2, "l2"); }
static void test_recall_ip(void) { check_metric(OMENDB_METRIC_IP, "ip"); }
static void test_recall_cosine(void) { check_metric(OMENDB_METRIC_COSINE, "cosine"); }

static void test_k_larger_than_index(void) {
    enum { SMALL = 7, BIG_K = 12, NQ = 2 };
    omendb_index *index = NULL;
    CHECK_OK(omendb_index_create(NULL, &index, &ERR));
    uint64_t keys[SMALL];
    for (size_t i = 0; i < SMALL; i++) keys[i] = 50 + i;
    CHECK_OK(omendb_index_add_batch(index, keys, SMALL, base, D, &ERR));

    uint64_t out_keys[NQ * BIG_K];
    float out_dists[NQ * BIG_K];
    CHECK_OK(omendb_index_search(index, queries, NQ, D, BIG_K, 0, out_keys, out_dists, NQ * BIG_K, &ERR));
    for (size_t q = 0; q < NQ; q++) {
        uint64_t *row = &out_keys[q * BIG_K];
        float *drow = &out_dists[q * BIG_K];
        unsigned seen = 0; /* bit i: key 50 + i was returned */
        for (size_t r = 0; r < SMALL; r++) {
            CHECK(row[r] >= 50 && row[r] < 50 + SMALL);
            if (row[r] >= 50 && row[r] < 50 + SMALL) seen |= 1u << (row[r] - 50);
            CHECK(isfinite(drow[r]));
            if (r > 0) CHECK(drow[r] >= drow[r - 1]);
        }
        CHECK(seen == (1u << SMALL) - 1); /* all of them, each once */
        for (size_t r = SMALL; r < BIG_K; r++) {
            CHECK(row[r] == OMENDB_NO_KEY);
            CHECK(isinf(drow[r]) && drow[r] > 0);
        }
    }

    omendb_results *res = NULL;
    CHECK_OK(omendb_index_search_results(index, queries, NQ, D, BIG_K, 0, &res, &ERR));
    for (size_t q = 0; q < NQ; q++) {
        size_t count = 0;
        CHECK_OK(omendb_results_count(res, q, &count, &ERR));
        CHECK(count == SMALL);
        for (size_t r = 0; r < SMALL; r++) {
            uint64_t key = 0;
            float dist = 0;
            CHECK_OK(omendb_results_key(res, q, r, &key, &ERR));
            CHECK_OK(omendb_results_distance(res, q, r, &dist, &ERR));
            CHECK(key == out_keys[q * BIG_K + r]);
            CHECK(dist == out_dists[q * BIG_K + r]);
        }
    }
    const float *all = NULL;
    size_t all_len = 0;
    CHECK_OK(omendb_results_distances(res, &all, &all_len, &ERR));
    /* The object's rows are min(k, records) = SMALL wide (k = BIG_K costs no memory). */
    CHECK(all_len == NQ * SMALL);
    if (all_len == NQ * SMALL)
        for (size_t q = 0; q < NQ; q++)
            CHECK(memcmp(all + q * SMALL, out_dists + q * BIG_K, SMALL * sizeof(float)) == 0);
    omendb_results_free(res);
    omendb_index_free(index);
}

static void test_string_keys(void) {
    brute_force(OMENDB_METRIC_L2);
    omendb_index *index = build(OMENDB_METRIC_L2, true);
    omendb_results *res = NULL;
    CHECK_OK(omendb_index_search_results(index, queries, Q, D, K, EF, &res, &ERR));
    static uint64_t found[Q * K];
    size_t bad = 0;
    for (size_t q = 0; q < Q; q++) {
        size_t count = 0;
        CHECK_OK(omendb_results_count(res, q, &count, &ERR));
        CHECK(count == K);
        float prev = -INFINITY;
        for (size_t r = 0; r < K && r < count; r++) {
            const char *key = NULL;
            size_t len = 0;
            float dist = 0;
            CHECK_OK(omendb_results_key_str(res, q, r, &key, &len, &ERR));
            CHECK_OK(omendb_results_distance(res, q, r, &dist, &ERR));
            unsigned long id = 0;
            char tail = 0;
            if (key == NULL || strlen(key) != len || sscanf(key, "id-%lu%c", &id, &tail) != 1 || id >= N) {
                bad++;
                found[q * K + r] = OMENDB_NO_KEY;
                continue;
            }
            found[q * K + r] = id;
            double want = distance(OMENDB_METRIC_L2, &queries[q * D], &base[id * D]);
            if (fabs(dist - want) > 1e-4 * (1.0 + want)) bad++;
            if (dist < prev) bad++;
            prev = dist;
        }
    }
    CHECK(bad == 0);
    double recall = recall_of(found);
    fprintf(stderr, "     string keys recall@%d at ef=%d: %.3f\n", K, EF, recall);
    CHECK(recall >= MIN_RECALL);
    omendb_results_free(res);
    omendb_index_free(index);
}

int main(void) {
    /* Under valgrind (about 50x slower) a smaller index keeps the run near a minute. */
    if (getenv("OMENDB_UNDER_VALGRIND") != NULL) N = 1000;
    uint64_t rng = 20240501;
    base = check_alloc(sizeof(float) * N * D);
    queries = check_alloc(sizeof(float) * Q * D);
    check_rand_fill(&rng, base, N * D);
    check_rand_fill(&rng, queries, Q * D);
    RUN(test_recall_l2);
    RUN(test_recall_ip);
    RUN(test_recall_cosine);
    RUN(test_k_larger_than_index);
    RUN(test_string_keys);
    free(base);
    free(queries);
    return check_finish();
}
