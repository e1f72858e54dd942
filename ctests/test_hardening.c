/*
 * test_hardening.c: the faults of issue #21, found by attacking the library from outside its
 * test suite, each kept here as a regression test in the layer where it was found.
 *
 * - A huge k (2^28, 2^40) on a two-record index: every search that returns a results object
 *   sizes it by min(k, records); nothing is allocated by k (it was OOM-killed).
 * - A file rewritten in place while it is open memory-mapped: searches give answers or errors,
 *   never a wild read (link ids from the mapping were trusted: SIGSEGV in the descent). Run in
 *   a child process so that a crash is a failed check, not the end of the suite.
 * - A FIFO, a directory or a device given to load / open fails at once (it hung forever).
 * - A temporary file of a save in progress elsewhere (its pid meaningless here, as in another
 *   PID namespace) survives another save of the same path (it was deleted by pid).
 * - Nested metadata objects, reached by dotted field names, saved and loaded (they were
 *   refused); a JSON key repeated in one object is refused (it was silently last-wins).
 * - A save target whose name is 245-255 bytes long (the temporary name was too long); a save
 *   through a symbolic link updates the file it names and keeps the link; a save to a FIFO is
 *   refused; a comparison with a value of another type matches nothing, without error.
 */
#define _DEFAULT_SOURCE /* mkdtemp, symlink, mkfifo, flock, utimes */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

enum { D = 8 };

static char dir[64];

static void path_in_dir(char *out, size_t size, const char *name) {
    snprintf(out, size, "%s/%s", dir, name);
}

static omendb_status save(const omendb_index *index, const char *path, omendb_error **err) {
    return omendb_index_save(index, path, strlen(path), err);
}

/* Deterministic floats in [-1, 1). */
static void fill(float *out, size_t n, uint64_t seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        out[i] = (float)((s >> 40) & 0xFFFFFF) / (float)(1 << 24) * 2.0f - 1.0f;
    }
}

/* An index of `n` records with keys 0..n-1, each with metadata {"n": i} and a text. */
static omendb_index *build(size_t n) {
    omendb_index *index = NULL;
    CHECK_OK(omendb_index_create(NULL, &index, &ERR));
    float *vectors = malloc(n * D * sizeof(float));
    uint64_t *keys = malloc(n * sizeof(uint64_t));
    char (*meta)[32] = malloc(n * sizeof *meta);
    const char **meta_p = malloc(n * sizeof(char *));
    size_t *meta_l = malloc(n * sizeof(size_t));
    const char **text_p = malloc(n * sizeof(char *));
    size_t *text_l = malloc(n * sizeof(size_t));
    fill(vectors, n * D, 7);
    for (size_t i = 0; i < n; i++) {
        keys[i] = i;
        meta_l[i] = (size_t)snprintf(meta[i], sizeof meta[i], "{\"n\": %zu}", i);
        meta_p[i] = meta[i];
        text_p[i] = i % 2 ? "red apple" : "green apple";
        text_l[i] = strlen(text_p[i]);
    }
    CHECK_OK(omendb_index_add_records(index, keys, n, vectors, D, meta_p, meta_l, text_p, text_l, &ERR));
    free(vectors);
    free(keys);
    free(meta);
    free(meta_p);
    free(meta_l);
    free(text_p);
    free(text_l);
    return index;
}

/* A results object of one query: its hit count and the number of distances it holds. */
static void results_shape(omendb_results *res, size_t *count, size_t *places) {
    const float *all = NULL;
    CHECK_OK(omendb_results_count(res, 0, count, &ERR));
    CHECK_OK(omendb_results_distances(res, &all, places, &ERR));
}

static void test_huge_k_is_sized_by_the_records(void) {
    omendb_index *index = build(2);
    omendb_filter *all = NULL;
    CHECK_OK(omendb_filter_parse("n >= 0", 6, &all, &ERR));
    float query[D];
    fill(query, D, 99);
    const size_t ks[] = {(size_t)1 << 28, SIZE_MAX > UINT32_MAX ? (size_t)1 << 40 : (size_t)1 << 30};
    for (size_t i = 0; i < 2; i++) {
        size_t k = ks[i], count = 99, places = 99;
        omendb_results *res = NULL;
        CHECK_OK(omendb_index_search_results(index, query, 1, D, k, 0, &res, &ERR));
        if (res) results_shape(res, &count, &places);
        CHECK(count == 2 && places == 2);
        omendb_results_free(res);

        res = NULL;
        CHECK_OK(omendb_index_search_filtered(index, query, 1, D, k, 0, all, &res, &ERR));
        if (res) results_shape(res, &count, &places);
        CHECK(count == 2 && places == 2);
        omendb_results_free(res);

        res = NULL;
        CHECK_OK(omendb_index_text_search(index, "apple", 5, k, NULL, &res, &ERR));
        if (res) results_shape(res, &count, &places);
        CHECK(count == 2 && places == 2);
        omendb_results_free(res);

        res = NULL;
        CHECK_OK(omendb_index_hybrid_search(index, query, D, "red", 3, k, 0, NULL, OMENDB_FUSION_RRF, 0, &res, &ERR));
        if (res) results_shape(res, &count, &places);
        CHECK(count == 2 && places == 2);
        omendb_results_free(res);

        /* A batch: n queries x min(k, records), and n * k itself may overflow. */
        float batch[3 * D];
        fill(batch, 3 * D, 5);
        res = NULL;
        CHECK_OK(omendb_index_search_results(index, batch, 3, D, SIZE_MAX, 0, &res, &ERR));
        const float *d = NULL;
        if (res) CHECK_OK(omendb_results_distances(res, &d, &places, &ERR));
        CHECK(places == 3 * 2);
        omendb_results_free(res);

        /* The caller's arrays: too small for k is an error, never a write past them. */
        uint64_t keys[2];
        float dists[2];
        omendb_status st = omendb_index_search(index, query, 1, D, k, 0, keys, dists, 2, NULL);
        CHECK(st == OMENDB_STATUS_BUFFER_TOO_SMALL);
    }
    omendb_filter_free(all);
    omendb_index_free(index);
}

/* Writes `len` bytes of `pattern` (0: pseudo-random) over `path` from `offset`, in place. */
static void rewrite_in_place(const char *path, off_t offset, size_t len, int pattern, uint64_t seed) {
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    if (fd < 0) return;
    unsigned char *bytes = malloc(len);
    uint64_t s = seed | 1;
    for (size_t i = 0; i < len; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        bytes[i] = pattern ? (unsigned char)pattern : (unsigned char)s;
    }
    CHECK(pwrite(fd, bytes, len, offset) == (ssize_t)len);
    close(fd);
    free(bytes);
}

/*
 * Runs in a child process that builds, saves and opens the index itself: the child of a
 * process whose thread pool is running would have no pool threads (fork copies one thread),
 * so main runs the forking tests before anything starts the pool.
 */
static void test_file_rewritten_under_a_mapping(void) {
    enum { N = 3000, NQ = 64, K = 10 };
    char path[128];
    path_in_dir(path, sizeof path, "mapped.omendb");
    /* Damage from just past the header to the end, three ways, each in its own child. */
    const int patterns[] = {0xFF, 0x00, 0};
    for (size_t p = 0; p < 3; p++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            omendb_index *built = build(N);
            if (save(built, path, NULL) != OMENDB_STATUS_OK) _exit(2);
            omendb_index_free(built);
            struct stat st;
            omendb_index *index = NULL;
            if (stat(path, &st) != 0 || omendb_index_open(path, strlen(path), &index, NULL) != OMENDB_STATUS_OK) _exit(2);
            rewrite_in_place(path, 64, (size_t)st.st_size - 64, patterns[p], p + 1);
            float queries[NQ * D];
            fill(queries, NQ * D, 1234 + p);
            uint64_t keys[NQ * K];
            float dists[NQ * K];
            int oks = 0;
            for (int round = 0; round < 4; round++) {
                /* Every answer is a status; which one does not matter. */
                if (omendb_index_search(index, queries, NQ, D, K, 0, keys, dists, NQ * K, NULL) == OMENDB_STATUS_OK) oks++;
                for (size_t q = 0; q < NQ; q++) {
                    omendb_results *res = NULL;
                    if (omendb_index_search_results(index, queries + q * D, 1, D, K, 200, &res, NULL) == OMENDB_STATUS_OK) oks++;
                    omendb_results_free(res);
                }
            }
            omendb_index_free(index);
            printf("  rewritten with %s: %d of %d searches answered OK, no crash\n",
                   p == 0 ? "0xFF" : p == 1 ? "0x00" : "noise", oks, 4 * (NQ + 1));
            fflush(stdout);
            _exit(0);
        }
        int wstatus = 0;
        CHECK(pid > 0 && waitpid(pid, &wstatus, 0) == pid);
        if (WIFSIGNALED(wstatus)) fprintf(stderr, "  child killed by signal %d\n", WTERMSIG(wstatus));
        CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
        unlink(path);
    }
}

/* load and open of `path` must fail with OMENDB_STATUS_IO, within the alarm set by the caller. */
static void refused_at_once(const char *path) {
    omendb_index *index = NULL;
    omendb_error *err = NULL;
    CHECK(omendb_index_load(path, strlen(path), &index, &err) == OMENDB_STATUS_IO);
    CHECK(index == NULL && err != NULL && strstr(omendb_error_message(err), "not a regular file") != NULL);
    omendb_error_free(err);
    err = NULL;
    CHECK(omendb_index_open(path, strlen(path), &index, &err) == OMENDB_STATUS_IO);
    CHECK(index == NULL && err != NULL);
    omendb_error_free(err);
}

static void test_special_files_fail_at_once(void) {
    char fifo[128];
    path_in_dir(fifo, sizeof fifo, "pipe.omendb");
    CHECK(mkfifo(fifo, 0600) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20); /* a hang ends the child with SIGALRM: a failed check below */
        check_failures = 0;
        refused_at_once(fifo);
        refused_at_once(dir);
        refused_at_once("/dev/null");
        /* A save to the FIFO is refused, and the FIFO is left as it was. */
        omendb_index *index = build(2);
        CHECK(save(index, fifo, NULL) == OMENDB_STATUS_IO);
        omendb_index_free(index);
        struct stat st;
        CHECK(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
        _exit(check_failures == 0 ? 0 : 1);
    }
    int wstatus = 0;
    CHECK(pid > 0 && waitpid(pid, &wstatus, 0) == pid);
    if (WIFSIGNALED(wstatus)) fprintf(stderr, "  child killed by signal %d (SIGALRM = a hang)\n", WTERMSIG(wstatus));
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
    unlink(fifo);
}

static void test_a_save_in_progress_elsewhere_keeps_its_file(void) {
    char target[128], foreign[160], killed[160];
    path_in_dir(target, sizeof target, "shared.omendb");
    /* Named by a pid that no process here has (another namespace's), and old. */
    path_in_dir(foreign, sizeof foreign, ".shared.omendb.tmp-4294967295-0");
    path_in_dir(killed, sizeof killed, ".shared.omendb.tmp-4294967295-1");
    const char *names[] = {foreign, killed};
    for (size_t i = 0; i < 2; i++) {
        FILE *f = fopen(names[i], "w");
        CHECK(f != NULL);
        if (f) fclose(f);
        struct timeval old[2] = {{1000000000, 0}, {1000000000, 0}};
        CHECK(utimes(names[i], old) == 0);
    }
    /* The save in progress holds its lock, as every saver does until its rename. */
    int held = open(foreign, O_RDONLY);
    CHECK(held >= 0 && flock(held, LOCK_EX | LOCK_NB) == 0);
    omendb_index *index = build(3);
    CHECK_OK(save(index, target, &ERR));
    CHECK(access(foreign, F_OK) == 0); /* locked: kept */
    CHECK(access(killed, F_OK) != 0);  /* nobody's, and old: removed */
    close(held);
    CHECK_OK(save(index, target, &ERR));
    CHECK(access(foreign, F_OK) != 0); /* its saver gone: removed at the next save */
    omendb_index_free(index);
    unlink(target);
}

static char *metadata_of(const omendb_index *index, uint64_t key) {
    char *json = NULL;
    CHECK_OK(omendb_index_metadata(index, key, &json, NULL, &ERR));
    return json;
}

static size_t filter_hits(const omendb_index *index, const char *text) {
    omendb_filter *f = NULL;
    omendb_results *res = NULL;
    float query[D];
    fill(query, D, 3);
    size_t count = 0;
    CHECK_OK(omendb_filter_parse(text, strlen(text), &f, &ERR));
    CHECK_OK(omendb_index_search_filtered(index, query, 1, D, 10, 0, f, &res, &ERR));
    if (res) CHECK_OK(omendb_results_count(res, 0, &count, &ERR));
    omendb_results_free(res);
    omendb_filter_free(f);
    return count;
}

static void test_nested_metadata(void) {
    omendb_index *index = NULL;
    CHECK_OK(omendb_index_create(NULL, &index, &ERR));
    float vectors[3 * D];
    fill(vectors, 3 * D, 11);
    const uint64_t keys[3] = {1, 2, 3};
    const char *meta[3] = {
        "{\"book\": {\"year\": 1999, \"author\": {\"name\": \"Le Guin\"}}, \"tags\": [\"sf\"]}",
        "{\"book.year\": 2005}",
        "{\"book\": {\"year\": 1970}, \"empty\": {}}",
    };
    size_t lens[3];
    for (size_t i = 0; i < 3; i++) lens[i] = strlen(meta[i]);
    CHECK_OK(omendb_index_add_records(index, keys, 3, vectors, D, meta, lens, NULL, NULL, &ERR));
    CHECK(filter_hits(index, "book.year > 1980") == 2);
    CHECK(filter_hits(index, "book.author.name = \"Le Guin\"") == 1);
    CHECK(filter_hits(index, "EXISTS book.author") == 0); /* an object is not a value */
    char *json = metadata_of(index, 1);
    CHECK(json && strcmp(json, "{\"book\":{\"author\":{\"name\":\"Le Guin\"},\"year\":1999},\"tags\":[\"sf\"]}") == 0);
    omendb_string_free(json);
    json = metadata_of(index, 2);
    CHECK(json && strcmp(json, "{\"book\":{\"year\":2005}}") == 0);
    omendb_string_free(json);

    /* Saved and loaded like the rest. */
    char path[128];
    path_in_dir(path, sizeof path, "nested.omendb");
    CHECK_OK(save(index, path, &ERR));
    omendb_index *loaded = NULL;
    CHECK_OK(omendb_index_load(path, strlen(path), &loaded, &ERR));
    if (loaded) {
        CHECK(filter_hits(loaded, "book.author.name = \"Le Guin\" AND book.year = 1999") == 1);
        json = metadata_of(loaded, 1);
        CHECK(json && strstr(json, "\"author\":{\"name\":\"Le Guin\"}") != NULL);
        omendb_string_free(json);
    }
    omendb_index_free(loaded);
    unlink(path);

    /* Refused, and nothing of the batch stored: a key twice in one object, a path twice, a
     * path that is a value and an object. */
    const char *bad[] = {"{\"a\": 1, \"a\": 2}", "{\"a\": {\"b\": 1, \"b\": 2}}", "{\"a.b\": 1, \"a\": {\"b\": 2}}",
                         "{\"a\": 1, \"a.b\": 2}"};
    for (size_t i = 0; i < 4; i++) {
        uint64_t key = 10 + i;
        size_t len = strlen(bad[i]);
        omendb_error *err = NULL;
        CHECK(omendb_index_add_records(index, &key, 1, vectors, D, &bad[i], &len, NULL, NULL, &err) ==
              OMENDB_STATUS_INVALID_ARGUMENT);
        printf("  %-40s -> %s\n", bad[i], omendb_error_message(err));
        omendb_error_free(err);
    }
    size_t len = 0;
    CHECK_OK(omendb_index_len(index, &len, &ERR));
    CHECK(len == 3);

    /* A comparison with a value of another type matches nothing, and is no error. */
    CHECK(filter_hits(index, "book.year = \"1999\"") == 0);
    CHECK(filter_hits(index, "tags > 3") == 0);
    omendb_index_free(index);
}

static void test_long_names_and_symbolic_links(void) {
    omendb_index *index = build(5);
    /* Names of 245 to 255 bytes: the temporary name beside them must still fit. */
    for (size_t n = 245; n <= 255; n += 5) {
        char name[256], path[400];
        memset(name, 'x', n);
        name[n] = 0;
        snprintf(path, sizeof path, "%s/%s", dir, name);
        CHECK_OK(save(index, path, &ERR));
        CHECK_OK(save(index, path, &ERR)); /* again, over the first */
        omendb_index *back = NULL;
        CHECK_OK(omendb_index_load(path, strlen(path), &back, &ERR));
        omendb_index_free(back);
        unlink(path);
    }

    /* A save through a symbolic link updates the file it names; the link stays a link. */
    char real[128], link[128];
    path_in_dir(real, sizeof real, "real.omendb");
    path_in_dir(link, sizeof link, "link.omendb");
    omendb_index *small = build(2);
    CHECK_OK(save(small, real, &ERR));
    omendb_index_free(small);
    CHECK(symlink("real.omendb", link) == 0); /* relative, as most links are */
    CHECK_OK(save(index, link, &ERR));
    struct stat st;
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    omendb_index *back = NULL;
    CHECK_OK(omendb_index_load(real, strlen(real), &back, &ERR));
    size_t len = 0;
    if (back) CHECK_OK(omendb_index_len(back, &len, &ERR));
    CHECK(len == 5);
    omendb_index_free(back);
    unlink(link);
    unlink(real);
    omendb_index_free(index);
}

int main(void) {
    strcpy(dir, "/tmp/omendb-hardening-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    /* The forking tests first: see test_file_rewritten_under_a_mapping. */
    RUN(test_file_rewritten_under_a_mapping);
    RUN(test_special_files_fail_at_once);
    RUN(test_huge_k_is_sized_by_the_records);
    RUN(test_a_save_in_progress_elsewhere_keeps_its_file);
    RUN(test_nested_metadata);
    RUN(test_long_names_and_symbolic_links);
    rmdir(dir);
    return check_finish();
}
