// test_cxx.cpp: omendb.h as a C++ program sees it. The header is included twice (its include
// guard must hold), compiled as C++17 with -Wall -Wextra -Werror -pedantic, and its functions
// link with C linkage. Prints the same final line as the C tests.
#include "omendb.h"
#include "omendb.h"

#include <cstdio>
#include <cstring>

static int passed = 0, failed = 0;

static void check(bool ok, const char *what) {
    if (ok) {
        passed++;
    } else {
        failed++;
        std::fprintf(stderr, "FAIL %s\n", what);
    }
}

int main() {
    check(std::strcmp(omendb_version(), OMENDB_VERSION) == 0, "omendb_version() == OMENDB_VERSION");

    // In C++ omendb_status is a real enum with uint32_t underneath.
    static_assert(sizeof(omendb_status) == sizeof(uint32_t), "omendb_status is 32 bits");
    omendb_status st = OMENDB_STATUS_NULL_POINTER;
    check(std::strcmp(omendb_status_name(st), "OMENDB_STATUS_NULL_POINTER") == 0, "status name");

    omendb_options *opts = nullptr;
    omendb_index *index = nullptr;
    omendb_error *err = nullptr;
    check(omendb_options_create(&opts, &err) == OMENDB_STATUS_OK && err == nullptr, "options_create");
    check(omendb_options_set_metric(opts, OMENDB_METRIC_COSINE, &err) == OMENDB_STATUS_OK, "set_metric");
    check(omendb_index_create(opts, &index, &err) == OMENDB_STATUS_OK && index != nullptr, "index_create");
    omendb_options_free(opts);

    const uint64_t keys[2] = {1, 2};
    const float vectors[6] = {1, 0, 0, 0, 1, 0};
    check(omendb_index_add_batch(index, keys, 2, vectors, 3, &err) == OMENDB_STATUS_OK, "add_batch");
    size_t len = 0;
    check(omendb_index_len(index, &len, nullptr) == OMENDB_STATUS_OK && len == 2, "len == 2");

    uint64_t hit = OMENDB_NO_KEY;
    float dist = -1.0f;
    const float query[3] = {0, 2, 0};
    check(omendb_index_search(index, query, 1, 3, 1, 0, &hit, &dist, 1, &err) == OMENDB_STATUS_OK && hit == 2,
          "search finds key 2");

    st = omendb_index_remove(index, 42, &err);
    check(st == OMENDB_STATUS_KEY_NOT_FOUND && omendb_error_code(err) == OMENDB_STATUS_KEY_NOT_FOUND,
          "remove unknown key");
    omendb_error_free(err);

    omendb_index_free(index);
    omendb_index_free(nullptr);
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
