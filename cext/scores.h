/* Sentence BLEU and chrF from sufficient statistics, written to reproduce sacrebleu 2.x bit for bit.
 *
 * Every arithmetic step follows sacrebleu's Python in the same order (sacrebleu/metrics/bleu.py
 * BLEU.compute_bleu, sacrebleu/metrics/chrf.py CHRF._compute_f_score), so that with IEEE doubles
 * and the same libm exp/log the results are identical; the build turns off FMA contraction.
 */
#ifndef ENSEMBLEKD_SCORES_H
#define ENSEMBLEKD_SCORES_H

#include <math.h>
#include <stdint.h>

#include "ngrams.h"

/* sacrebleu.utils.my_log: log floored at -9999999999 for 0 */
static inline double sacrebleu_log(double x)
{
    return x == 0.0 ? -9999999999.0 : log(x);
}

/* BLEU.compute_bleu with smooth_method='exp', effective_order=True (what sentence_bleu uses). */
static inline double bleu_score(int64_t sys_len, int64_t ref_len, const int64_t *correct,
                                const int64_t *total, int max_order)
{
    double bp = 1.0, smooth = 1.0, log_sum = 0.0;
    double precision[NGRAMS_MAX_ORDER];
    int any_correct = 0, eff_order = max_order;

    if (sys_len < ref_len) {
        bp = sys_len > 0 ? exp(1.0 - (double)ref_len / (double)sys_len) : 0.0;
    }
    for (int n = 0; n < max_order; n++) {
        precision[n] = 0.0;
        any_correct |= correct[n] != 0;
    }
    if (!any_correct) {
        return 0.0;
    }
    for (int n = 0; n < max_order; n++) {
        if (total[n] == 0) {
            break;
        }
        eff_order = n + 1;
        if (correct[n] == 0) {
            smooth *= 2.0;
            precision[n] = 100.0 / (smooth * (double)total[n]);
        } else {
            precision[n] = 100.0 * (double)correct[n] / (double)total[n];
        }
    }
    for (int n = 0; n < eff_order; n++) {
        log_sum += sacrebleu_log(precision[n]);
    }
    return bp * exp(log_sum / (double)eff_order);
}

/* CHRF._compute_f_score with eps_smoothing=False (effective-order averaging, sentence_chrf's
 * default).  Arrays hold per-order [hyp, ref, match] counts. */
static inline double chrf_score(const int64_t *hyp, const int64_t *ref, const int64_t *match,
                                int order, double factor)
{
    double avg_prec = 0.0, avg_rec = 0.0, score;
    int eff_order = 0;

    for (int i = 0; i < order; i++) {
        if (hyp[i] > 0 && ref[i] > 0) {
            avg_prec += (double)match[i] / (double)hyp[i];
            avg_rec += (double)match[i] / (double)ref[i];
            eff_order++;
        }
    }
    if (eff_order == 0) {
        avg_prec = avg_rec = 0.0;
    } else {
        avg_prec /= (double)eff_order;
        avg_rec /= (double)eff_order;
    }
    if (avg_prec + avg_rec != 0.0) {
        score = (1.0 + factor) * avg_prec * avg_rec;
        score /= (factor * avg_prec) + avg_rec;
        return 100.0 * score;
    }
    return 0.0;
}

#endif
