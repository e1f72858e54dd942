/*
 * test_durable.c: durable indexes through the C API (omendb_options_set_path).
 *   - records added, upserted (with metadata and text) and removed are there after free and
 *     create again; so after a checkpoint;
 *   - a second handle on the directory gets OMENDB_STATUS_LOCKED, naming this pid;
 *   - options set at reopen must equal the stored ones; options not set take them;
 *   - a child process writing with OMENDB_SYNC_ALWAYS, killed with SIGKILL: every write it
 *     acknowledged (over a pipe) is there after reopening.
 * The kill test forks, so it runs first, before any other call starts the library's threads.
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

enum { D = 4 };

static char dir[256];

static void fresh_dir(const char *name) {
    snprintf(dir, sizeof dir, "/tmp/omendb-ctest-durable-%s-%ld", name, (long)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

static omendb_status open_dir(uint32_t sync, int set_metric, uint32_t metric, omendb_index **out, omendb_error **err) {
    omendb_options *opts = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK_OK(omendb_options_set_path(opts, dir, strlen(dir), &ERR));
    CHECK_OK(omendb_options_set_sync(opts, sync, 10, &ERR));
    if (set_metric) CHECK_OK(omendb_options_set_metric(opts, metric, &ERR));
    omendb_status st = omendb_index_create(opts, out, err);
    omendb_options_free(opts);
    return st;
}

static void vector_for(uint64_t key, uint64_t version, float *v) {
    uint64_t rng = key * 1000003u + version * 7919u + 1;
    check_rand_fill(&rng, v, D);
}

static void put(omendb_index *index, uint64_t key, uint64_t version, int upsert) {
    float v[D];
    vector_for(key, version, v);
    char meta[64], text[64];
    snprintf(meta, sizeof meta, "{\"version\": %llu}", (unsigned long long)version);
    snprintf(text, sizeof text, "word%llu", (unsigned long long)(key * 100 + version));
    const char *metas[1] = {meta}, *texts[1] = {text};
    size_t meta_lens[1] = {strlen(meta)}, text_lens[1] = {strlen(text)};
    if (upsert)
        CHECK_OK(omendb_index_upsert_records(index, &key, 1, v, D, metas, meta_lens, texts, text_lens, &ERR));
    else
        CHECK_OK(omendb_index_add_records(index, &key, 1, v, D, metas, meta_lens, texts, text_lens, &ERR));
}

/* Whether `key` is stored with the vector and metadata of `version`. */
static int holds(omendb_index *index, uint64_t key, uint64_t version) {
    float v[D];
    vector_for(key, version, v);
    uint64_t hit = 0;
    float dist = 1;
    CHECK_OK(omendb_index_search(index, v, 1, D, 1, 0, &hit, &dist, 1, &ERR));
    char *json = NULL;
    omendb_error *err = NULL;
    if (omendb_index_metadata(index, key, &json, NULL, &err) != OMENDB_STATUS_OK) {
        omendb_error_free(err);
        return 0;
    }
    char want[64];
    snprintf(want, sizeof want, "{\"version\":%llu}", (unsigned long long)version);
    int ok = hit == key && dist < 1e-6f && strcmp(json, want) == 0;
    omendb_string_free(json);
    return ok;
}

static void test_sigkill_keeps_acknowledged_writes(void) {
    fresh_dir("kill");
    for (int round = 0; round < 3; round++) {
        int fds[2];
        CHECK(pipe(fds) == 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            omendb_index *index = NULL;
            if (open_dir(OMENDB_SYNC_ALWAYS, 0, 0, &index, NULL) != OMENDB_STATUS_OK) _exit(2);
            for (uint64_t i = 0;; i++) {
                uint64_t key = (uint64_t)round * 100000 + i;
                put(index, key, 1, 0);
                /* Acknowledged: the key goes to the parent only now. */
                if (write(fds[1], &key, sizeof key) != (ssize_t)sizeof key) _exit(3);
            }
        }
        close(fds[1]);
        uint64_t acked[4096];
        size_t n = 0;
        while (n < 20 + (size_t)round * 15 && read(fds[0], &acked[n], sizeof acked[n]) == (ssize_t)sizeof acked[n]) n++;
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        /* Drain what was acknowledged before the kill landed. */
        while (n < 4096 && read(fds[0], &acked[n], sizeof acked[n]) == (ssize_t)sizeof acked[n]) n++;
        close(fds[0]);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        CHECK(n >= 20);

        omendb_index *index = NULL;
        CHECK_OK(open_dir(OMENDB_SYNC_ALWAYS, 0, 0, &index, &ERR));
        size_t missing = 0;
        for (size_t i = 0; i < n; i++) {
            bool found = false;
            CHECK_OK(omendb_index_contains(index, acked[i], &found, &ERR));
            missing += !found;
        }
        CHECK(missing == 0);
        omendb_index_free(index);
    }
}

static void test_reopen_gives_writes_back(void) {
    fresh_dir("reopen");
    omendb_index *index = NULL;
    CHECK_OK(open_dir(OMENDB_SYNC_ALWAYS, 1, OMENDB_METRIC_L2, &index, &ERR));
    for (uint64_t k = 0; k < 30; k++) put(index, k, 1, 0);
    put(index, 5, 2, 1);
    CHECK_OK(omendb_index_remove(index, 7, &ERR));
    omendb_index_free(index);

    /* Reopened with no option set: the stored ones. Three calls, three log records. */
    CHECK_OK(open_dir(OMENDB_SYNC_OFF, 0, 0, &index, &ERR));
    uint64_t replayed = 0, dropped = 1;
    CHECK_OK(omendb_index_recovery(index, &replayed, &dropped, &ERR));
    CHECK(replayed == 32 && dropped == 0);
    size_t len = 0;
    CHECK_OK(omendb_index_len(index, &len, &ERR));
    CHECK(len == 29);
    CHECK(holds(index, 5, 2));
    CHECK(holds(index, 6, 1));
    CHECK(!holds(index, 7, 1));
    omendb_results *res = NULL;
    CHECK_OK(omendb_index_text_search(index, "word502", 7, 3, NULL, &res, &ERR));
    size_t count = 0;
    uint64_t key = 0;
    CHECK_OK(omendb_results_count(res, 0, &count, &ERR));
    CHECK(count == 1);
    CHECK_OK(omendb_results_key(res, 0, 0, &key, &ERR));
    CHECK(key == 5);
    omendb_results_free(res);

    /* A checkpoint, a write after it, and a reopen. */
    CHECK_OK(omendb_index_checkpoint(index, &ERR));
    put(index, 100, 3, 0);
    CHECK_OK(omendb_index_flush(index, &ERR));
    omendb_index_free(index);
    CHECK_OK(open_dir(OMENDB_SYNC_BATCH, 0, 0, &index, &ERR));
    CHECK_OK(omendb_index_len(index, &len, &ERR));
    CHECK(len == 30);
    CHECK(holds(index, 100, 3) && holds(index, 5, 2));
    omendb_index_free(index);
}

static void test_lock_and_option_conflicts(void) {
    fresh_dir("lock");
    omendb_index *first = NULL, *second = NULL;
    CHECK_OK(open_dir(OMENDB_SYNC_ALWAYS, 1, OMENDB_METRIC_COSINE, &first, &ERR));
    omendb_error *err = NULL;
    CHECK(open_dir(OMENDB_SYNC_ALWAYS, 0, 0, &second, &err) == OMENDB_STATUS_LOCKED);
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    CHECK(err != NULL && omendb_error_code(err) == OMENDB_STATUS_LOCKED && strstr(omendb_error_message(err), pid) != NULL);
    CHECK(second == NULL);
    omendb_error_free(err);
    omendb_index_free(first);

    err = NULL;
    CHECK(open_dir(OMENDB_SYNC_ALWAYS, 1, OMENDB_METRIC_L2, &second, &err) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(omendb_error_message(err), "metric") != NULL);
    omendb_error_free(err);
    CHECK_OK(open_dir(OMENDB_SYNC_ALWAYS, 1, OMENDB_METRIC_COSINE, &second, &ERR));
    omendb_index_free(second);

    /* Bad sync settings, and a checkpoint of an index without a path. */
    omendb_options *opts = NULL;
    CHECK_OK(omendb_options_create(&opts, &ERR));
    CHECK(omendb_options_set_sync(opts, 9, 0, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(omendb_options_set_sync(opts, OMENDB_SYNC_BATCH, 0, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK(omendb_options_set_path(opts, NULL, 3, NULL) == OMENDB_STATUS_NULL_POINTER);
    omendb_index *plain = NULL;
    CHECK_OK(omendb_index_create(opts, &plain, &ERR));
    CHECK(omendb_index_checkpoint(plain, NULL) == OMENDB_STATUS_INVALID_ARGUMENT);
    CHECK_OK(omendb_index_flush(plain, &ERR));
    omendb_index_free(plain);
    omendb_options_free(opts);
}

int main(void) {
    RUN(test_sigkill_keeps_acknowledged_writes);
    RUN(test_reopen_gives_writes_back);
    RUN(test_lock_and_option_conflicts);
    return check_finish();
}
