/* N-gram count tables over a batch of integer-token sentences (ensemblekd._ckernel).
 *
 * Sentences are given as one flat array of non-negative int32 tokens plus int64 offsets
 * (sentence s = tokens[offsets[s] : offsets[s + 1]]).  Every n-gram (n = 1 .. max_order) gets an
 * int32 id that is equal for two n-grams iff their token sequences are equal, within the batch:
 * order-1 ids are the tokens themselves; the id of the n-gram starting at position i is the
 * interned pair (id of the (n-1)-gram at i, token i + n - 1).  For each (order, sentence) the table
 * keeps the distinct ids in increasing order with their counts, so the clipped overlap
 * sum_g min(count_a(g), count_b(g)) of two sentences is one merge of two sorted lists.
 *
 * Building costs O(T * max_order * log L) for T tokens and sentences of length <= L; one overlap
 * costs O(L_a + L_b).  Pure C, no Python API: callers may release the GIL around it.
 */
#ifndef ENSEMBLEKD_NGRAMS_H
#define ENSEMBLEKD_NGRAMS_H

#include <stdint.h>

typedef struct {
    int64_t n_sent;
    int max_order;
    int64_t *length;  /* [n_sent] number of tokens of each sentence */
    int64_t *block;   /* [max_order * n_sent + 1]: entries of (order n, sentence s) are
                         block[k] .. block[k + 1] - 1 with k = (n - 1) * n_sent + s */
    int32_t *id;      /* distinct n-gram ids, increasing within a block */
    int32_t *count;   /* their counts */
} NgramCounts;

/* Fills `t`; returns 0, or -1 when memory runs out (then `t` holds nothing to free). */
int ngram_counts_build(NgramCounts *t, const int32_t *tokens, const int64_t *offsets,
                       int64_t n_sent, int max_order);

void ngram_counts_free(NgramCounts *t);

/* sum over n-grams g of order n of min(count in sentence a, count in sentence b) */
static inline int64_t ngram_counts_overlap(const NgramCounts *t, int64_t a, int64_t b, int n)
{
    const int64_t base = (int64_t)(n - 1) * t->n_sent;
    int64_t pa = t->block[base + a], ea = t->block[base + a + 1];
    int64_t pb = t->block[base + b], eb = t->block[base + b + 1];
    int64_t sum = 0;
    while (pa < ea && pb < eb) {
        const int32_t ia = t->id[pa], ib = t->id[pb];
        if (ia < ib) {
            pa++;
        } else if (ib < ia) {
            pb++;
        } else {
            sum += t->count[pa] < t->count[pb] ? t->count[pa] : t->count[pb];
            pa++;
            pb++;
        }
    }
    return sum;
}

/* number of n-grams of order n in a sentence of `length` tokens */
static inline int64_t ngram_total(int64_t length, int n)
{
    return length >= n ? length - n + 1 : 0;
}

#endif
