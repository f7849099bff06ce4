/* attn_flash_simd.h — the vector body of attn_flash.c, included once per ISA (AVX-512, AVX2)
 * with these macros defined by the includer:
 *   TGT        the function target attribute      SFX(name)  name with the ISA suffix
 *   VEC, VW    vector type and its float count    PR         query rows per PV micro-tile
 *   vload vstore vset1 vzero vadd vmul vmax vfma vfnma vround vpow2n vzero_below(x, lo, y)
 *   vhmax vhsum (horizontal max / sum)
 *   KR, QCV    key rows x query vectors of the QK micro-tile      vsub, vblend_ninf(x, y): y where x == -inf
 * One tile job: BR query rows of one head against all keys, BC keys at a time: Sᵀ = k·qᵀ into
 * the thread's score tile (queries packed transposed, so a key's scores are whole vectors),
 * masked, the online softmax update across queries (running max m, running sum l, O rescaled by
 * exp(m_old - m_new)), O += P·V read straight from the value rows. hd % VW == 0. */

/* Cephes exp as in vmath.c (within 2 ulp of expf on [-87.3, 88.3]); exactly 0 below. */
TGT static inline VEC SFX(vexp)(VEC x) {
    const VEC lo = vset1(-87.3f), hi = vset1(88.3f);
    VEC xc = vmin(vmax(x, lo), hi);
    VEC n = vround(vmul(xc, vset1(1.44269504088896341f)));
    VEC r = vfnma(n, vset1(0.693359375f), xc);
    r = vfnma(n, vset1(-2.12194440e-4f), r);
    VEC p = vset1(1.9875691500e-4f);
    p = vfma(p, r, vset1(1.3981999507e-3f));
    p = vfma(p, r, vset1(8.3334519073e-3f));
    p = vfma(p, r, vset1(4.1665795894e-2f));
    p = vfma(p, r, vset1(1.6666665459e-1f));
    p = vfma(p, r, vset1(5.0000001201e-1f));
    p = vfma(p, vmul(r, r), vadd(r, vset1(1.0f)));
    return vzero_below(x, lo, vpow2n(p, n));
}

/* ST[c][q0..q0+CV*VW) = Σ_d k[c][d]·QT[d][q0..] for R key rows c (R <= KR; R and CV are
 * compile-time constants when inlined): scores transposed, one key per row, queries along it. */
TGT static inline __attribute__((always_inline)) void SFX(qk_micro)(float *ST, const float *QT, const float *k, int ks,
                                                                    int hd, int R, int q0, int CV) {
    VEC acc[KR][QCV];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int c = 0; c < CV; c++) acc[r][c] = vzero();
    for (int d = 0; d < hd; d++) {
        const float *qt = QT + (size_t)d * BR + q0;
        VEC qv[QCV];
#pragma GCC unroll 8
        for (int c = 0; c < CV; c++) qv[c] = vload(qt + c * VW);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            VEC kb = vset1(k[(size_t)r * ks + d]);
#pragma GCC unroll 8
            for (int c = 0; c < CV; c++) acc[r][c] = vfma(kb, qv[c], acc[r][c]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int c = 0; c < CV; c++) vstore(ST + (size_t)r * BR + q0 + c * VW, acc[r][c]);
}

/* Key rows [0, R) of the tile, all nqv query vectors. */
TGT static inline __attribute__((always_inline)) void SFX(qk_rows)(float *ST, const float *QT, const float *k, int ks,
                                                                   int hd, int R, int nqv) {
    int c = 0;
    for (; c + QCV <= nqv; c += QCV) SFX(qk_micro)(ST, QT, k, ks, hd, R, c * VW, QCV);
    for (; c < nqv; c++) SFX(qk_micro)(ST, QT, k, ks, hd, R, c * VW, 1);
}

/* O[r][d0..d0+DV*VW) = O[r][..]·corr[r] + Σ_{c<nc} PT[c][r]·V[c][..] for R query rows. */
TGT static inline __attribute__((always_inline)) void SFX(pv_micro)(float *O, int hd, const float *PT,
                                                                    const float *corr, const float *v, int ks, int nc,
                                                                    int R, int d0, int DV) {
    VEC acc[PR][4];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        VEC cr = vset1(corr[r]);
#pragma GCC unroll 8
        for (int c = 0; c < DV; c++) acc[r][c] = vmul(vload(O + (size_t)r * hd + d0 + c * VW), cr);
    }
    for (int j = 0; j < nc; j++) {
        const float *vr = v + (size_t)j * ks + d0;
        VEC vv[4];
#pragma GCC unroll 8
        for (int c = 0; c < DV; c++) vv[c] = vload(vr + c * VW);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            VEC pb = vset1(PT[(size_t)j * BR + r]);
#pragma GCC unroll 8
            for (int c = 0; c < DV; c++) acc[r][c] = vfma(pb, vv[c], acc[r][c]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int c = 0; c < DV; c++) vstore(O + (size_t)r * hd + d0 + c * VW, acc[r][c]);
}

TGT static inline __attribute__((always_inline)) void SFX(pv_rows)(float *O, int hd, const float *PT, const float *corr,
                                                                   const float *v, int ks, int nc, int R) {
    int d0 = 0;
    for (; d0 + 4 * VW <= hd; d0 += 4 * VW) SFX(pv_micro)(O, hd, PT, corr, v, ks, nc, R, d0, 4);
    for (; d0 < hd; d0 += VW) SFX(pv_micro)(O, hd, PT, corr, v, ks, nc, R, d0, 1);
}

/* One tile job: m <= BR query rows (q, out rows of stride qs, head offset applied) against L
 * keys (k, v rows of stride ks, head offset applied). ws: the thread's working memory
 * (ws_floats). The queries are packed once, transposed and scaled (QT[d][r] = q[r][d]·scale),
 * so a key's scores against all the tile's queries are whole vectors and the online softmax
 * runs across queries, a vector of queries at a time. */
TGT static void SFX(flash_tile)(float *out, const float *q, int m, int qs, const float *k, const float *v, int ks,
                                int L, int hd, const uint8_t *keep, float scale, float *ws) {
    float *QT = ws, *ST = QT + (size_t)hd * BR, *O = ST + (size_t)BC * BR, *mx = O + (size_t)BR * hd, *l = mx + BR,
          *corr = l + BR, *KP = corr + BR, *VP = KP + (size_t)BC * hd;
    int nqv = (m + VW - 1) / VW;
    for (int d = 0; d < hd; d++) {
        float *qt = QT + (size_t)d * BR;
        for (int r = 0; r < m; r++) qt[r] = q[(size_t)r * qs + d] * scale;
        for (int r = m; r < nqv * VW; r++) qt[r] = 0;
    }
    for (int r = 0; r < nqv * VW; r++) {
        mx[r] = -INFINITY;
        l[r] = 0;
    }
    memset(O, 0, (size_t)m * hd * sizeof *O);
    const VEC ninf = vset1(-INFINITY);
    for (int j0 = 0; j0 < L; j0 += BC) {
        int nc = L - j0 < BC ? L - j0 : BC, c = 0;
        /* the tile's keys and values, contiguous: rows of a many-head model lie a multiple of 4 KB
         * apart (16 KB for LLaDA-8B) and would fight over the same cache sets */
        for (c = 0; c < nc; c++) {
            memcpy(KP + (size_t)c * hd, k + (size_t)(j0 + c) * ks, (size_t)hd * sizeof *KP);
            memcpy(VP + (size_t)c * hd, v + (size_t)(j0 + c) * ks, (size_t)hd * sizeof *VP);
        }
        for (c = 0; c + KR <= nc; c += KR) SFX(qk_rows)(ST + (size_t)c * BR, QT, KP + (size_t)c * hd, hd, hd, KR, nqv);
        for (; c < nc; c++) SFX(qk_rows)(ST + (size_t)c * BR, QT, KP + (size_t)c * hd, hd, hd, 1, nqv);
        if (keep) /* hidden keys: their row of scores is -inf for every query */
            for (c = 0; c < nc; c++)
                if (!keep[j0 + c])
                    for (int i = 0; i < nqv; i++) vstore(ST + (size_t)c * BR + i * VW, ninf);
        for (int i = 0; i < nqv; i++) { /* online softmax, VW queries at a time; ST -> PT */
            float *st = ST + i * VW;
            VEC t = ninf;
            for (c = 0; c < nc; c++) t = vmax(t, vload(st + (size_t)c * BR));
            VEC mo = vload(mx + i * VW), mn = vmax(mo, t);
            /* a query whose keys so far are all hidden keeps max -inf: subtract 0 instead (its
             * probabilities and correction are exp(-inf) = 0) */
            VEC ms = vblend_ninf(mn, vzero());
            VEC cr = SFX(vexp)(vsub(mo, ms)), sum = vzero();
            for (c = 0; c < nc; c++) {
                VEC p = SFX(vexp)(vsub(vload(st + (size_t)c * BR), ms));
                vstore(st + (size_t)c * BR, p);
                sum = vadd(sum, p);
            }
            vstore(l + i * VW, vfma(vload(l + i * VW), cr, sum));
            vstore(mx + i * VW, mn);
            vstore(corr + i * VW, cr);
        }
        int r = 0;
        for (; r + PR <= m; r += PR) SFX(pv_rows)(O + (size_t)r * hd, hd, ST + r, corr + r, VP, hd, nc, PR);
        for (; r < m; r++) SFX(pv_rows)(O + (size_t)r * hd, hd, ST + r, corr + r, VP, hd, nc, 1);
    }
    for (int r = 0; r < m; r++) {
        VEC iv = vset1(l[r] > 0 ? 1.0f / l[r] : 0.0f);
        for (int d = 0; d < hd; d += VW) vstore(out + (size_t)r * qs + d, vmul(vload(O + (size_t)r * hd + d), iv));
    }
}
