/* ensemblekd._ckernel: pairwise sentence-BLEU / chrF utility matrices on integer tokens.
 *
 * Python wrapper: ensemblekd/metrics/utility.py (it tokenizes with sacrebleu, maps tokens to ids and
 * validates the inputs; this module re-checks what it needs so that bad arrays raise, never crash).
 * Plain C on the buffer protocol: no numpy headers at build time.
 *
 *   bleu_matrix(tokens, offsets, row_start, row_stop, col_start, col_stop, out, max_order)
 *   chrf_matrix(tokens, offsets, row_start, row_stop, col_start, col_stop, out, char_order, beta)
 *
 * tokens: int32 buffer, non-negative; offsets: int64 buffer of S + 1 non-decreasing values from 0
 * to len(tokens); sentences [row_start, row_stop) are the hypotheses, [col_start, col_stop) the
 * references; out: writable C-contiguous float64 buffer of (row_stop - row_start) * (col_stop -
 * col_start) items, filled row-major with out[i, j] = score(hypothesis i, reference j).
 * Time O(S * L * order * log L + R * C * order * L), memory O(T * order).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "ngrams.h"
#include "scores.h"

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, const char *kinds,
                      int writable, const char *name)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    const char *fmt;
    char kind;

    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        return -1;
    }
    fmt = view->format ? view->format : "B";
    if (*fmt == '@' || *fmt == '=' || *fmt == '<') {
        fmt++;
    }
    kind = fmt[0];
    if (view->itemsize != itemsize || fmt[1] != '\0' || strchr(kinds, kind) == NULL || kind == '\0') {
        PyErr_Format(PyExc_TypeError, "%s: expected a contiguous buffer of %zd-byte items of type '%s', "
                     "got format '%s' with itemsize %zd", name, itemsize, kinds,
                     view->format ? view->format : "B", view->itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

typedef struct {
    Py_buffer tokens, offsets, out;
    int have_tokens, have_offsets, have_out;
    Py_ssize_t r0, r1, c0, c1;
} Args;

static void release_args(Args *a)
{
    if (a->have_tokens) PyBuffer_Release(&a->tokens);
    if (a->have_offsets) PyBuffer_Release(&a->offsets);
    if (a->have_out) PyBuffer_Release(&a->out);
}

/* Acquire and check the buffers; returns 0 or -1 with an exception set (buffers released). */
static int parse_common(Args *a, PyObject *tokens, PyObject *offsets, PyObject *out, int order)
{
    const int32_t *tok;
    const int64_t *off;
    Py_ssize_t n_tokens, n_sent;

    memset(&a->tokens, 0, sizeof(Py_buffer));
    memset(&a->offsets, 0, sizeof(Py_buffer));
    memset(&a->out, 0, sizeof(Py_buffer));
    a->have_tokens = a->have_offsets = a->have_out = 0;
    if (get_buffer(tokens, &a->tokens, 4, "il", 0, "tokens") < 0) goto fail;
    a->have_tokens = 1;
    if (get_buffer(offsets, &a->offsets, 8, "lq", 0, "offsets") < 0) goto fail;
    a->have_offsets = 1;
    if (get_buffer(out, &a->out, 8, "d", 1, "out") < 0) goto fail;
    a->have_out = 1;

    if (order < 1 || order > NGRAMS_MAX_ORDER) {
        PyErr_Format(PyExc_ValueError, "order must be in 1..%d, got %d", NGRAMS_MAX_ORDER, order);
        goto fail;
    }
    tok = (const int32_t *)a->tokens.buf;
    off = (const int64_t *)a->offsets.buf;
    n_tokens = a->tokens.len / 4;
    n_sent = a->offsets.len / 8 - 1;
    if (n_sent < 0 || off[0] != 0 || off[n_sent] != n_tokens) {
        PyErr_SetString(PyExc_ValueError, "offsets must start at 0 and end at len(tokens)");
        goto fail;
    }
    if (n_tokens >= INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "too many tokens for int32 n-gram ids");
        goto fail;
    }
    for (Py_ssize_t s = 0; s < n_sent; s++) {
        if (off[s + 1] < off[s]) {
            PyErr_Format(PyExc_ValueError, "offsets must be non-decreasing (index %zd)", s);
            goto fail;
        }
    }
    for (Py_ssize_t i = 0; i < n_tokens; i++) {
        if (tok[i] < 0) {
            PyErr_Format(PyExc_ValueError, "tokens must be non-negative (index %zd)", i);
            goto fail;
        }
    }
    if (a->r0 < 0 || a->r0 > a->r1 || a->r1 > n_sent || a->c0 < 0 || a->c0 > a->c1 || a->c1 > n_sent) {
        PyErr_Format(PyExc_ValueError, "row/column ranges [%zd, %zd) x [%zd, %zd) outside 0..%zd",
                     a->r0, a->r1, a->c0, a->c1, n_sent);
        goto fail;
    }
    if (a->out.len / 8 != (a->r1 - a->r0) * (a->c1 - a->c0)) {
        PyErr_Format(PyExc_ValueError, "out has %zd items, expected %zd", a->out.len / 8,
                     (a->r1 - a->r0) * (a->c1 - a->c0));
        goto fail;
    }
    return 0;
fail:
    release_args(a);
    return -1;
}

enum { METRIC_BLEU, METRIC_CHRF };

/* Fill out[i, j] for all pairs; returns 0, or -1 when memory runs out.  For each hypothesis, its
 * n-gram counts are scattered into a dense array indexed by n-gram id, and each reference's
 * entries are looked up there: O(distinct n-grams of the reference) per pair.  When rows and
 * columns are the same sentences, the clipped overlaps (symmetric in the two sentences) are
 * computed once per unordered pair. */
static int fill_matrix(const NgramCounts *t, const Args *a, int metric, int order, double factor)
{
    const Py_ssize_t n_cols = a->c1 - a->c0;
    const int same = a->r0 == a->c0 && a->r1 == a->c1;
    double *out = (double *)a->out.buf;
    int64_t base[NGRAMS_MAX_ORDER], n_dense = 0;
    int64_t match[NGRAMS_MAX_ORDER], tot_h[NGRAMS_MAX_ORDER], tot_r[NGRAMS_MAX_ORDER];
    int64_t hyp_c[NGRAMS_MAX_ORDER], ref_c[NGRAMS_MAX_ORDER];
    int32_t *dense;

    for (int n = 0; n < order; n++) {
        base[n] = n_dense;
        n_dense += t->n_ids[n];
    }
    dense = calloc((size_t)(n_dense > 0 ? n_dense : 1), sizeof(int32_t));
    if (dense == NULL) {
        return -1;
    }
    for (Py_ssize_t h = a->r0; h < a->r1; h++) {
        for (int n = 0; n < order; n++) {
            const int64_t k = (int64_t)n * t->n_sent + h;
            for (int64_t e = t->block[k]; e < t->block[k + 1]; e++) {
                dense[base[n] + t->id[e]] = t->count[e];
            }
        }
        for (Py_ssize_t r = same ? h : a->c0; r < a->c1; r++) {
            const int64_t len_h = t->length[h], len_r = t->length[r];
            for (int n = 0; n < order; n++) {
                const int64_t k = (int64_t)n * t->n_sent + r;
                const int32_t *hyp_counts = dense + base[n];
                int64_t sum = 0;
                for (int64_t e = t->block[k]; e < t->block[k + 1]; e++) {
                    const int32_t c_h = hyp_counts[t->id[e]], c_r = t->count[e];
                    sum += c_h < c_r ? c_h : c_r;
                }
                match[n] = sum;
                tot_h[n] = ngram_total(len_h, n + 1);
                tot_r[n] = ngram_total(len_r, n + 1);
            }
            for (int pass = 0; pass < (same && r != h ? 2 : 1); pass++) {
                /* pass 0: hypothesis h, reference r; pass 1: the transposed pair */
                const int64_t *th = pass ? tot_r : tot_h, *tr = pass ? tot_h : tot_r;
                const Py_ssize_t row = (pass ? r : h) - a->r0, col = (pass ? h : r) - a->c0;
                double value;
                if (metric == METRIC_BLEU) {
                    value = bleu_score(pass ? len_r : len_h, pass ? len_h : len_r, match, th, order);
                } else {
                    for (int n = 0; n < order; n++) {
                        /* sacrebleu counts no hypothesis n-grams when the reference has none */
                        hyp_c[n] = tr[n] > 0 ? th[n] : 0;
                        ref_c[n] = tr[n];
                    }
                    value = chrf_score(hyp_c, ref_c, match, order, factor);
                }
                out[row * n_cols + col] = value;
            }
        }
        for (int n = 0; n < order; n++) {
            const int64_t k = (int64_t)n * t->n_sent + h;
            for (int64_t e = t->block[k]; e < t->block[k + 1]; e++) {
                dense[base[n] + t->id[e]] = 0;
            }
        }
    }
    free(dense);
    return 0;
}

static PyObject *run(Args *a, int metric, int order, double factor)
{
    NgramCounts table;
    const int64_t n_sent = (int64_t)(a->offsets.len / 8 - 1);
    int failed;

    Py_BEGIN_ALLOW_THREADS
    failed = ngram_counts_build(&table, (const int32_t *)a->tokens.buf,
                                (const int64_t *)a->offsets.buf, n_sent, order);
    if (!failed) {
        failed = fill_matrix(&table, a, metric, order, factor);
        ngram_counts_free(&table);
    }
    Py_END_ALLOW_THREADS
    release_args(a);
    if (failed) {
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

static PyObject *bleu_matrix(PyObject *self, PyObject *args)
{
    PyObject *tokens, *offsets, *out;
    int max_order;
    Args a;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOnnnnOi:bleu_matrix", &tokens, &offsets, &a.r0, &a.r1, &a.c0,
                          &a.c1, &out, &max_order)) {
        return NULL;
    }
    if (parse_common(&a, tokens, offsets, out, max_order) < 0) {
        return NULL;
    }
    return run(&a, METRIC_BLEU, max_order, 0.0);
}

static PyObject *chrf_matrix(PyObject *self, PyObject *args)
{
    PyObject *tokens, *offsets, *out;
    int char_order;
    double beta;
    Args a;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOnnnnOid:chrf_matrix", &tokens, &offsets, &a.r0, &a.r1, &a.c0,
                          &a.c1, &out, &char_order, &beta)) {
        return NULL;
    }
    if (parse_common(&a, tokens, offsets, out, char_order) < 0) {
        return NULL;
    }
    return run(&a, METRIC_CHRF, char_order, beta * beta);
}

static PyMethodDef methods[] = {
    {"bleu_matrix", bleu_matrix, METH_VARARGS,
     "bleu_matrix(tokens, offsets, row_start, row_stop, col_start, col_stop, out, max_order)\n"
     "Sentence BLEU (exp smoothing, effective order) of every row sentence against every column "
     "sentence, written row-major into the float64 buffer out."},
    {"chrf_matrix", chrf_matrix, METH_VARARGS,
     "chrf_matrix(tokens, offsets, row_start, row_stop, col_start, col_stop, out, char_order, beta)\n"
     "Sentence chrF (effective-order averaging) on code-point tokens; see bleu_matrix."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "ensemblekd._ckernel",
    "C kernel for pairwise sentence-BLEU / chrF utility matrices (see ensemblekd.metrics).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ckernel(void)
{
    return PyModule_Create(&module);
}
