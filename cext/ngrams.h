/* N-gram count tables over a batch of integer-token sentences (ensemblekd._ckernel).
 *
 * Sentences are given as one flat array of non-negative int32 tokens plus int64 offsets
 * (sentence s = tokens[offsets[s] : offsets[s + 1]]).  Every n-gram (n = 1 .. max_order) gets an
 * id in 0 .. n_ids[n - 1) - 1 that is equal for two n-grams of the batch iff their token sequences
 * are equal: the id of the n-gram starting at position i is the interned pair (id of the
 * (n-1)-gram at i, token i + n - 1), interned exactly in a hash table (no collisions).  For each
 * (order, sentence) the table keeps the distinct ids with their counts, so that the clipped overlap
 * sum_g min(count_a(g), count_b(g)) of two sentences costs one scatter of a's counts into a dense
 * array and one pass over b's entries.
 *
 * Building costs O(T * max_order * log L) for T tokens and sentences of length <= L.  Pure C, no
 * Python API: callers may release the GIL around it.
 */
#ifndef ENSEMBLEKD_NGRAMS_H
#define ENSEMBLEKD_NGRAMS_H

#include <stdint.h>

#define NGRAMS_MAX_ORDER 32

typedef struct {
    int64_t n_sent;
    int max_order;
    int64_t *length;  /* [n_sent] number of tokens of each sentence */
    int64_t *block;   /* [max_order * n_sent + 1]: entries of (order n, sentence s) are
                         block[k] .. block[k + 1] - 1 with k = (n - 1) * n_sent + s */
    int32_t *id;      /* distinct n-gram ids, increasing within a block */
    int32_t *count;   /* their counts */
    int32_t n_ids[NGRAMS_MAX_ORDER];  /* number of distinct n-grams of each order in the batch */
} NgramCounts;

/* Fills `t` (1 <= max_order <= NGRAMS_MAX_ORDER); returns 0, or -1 when memory runs out (then
 * `t` holds nothing to free). */
int ngram_counts_build(NgramCounts *t, const int32_t *tokens, const int64_t *offsets,
                       int64_t n_sent, int max_order);

void ngram_counts_free(NgramCounts *t);

/* number of n-grams of order n in a sentence of `length` tokens */
static inline int64_t ngram_total(int64_t length, int n)
{
    return length >= n ? length - n + 1 : 0;
}

#endif
