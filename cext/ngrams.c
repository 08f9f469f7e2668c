/* N-gram count tables: see ngrams.h. */
#include "ngrams.h"

#include <stdlib.h>
#include <string.h>

/* open-addressing table interning (previous id, token) pairs into fresh ids */
typedef struct {
    uint64_t *key;
    int32_t *value;  /* -1: empty slot */
    size_t mask;
    int32_t next;
} PairTable;

static uint64_t mix64(uint64_t x)
{
    /* splitmix64 finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static void pair_table_clear(PairTable *h)
{
    memset(h->value, 0xff, (h->mask + 1) * sizeof(int32_t));
    h->next = 0;
}

static int32_t pair_table_intern(PairTable *h, int32_t first, int32_t second)
{
    const uint64_t key = ((uint64_t)(uint32_t)first << 32) | (uint64_t)(uint32_t)second;
    size_t i = (size_t)mix64(key) & h->mask;
    while (h->value[i] >= 0) {
        if (h->key[i] == key) {
            return h->value[i];
        }
        i = (i + 1) & h->mask;
    }
    h->key[i] = key;
    h->value[i] = h->next;
    return h->next++;
}

static int compare_int32(const void *a, const void *b)
{
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

void ngram_counts_free(NgramCounts *t)
{
    free(t->length);
    free(t->block);
    free(t->id);
    free(t->count);
    memset(t, 0, sizeof(*t));
}

int ngram_counts_build(NgramCounts *t, const int32_t *tokens, const int64_t *offsets,
                       int64_t n_sent, int max_order)
{
    const int64_t n_tokens = offsets[n_sent];
    const size_t n_entries = (size_t)(n_tokens > 0 ? n_tokens : 1) * (size_t)max_order;
    int64_t longest = 1;
    int32_t *ids = NULL, *scratch = NULL;
    PairTable h = {NULL, NULL, 0, 0};
    size_t capacity = 16;
    int64_t pos = 0;

    memset(t, 0, sizeof(*t));
    if (max_order < 1 || max_order > NGRAMS_MAX_ORDER) {
        return -1;
    }
    t->n_sent = n_sent;
    t->max_order = max_order;
    for (int64_t s = 0; s < n_sent; s++) {
        const int64_t len = offsets[s + 1] - offsets[s];
        if (len > longest) {
            longest = len;
        }
    }
    while (capacity < 2 * (size_t)n_tokens) {
        capacity <<= 1;
    }
    t->length = malloc((size_t)(n_sent > 0 ? n_sent : 1) * sizeof(int64_t));
    t->block = malloc(((size_t)max_order * (size_t)n_sent + 1) * sizeof(int64_t));
    t->id = malloc(n_entries * sizeof(int32_t));
    t->count = malloc(n_entries * sizeof(int32_t));
    ids = malloc((size_t)(n_tokens > 0 ? n_tokens : 1) * sizeof(int32_t));
    scratch = malloc((size_t)longest * sizeof(int32_t));
    h.key = malloc(capacity * sizeof(uint64_t));
    h.value = malloc(capacity * sizeof(int32_t));
    h.mask = capacity - 1;
    if (!t->length || !t->block || !t->id || !t->count || !ids || !scratch || !h.key || !h.value) {
        ngram_counts_free(t);
        free(ids);
        free(scratch);
        free(h.key);
        free(h.value);
        return -1;
    }

    for (int64_t s = 0; s < n_sent; s++) {
        t->length[s] = offsets[s + 1] - offsets[s];
    }
    for (int64_t i = 0; i < n_tokens; i++) {
        ids[i] = -1;  /* the empty (0-gram) prefix; tokens are non-negative */
    }

    for (int n = 1; n <= max_order; n++) {
        /* ids[i] holds the (n-1)-gram starting at i; extend it by token i + n - 1 */
        pair_table_clear(&h);
        for (int64_t s = 0; s < n_sent; s++) {
            const int64_t start = offsets[s], m = ngram_total(t->length[s], n);
            for (int64_t i = start; i < start + m; i++) {
                ids[i] = pair_table_intern(&h, ids[i], tokens[i + n - 1]);
            }
        }
        t->n_ids[n - 1] = h.next;
        for (int64_t s = 0; s < n_sent; s++) {
            const int64_t m = ngram_total(t->length[s], n);
            t->block[(int64_t)(n - 1) * n_sent + s] = pos;
            if (m == 0) {
                continue;
            }
            memcpy(scratch, ids + offsets[s], (size_t)m * sizeof(int32_t));
            qsort(scratch, (size_t)m, sizeof(int32_t), compare_int32);
            for (int64_t i = 0; i < m;) {
                int64_t j = i + 1;
                while (j < m && scratch[j] == scratch[i]) {
                    j++;
                }
                t->id[pos] = scratch[i];
                t->count[pos] = (int32_t)(j - i);
                pos++;
                i = j;
            }
        }
    }
    t->block[(int64_t)max_order * n_sent] = pos;

    free(ids);
    free(scratch);
    free(h.key);
    free(h.value);
    return 0;
}
