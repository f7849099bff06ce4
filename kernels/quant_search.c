/* quant_search.c — quantisers that search the block scales (issue 13), beside the round-to-
 * nearest references of quant.c (quantize_ref). Written from the block layouts in quant.h; the
 * idea (try a ladder of candidate scales, refit each by least squares on the levels it rounds
 * to, keep the one of least squared error) is the one llama.cpp's k-quant quantisers describe,
 * with least squares weighted per value: Q8_0 and Q4_0 by 1, Q4_K and Q5_K by rms(sub-block) + |x|
 * and Q6_K by x² (what llama.cpp's quantisers weight by; measured best of the ones tried,
 * docs/gguf.md).
 *
 *   Q8_0, Q4_0  (32 values, w = d q): candidate d = v / (L + 0.1 i) for the value v of largest
 *               magnitude, L the level v maps to, i in [-10, 10]; each refit d = Σxq / Σq² (q the
 *               rounded levels), alternated with re-rounding twice; d rounded to f16 before
 *               its error is measured.
 *   Q4_K        per 32-value sub-block the best float (s, m >= 0) for w = s q - m, q in 0..15:
 *               candidate s = range / (15 + 0.1 i), i in [-10, 15], each refit by two-variable
 *               weighted least squares (m clamped at 0) and re-rounded twice. Then the block's f16 d, dmin
 *               (max s / 63, max m / 63) and per sub-block the 6-bit (sc, m) among the 3 x 3
 *               integers around s/d, m/dmin of least error; then d and dmin refitted by least
 *               squares on the chosen integers (w = d A - dmin B is linear in them) and the integer
 *               choice repeated, twice.
 *   Q5_K        the same as Q4_K with levels 0..31 (candidates range / (31 + 0.1 i)).
 *   Q5_0        as Q4_0 with levels -16..15.
 *   Q5_1        (w = d q + m, q in 0..31) candidate d = range / (31 + 0.1 i), i in [-10, 15], with
 *               m = min, each refit by two-variable least squares (m free) and re-rounded twice;
 *               d and m rounded to f16 before the error is measured.
 *   Q6_K        per 16-value group the best float scale (levels -32..31, as Q8_0 above); the
 *               block's f16 d from the group of largest |scale| (mapped to -128 or to +-127,
 *               both tried), int8 scales among the 3 integers around s/d, d refitted by least
 *               squares on the chosen integers, repeated twice.
 *
 * Every block is finally encoded both ways and decoded with the reference dequantiser
 * (dequant_ref): the searched block is kept only when its squared error is <= the round-to-
 * nearest block's, so quantize_search is never worse than quantize_ref on any block (NaN or
 * overflowing candidates lose). */
#include <math.h>
#include <string.h>
#include "quant.h"

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
static float f16r(float f) { return f16_to_f32(f32_to_f16(f)); } /* f rounded to f16 */
static void f2h(uint8_t *p, float f) {
    uint16_t h = f32_to_f16(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

/* Squared error of n decoded weights y against x, in double. */
static double sse(const float *x, const float *y, int n) {
    double e = 0;
    for (int i = 0; i < n; i++) {
        double d = (double)y[i] - x[i];
        e += d * d;
    }
    return e;
}

/* ---- symmetric blocks: w = d q, q in [qlo, qhi] ---- */

/* Squared error of x[0..n) with the scale d and levels q = round(x/d) clamped (d as given). */
static double sym_err(const float *x, const float *w, int n, float d, int qlo, int qhi) {
    double e = 0;
    for (int i = 0; i < n; i++) {
        int q = d != 0 ? clampi((int)lrintf(x[i] / d), qlo, qhi) : 0;
        double r = (double)(d * (float)q) - x[i];
        e += (w ? w[i] : 1) * r * r;
    }
    return e;
}

/* Least-squares scale for the levels that d rounds x to: Σxq / Σq² (d if there are none). */
static float sym_refit(const float *x, const float *w, int n, float d, int qlo, int qhi) {
    double sxq = 0, sqq = 0;
    for (int i = 0; i < n; i++) {
        int q = d != 0 ? clampi((int)lrintf(x[i] / d), qlo, qhi) : 0;
        sxq += (w ? w[i] : 1) * (double)x[i] * q;
        sqq += (w ? w[i] : 1) * (double)q * q;
    }
    return sqq > 0 ? (float)(sxq / sqq) : d;
}

/* The scale of least squared error for x[0..n) over the ladder of candidates (see the file
 * comment); round16: measure each candidate rounded to f16 (the stored scale) and return it so. */
static float sym_search(const float *x, const float *w, int n, int qlo, int qhi, int round16) {
    float amax = 0, v = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            v = x[i];
        }
    if (amax == 0) return 0;
    /* v's level: the end of the range its sign reaches (qlo for Q4_0's -8, as its reference) */
    float lv = v < 0 ? (float)-qhi : (float)qhi;
    if (-qlo > qhi) lv = (float)qlo; /* asymmetric ranges (-8..7, -32..31): v to the long end */
    float best = round16 ? f16r(v / lv) : v / lv;
    double be = sym_err(x, w, n, best, qlo, qhi);
    for (int i = -10; i <= 10; i++) {
        float d = v / (lv + (lv < 0 ? -0.1f : 0.1f) * (float)i);
        for (int it = 0; it < 3; it++) {
            float dr = round16 ? f16r(d) : d;
            double e = sym_err(x, w, n, dr, qlo, qhi);
            if (e < be) {
                be = e;
                best = dr;
            }
            d = sym_refit(x, w, n, d, qlo, qhi);
        }
    }
    return best;
}

static void search_q8_0(uint8_t *b, const float *x) {
    float d = sym_search(x, NULL, 32, -128, 127, 1);
    f2h(b, d);
    d = f16_to_f32((uint16_t)(b[0] | b[1] << 8));
    for (int k = 0; k < 32; k++) b[2 + k] = (uint8_t)(int8_t)(d != 0 ? clampi((int)lrintf(x[k] / d), -128, 127) : 0);
}

static void search_q4_0(uint8_t *b, const float *x) {
    float d = sym_search(x, NULL, 32, -8, 7, 1);
    f2h(b, d);
    d = f16_to_f32((uint16_t)(b[0] | b[1] << 8));
    for (int k = 0; k < 16; k++) {
        int lo = d != 0 ? clampi((int)lrintf(x[k] / d), -8, 7) + 8 : 8,
            hi = d != 0 ? clampi((int)lrintf(x[k + 16] / d), -8, 7) + 8 : 8;
        b[2 + k] = (uint8_t)(lo | hi << 4);
    }
}

static void search_q5_0(uint8_t *b, const float *x) {
    float d = sym_search(x, NULL, 32, -16, 15, 1);
    f2h(b, d);
    d = f16_to_f32((uint16_t)(b[0] | b[1] << 8));
    int q[32];
    for (int k = 0; k < 32; k++) q[k] = d != 0 ? clampi((int)lrintf(x[k] / d), -16, 15) + 16 : 16;
    q5_pack_levels(b + 2, b + 6, q);
}

/* ---- Q5_1: w = d q + m, q in 0..31, d and m f16 ---- */

/* Squared error of x[0..32) with the f16-rounded step d and offset m (levels re-rounded). */
static double q51_err(const float *x, float d, float m) {
    double e = 0;
    for (int i = 0; i < 32; i++) {
        int q = d > 0 ? clampi((int)lrintf((x[i] - m) / d), 0, 31) : 0;
        double r = (double)(d * (float)q + m) - x[i];
        e += r * r;
    }
    return e;
}

/* Candidate steps range / (31 + 0.1 i), i in [-10, 15], from the minimum; each refitted by
 * two-variable least squares on its levels (m free: Q5_1's offset is a signed f16) and re-rounded
 * twice; every candidate measured with d and m rounded to f16. */
static void search_q5_1(uint8_t *b, const float *x) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < 32; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    float bd = f16r((hi - lo) / 31), bm = f16r(lo);
    double be = q51_err(x, bd, bm);
    for (int c = -10; hi > lo && c <= 15; c++) {
        float s = (hi - lo) / (31.0f + 0.1f * (float)c), m = lo;
        for (int it = 0; it < 3; it++) {
            float dr = f16r(s), mr = f16r(m);
            double e = q51_err(x, dr, mr);
            if (e < be) {
                be = e;
                bd = dr;
                bm = mr;
            }
            double sq = 0, sqq = 0, sx = 0, sxq = 0;
            for (int i = 0; i < 32; i++) {
                int q = clampi((int)lrintf((x[i] - m) / s), 0, 31);
                sq += q;
                sqq += (double)q * q;
                sx += x[i];
                sxq += (double)x[i] * q;
            }
            double D = 32 * sqq - sq * sq;
            if (D <= 0) break;
            double ns = (32 * sxq - sx * sq) / D, nm = (sqq * sx - sq * sxq) / D;
            if (!(ns > 0)) break;
            s = (float)ns;
            m = (float)nm;
        }
    }
    f2h(b, bd);
    f2h(b + 2, bm);
    int q[32];
    for (int i = 0; i < 32; i++) q[i] = bd > 0 ? clampi((int)lrintf((x[i] - bm) / bd), 0, 31) : 0;
    q5_pack_levels(b + 4, b + 8, q);
}

/* ---- Q4_K / Q5_K: w = d sc q - dmin m, q in 0..15 / 0..31, sc and m 6-bit ---- */

/* Squared error of the sub-block x[0..32) with step ds and offset dm (levels 0..nmax re-rounded). */
static double aff_err(const float *x, const float *w, float d, int sc, float dmin, int m, int nmax) {
    float ds = d * (float)sc, dm = dmin * (float)m;
    double e = 0;
    for (int i = 0; i < 32; i++) {
        int q = ds > 0 ? clampi((int)lrintf((x[i] + dm) / ds), 0, nmax) : 0;
        double r = (double)(d * (float)sc * (float)q - dm) - x[i];
        e += w[i] * r * r;
    }
    return e;
}

/* Best float (s, m >= 0) for one sub-block, w = s q - m, q in 0..nmax (file comment). */
static void aff_fit(const float *x, const float *w, int nmax, float *s_out, float *m_out) {
    float lo = 0, hi = 0;
    for (int i = 0; i < 32; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    *s_out = 0;
    *m_out = -lo;
    if (hi <= lo) return;
    double be = INFINITY;
    for (int c = -10; c <= 15; c++) {
        float s = (hi - lo) / ((float)nmax + 0.1f * (float)c), b = lo; /* w = s q + b, b = -m <= 0 */
        for (int it = 0; it < 3; it++) {
            double sw = 0, sq = 0, sqq = 0, sx = 0, sxq = 0, e = 0;
            for (int i = 0; i < 32; i++) {
                int q = clampi((int)lrintf((x[i] - b) / s), 0, nmax);
                double r = (double)s * q + b - x[i];
                e += w[i] * r * r;
                sw += w[i];
                sq += w[i] * q;
                sqq += w[i] * (double)q * q;
                sx += w[i] * x[i];
                sxq += w[i] * (double)x[i] * q;
            }
            if (e < be) {
                be = e;
                *s_out = s;
                *m_out = -b;
            }
            double D = sw * sqq - sq * sq;
            if (D <= 0) break;
            double ns = (sw * sxq - sx * sq) / D, nb = (sqq * sx - sq * sxq) / D;
            if (nb > 0) {
                nb = 0;
                ns = sxq / sqq;
            }
            if (!(ns > 0)) break;
            s = (float)ns;
            b = (float)nb;
        }
    }
}

/* Pack the integer scales / mins and the levels 0..nmax of a Q4_K (nmax 15) or Q5_K (31) block
 * for the f16 d, dmin in b[0..4). */
static void kq_pack(uint8_t *b, const float *x, const int *sc, const int *m, int nmax) {
    float d = f16_to_f32((uint16_t)(b[0] | b[1] << 8)), dmin = f16_to_f32((uint16_t)(b[2] | b[3] << 8));
    int q[256];
    q4k_pack_scales(b + 4, sc, m);
    for (int j = 0; j < 8; j++) {
        float ds = d * (float)sc[j], dm = dmin * (float)m[j];
        for (int l = 0; l < 32; l++) q[32 * j + l] = ds > 0 ? clampi((int)lrintf((x[32 * j + l] + dm) / ds), 0, nmax) : 0;
    }
    kq_pack_levels(b, nmax == 31, q);
}

/* The weight of each value's squared error in the Q4_K search: rms of the sub-block + |x| (the
 * weighting llama.cpp's Q4_K quantiser describes; on the bundled model it took the Q4_K_M file's
 * KL against f32 from 4.3e-3 with weight 1 to 3.1e-3, docs/gguf.md). */
static void q4k_weights(float *w, const float *x) {
    double s2 = 0;
    for (int i = 0; i < 32; i++) s2 += (double)x[i] * x[i];
    float av = (float)sqrt(s2 / 32);
    for (int i = 0; i < 32; i++) w[i] = av + fabsf(x[i]);
}

/* Q4_K (nmax 15) and Q5_K (nmax 31): the same search over their levels. */
static void search_kq(uint8_t *b, const float *x, int nmax) {
    float s[8], mn[8], smax = 0, mmax = 0, w[256];
    for (int j = 0; j < 8; j++) {
        q4k_weights(w + 32 * j, x + 32 * j);
        aff_fit(x + 32 * j, w + 32 * j, nmax, &s[j], &mn[j]);
        smax = fmaxf(smax, s[j]);
        mmax = fmaxf(mmax, mn[j]);
    }
    float d = f16r(smax / 63), dmin = f16r(mmax / 63);
    int sc[8], m[8], bsc[8] = {0}, bm[8] = {0};
    float bd = d, bdmin = dmin;
    double best = INFINITY;
    for (int it = 0; it < 3; it++) {
        double tot = 0;
        for (int j = 0; j < 8; j++) {
            int s0 = d > 0 ? clampi((int)lrintf(s[j] / d), 0, 63) : 0, m0 = dmin > 0 ? clampi((int)lrintf(mn[j] / dmin), 0, 63) : 0;
            double be = INFINITY;
            sc[j] = s0;
            m[j] = m0;
            for (int a = -1; a <= 1; a++)
                for (int c = -1; c <= 1; c++) {
                    int ts = clampi(s0 + a, 0, 63), tm = clampi(m0 + c, 0, 63);
                    double e = aff_err(x + 32 * j, w + 32 * j, d, ts, dmin, tm, nmax);
                    if (e < be) {
                        be = e;
                        sc[j] = ts;
                        m[j] = tm;
                    }
                }
            tot += be;
        }
        if (tot < best) {
            best = tot;
            bd = d;
            bdmin = dmin;
            memcpy(bsc, sc, sizeof sc);
            memcpy(bm, m, sizeof m);
        }
        /* least squares for (d, dmin) on the chosen integers: w_i = d A_i - dmin B_i */
        double aa = 0, ab = 0, bb = 0, xa = 0, xb = 0;
        for (int j = 0; j < 8; j++) {
            float ds = d * (float)sc[j], dm = dmin * (float)m[j];
            for (int l = 0; l < 32; l++) {
                int q = ds > 0 ? clampi((int)lrintf((x[32 * j + l] + dm) / ds), 0, nmax) : 0;
                double A = (double)sc[j] * q, B = m[j], xv = x[32 * j + l], wv = w[32 * j + l];
                aa += wv * A * A;
                ab += wv * A * B;
                bb += wv * B * B;
                xa += wv * xv * A;
                xb += wv * xv * B;
            }
        }
        double D = aa * bb - ab * ab, nd, ndm;
        if (bb == 0 && aa > 0) { /* no mins: d alone */
            nd = xa / aa;
            ndm = 0;
        } else if (D > 0) {
            nd = (xa * bb - xb * ab) / D; /* minimises |d A - dmin B - x|² */
            ndm = (xa * ab - xb * aa) / D;
        } else break;
        if (!(nd > 0) || !(ndm >= 0)) break;
        d = f16r((float)nd);
        dmin = f16r((float)ndm);
    }
    f2h(b, bd);
    f2h(b + 2, bdmin);
    kq_pack(b, x, bsc, bm, nmax);
}

/* ---- Q6_K: w = d sc q, q in -32..31, sc int8, 16 groups of 16 ---- */

static void q6k_pack(uint8_t *b, const float *x, const int *scv) {
    float d = f16_to_f32((uint16_t)(b[208] | b[209] << 8));
    int8_t *sc = (int8_t *)(b + 192);
    int q[256];
    for (int g = 0; g < 16; g++) {
        sc[g] = (int8_t)scv[g];
        float ds = d * (float)scv[g];
        for (int l = 0; l < 16; l++) q[16 * g + l] = ds != 0 ? clampi((int)lrintf(x[16 * g + l] / ds), -32, 31) + 32 : 32;
    }
    uint8_t *ql = b, *qh = b + 128;
    for (int h = 0; h < 2; h++, ql += 64, qh += 32) {
        const int *o = q + 128 * h;
        for (int l = 0; l < 32; l++) {
            ql[l] = (uint8_t)((o[l] & 15) | (o[l + 64] & 15) << 4);
            ql[l + 32] = (uint8_t)((o[l + 32] & 15) | (o[l + 96] & 15) << 4);
            qh[l] = (uint8_t)(o[l] >> 4 | (o[l + 32] >> 4) << 2 | (o[l + 64] >> 4) << 4 | (o[l + 96] >> 4) << 6);
        }
    }
}

/* Error of group x[0..16) at scale d·sc (levels re-rounded), and its best sc near s/d. */
static double q6_group(const float *x, const float *w, float d, float s, int *sc_out) {
    int s0 = d != 0 ? clampi((int)lrintf(s / d), -128, 127) : 0;
    double be = INFINITY;
    *sc_out = s0;
    for (int a = -1; a <= 1; a++) {
        int ts = clampi(s0 + a, -128, 127);
        double e = sym_err(x, w, 16, d * (float)ts, -32, 31);
        if (e < be) {
            be = e;
            *sc_out = ts;
        }
    }
    return be;
}

/* The weight of each value's squared error in the Q6_K search: x² (bundled model, Q6_K file's KL
 * against f32: weight 1 5.8e-4, rms + |x| 5.7e-4, x² 5.4e-4). */
static void q6k_weights(float *w, const float *x) {
    for (int i = 0; i < 16; i++) w[i] = x[i] * x[i];
}

static void search_q6_k(uint8_t *b, const float *x) {
    float s[16], smax = 0, sv = 0, w[256];
    for (int g = 0; g < 16; g++) {
        q6k_weights(w + 16 * g, x + 16 * g);
        s[g] = sym_search(x + 16 * g, w + 16 * g, 16, -32, 31, 0);
        if (fabsf(s[g]) > smax) {
            smax = fabsf(s[g]);
            sv = s[g];
        }
    }
    int sc[16], bsc[16] = {0};
    float bd = 0;
    double best = INFINITY;
    for (int start = 0; start < 2; start++) {
        float d = f16r(start == 0 ? sv / -128 : smax / 127);
        for (int it = 0; it < 3 && d != 0; it++) {
            double tot = 0;
            for (int g = 0; g < 16; g++) tot += q6_group(x + 16 * g, w + 16 * g, d, s[g], &sc[g]);
            if (tot < best) {
                best = tot;
                bd = d;
                memcpy(bsc, sc, sizeof sc);
            }
            double aa = 0, xa = 0; /* least squares for d on the chosen integers: w = d sc q */
            for (int g = 0; g < 16; g++) {
                float ds = d * (float)sc[g];
                for (int l = 0; l < 16; l++) {
                    int q = ds != 0 ? clampi((int)lrintf(x[16 * g + l] / ds), -32, 31) : 0;
                    double A = (double)sc[g] * q;
                    aa += w[16 * g + l] * A * A;
                    xa += w[16 * g + l] * A * x[16 * g + l];
                }
            }
            if (!(aa > 0)) break;
            d = f16r((float)(xa / aa));
        }
    }
    f2h(b + 208, bd);
    q6k_pack(b, x, bsc);
}

void quantize_search(void *dst, const float *x, wtype_t t, size_t n) {
    KERN_ASSERT(wtype_is_quant(t) && n % (size_t)wtype_block(t) == 0);
    int blk = wtype_block(t);
    size_t bb = wtype_bytes(t, (size_t)blk);
    uint8_t *o = dst, cand[210]; /* the largest block (Q6_K) */
    float y[256];
    for (size_t i = 0; i < n; i += (size_t)blk, o += bb) {
        memset(cand, 0, sizeof cand);
        switch (t) {
        case WT_Q8_0: search_q8_0(cand, x + i); break;
        case WT_Q4_0: search_q4_0(cand, x + i); break;
        case WT_Q4_K: search_kq(cand, x + i, 15); break;
        case WT_Q5_K: search_kq(cand, x + i, 31); break;
        case WT_Q5_0: search_q5_0(cand, x + i); break;
        case WT_Q5_1: search_q5_1(cand, x + i); break;
        default: search_q6_k(cand, x + i); break;
        }
        quantize_ref(o, x + i, t, (size_t)blk);
        dequant_ref(y, o, t, (size_t)blk);
        double er = sse(x + i, y, blk);
        dequant_ref(y, cand, t, (size_t)blk);
        double es = sse(x + i, y, blk);
        if (es <= er) memcpy(o, cand, bb);
    }
}
