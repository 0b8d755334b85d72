// typenet/backend/cpu/kernels/sgemm_body.hpp - SGEMM for one kernel path.
// Included by foreach_isa.hpp (through sgemm.hpp) once per path, inside that
// path's namespace: no #include here. See sgemm.hpp for the contract.

// MR x NR tile of C held in registers. AVX-512: 8 x 48, 24 of the 32 zmm
// registers accumulate, 3 hold B and 1 the broadcast of A: 24 FMAs for 11
// loads per k step (measured a little faster here than 12 x 32, and 8 rows
// divide the networks' batch sizes). AVX2 (16 ymm): 6 x 16, 12 accumulators;
// portable (SSE-class, 16 registers): 4 x 8, 8 accumulators.
#if TYPENET_ISA == 2
inline constexpr int sgemm_mr = 8;
inline constexpr int sgemm_nv = 3;  // vectors per tile row
#elif TYPENET_ISA == 1
inline constexpr int sgemm_mr = 6;
inline constexpr int sgemm_nv = 2;  // vectors per tile row
#else
inline constexpr int sgemm_mr = 4;
inline constexpr int sgemm_nv = 2;  // vectors per tile row
#endif
inline constexpr int sgemm_w = Vec::width;
inline constexpr int sgemm_nr = sgemm_nv * Vec::width;
static_assert(sgemm_detail::mc_max % sgemm_mr == 0 && sgemm_detail::nc_max % sgemm_nr == 0);

inline int sgemm_tile_rows() { return sgemm_mr; }
inline int sgemm_tile_cols() { return sgemm_nr; }

/// What the micro-kernel does with its tile: C = alpha*acc (+ beta*C or + C)
/// (+ bias) (ReLU). beta is applied by the first k block only, the bias and
/// ReLU by the last.
struct SgemmTileOp {
    enum Mode { overwrite, accumulate, scale } mode;
    float alpha, beta;
    const float* bias;  // at the tile's first column, or nullptr
    bool relu;
    std::size_t b_step;  // floats between B's rows: sgemm_nr packed, ldb read in place
};

/// How the k block starting at pc meets C: the first applies beta, the
/// later ones add to what the first wrote.
inline SgemmTileOp::Mode sgemm_block_mode(std::size_t pc, float beta) {
    if (pc != 0 || beta == 1.0f) return SgemmTileOp::accumulate;
    return beta == 0.0f ? SgemmTileOp::overwrite : SgemmTileOp::scale;
}

/// B's NV vectors at one k step; MaskB: the last one masked to n_last
/// columns. (if constexpr: written as one conditional expression, the
/// unmasked kernels compiled to a slower schedule, 6-9% at k = 10.)
template <int NV, bool MaskB>
inline void sgemm_load_b(const float* pb, int n_last, Vec (&bv)[NV]) {
    if constexpr (MaskB) {
#pragma GCC unroll 4
        for (int v = 0; v + 1 < NV; ++v) bv[v] = Vec::load(pb + v * sgemm_w);
        bv[NV - 1] = Vec::load_n(pb + (NV - 1) * sgemm_w, n_last);
    } else {
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) bv[v] = Vec::load(pb + v * sgemm_w);
    }
}

/// One M x (NV vectors) tile over kc steps of op(B)'s packed panel pb (kc
/// groups of sgemm_nr floats). op(A) is read where it lies, by broadcasts:
/// RowsA: row i at a + i*lda, its kc entries contiguous (A not transposed:
/// no packing needed); else entry (i,p) at a[p*lda + i] (a packed panel,
/// lda = sgemm_mr, or a transposed A as stored). Only the first `rows` (1..M)
/// rows are stored (an edge tile runs on a zero-padded panel), and of the last
/// vector only n_last (1..width) columns. MaskB: B's last vector is loaded
/// masked to n_last columns too (B read in place up to its last column).
template <int M, int NV, bool RowsA, bool MaskB = false>
TYPENET_SGEMM_NOINLINE inline void sgemm_micro(std::size_t kc, const float* a, std::size_t lda, const float* pb,
                                               float* c, std::size_t ldc, int rows, int n_last,
                                               const SgemmTileOp& op) {
    const std::size_t b_step = op.b_step;
    Vec acc[M][NV];
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = Vec::zero();
#if TYPENET_ISA >= 1
    // The tile of C is read or written only after the k loop: fetch it now,
    // so that its misses (C is often far larger than the caches) overlap the FMAs.
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
        const char* row = reinterpret_cast<const char*>(c + std::size_t(i) * ldc);
        _mm_prefetch(row, _MM_HINT_T0);
        _mm_prefetch(row + NV * sgemm_w * sizeof(float) - 1, _MM_HINT_T0);
    }
#endif
    if constexpr (RowsA) {
        // Rows in threes from one pointer each: a[0], a[lda], a[2*lda] are
        // addressing modes (index scaled by 4 and 8), so 12 rows cost 4
        // pointers, not 12 (x86-64 has 16 integer registers).
        constexpr int groups = (M + 2) / 3;
        const float* base[groups];
#pragma GCC unroll 8
        for (int g = 0; g < groups; ++g) base[g] = a + std::size_t(3 * g) * lda;
        for (std::size_t p = 0; p < kc; ++p) {
            Vec bv[NV];
            sgemm_load_b<NV, MaskB>(pb, n_last, bv);
#pragma GCC unroll 16
            for (int i = 0; i < M; ++i) {
                const Vec av = Vec::set1(base[i / 3][std::size_t(i % 3) * lda]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) acc[i][v] = Vec::fmadd(av, bv[v], acc[i][v]);
            }
#pragma GCC unroll 8
            for (int g = 0; g < groups; ++g) ++base[g];
            pb += b_step;
        }
    } else {
        for (std::size_t p = 0; p < kc; ++p) {
            Vec bv[NV];
            sgemm_load_b<NV, MaskB>(pb, n_last, bv);
#pragma GCC unroll 16
            for (int i = 0; i < M; ++i) {
                const Vec av = Vec::set1(a[i]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) acc[i][v] = Vec::fmadd(av, bv[v], acc[i][v]);
            }
            a += lda;
            pb += b_step;
        }
    }
    const Vec alpha = Vec::set1(op.alpha), beta = Vec::set1(op.beta);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
        if (i >= rows) break;
        float* row = c + std::size_t(i) * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
            const bool full = v + 1 < NV || n_last == sgemm_w;
            const int cols = v + 1 < NV ? sgemm_w : n_last;
            float* cp = row + v * sgemm_w;
            Vec r = Vec::mul(acc[i][v], alpha);
            if (op.mode != SgemmTileOp::overwrite) {
                const Vec old = full ? Vec::load(cp) : Vec::load_n(cp, cols);
                r = op.mode == SgemmTileOp::accumulate ? Vec::add(r, old) : Vec::fmadd(beta, old, r);
            }
            if (op.bias)
                r = Vec::add(r, full ? Vec::load(op.bias + v * sgemm_w) : Vec::load_n(op.bias + v * sgemm_w, cols));
            if (op.relu) r = Vec::max(Vec::zero(), r);  // x86 max returns its second operand for NaN: keeps NaN
            if (full)
                Vec::store(cp, r);
            else
                Vec::store_n(cp, r, cols);
        }
    }
}

/// Calls sgemm_micro<M, nv, RowsA> for run-time nv (1..sgemm_nv).
template <int M, bool RowsA>
inline void sgemm_micro_nv(int nv, std::size_t kc, const float* a, std::size_t lda, const float* pb, float* c,
                           std::size_t ldc, int rows, int n_last, const SgemmTileOp& op) {
    static_assert(sgemm_nv >= 1 && sgemm_nv <= 3);
    if (sgemm_nv >= 3 && nv == 3)
        sgemm_micro<M, (sgemm_nv >= 3 ? 3 : 1), RowsA>(kc, a, lda, pb, c, ldc, rows, n_last, op);
    else if (sgemm_nv >= 2 && nv == 2)
        sgemm_micro<M, (sgemm_nv >= 2 ? 2 : 1), RowsA>(kc, a, lda, pb, c, ldc, rows, n_last, op);
    else
        sgemm_micro<M, 1, RowsA>(kc, a, lda, pb, c, ldc, rows, n_last, op);
}

/// An edge tile of `rows` < sgemm_mr rows on a packed, zero-padded panel:
/// the kernel for 1, 2, 4 or sgemm_mr rows, whichever is the smallest that
/// holds them. (Four row counts, not sgemm_mr: each kernel is fully unrolled,
/// and compile time grows with their number.)
inline void sgemm_micro_edge(int rows, int nv, std::size_t kc, const float* a, const float* pb, float* c,
                             std::size_t ldc, int n_last, const SgemmTileOp& op) {
    constexpr std::size_t lda = sgemm_mr;
    if (rows <= 1)
        sgemm_micro_nv<1, false>(nv, kc, a, lda, pb, c, ldc, rows, n_last, op);
    else if (rows <= 2)
        sgemm_micro_nv<2, false>(nv, kc, a, lda, pb, c, ldc, rows, n_last, op);
    else if (sgemm_mr > 4 && rows <= 4)
        sgemm_micro_nv<(sgemm_mr > 4 ? 4 : sgemm_mr), false>(nv, kc, a, lda, pb, c, ldc, rows, n_last, op);
    else
        sgemm_micro_nv<sgemm_mr, false>(nv, kc, a, lda, pb, c, ldc, rows, n_last, op);
}

#if TYPENET_ISA >= 1
/// Transposes the 8 x 8 block in r (row q = r[q]) in registers.
inline void sgemm_transpose8(__m256 (&r)[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xee);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xee);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xee);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xee);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}
#endif

/// Packs `valid` rows (of R) whose kc entries are contiguous (row r at
/// src + r*ld) as dst[p*R + r], zeros for rows past `valid` up to a whole
/// vector (the rest of the R is never read): a transpose.
inline void sgemm_pack_transposed(const float* src, std::size_t ld, int valid, std::size_t kc, int R, float* dst) {
#if TYPENET_ISA >= 1
    // 8 x 8 blocks transposed in registers. Every loop over a block is
    // unrolled, so that the block stays in registers (indexed at run time,
    // GCC kept it on the stack: a Dense forward's packing of W^T then took a
    // third of the product). Rows past `valid` load as zeros; a partial
    // group of rows is stored masked so that the next p's entries are not
    // overwritten; the last p block loads masked.
    const __m256 zero = _mm256_setzero_ps();
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    // The kernel reads whole vectors only up to the last valid entry.
    const int filled = std::min(R, (valid + sgemm_w - 1) / sgemm_w * sgemm_w);
    const std::size_t uR = std::size_t(R);
    for (int g = 0; g < filled; g += 8) {
        const int lanes = std::min(8, filled - g), rows = std::clamp(valid - g, 0, 8);
        const __m256i store_mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), lane);
        const float* s = src + std::size_t(g) * ld;
        float* d = dst + std::size_t(g);
        std::size_t p = 0;
        if (rows == 8 && lanes == 8)  // the common case, without a condition inside
            for (; p + 8 <= kc; p += 8) {
                __m256 r[8];
#pragma GCC unroll 8
                for (int q = 0; q < 8; ++q) r[q] = _mm256_loadu_ps(s + std::size_t(q) * ld + p);
                sgemm_transpose8(r);
#pragma GCC unroll 8
                for (int q = 0; q < 8; ++q) _mm256_storeu_ps(d + (p + std::size_t(q)) * uR, r[q]);
            }
        for (; p < kc; p += 8) {
            const int steps = int(std::min<std::size_t>(8, kc - p));
            const __m256i load_mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(steps), lane);
            __m256 r[8];
#pragma GCC unroll 8
            for (int q = 0; q < 8; ++q) {
                const float* sq = s + std::size_t(q) * ld + p;
                r[q] = q >= rows ? zero : steps == 8 ? _mm256_loadu_ps(sq) : _mm256_maskload_ps(sq, load_mask);
            }
            sgemm_transpose8(r);
#pragma GCC unroll 8
            for (int q = 0; q < 8; ++q) {
                if (q >= steps) break;
                float* dq = d + (p + std::size_t(q)) * uR;
                if (lanes == 8)
                    _mm256_storeu_ps(dq, r[q]);
                else
                    _mm256_maskstore_ps(dq, store_mask, r[q]);
            }
        }
    }
#else
    const int filled = std::min(R, (valid + sgemm_w - 1) / sgemm_w * sgemm_w);
    for (int r = 0; r < filled; ++r) {
        const float* s = src + std::size_t(r) * ld;
        float* d = dst + r;
        if (r < valid)
            for (std::size_t p = 0; p < kc; ++p) d[p * std::size_t(R)] = s[p];
        else
            for (std::size_t p = 0; p < kc; ++p) d[p * std::size_t(R)] = 0.0f;
    }
#endif
}

/// Packs a kc x width block whose rows are contiguous (row p at src + p*ld)
/// into panels of R columns: panel q holds dst[q*R*kc + p*R + r], zeros past
/// `width` up to a whole vector. A copy, row by row of the source: reading each row in one pass
/// lets the prefetcher follow it (a panel at a time would touch a new page
/// per row when ld is large).
inline void sgemm_pack_copy(const float* src, std::size_t ld, std::size_t width, std::size_t kc, int R, float* dst) {
    const std::size_t panel = std::size_t(R) * kc;
    for (std::size_t p = 0; p < kc; ++p, src += ld) {
        float* d = dst + p * std::size_t(R);
        for (std::size_t q = 0; q < width; q += std::size_t(R), d += panel) {
            const int valid = int(std::min<std::size_t>(std::size_t(R), width - q));
            // The kernel reads whole vectors only up to the last valid column.
            const int filled = std::min(R, (valid + sgemm_w - 1) / sgemm_w * sgemm_w);
            for (int r = 0; r < filled; r += sgemm_w) {
                const int lanes = std::min(sgemm_w, filled - r), cols = std::clamp(valid - r, 0, lanes);
                const Vec v = cols == sgemm_w ? Vec::load(src + q + r) : Vec::load_n(src + q + r, cols);
                if (lanes == sgemm_w)
                    Vec::store(d + r, v);
                else
                    Vec::store_n(d + r, v, lanes);
            }
        }
    }
}

/// All tiles of an mc x nc block of C against one packed block of op(B):
/// B's panel stays in L1 while A's rows stream past it. RowsA: A's rows are
/// read in place, except a partial last panel, packed into edge_a first.
template <bool RowsA>
inline void sgemm_block(std::size_t mc, std::size_t nc, std::size_t kc, const float* a, std::size_t lda,
                        std::size_t a_panel, const float* packed_b, const float* b_direct, std::size_t ldb, float* c,
                        std::size_t ldc, const float* bias, SgemmTileOp op, float* edge_a) {
    const std::size_t full_rows = mc / sgemm_mr * sgemm_mr;
    const float* last_panel = a + (full_rows / sgemm_mr) * a_panel;
    if (RowsA && full_rows < mc) {
        sgemm_pack_transposed(last_panel, lda, int(mc - full_rows), kc, sgemm_mr, edge_a);
        last_panel = edge_a;
    } else if (lda != std::size_t(sgemm_mr) && full_rows < mc) {
        // A transposed A read in place: its edge tile would read past the rows.
        sgemm_pack_copy(last_panel, lda, mc - full_rows, kc, sgemm_mr, edge_a);
        last_panel = edge_a;
    }
    for (std::size_t jr = 0; jr < nc; jr += sgemm_nr) {
        const int cols = int(std::min<std::size_t>(sgemm_nr, nc - jr));
        const int nv = (cols + sgemm_w - 1) / sgemm_w;
        const int n_last = cols - (nv - 1) * sgemm_w;
        op.bias = bias ? bias + jr : nullptr;
        const bool direct = b_direct && cols == sgemm_nr;
        const float* pb = direct ? b_direct + jr : packed_b + jr * kc;
        op.b_step = direct ? ldb : std::size_t(sgemm_nr);
        std::size_t ir = 0;
#if TYPENET_ISA == 2
        // One vector wide (a classifier's 10 outputs): 8 rows would be 8
        // accumulators, just the FMA latency times its two pipes; 16 keep both busy.
        if constexpr (RowsA)
            if (nv == 1)
                for (; ir + 16 <= full_rows; ir += 16)
                    sgemm_micro<16, 1, true>(kc, a + ir * lda, lda, pb, c + ir * ldc + jr, ldc, 16, n_last, op);
#endif
        for (; ir < full_rows; ir += sgemm_mr) {
            const float* ap = a + (ir / sgemm_mr) * a_panel;
            float* ct = c + ir * ldc + jr;
            if (nv == sgemm_nv)
                sgemm_micro<sgemm_mr, sgemm_nv, RowsA>(kc, ap, lda, pb, ct, ldc, sgemm_mr, n_last, op);
            else
                sgemm_micro_nv<sgemm_mr, RowsA>(nv, kc, ap, lda, pb, ct, ldc, sgemm_mr, n_last, op);
        }
        if (full_rows < mc)
            sgemm_micro_edge(int(mc - full_rows), nv, kc, last_panel, pb, c + full_rows * ldc + jr, ldc, n_last, op);
    }
}

/// C = beta*C (+ bias) (ReLU): the whole product when k == 0 or alpha == 0.
inline void sgemm_scale_only(std::size_t m, std::size_t n, float beta, float* c, std::size_t ldc, const float* bias,
                             bool relu) {
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            float& x = c[i * ldc + j];
            float r = beta == 0.0f ? 0.0f : beta * x;
            if (bias) r += bias[j];
            if (relu) r = r > 0.0f || r != r ? r : 0.0f;
            x = r;
        }
}

#if TYPENET_ISA == 2
/// Products of 9-12 rows with B not transposed (a Dense layer's weight
/// gradient when it has 10 outputs: dW = dy^T x): one tile of 12 rows across
/// B, 24 accumulators. The general blocking would run an 8-row tile and an
/// edge tile of 1-4 rows, which reads B a second time and, with 2-6
/// accumulators, waits on the FMA latency. Each column of B meets one tile,
/// so B is read in place (its last vector masked), never packed; A is packed
/// into a zero-padded 12-row panel.
inline constexpr int sgemm_few_rows = 12;

inline void sgemm_few_rows_product(bool trans_a, std::size_t m, std::size_t n, std::size_t k, float alpha,
                                   const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta,
                                   float* c, std::size_t ldc, const float* bias, bool relu) {
    using namespace sgemm_detail;
    constexpr int R = sgemm_few_rows;
    float* const packed_a = pack_buffer();
    // The whole buffer holds R rows of a long k: usually one k block, so C is written once.
    const std::size_t kc_cap = (mc_max * kc_max + kc_max * nc_max) / R;
    const std::size_t k_blocks = (k + kc_cap - 1) / kc_cap;
    const std::size_t kc_step = (k + k_blocks - 1) / k_blocks;
    for (std::size_t pc = 0; pc < k; pc += kc_step) {
        const std::size_t kc = std::min(kc_step, k - pc);
        if (trans_a)  // one masked load and store per step (load_n zeroes the rows past m)
            for (std::size_t p = 0; p < kc; ++p)
                Vec::store_n(packed_a + p * R, Vec::load_n(a + (pc + p) * lda, int(m)), R);
        else
            sgemm_pack_transposed(a + pc, lda, int(m), kc, R, packed_a);
        const bool last = pc + kc == k;
        SgemmTileOp op{sgemm_block_mode(pc, beta), alpha, beta, nullptr, last && relu, ldb};
        for (std::size_t j = 0; j < n; j += 2 * sgemm_w) {
            const int cols = int(std::min<std::size_t>(2 * sgemm_w, n - j));
            op.bias = last && bias ? bias + j : nullptr;
            const float* pb = b + pc * ldb + j;
            if (cols > sgemm_w)
                sgemm_micro<R, 2, false, true>(kc, packed_a, R, pb, c + j, ldc, int(m), cols - sgemm_w, op);
            else
                sgemm_micro<R, 1, false, true>(kc, packed_a, R, pb, c + j, ldc, int(m), cols, op);
        }
    }
}

/// Products of a transposed B with at most 16 columns, A not transposed, k
/// at least sgemm_dot_min_k (a classifier's forward, y = x W^T with 10
/// outputs after 512 features): dot products along k, both A's and W's rows
/// read in place and every lane busy. The general tile holds the 10 columns
/// in one vector (10 of 16 lanes) and broadcasts each entry of A (one load
/// per FMA); here a tile of R rows x G columns (R*G = 16) costs R + G loads
/// per 16 FMAs, and its 16 sums come out of one add tree (45 operations)
/// into one vector. That tree and the epilogue cost a tile about 80 cycles,
/// so it pays from k ~ 110 on (measured here at m = 64..500, n = 10; at
/// k = 70, a CNN's classifier, 1.2-1.3x slower than the general tile).
inline constexpr std::size_t sgemm_dot_min_k = 128;

/// One vector holding the sums of the 16 vectors v: lane L = the sum of
/// v[L]'s lanes. Each level adds pairs of half-reduced vectors; the tree
/// leaves the sums in lane order 0 2 1 3 8 10 9 11 4 6 5 7 12 14 13 15
/// (its own inverse), so it reads v in that order and returns them in order.
inline Vec sgemm_sum16(const Vec (&v)[16]) {
    constexpr int order[16] = {0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15};
    __m512 t[8], u[4], w[2];
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {  // quarters 0,1 of x_j + 2,3; then of x_{j+8}
        const __m512 a = v[order[j]].v, b = v[order[j + 8]].v;
        t[j] = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(0xffff, a, b, 0x44),
                             _mm512_maskz_shuffle_f32x4(0xffff, a, b, 0xEE));
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j)  // quarter q: x_j, x_{j+8}, x_{j+4}, x_{j+12}
        u[j] = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(0xffff, t[j], t[j + 4], 0x88),
                             _mm512_maskz_shuffle_f32x4(0xffff, t[j], t[j + 4], 0xDD));
#pragma GCC unroll 2
    for (int j = 0; j < 2; ++j)  // within quarters: two partials each of two sums
        w[j] = _mm512_add_ps(_mm512_maskz_shuffle_ps(0xffff, u[j], u[j + 2], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_maskz_shuffle_ps(0xffff, u[j], u[j + 2], _MM_SHUFFLE(3, 2, 3, 2)));
    return {_mm512_add_ps(_mm512_maskz_shuffle_ps(0xffff, w[0], w[1], _MM_SHUFFLE(2, 0, 2, 0)),
                          _mm512_maskz_shuffle_ps(0xffff, w[0], w[1], _MM_SHUFFLE(3, 1, 3, 1)))};
}

/// One R x G tile (R*G = 16) of C = alpha A B^T (+ beta C) (+ bias) (ReLU):
/// rows a + r*lda of A (the first `rows` stored, the others repeat the last),
/// rows b + g*ldb of B (the first `cols` stored, the others repeat the last).
/// bias16: the tile's bias in its lane order (lane r*G + g: bias[g]), or null.
template <int R, int G>
TYPENET_SGEMM_NOINLINE inline void sgemm_dot_tile(std::size_t k, const float* a, std::size_t lda, int rows,
                                                  const float* b, std::size_t ldb, int cols, float* c,
                                                  std::size_t ldc, float alpha, float beta, const float* bias16,
                                                  bool relu) {
    static_assert(R * G == 16);
    const float* ar[R];
    const float* br[G];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) ar[r] = a + std::size_t(r < rows ? r : rows - 1) * lda;
#pragma GCC unroll 16
    for (int g = 0; g < G; ++g) br[g] = b + std::size_t(g < cols ? g : cols - 1) * ldb;
    Vec acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = Vec::zero();
    const std::size_t whole = k / sgemm_w * sgemm_w;
    auto step = [&](std::size_t p, int n) {
        Vec av[R], bv[G];
        // Held in registers: folded into the FMAs, each would be loaded R (or G) times.
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) av[r] = n == sgemm_w ? Vec::load_held(ar[r] + p) : Vec::load_n(ar[r] + p, n);
#pragma GCC unroll 16
        for (int g = 0; g < G; ++g) bv[g] = n == sgemm_w ? Vec::load_held(br[g] + p) : Vec::load_n(br[g] + p, n);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
            for (int g = 0; g < G; ++g) acc[r * G + g] = Vec::fmadd(av[r], bv[g], acc[r * G + g]);
    };
    for (std::size_t p = 0; p < whole; p += sgemm_w) step(p, sgemm_w);
    if (whole < k) step(whole, int(k - whole));
    Vec s = Vec::mul(sgemm_sum16(acc), Vec::set1(alpha));
    // Lane r*G + g belongs to c[r*ldc + g]: row r's cols values move between
    // its lanes and lanes 0.. by expand and compress (in registers).
    const __mmask16 row_cols = Vec::mask(cols);
    if (beta != 0.0f) {
        __m512 old = _mm512_setzero_ps();
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r)
            if (r < rows)
                old = _mm512_mask_expand_ps(old, __mmask16(row_cols << (r * G)),
                                            _mm512_maskz_loadu_ps(row_cols, c + std::size_t(r) * ldc));
        s = beta == 1.0f ? Vec::add(s, Vec{old}) : Vec::fmadd(Vec::set1(beta), Vec{old}, s);
    }
    if (bias16) s = Vec::add(s, Vec::load(bias16));
    if (relu) s = Vec::max(Vec::zero(), s);  // x86 max returns its second operand for NaN: keeps NaN
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
        if (r < rows)
            _mm512_mask_storeu_ps(c + std::size_t(r) * ldc, row_cols,
                                  _mm512_maskz_compress_ps(__mmask16(row_cols << (r * G)), s.v));
}

/// All of C = alpha A B^T + beta C (+ bias) (ReLU) for n <= 16, k >= 1:
/// columns in groups of 8, 4 and 2 (a last single column runs as a pair
/// whose second column repeats it, unstored). Rows in blocks of 8, each
/// block meeting every group while its rows are in L1 (group by group, A
/// would be read from memory once per group).
inline void sgemm_dot_product(std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                              std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                              std::size_t ldc, const float* bias, bool relu) {
    struct Group {
        std::size_t j;
        int width, cols;
        alignas(64) float bias16[16];
    };
    Group group[4];  // n <= 16: at most 8 + 4 + 2 + 1
    int groups = 0;
    for (std::size_t j = 0; j < n; ++groups) {
        const std::size_t left = n - j;
        Group& g = group[groups];
        g.j = j;
        g.width = left >= 8 ? 8 : left >= 4 ? 4 : 2;
        g.cols = int(std::min<std::size_t>(std::size_t(g.width), left));
        if (bias)
            for (int L = 0; L < 16; ++L) g.bias16[L] = bias[j + std::size_t(std::min(L % g.width, g.cols - 1))];
        j += std::size_t(g.cols);
    }
    for (std::size_t i0 = 0; i0 < m; i0 += 8) {
        const std::size_t i1 = std::min(m, i0 + 8);
        for (int q = 0; q < groups; ++q) {
            const Group& g = group[q];
            const int R = 16 / g.width;
            const float* bj = b + g.j * ldb;
            const float* bs = bias ? g.bias16 : nullptr;
            for (std::size_t i = i0; i < i1; i += std::size_t(R)) {
                const int rows = int(std::min<std::size_t>(std::size_t(R), i1 - i));
                const float* ai = a + i * lda;
                float* ci = c + i * ldc + g.j;
                if (g.width == 8)
                    sgemm_dot_tile<2, 8>(k, ai, lda, rows, bj, ldb, g.cols, ci, ldc, alpha, beta, bs, relu);
                else if (g.width == 4)
                    sgemm_dot_tile<4, 4>(k, ai, lda, rows, bj, ldb, g.cols, ci, ldc, alpha, beta, bs, relu);
                else
                    sgemm_dot_tile<8, 2>(k, ai, lda, rows, bj, ldb, g.cols, ci, ldc, alpha, beta, bs, relu);
            }
        }
    }
}
#endif

/// The blocked product (m, n, k >= 1, alpha != 0): blocks of B (jc, pc),
/// blocks of A (ic), then NR x MR tiles, with B's panel reused from L1
/// across A's panels.
inline void sgemm_blocked(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
                          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                          std::size_t ldc, const float* bias, bool relu) {
    using namespace sgemm_detail;
    // A non-transposed B is read in place (only a partial last panel is
    // packed) when packing would not pay: few row tiles reuse each panel and
    // the panel's kc rows are few enough to stay in L1 and the TLB. Packed,
    // the loads are aligned and a page holds many rows. Measured here: in
    // place is 5-15% faster for k <= 70 with m <= 128, 5-15% slower for
    // k >= 128 or m >= 288. With at most 48 rows (6 tiles) a panel is
    // reused too little for its copy to pay at any k (70x30 weight gradient,
    // 30 x 70 x 500: 7% faster in place).
    const bool direct_b = !trans_b && ((k <= 80 && m <= 160) || m <= 48);
    // A transposed A is read in place too, a step of the k loop one row of
    // A (the kernel's broadcasts follow it); its copy cost a third of a
    // Dense layer's weight gradient (70x30: 16.5 -> 14.0 us, 784x512 on two
    // threads 344-367 -> 257-277 us). Not on the portable path (see below).
    const bool a_in_place = TYPENET_ISA >= 1;
    float* const packed_a = pack_buffer();
    float* const packed_b = packed_a + mc_max * kc_max;
    // Equal k blocks (k = 576 -> 3 x 192 rather than 256 + 256 + 64).
    const std::size_t k_blocks = (k + kc_max - 1) / kc_max;
    const std::size_t kc_step = (k + k_blocks - 1) / k_blocks;
    for (std::size_t jc = 0; jc < n; jc += nc_max) {
        const std::size_t nc = std::min(nc_max, n - jc);
        for (std::size_t pc = 0; pc < k; pc += kc_step) {
            const std::size_t kc = std::min(kc_step, k - pc);
            if (trans_b) {
                for (std::size_t jr = 0; jr < nc; jr += sgemm_nr) {
                    const int cols = int(std::min<std::size_t>(sgemm_nr, nc - jr));
                    sgemm_pack_transposed(b + (jc + jr) * ldb + pc, ldb, cols, kc, sgemm_nr, packed_b + jr * kc);
                }
            } else if (direct_b) {
                const std::size_t last = nc / sgemm_nr * sgemm_nr;  // only a partial panel is packed
                if (last < nc)
                    sgemm_pack_copy(b + pc * ldb + jc + last, ldb, nc - last, kc, sgemm_nr, packed_b + last * kc);
            } else {
                sgemm_pack_copy(b + pc * ldb + jc, ldb, nc, kc, sgemm_nr, packed_b);
            }
            const float* b_direct = direct_b ? b + pc * ldb + jc : nullptr;
            SgemmTileOp op{sgemm_block_mode(pc, beta), alpha, beta, nullptr, pc + kc == k && relu, sgemm_nr};
            const float* tile_bias = pc + kc == k && bias ? bias + jc : nullptr;
            for (std::size_t ic = 0; ic < m; ic += mc_max) {
                const std::size_t mc = std::min(mc_max, m - ic);
                float* cb = c + ic * ldc + jc;
                if (!trans_a) {
#if TYPENET_ISA >= 1
                    // A's rows are read in place by the broadcasts: no packing.
                    sgemm_block<true>(mc, nc, kc, a + ic * lda + pc, lda, sgemm_mr * lda, packed_b, b_direct, ldb, cb,
                                      ldc, tile_bias, op, packed_a);
                    continue;
#else
                    // Packed on the portable path: at -O3 GCC 12 vectorises the in-place
                    // kernel's k loop into in-order scalar reductions (4x slower).
                    for (std::size_t ir = 0; ir < mc; ir += sgemm_mr) {
                        const int rows = int(std::min<std::size_t>(sgemm_mr, mc - ir));
                        sgemm_pack_transposed(a + (ic + ir) * lda + pc, lda, rows, kc, sgemm_mr, packed_a + ir * kc);
                    }
#endif
                } else if (a_in_place) {
                    sgemm_block<false>(mc, nc, kc, a + pc * lda + ic, lda, sgemm_mr, packed_b, b_direct, ldb, cb, ldc,
                                       tile_bias, op, packed_a);
                    continue;
                } else {
                    sgemm_pack_copy(a + pc * lda + ic, lda, mc, kc, sgemm_mr, packed_a);
                }
                sgemm_block<false>(mc, nc, kc, packed_a, sgemm_mr, sgemm_mr * kc, packed_b, b_direct, ldb, cb, ldc,
                                   tile_bias, op, nullptr);
            }
        }
    }
}

#if TYPENET_ISA >= 1
/// C = alpha A B^T (A m x k and B n x k, both with rows along k: a Dense
/// forward y = x W^T) computed transposed, C^T = B A^T, when that is
/// cheaper. The direct product packs B^T (n columns, whole for every row
/// block and thread) and, for n not a multiple of the vector width, runs
/// lanes that hold nothing (70 outputs fill 70 of 80); transposed, the rows
/// of A go along the lanes and A is packed instead. Counted per k step:
/// vector FMAs (two a cycle) and packed floats (about six a cycle; the
/// transposed product also moves C^T back, m*n floats). A CNN's 576 -> 70
/// layer at 32 rows per thread packs 32 rows rather than 80 and fills its
/// lanes. n is at most sgemm_transposed_max_n, so C^T is small.
inline constexpr std::size_t sgemm_transposed_max_n = sgemm_detail::transposed_max_n;
inline constexpr std::size_t sgemm_transposed_rows = sgemm_detail::transposed_rows;

inline bool sgemm_prefer_transposed(std::size_t m, std::size_t n, std::size_t k) {
    if (n > sgemm_transposed_max_n) return false;
    const auto up = [](std::size_t x, std::size_t to) { return (x + to - 1) / to * to; };
    const std::size_t w = sgemm_w, mr = sgemm_mr;
    const double direct = double(up(m, mr) * (up(n, w) / w) * k) / 2 + double(up(n, w) * k) / 6;
    const double transposed = double(up(n, mr) * (up(m, w) / w) * k) / 2 + double(up(m, w) * k + m * n) / 6;
    return transposed < 0.95 * direct;  // a margin: the model is rough
}

/// Moves rows x cols of t (row stride ldt; whole 8 x 8 blocks readable) into
/// C transposed: C[i][j] = t[j][i] (+ beta C) (+ bias[j]) (ReLU), with the
/// micro-kernel's epilogue order (t holds alpha A B^T).
inline void sgemm_store_transposed(std::size_t rows, std::size_t cols, const float* t, std::size_t ldt, float beta,
                                   float* c, std::size_t ldc, const float* bias, bool relu) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 vbeta = _mm256_set1_ps(beta), zero = _mm256_setzero_ps();
    for (std::size_t j = 0; j < cols; j += 8) {
        const int nj = int(std::min<std::size_t>(8, cols - j));
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(nj), lane);
        const __m256 vbias = bias ? _mm256_maskload_ps(bias + j, mask) : zero;
        for (std::size_t i = 0; i < rows; i += 8) {
            __m256 r[8];
#pragma GCC unroll 8
            for (int q = 0; q < 8; ++q) r[q] = _mm256_loadu_ps(t + (j + std::size_t(q)) * ldt + i);
            sgemm_transpose8(r);
            const int ni = int(std::min<std::size_t>(8, rows - i));
#pragma GCC unroll 8
            for (int q = 0; q < 8; ++q) {
                if (q >= ni) break;
                float* cq = c + (i + std::size_t(q)) * ldc + j;
                __m256 v = r[q];
                if (beta != 0.0f) {
                    const __m256 old = nj == 8 ? _mm256_loadu_ps(cq) : _mm256_maskload_ps(cq, mask);
                    v = beta == 1.0f ? _mm256_add_ps(v, old) : _mm256_fmadd_ps(vbeta, old, v);
                }
                if (bias) v = _mm256_add_ps(v, vbias);
                if (relu) v = _mm256_max_ps(zero, v);  // returns its second operand for NaN: keeps NaN
                if (nj == 8)
                    _mm256_storeu_ps(cq, v);
                else
                    _mm256_maskstore_ps(cq, mask, v);
            }
        }
    }
}

/// C = alpha A B^T (+ beta C) (+ bias) (ReLU) as C^T = alpha B A^T in passes
/// of sgemm_transposed_rows rows of A, each moved into C by
/// sgemm_store_transposed.
inline void sgemm_transposed_product(std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                                     std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                                     std::size_t ldc, const float* bias, bool relu) {
    static_assert(sgemm_transposed_rows % 8 == 0 && sgemm_transposed_max_n % 8 == 0);
    float* const t = sgemm_detail::transposed_buffer();
    for (std::size_t i = 0; i < m; i += sgemm_transposed_rows) {
        const std::size_t rows = std::min(sgemm_transposed_rows, m - i);
        const std::size_t ldt = (rows + 7) / 8 * 8;  // whole 8 x 8 blocks, as the store reads them
        sgemm_blocked(false, true, n, rows, k, alpha, b, ldb, a + i * lda, lda, 0.0f, t, ldt, nullptr, false);
        sgemm_store_transposed(rows, n, t, ldt, beta, c + i * ldc, ldc, bias, relu);
    }
}
#endif

/// The serial product (see sgemm.hpp): a special route for a few shapes,
/// else the blocked product.
inline void sgemm_serial(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
                         const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                         std::size_t ldc, const float* bias, bool relu) {
    if (m == 0 || n == 0) return;
    if (k == 0 || alpha == 0.0f) {
        sgemm_scale_only(m, n, beta, c, ldc, bias, relu);
        return;
    }
#if TYPENET_ISA == 2
    if (m > std::size_t(sgemm_mr) && m <= std::size_t(sgemm_few_rows) && !trans_b) {
        sgemm_few_rows_product(trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, relu);
        return;
    }
    if (!trans_a && trans_b && n <= std::size_t(sgemm_w) && k >= sgemm_dot_min_k) {
        sgemm_dot_product(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, relu);
        return;
    }
#endif
#if TYPENET_ISA >= 1
    if (!trans_a && trans_b && sgemm_prefer_transposed(m, n, k)) {
        sgemm_transposed_product(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, relu);
        return;
    }
#endif
    sgemm_blocked(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, relu);
}
