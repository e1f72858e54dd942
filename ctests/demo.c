/*
 * demo.c: nearest words with OmenDB. Loads word vectors (TEXMEX .fvecs: per record an int32
 * dimension, then that many float32) and their words (one per line), builds a cosine index
 * keyed by word, and prints the 5 nearest words of a few query words.
 *
 *   cc demo.c $(pkg-config --cflags --libs omendb) -o demo
 *   ./demo ctests/data/sample.fvecs ctests/data/sample_words.txt
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omendb.h"

/* Every fallible OmenDB call returns a status; on failure, report it and stop. */
static void check(omendb_status status, omendb_error *err, const char *what) {
    if (status == OMENDB_STATUS_OK) return;
    fprintf(stderr, "%s: %s: %s\n", what, omendb_status_name(status), omendb_error_message(err));
    omendb_error_free(err);
    exit(1);
}

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* Reads a whole file into a NUL-terminated buffer. */
static char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    long n = -1;
    if (f != NULL && fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n < 0) {
        perror(path);
        exit(1);
    }
    rewind(f);
    char *buf = xmalloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        exit(1);
    }
    fclose(f);
    buf[n] = '\0';
    *size = (size_t)n;
    return buf;
}

int main(int argc, char **argv) {
    const char *vectors_path = argc > 1 ? argv[1] : "ctests/data/sample.fvecs";
    const char *words_path = argc > 2 ? argv[2] : "ctests/data/sample_words.txt";

    /* Vectors: all records have the dimension of the first. */
    size_t size;
    char *fvecs = read_file(vectors_path, &size);
    int32_t dim = 0;
    if (size >= sizeof dim) memcpy(&dim, fvecs, sizeof dim);
    if (dim <= 0) {
        fprintf(stderr, "%s: not an .fvecs file\n", vectors_path);
        return 1;
    }
    size_t record = sizeof(int32_t) + (size_t)dim * sizeof(float);
    size_t n = size / record;
    float *vectors = xmalloc(n * (size_t)dim * sizeof(float));
    for (size_t i = 0; i < n; i++)
        memcpy(&vectors[i * (size_t)dim], fvecs + i * record + sizeof(int32_t), (size_t)dim * sizeof(float));
    free(fvecs);

    /* Words: line i names vector i. */
    size_t words_size;
    char *text = read_file(words_path, &words_size);
    const char **words = xmalloc(n * sizeof *words);
    size_t n_words = 0;
    for (char *line = strtok(text, "\n"); line != NULL && n_words < n; line = strtok(NULL, "\n"))
        words[n_words++] = line;
    if (n_words != n) {
        fprintf(stderr, "%zu vectors but %zu words\n", n, n_words);
        return 1;
    }

    /* A cosine index keyed by word. The options are copied, so they can go at once. */
    omendb_error *err = NULL;
    omendb_options *options = NULL;
    omendb_index *index = NULL;
    check(omendb_options_create(&options, &err), err, "options_create");
    check(omendb_options_set_metric(options, OMENDB_METRIC_COSINE, &err), err, "set_metric");
    check(omendb_options_set_dim(options, (uint64_t)dim, &err), err, "set_dim");
    check(omendb_index_create(options, &index, &err), err, "index_create");
    omendb_options_free(options);

    check(omendb_index_add_batch_str(index, words, NULL, n, vectors, (size_t)dim, &err), err, "add_batch_str");
    printf("OmenDB %s: %zu words of %d dimensions\n", omendb_version(), n, dim);

    const char *queries[] = {"france", "queen", "music", "money", "computer"};
    for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
        size_t row = 0;
        while (row < n && strcmp(words[row], queries[q]) != 0) row++;
        if (row == n) {
            printf("%-9s (not in the sample)\n", queries[q]);
            continue;
        }
        /* k = 6: one of the hits is the query word itself. */
        omendb_results *results = NULL;
        check(omendb_index_search_results(index, &vectors[row * (size_t)dim], 1, (size_t)dim, 6, 0, &results, &err),
              err, "search_results");
        size_t count = 0;
        check(omendb_results_count(results, 0, &count, &err), err, "results_count");
        printf("%-9s", queries[q]);
        for (size_t rank = 0, shown = 0; rank < count && shown < 5; rank++) {
            const char *word;
            float distance;
            check(omendb_results_key_str(results, 0, rank, &word, NULL, &err), err, "results_key_str");
            check(omendb_results_distance(results, 0, rank, &distance, &err), err, "results_distance");
            if (strcmp(word, queries[q]) == 0) continue;
            printf(" %s (%.2f)", word, distance);
            shown++;
        }
        printf("\n");
        omendb_results_free(results);
    }

    omendb_index_free(index);
    free(words);
    free(text);
    free(vectors);
    return 0;
}
