/*
 * test_persistence.c: omendb_index_save, omendb_index_load and omendb_index_open (read-only,
 * memory-mapped: same answers as load for plain, filtered and text search; every change
 * refused with OMENDB_STATUS_INVALID_ARGUMENT). An index with u64 keys and one
 * with string keys (each with removed records) are saved, loaded back and compared: same len,
 * dimensions, metric, key kind, membership and search results, and further adds work. Texts
 * come back as given after save and load, open, serialize and deserialize; a file saved before
 * texts were kept (tests/fixtures/v5-packed-small.omendb, read from the repository root where
 * `make` runs the tests) gives none back, and its text search still works. Then
 * every failure C can provoke: a missing file or directory (OMENDB_STATUS_IO), a foreign,
 * truncated or bit-flipped file (OMENDB_STATUS_CORRUPT), a file of a newer format version
 * (OMENDB_STATUS_UNSUPPORTED_VERSION), NULL pointers and a path that is not UTF-8; each leaves
 * `*index_out` untouched and hands back an error with its code and a message.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

enum { D = 8, N = 300, K = 10, NQ = 20 };

static char dir[64];
static float data[N * D];
static float queries[NQ * D];

static void path_in_dir(char *out, size_t size, const char *name) {
    snprintf(out, size, "%s/%s", dir, name);
}

static omendb_index *new_index(uint32_t metric) {
    omendb_options *opts = NULL;
    omendb_index *index = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK_OK(omendb_options_set_metric(opts, metric, &ERR));
    CHECK_OK(omendb_options_set_m(opts, 8, &ERR));
    CHECK_OK(omendb_options_set_ef_construction(opts, 64, &ERR));
    CHECK_OK(omendb_index_create(opts, &index, &ERR));
    omendb_options_free(opts);
    return index;
}

static omendb_status save(const omendb_index *index, const char *path, omendb_error **err) {
    return omendb_index_save(index, path, strlen(path), err);
}

static omendb_status load(const char *path, omendb_index **out, omendb_error **err) {
    return omendb_index_load(path, strlen(path), out, err);
}

static size_t index_len(const omendb_index *index) {
    size_t len = (size_t)-1;
    CHECK_OK(omendb_index_len(index, &len, &ERR));
    return len;
}

/* Both indexes give the same hits (keys and distances) for every query. */
static bool same_u64_search(const omendb_index *a, const omendb_index *b) {
    uint64_t ka[NQ * K], kb[NQ * K];
    float da[NQ * K], db[NQ * K];
    CHECK_OK(omendb_index_search(a, queries, NQ, D, K, 0, ka, da, NQ * K, &ERR));
    CHECK_OK(omendb_index_search(b, queries, NQ, D, K, 0, kb, db, NQ * K, &ERR));
    return memcmp(ka, kb, sizeof ka) == 0 && memcmp(da, db, sizeof da) == 0;
}

static bool same_str_search(const omendb_index *a, const omendb_index *b) {
    omendb_results *ra = NULL, *rb = NULL;
    CHECK_OK(omendb_index_search_results(a, queries, NQ, D, K, 0, &ra, &ERR));
    CHECK_OK(omendb_index_search_results(b, queries, NQ, D, K, 0, &rb, &ERR));
    bool same = ra != NULL && rb != NULL;
    for (size_t q = 0; same && q < NQ; q++) {
        size_t ca = 0, cb = 0;
        CHECK_OK(omendb_results_count(ra, q, &ca, &ERR));
        CHECK_OK(omendb_results_count(rb, q, &cb, &ERR));
        same = ca == cb && ca == K;
        for (size_t r = 0; same && r < ca; r++) {
            const char *sa = NULL, *sb = NULL;
            size_t la = 0, lb = 0;
            float fa = 0, fb = 1;
            CHECK_OK(omendb_results_key_str(ra, q, r, &sa, &la, &ERR));
            CHECK_OK(omendb_results_key_str(rb, q, r, &sb, &lb, &ERR));
            CHECK_OK(omendb_results_distance(ra, q, r, &fa, &ERR));
            CHECK_OK(omendb_results_distance(rb, q, r, &fb, &ERR));
            same = la == lb && memcmp(sa, sb, la) == 0 && fa == fb;
        }
    }
    omendb_results_free(ra);
    omendb_results_free(rb);
    return same;
}

static void test_round_trip_u64(void) {
    omendb_index *index = new_index(OMENDB_METRIC_L2);
    uint64_t keys[N];
    for (size_t i = 0; i < N; i++) keys[i] = 1000 + i;
    CHECK_OK(omendb_index_add_batch(index, keys, N, data, D, &ERR));
    for (size_t i = 0; i < N; i += 9) CHECK_OK(omendb_index_remove(index, keys[i], &ERR));

    char path[128];
    path_in_dir(path, sizeof path, "u64.omendb");
    CHECK_OK(save(index, path, &ERR));
    omendb_index *loaded = NULL;
    CHECK_OK(load(path, &loaded, &ERR));
    CHECK(loaded != NULL);
    if (loaded == NULL) {
        omendb_index_free(index);
        return;
    }
    size_t dim = 0;
    uint32_t metric = 99, kind = 99;
    CHECK_OK(omendb_index_dim(loaded, &dim, &ERR));
    CHECK_OK(omendb_index_metric(loaded, &metric, &ERR));
    CHECK_OK(omendb_index_key_kind(loaded, &kind, &ERR));
    CHECK(dim == D && metric == OMENDB_METRIC_L2 && kind == OMENDB_KEY_KIND_U64);
    CHECK(index_len(loaded) == index_len(index));
    for (size_t i = 0; i < N; i++) {
        bool found = false;
        CHECK_OK(omendb_index_contains(loaded, keys[i], &found, &ERR));
        CHECK(found == (i % 9 != 0));
    }
    CHECK(same_u64_search(index, loaded));

    /* Further changes behave the same on both. */
    uint64_t more[3] = {1, 2, 3};
    CHECK_OK(omendb_index_add_batch(index, more, 3, queries, D, &ERR));
    CHECK_OK(omendb_index_add_batch(loaded, more, 3, queries, D, &ERR));
    CHECK_OK(omendb_index_compact(index, &ERR));
    CHECK_OK(omendb_index_compact(loaded, &ERR));
    CHECK(same_u64_search(index, loaded));

    /* Saving over an existing file replaces it. */
    CHECK_OK(save(loaded, path, &ERR));
    omendb_index *again = NULL;
    CHECK_OK(load(path, &again, &ERR));
    CHECK(again != NULL && index_len(again) == index_len(loaded));
    omendb_index_free(again);
    omendb_index_free(loaded);
    omendb_index_free(index);
    unlink(path);
}

static void test_round_trip_strings(void) {
    omendb_index *index = new_index(OMENDB_METRIC_COSINE);
    static char names[N][16];
    const char *keys[N];
    for (size_t i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "doc-%zu", i);
        keys[i] = names[i];
    }
    CHECK_OK(omendb_index_add_batch_str(index, keys, NULL, N, data, D, &ERR));
    for (size_t i = 0; i < N; i += 5) CHECK_OK(omendb_index_remove_str(index, keys[i], strlen(keys[i]), &ERR));

    char path[128];
    path_in_dir(path, sizeof path, "strings.omendb");
    CHECK_OK(save(index, path, &ERR));
    omendb_index *loaded = NULL;
    CHECK_OK(load(path, &loaded, &ERR));
    if (loaded == NULL) {
        omendb_index_free(index);
        return;
    }
    uint32_t kind = 0;
    CHECK_OK(omendb_index_key_kind(loaded, &kind, &ERR));
    CHECK(kind == OMENDB_KEY_KIND_STRING);
    CHECK(index_len(loaded) == N - N / 5);
    bool found = true;
    CHECK_OK(omendb_index_contains_str(loaded, "doc-5", 5, &found, &ERR));
    CHECK(!found);
    CHECK_OK(omendb_index_contains_str(loaded, "doc-6", 5, &found, &ERR));
    CHECK(found);
    CHECK(same_str_search(index, loaded));
    omendb_index_free(loaded);
    omendb_index_free(index);
    unlink(path);
}

/* CRC-32C (Castagnoli), bitwise: enough to re-seal a header in a test. */
static uint32_t crc32c(const unsigned char *p, size_t n) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void put_u32_le(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void write_file(const char *path, const unsigned char *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f == NULL) return;
    CHECK(fwrite(bytes, 1, n, f) == n);
    fclose(f);
}

static unsigned char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = check_alloc((size_t)size);
    *n = fread(bytes, 1, (size_t)size, f);
    fclose(f);
    CHECK(*n == (size_t)size);
    return bytes;
}

/* Loading `path` fails with `want`: an error object with that code and a message, the output
 * untouched, and the same status without err_out. */
static void expect_load_error(const char *path, size_t path_len, omendb_status want) {
    omendb_index *sentinel = (omendb_index *)&dir; /* never dereferenced */
    omendb_index *out = sentinel;
    omendb_error *err = NULL;
    omendb_status st = omendb_index_load(path, path_len, &out, &err);
    CHECK(st == want);
    CHECK(out == sentinel);
    CHECK(err != NULL && omendb_error_code(err) == want);
    CHECK(err != NULL && strlen(omendb_error_message(err)) > 0);
    if (st != want) fprintf(stderr, "  load: got %s (%s)\n", omendb_status_name(st), omendb_error_message(err));
    omendb_error_free(err);
    CHECK(omendb_index_load(path, path_len, &out, NULL) == want && out == sentinel);
}

/* Opening `path` fails with `want`, the output untouched. */
static void expect_open_error(const char *path, omendb_status want) {
    omendb_index *sentinel = (omendb_index *)&dir; /* never dereferenced */
    omendb_index *out = sentinel;
    omendb_error *err = NULL;
    omendb_status st = omendb_index_open(path, strlen(path), &out, &err);
    CHECK(st == want && out == sentinel);
    CHECK(err != NULL && omendb_error_code(err) == want && strlen(omendb_error_message(err)) > 0);
    if (st != want) fprintf(stderr, "  open: got %s (%s)\n", omendb_status_name(st), omendb_error_message(err));
    omendb_error_free(err);
}

/* The results of two searches hold the same u64 keys and distances. */
static bool same_results(const omendb_results *a, const omendb_results *b, size_t nq) {
    bool same = a != NULL && b != NULL;
    for (size_t q = 0; same && q < nq; q++) {
        size_t ca = 0, cb = 0;
        CHECK_OK(omendb_results_count(a, q, &ca, &ERR));
        CHECK_OK(omendb_results_count(b, q, &cb, &ERR));
        same = ca == cb;
        for (size_t r = 0; same && r < ca; r++) {
            uint64_t ka = 0, kb = 1;
            float da = 0, db = 1;
            CHECK_OK(omendb_results_key(a, q, r, &ka, &ERR));
            CHECK_OK(omendb_results_key(b, q, r, &kb, &ERR));
            CHECK_OK(omendb_results_distance(a, q, r, &da, &ERR));
            CHECK_OK(omendb_results_distance(b, q, r, &db, &ERR));
            same = ka == kb && da == db;
        }
    }
    return same;
}

static void test_open_read_only(void) {
    omendb_index *index = new_index(OMENDB_METRIC_L2);
    uint64_t keys[N];
    const char *meta[N];
    const char *texts[N];
    static const char *genres[] = {"{\"genre\": \"jazz\"}", "{\"genre\": \"rock\", \"year\": 1990}", NULL};
    static const char *words[] = {"saxophone quartet", "piano trio live", "field recordings", NULL};
    for (size_t i = 0; i < N; i++) {
        keys[i] = 500 + i;
        meta[i] = genres[i % 3];
        texts[i] = words[i % 4];
    }
    CHECK_OK(omendb_index_add_records(index, keys, N, data, D, meta, NULL, texts, NULL, &ERR));
    CHECK_OK(omendb_index_remove(index, keys[3], &ERR));
    char path[128];
    path_in_dir(path, sizeof path, "open.omendb");
    CHECK_OK(save(index, path, &ERR));

    omendb_index *opened = NULL;
    CHECK_OK(omendb_index_open(path, strlen(path), &opened, &ERR));
    CHECK(opened != NULL);
    if (opened == NULL) {
        omendb_index_free(index);
        return;
    }
    bool read_only = false;
    CHECK_OK(omendb_index_is_read_only(opened, &read_only, &ERR));
    CHECK(read_only);
    CHECK_OK(omendb_index_is_read_only(index, &read_only, &ERR));
    CHECK(!read_only);
    CHECK(index_len(opened) == index_len(index));
    CHECK(same_u64_search(index, opened));

    omendb_filter *filter = NULL;
    const char *ftext = "genre = \"jazz\" OR year >= 1990";
    CHECK_OK(omendb_filter_parse(ftext, strlen(ftext), &filter, &ERR));
    omendb_results *ra = NULL, *rb = NULL;
    CHECK_OK(omendb_index_search_filtered(index, queries, NQ, D, K, 0, filter, &ra, &ERR));
    CHECK_OK(omendb_index_search_filtered(opened, queries, NQ, D, K, 0, filter, &rb, &ERR));
    CHECK(same_results(ra, rb, NQ));
    omendb_results_free(ra);
    omendb_results_free(rb);
    ra = rb = NULL;
    CHECK_OK(omendb_index_text_search(index, "piano live", 10, K, filter, &ra, &ERR));
    CHECK_OK(omendb_index_text_search(opened, "piano live", 10, K, filter, &rb, &ERR));
    CHECK(same_results(ra, rb, 1));
    size_t hits = 0;
    CHECK_OK(omendb_results_count(rb, 0, &hits, &ERR));
    CHECK(hits == K);
    omendb_results_free(ra);
    omendb_results_free(rb);
    omendb_filter_free(filter);

    /* Every change is refused, with a message. */
    omendb_error *err = NULL;
    uint64_t fresh = 1;
    CHECK(omendb_index_add_batch(opened, &fresh, 1, data, D, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(omendb_error_message(err), "read-only") != NULL);
    omendb_error_free(err);
    CHECK(omendb_index_upsert_batch(opened, &fresh, 1, data, D, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(omendb_index_add_records(opened, &fresh, 1, data, D, NULL, NULL, NULL, NULL, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(omendb_index_remove(opened, keys[5], NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(omendb_index_compact(opened, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(index_len(opened) == index_len(index));

    /* Saving the opened index over its own file works; it keeps answering. */
    CHECK_OK(save(opened, path, &ERR));
    CHECK(same_u64_search(index, opened));
    omendb_index *loaded = NULL;
    CHECK_OK(load(path, &loaded, &ERR));
    CHECK(loaded != NULL && same_u64_search(index, loaded));
    omendb_index_free(loaded);

    omendb_index *out = NULL;
    CHECK(omendb_index_open(NULL, 3, &out, NULL) == OMENDB_STATUS_NULL_POINTER && out == NULL);
    CHECK(omendb_index_open(path, strlen(path), NULL, NULL) == OMENDB_STATUS_NULL_POINTER);
    const char not_utf8[] = {'a', (char)0xFF, 'b'};
    CHECK(omendb_index_open(not_utf8, 3, &out, NULL) == OMENDB_STATUS_INVALID_UTF8 && out == NULL);
    CHECK(omendb_index_is_read_only(NULL, &read_only, NULL) == OMENDB_STATUS_NULL_POINTER);
    CHECK(omendb_index_is_read_only(opened, NULL, NULL) == OMENDB_STATUS_NULL_POINTER);

    omendb_index_free(opened);
    omendb_index_free(index);
    unlink(path);
}

static void test_bad_files(void) {
    char good[128], bad[128], missing[128], nodir[128];
    path_in_dir(good, sizeof good, "good.omendb");
    path_in_dir(bad, sizeof bad, "bad.omendb");
    path_in_dir(missing, sizeof missing, "missing.omendb");
    path_in_dir(nodir, sizeof nodir, "no/such/dir/x.omendb");

    omendb_index *index = new_index(OMENDB_METRIC_L2);
    uint64_t keys[20];
    for (size_t i = 0; i < 20; i++) keys[i] = i;
    CHECK_OK(omendb_index_add_batch(index, keys, 20, data, D, &ERR));
    CHECK_OK(save(index, good, &ERR));
    size_t n = 0;
    unsigned char *bytes = read_file(good, &n);
    if (bytes == NULL) {
        omendb_index_free(index);
        return;
    }

    expect_load_error(missing, strlen(missing), OMENDB_STATUS_IO);
    expect_load_error(dir, strlen(dir), OMENDB_STATUS_IO); /* a directory */
    expect_load_error("", 0, OMENDB_STATUS_IO);

    write_file(bad, (const unsigned char *)"just some text\n", 15);
    expect_load_error(bad, strlen(bad), OMENDB_STATUS_CORRUPT);
    write_file(bad, bytes, n - 1); /* truncated by one byte */
    expect_load_error(bad, strlen(bad), OMENDB_STATUS_CORRUPT);
    write_file(bad, bytes, 100); /* truncated inside the section table */
    expect_load_error(bad, strlen(bad), OMENDB_STATUS_CORRUPT);
    bytes[n / 2] ^= 0x10; /* one bit flipped in the middle */
    write_file(bad, bytes, n);
    expect_load_error(bad, strlen(bad), OMENDB_STATUS_CORRUPT);
    bytes[n / 2] ^= 0x10;

    /* A newer format version (3 to 8 are readable: quantized, binary, packed records, metadata kinds, texts, neighbour codes), its header checksum recomputed. */
    put_u32_le(bytes + 8, 9);
    put_u32_le(bytes + 60, crc32c(bytes, 60));
    write_file(bad, bytes, n);
    expect_load_error(bad, strlen(bad), OMENDB_STATUS_UNSUPPORTED_VERSION);
    expect_open_error(bad, OMENDB_STATUS_UNSUPPORTED_VERSION);
    expect_open_error(missing, OMENDB_STATUS_IO);
    expect_open_error(dir, OMENDB_STATUS_IO);
    write_file(bad, (const unsigned char *)"just some text\n", 15);
    expect_open_error(bad, OMENDB_STATUS_CORRUPT);
    put_u32_le(bytes + 8, 2);
    put_u32_le(bytes + 60, crc32c(bytes, 60));
    write_file(bad, bytes, n - 64); /* truncated */
    expect_open_error(bad, OMENDB_STATUS_CORRUPT);
    bytes[n - 100] ^= 0x04; /* a bit flipped near the end */
    write_file(bad, bytes, n);
    expect_open_error(bad, OMENDB_STATUS_CORRUPT);
    bytes[n - 100] ^= 0x04;

    /* Saving into a missing directory: IO, and no file appears. */
    omendb_error *err = NULL;
    CHECK(save(index, nodir, &err) == OMENDB_STATUS_IO);
    CHECK(err != NULL && omendb_error_code(err) == OMENDB_STATUS_IO && strlen(omendb_error_message(err)) > 0);
    omendb_error_free(err);
    CHECK(omendb_index_save(index, "", 0, NULL) == OMENDB_STATUS_IO);

    free(bytes);
    omendb_index_free(index);
    unlink(good);
    unlink(bad);
}

static void test_null_and_utf8(void) {
    omendb_index *index = new_index(OMENDB_METRIC_L2);
    omendb_index *out = NULL;
    omendb_error *err = NULL;
    CHECK(omendb_index_save(NULL, "x", 1, &err) == OMENDB_STATUS_NULL_POINTER);
    CHECK(omendb_error_code(err) == OMENDB_STATUS_NULL_POINTER);
    omendb_error_free(err);
    CHECK(omendb_index_save(index, NULL, 4, NULL) == OMENDB_STATUS_NULL_POINTER);
    CHECK(omendb_index_load(NULL, 4, &out, NULL) == OMENDB_STATUS_NULL_POINTER && out == NULL);
    CHECK(omendb_index_load("x", 1, NULL, NULL) == OMENDB_STATUS_NULL_POINTER);
    const char not_utf8[] = {'a', (char)0xFF, 'b'};
    CHECK(omendb_index_save(index, not_utf8, 3, NULL) == OMENDB_STATUS_INVALID_UTF8);
    CHECK(omendb_index_load(not_utf8, 3, &out, NULL) == OMENDB_STATUS_INVALID_UTF8 && out == NULL);
    omendb_index_free(index);
}

/* The text of `key` in `index` is `want` (`want_len` bytes), or none when `want` is NULL. */
static bool text_is(const omendb_index *index, uint64_t key, const char *want, size_t want_len) {
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(omendb_index_get_text(index, key, &text, &len, &ERR));
    bool same = want == NULL ? text == NULL && len == 0 : text != NULL && len == want_len && memcmp(text, want, len) == 0;
    omendb_string_free(text);
    return same;
}

static void test_texts_survive(void) {
    omendb_index *index = new_index(OMENDB_METRIC_COSINE);
    enum { T = 40 };
    uint64_t keys[T];
    const char *texts[T];
    size_t lens[T];
    static const char with_nul[] = {'t', 'w', 'o', '\0', 'p', 'a', 'r', 't', 's'};
    static const char *words[] = {"saxophone quartet", "", "Ünïcode 東京 text", NULL};
    for (size_t i = 0; i < T; i++) {
        keys[i] = 100 + i;
        texts[i] = i == 7 ? with_nul : words[i % 4];
        lens[i] = i == 7 ? sizeof with_nul : texts[i] ? strlen(texts[i]) : 0;
    }
    CHECK_OK(omendb_index_add_records(index, keys, T, data, D, NULL, NULL, texts, lens, &ERR));
    CHECK_OK(omendb_index_remove(index, keys[4], &ERR));
    const char *replaced[1] = {"replaced"};
    CHECK_OK(omendb_index_upsert_records(index, keys + 8, 1, data, D, NULL, NULL, replaced, NULL, &ERR));
    texts[8] = replaced[0];
    lens[8] = strlen(replaced[0]);

    char path[128];
    path_in_dir(path, sizeof path, "texts.omendb");
    CHECK_OK(save(index, path, &ERR));
    omendb_index *copies[3] = {NULL, NULL, NULL};
    CHECK_OK(load(path, &copies[0], &ERR));
    CHECK_OK(omendb_index_open(path, strlen(path), &copies[1], &ERR));
    uint8_t *bytes = NULL;
    size_t n_bytes = 0;
    CHECK_OK(omendb_index_serialize(index, &bytes, &n_bytes, &ERR));
    CHECK_OK(omendb_index_deserialize(bytes, n_bytes, &copies[2], &ERR));
    omendb_bytes_free(bytes, n_bytes);
    for (size_t c = 0; c < 3; c++) {
        CHECK(copies[c] != NULL);
        if (copies[c] == NULL) continue;
        for (size_t i = 0; i < T; i++) {
            if (i == 4) {
                CHECK(omendb_index_get_text(copies[c], keys[i], &(char *){NULL}, NULL, NULL) == OMENDB_STATUS_KEY_NOT_FOUND);
                continue;
            }
            CHECK(text_is(copies[c], keys[i], texts[i], lens[i]));
        }
        omendb_index_free(copies[c]);
    }
    omendb_index_free(index);
    unlink(path);

    /* A file of format 5, saved before texts were kept: postings but no texts. */
    const char *old_file = "tests/fixtures/v5-packed-small.omendb";
    omendb_index *old = NULL;
    CHECK_OK(load(old_file, &old, &ERR));
    if (old == NULL) return;
    char *text = (char *)"untouched";
    size_t len = 9;
    CHECK_OK(omendb_index_get_text_str(old, "r-103", 5, &text, &len, &ERR));
    CHECK(text == NULL && len == 0);
    omendb_results *r = NULL;
    size_t hits = 0, klen = 0;
    const char *key = NULL;
    CHECK_OK(omendb_index_text_search(old, "103", 3, 5, NULL, &r, &ERR));
    CHECK_OK(omendb_results_count(r, 0, &hits, &ERR));
    CHECK(hits == 1);
    CHECK_OK(omendb_results_key_str(r, 0, 0, &key, &klen, &ERR));
    CHECK(klen == 5 && memcmp(key, "r-103", 5) == 0);
    omendb_results_free(r);
    omendb_index_free(old);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/omendb-ctest-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    uint64_t rng = 2024;
    check_rand_fill(&rng, data, N * D);
    check_rand_fill(&rng, queries, NQ * D);
    RUN(test_round_trip_u64);
    RUN(test_round_trip_strings);
    RUN(test_open_read_only);
    RUN(test_texts_survive);
    RUN(test_bad_files);
    RUN(test_null_and_utf8);
    rmdir(dir);
    return check_finish();
}
