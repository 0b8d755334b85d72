// typenet/backend/cpu/kernels/conv_direct_body.hpp - one path's direct
// convolution kernels. Included by foreach_isa.hpp inside the path's
// namespace (so no #include here); see conv_direct.hpp for the types.

// Tile shapes: accumulators + the vectors one step loads must fit the
// registers (32 zmm, 16 ymm, 16 xmm), and each step must load fewer values
// than it multiplies, so the FMA units set the pace.
#if TYPENET_ISA == 2
inline constexpr int conv_mr = 8, conv_nr = 3, conv_bwf_mr = 6, conv_bwf_nr = 4, conv_bww_mr = 6, conv_bww_nr = 4;
#elif TYPENET_ISA == 1
inline constexpr int conv_mr = 4, conv_nr = 3, conv_bwf_mr = 4, conv_bwf_nr = 3, conv_bww_mr = 4, conv_bww_nr = 3;
#else
inline constexpr int conv_mr = 4, conv_nr = 2, conv_bwf_mr = 4, conv_bwf_nr = 2, conv_bww_mr = 2, conv_bww_nr = 4;
#endif

// Forward + pooling: output channels per tile (a divisor of conv_mr, so the
// forward's packed weights serve), times four vectors.
#if TYPENET_ISA == 2
inline constexpr int conv_pool_mr = 4;
#else
inline constexpr int conv_pool_mr = 2;
#endif

inline ConvTile conv_tile() { return {Vec::width, conv_mr, conv_nr, conv_bwf_mr, conv_bwf_nr, conv_bww_mr}; }

// acc[m][j] = the shifted GEMM's sum over k of wp[k*conv_mr + m] * src[j][off[k]]:
// MR rows of a packed row block (wp at the tile's first row) times NR vectors.
template <int MR, int NR>
TYPENET_CONV_INLINE void conv_tile_products(const ConvGemm& a, const float* wp, const float* const* src,
                                             Vec (&acc)[MR][NR]) {
    TYPENET_CONV_UNROLL
    for (int m = 0; m < MR; ++m) {
        TYPENET_CONV_UNROLL
        for (int j = 0; j < NR; ++j) acc[m][j] = Vec::zero();
    }
    for (int k = 0; k < a.K; ++k, wp += conv_mr) {
        const int o = a.off[k];
        Vec xv[NR];
        TYPENET_CONV_UNROLL
        for (int j = 0; j < NR; ++j) xv[j] = Vec::load(src[j] + o);
        TYPENET_CONV_UNROLL
        for (int m = 0; m < MR; ++m) {
            const Vec wv = Vec::set1(wp[m]);
            TYPENET_CONV_UNROLL
            for (int j = 0; j < NR; ++j) acc[m][j] = Vec::fmadd(wv, xv[j], acc[m][j]);
        }
    }
}

// The forward's epilogue: + the row's bias b (when a has biases), then the
// ReLU (when asked; zero first, so a NaN stays NaN).
inline Vec conv_bias_relu(const ConvGemm& a, Vec v, Vec b) {
    if (a.bias) v = Vec::add(v, b);
    if (a.relu) v = Vec::max(Vec::zero(), v);
    return v;
}

// Rows [row0, row0 + conv_mr) of the shifted GEMM times columns col[0, ncols);
// a short tile repeats its last column (computed, not stored).
inline void conv_gemm_tile(const ConvGemm& a, std::size_t row0, const ConvColumn* col, int ncols) {
    const float* src[conv_nr];
    TYPENET_CONV_UNROLL
    for (int j = 0; j < conv_nr; ++j) src[j] = col[j < ncols ? j : ncols - 1].src;
    Vec acc[conv_mr][conv_nr];
    conv_tile_products(a, a.packed + row0 * std::size_t(a.K), src, acc);
    const std::size_t left = a.rows - row0;
    const int mr = left < std::size_t(conv_mr) ? int(left) : conv_mr;
    if (a.shift) {  // add into dx: row r is (ci, tap), shifted by the tap's offset
        TYPENET_CONV_UNROLL
        for (int m = 0; m < conv_mr; ++m) {
            if (m < mr) {
                const int base = a.base[row0 + std::size_t(m)], shift = a.shift[row0 + std::size_t(m)];
                TYPENET_CONV_UNROLL
                for (int j = 0; j < conv_nr; ++j) {
                    const int n = j < ncols ? col[j].count - shift : 0;
                    if (n > 0) {
                        float* d = col[j].dst + base + shift;
                        if (n >= Vec::width)
                            Vec::store(d, Vec::add(Vec::load(d), acc[m][j]));
                        else
                            Vec::store_n(d, Vec::add(Vec::load_n(d, n), acc[m][j]), n);
                    }
                }
            }
        }
        return;
    }
    typename Vec::Perm perm[conv_nr];
    TYPENET_CONV_UNROLL
    for (int j = 0; j < conv_nr; ++j) perm[j] = Vec::perm(col[j < ncols ? j : 0].idx);
    TYPENET_CONV_UNROLL
    for (int m = 0; m < conv_mr; ++m) {
        if (m < mr) {
            const Vec b = Vec::set1(a.bias ? a.bias[row0 + std::size_t(m)] : 0.0f);
            TYPENET_CONV_UNROLL
            for (int j = 0; j < conv_nr; ++j) {
                if (j < ncols) {
                    Vec v = conv_bias_relu(a, acc[m][j], b);
                    if (col[j].gather) v = Vec::permute(v, perm[j]);
                    Vec::store_n(col[j].dst + (row0 + std::size_t(m)) * a.dst_stride, v, col[j].count);
                }
            }
        }
    }
}

/// The shifted GEMM for columns col[0, count): every row block, conv_nr
/// columns at a time (the columns' inputs stay in L1 across row blocks).
inline void conv_gemm_columns(const ConvGemm& a, const ConvColumn* col, int count) {
    for (int c = 0; c < count; c += conv_nr) {
        const int nc = count - c < conv_nr ? count - c : conv_nr;
        for (std::size_t r = 0; r < a.rows; r += conv_mr) conv_gemm_tile(a, r, col + c, nc);
    }
}

// Pooled row oh's windows [o, o + k).
struct ConvPoolUnit {
    int oh, o, k;
};

// Rows [row0, row0 + conv_pool_mr) of ConvPoolImage's GEMM on four vectors:
// conv rows 2*oh and 2*oh + 1 of unit u[0], two vectors each (wide: 2k >
// width), or one each of u[0] and u[1] (u[0] again when units == 1).
inline void conv_pool_tile(const ConvPoolImage& c, const PoolLanes& L, std::size_t row0, const ConvPoolUnit* u,
                           int units, bool wide) {
    constexpr int V = Vec::width;
    const ConvGemm& a = *c.a;
    const float* s0 = c.x + (2 * u[0].oh * c.w + 2 * u[0].o);
    const float* s1 = c.x + (2 * u[units - 1].oh * c.w + 2 * u[units - 1].o);
    const float* src[4] = {s0, wide ? s0 + V : s0 + c.w, wide ? s0 + c.w : s1, wide ? s0 + c.w + V : s1 + c.w};
    Vec acc[conv_pool_mr][4];
    conv_tile_products(a, a.packed + row0 / conv_mr * conv_mr * std::size_t(a.K) + row0 % conv_mr, src, acc);
    // The pooling's operands as maxpool2x2_plane forms them.
    const Vec one = Vec::set1(1.0f), row = Vec::set1(static_cast<float>(c.out_w)), row1 = Vec::add(row, one);
    const Vec two_j = Vec::add(L.iota, L.iota);
    Vec at[2];
    TYPENET_CONV_UNROLL
    for (int i = 0; i < 2; ++i) {
        const ConvPoolUnit& ui = u[i < units ? i : 0];
        at[i] = Vec::add(Vec::set1(static_cast<float>(2 * ui.oh * c.out_w + 2 * ui.o)), two_j);
    }
    const std::size_t left = a.rows - row0, plane = std::size_t(c.pool_h) * std::size_t(c.pool_w);
    const int mr = left < std::size_t(conv_pool_mr) ? int(left) : conv_pool_mr;
    TYPENET_CONV_UNROLL
    for (int m = 0; m < conv_pool_mr; ++m) {
        if (m >= mr) continue;
        const std::size_t r = row0 + std::size_t(m);
        const Vec b = Vec::set1(a.bias ? a.bias[r] : 0.0f);
        Vec v[4];
        TYPENET_CONV_UNROLL
        for (int j = 0; j < 4; ++j) v[j] = conv_bias_relu(a, acc[m][j], b);
        TYPENET_CONV_UNROLL
        for (int i = 0; i < 2; ++i) {
            if (i >= units) continue;
            Vec a0, a1, b0, b1, mx, ix;
            if (wide) {
                Vec::deinterleave(v[0], v[1], a0, a1);
                Vec::deinterleave(v[2], v[3], b0, b1);
            } else {
                a0 = Vec::permute(v[2 * i], L.even), a1 = Vec::permute(v[2 * i], L.odd);
                b0 = Vec::permute(v[2 * i + 1], L.even), b1 = Vec::permute(v[2 * i + 1], L.odd);
            }
            pool2x2_pick(a0, a1, b0, b1, at[i], one, row, row1, mx, ix);
            const std::size_t to = r * plane + std::size_t(u[i].oh) * std::size_t(c.pool_w) + std::size_t(u[i].o);
            Vec::store_k(c.y + to, mx, u[i].k);
            Vec::store_i32_n(c.argmax + to, ix, u[i].k);
        }
    }
}

#if TYPENET_ISA == 2
// One input row of w <= 32 floats split by column for the split-column
// kernels: out[t][pw] = row[2pw + t] in the lanes, zero past them.
TYPENET_CONV_INLINE void conv_split_row(const float* row, int w, __mmask16 lanes, __m512 (&out)[4]) {
    const __mmask16 lo = Vec::mask(std::min(w, 16)), hi = Vec::mask(std::max(w - 16, 0));
    const __m512i twice = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512 a = _mm512_maskz_loadu_ps(lo, row), b = _mm512_maskz_loadu_ps(hi, row + 16);
    TYPENET_CONV_UNROLL
    for (int t = 0; t < 4; ++t)
        out[t] = _mm512_maskz_permutex2var_ps(lanes, a, _mm512_add_epi32(twice, _mm512_set1_epi32(t)), b);
}

// CH output channels from `co` of conv_pool_slots' pooled row: the four
// slots of each window as four accumulators over the 9 taps, in the taps'
// order (so the sums are conv_tile_products' bit for bit), then bias,
// ReLU and pool2x2_pick as conv_pool_tile does.
template <int CH>
TYPENET_CONV_INLINE void conv_pool_slots_channels(const ConvPoolImage& c, std::size_t co, int ph,
                                                  const __m512 (&cols)[4][4], __mmask16 lanes, Vec at) {
    const ConvGemm& a = *c.a;
    __m512 acc[CH][4];
    TYPENET_CONV_UNROLL
    for (int j = 0; j < CH; ++j) {
        TYPENET_CONV_UNROLL
        for (int s = 0; s < 4; ++s) acc[j][s] = _mm512_setzero_ps();
    }
    const float* wp[CH];
    TYPENET_CONV_UNROLL
    for (int j = 0; j < CH; ++j) {
        const std::size_t r = co + std::size_t(j);
        wp[j] = a.packed + r / conv_mr * conv_mr * std::size_t(a.K) + r % conv_mr;  // as conv_pool_tile reads them
    }
    TYPENET_CONV_UNROLL
    for (int k = 0; k < 9; ++k) {
        const int kr = k / 3, kc = k % 3;
        TYPENET_CONV_UNROLL
        for (int j = 0; j < CH; ++j) {
            const __m512 wv = _mm512_set1_ps(wp[j][k * conv_mr]);
            TYPENET_CONV_UNROLL
            for (int s = 0; s < 4; ++s) acc[j][s] = _mm512_fmadd_ps(wv, cols[kc + (s & 1)][kr + (s >> 1)], acc[j][s]);
        }
    }
    const Vec one = Vec::set1(1.0f), row = Vec::set1(float(c.out_w)), row1 = Vec::add(row, one);
    const std::size_t plane = std::size_t(c.pool_h) * std::size_t(c.pool_w);
    TYPENET_CONV_UNROLL
    for (int j = 0; j < CH; ++j) {
        const std::size_t r = co + std::size_t(j);
        const Vec b = Vec::set1(a.bias ? a.bias[r] : 0.0f);
        Vec v[4];
        TYPENET_CONV_UNROLL
        for (int s = 0; s < 4; ++s) v[s] = conv_bias_relu(a, Vec{acc[j][s]}, b);
        Vec m, i;
        pool2x2_pick(v[0], v[1], v[2], v[3], at, one, row, row1, m, i);
        const std::size_t to = r * plane + std::size_t(ph) * std::size_t(c.pool_w);
        _mm512_mask_storeu_ps(c.y + to, lanes, m.v);
        _mm512_mask_storeu_epi32(c.argmax + to, lanes, _mm512_cvttps_epi32(i.v));
    }
}

// conv_pool_image for a 3x3 kernel on one channel, w <= 32 (conv1): a pooled
// row's windows in the lanes. With the input rows under it split as
// cols[t][r] = x[2ph + r][2pw + t] (t = 0..3, 16 permutes per pooled row,
// shared by every channel), window slot (dr, dc)'s tap (kr, kc) is
// cols[dc + kc][dr + kr]: 36 FMAs per channel and pooled row on 13 of 16
// lanes, and the four slots come out as the pooling's four operands,
// where the wide tile deinterleaves its rows first.
inline void conv_pool_slots(const ConvPoolImage& c) {
    const int w = c.w, PW = c.pool_w;
    const __mmask16 lanes = Vec::mask(PW);
    const Vec two_j{_mm512_setr_ps(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)};
    for (int ph = 0; ph < c.pool_h; ++ph) {
        __m512 cols[4][4];
        TYPENET_CONV_UNROLL
        for (int r = 0; r < 4; ++r) {
            __m512 split[4];
            conv_split_row(c.x + (2 * ph + r) * w, w, lanes, split);
            TYPENET_CONV_UNROLL
            for (int t = 0; t < 4; ++t) cols[t][r] = split[t];
        }
        const Vec at = Vec::add(Vec::set1(float(2 * ph * c.out_w)), two_j);
        std::size_t co = 0;
        for (; co + 2 <= c.a->rows; co += 2) conv_pool_slots_channels<2>(c, co, ph, cols, lanes, at);
        if (co < c.a->rows) conv_pool_slots_channels<1>(c, co, ph, cols, lanes, at);
    }
}
#endif

/// Every output channel and pooled row of one image (see ConvPoolImage):
/// row blocks outer, so a block's weights and the image stay in L1.
inline void conv_pool_image(const ConvPoolImage& c) {
#if TYPENET_ISA == 2
    if (c.slots) return conv_pool_slots(c);
#endif
    constexpr int V = Vec::width;
    const PoolLanes L;
    for (std::size_t r = 0; r < c.a->rows; r += conv_pool_mr) {
        ConvPoolUnit u[2];
        int held = 0;  // narrow units wait for a second one to share their tile
        for (int oh = 0; oh < c.pool_h; ++oh)
            for (int o = 0; o < c.pool_w; o += V) {
                const ConvPoolUnit next{oh, o, c.pool_w - o < V ? c.pool_w - o : V};
                if (2 * next.k > V) {
                    conv_pool_tile(c, L, r, &next, 1, true);
                } else {
                    u[held++] = next;
                    if (held == 2) conv_pool_tile(c, L, r, u, 2, false), held = 0;
                }
            }
        if (held) conv_pool_tile(c, L, r, u, 1, false);
    }
}

/// 2x2 stride-2 max pooling of a batched block's output (images in lanes):
/// yt holds `rows` planes of P positions (out_w per conv row), one vector of
/// images per position; pv and pi get each window's maximum and its index in
/// the conv plane, (rows, pool_h, pool_w) vectors, as maxpool2x2_plane picks them.
inline void conv_pool_lanes(const float* yt, std::size_t rows, std::size_t P, int out_w, int pool_h, int pool_w,
                            float* pv, float* pi) {
    constexpr std::size_t V = Vec::width;
    const Vec one = Vec::set1(1.0f), row = Vec::set1(static_cast<float>(out_w)), row1 = Vec::add(row, one);
    const std::size_t down = std::size_t(out_w) * V;
    for (std::size_t r = 0; r < rows; ++r)
        for (int ph = 0; ph < pool_h; ++ph)
            for (int pw = 0; pw < pool_w; ++pw, pv += V, pi += V) {
                const int q = 2 * ph * out_w + 2 * pw;
                const float* s = yt + (r * P + std::size_t(q)) * V;
                Vec m, i;
                pool2x2_pick(Vec::load(s), Vec::load(s + V), Vec::load(s + down), Vec::load(s + down + V),
                             Vec::set1(static_cast<float>(q)), one, row, row1, m, i);
                Vec::store(pv, m);
                Vec::store(pi, i);
            }
}

/// dst[i] = int(src[i]) for i < n (whole numbers below 2^24, as pooling's indices).
inline void conv_floats_to_int(const float* src, std::size_t n, std::int32_t* dst) {
    std::size_t i = 0;
    for (; i + Vec::width <= n; i += Vec::width) Vec::store_i32_n(dst + i, Vec::load(src + i), Vec::width);
    if (i < n) Vec::store_i32_n(dst + i, Vec::load_n(src + i, int(n - i)), int(n - i));
}

/// Backward-filter of one image (see ConvBwf): conv_bwf_mr taps x
/// conv_bwf_nr vectors of output channels per tile, one broadcast x value
/// and conv_bwf_nr aligned dy loads per position.
inline void conv_bwf(const ConvBwf& b) {
    const std::size_t ld = std::size_t(b.co_vectors) * Vec::width;
    for (int k0 = 0; k0 < b.K; k0 += conv_bwf_mr) {
        const int mr = b.K - k0 < conv_bwf_mr ? b.K - k0 : conv_bwf_mr;
        const float* xs[conv_bwf_mr];
        TYPENET_CONV_UNROLL
        for (int m = 0; m < conv_bwf_mr; ++m) xs[m] = b.x + b.off[k0 + (m < mr ? m : mr - 1)];
        for (int c0 = 0; c0 < b.co_vectors; c0 += conv_bwf_nr) {
            const int nr = b.co_vectors - c0 < conv_bwf_nr ? b.co_vectors - c0 : conv_bwf_nr;
            std::size_t col[conv_bwf_nr];
            TYPENET_CONV_UNROLL
            for (int j = 0; j < conv_bwf_nr; ++j) col[j] = std::size_t(c0 + (j < nr ? j : nr - 1)) * Vec::width;
            Vec acc[conv_bwf_mr][conv_bwf_nr];
            TYPENET_CONV_UNROLL
            for (int m = 0; m < conv_bwf_mr; ++m) {
                TYPENET_CONV_UNROLL
                for (int j = 0; j < conv_bwf_nr; ++j) acc[m][j] = Vec::zero();
            }
            const float* e = b.dyt;
            for (int p = 0; p < b.P; ++p, e += ld) {
                const int q = b.xpos[p];
                Vec ev[conv_bwf_nr];
                TYPENET_CONV_UNROLL
                for (int j = 0; j < conv_bwf_nr; ++j) ev[j] = Vec::load(e + col[j]);
                TYPENET_CONV_UNROLL
                for (int m = 0; m < conv_bwf_mr; ++m) {
                    const Vec xv = Vec::set1(xs[m][q]);
                    TYPENET_CONV_UNROLL
                    for (int j = 0; j < conv_bwf_nr; ++j) acc[m][j] = Vec::fmadd(xv, ev[j], acc[m][j]);
                }
            }
            TYPENET_CONV_UNROLL
            for (int m = 0; m < conv_bwf_mr; ++m) {
                TYPENET_CONV_UNROLL
                for (int j = 0; j < conv_bwf_nr; ++j)
                    if (m < mr && j < nr) {
                        float* out = b.dwt + std::size_t(k0 + m) * ld + col[j];
                        Vec::store(out, b.accumulate ? Vec::add(Vec::load(out), acc[m][j]) : acc[m][j]);
                    }
            }
        }
    }
}

// Backward-filter, few taps: MR rows x NR taps of vector accumulators,
// summed over every image and position of the block before one horizontal
// sum each; with Sums (one tile of taps covers all K), one more accumulator
// per row sums dy itself (db) while its vectors are loaded anyway.
template <int MR, int NR, bool Sums>
void conv_bwf_wide_tiles(const ConvBwfWide& b) {
    const int K = b.K;
    constexpr int SR = Sums ? MR : 1;
    for (std::size_t r0 = 0; r0 < b.rows; r0 += MR) {
        const int mr = b.rows - r0 < std::size_t(MR) ? int(b.rows - r0) : MR;
        std::size_t erow[MR];
        TYPENET_CONV_UNROLL
        for (int m = 0; m < MR; ++m) erow[m] = (r0 + std::size_t(m < mr ? m : mr - 1)) * b.plane;
        for (int k0 = 0; k0 < K; k0 += NR) {
            const int nr = K - k0 < NR ? K - k0 : NR;
            int o[NR];
            TYPENET_CONV_UNROLL
            for (int j = 0; j < NR; ++j) o[j] = b.off[k0 + (j < nr ? j : nr - 1)];
            Vec acc[MR][NR], sum[SR];
            TYPENET_CONV_UNROLL
            for (int m = 0; m < MR; ++m) {
                TYPENET_CONV_UNROLL
                for (int j = 0; j < NR; ++j) acc[m][j] = Vec::zero();
            }
            TYPENET_CONV_UNROLL
            for (int m = 0; m < SR; ++m) sum[m] = Vec::zero();
            for (int i = 0; i < b.images; ++i) {
                const float* xs[NR];
                const float* es[MR];
                TYPENET_CONV_UNROLL
                for (int j = 0; j < NR; ++j) xs[j] = b.x[i] + o[j];
                TYPENET_CONV_UNROLL
                for (int m = 0; m < MR; ++m) es[m] = b.dy + std::size_t(i) * b.dy_image_stride + erow[m];
                for (int s = 0; s < b.steps; ++s) {
                    const std::size_t p = std::size_t(s) * Vec::width;
                    Vec xv[NR];  // each x vector loaded once (unaligned: often two cache lines)
                    TYPENET_CONV_UNROLL
                    for (int j = 0; j < NR; ++j) xv[j] = Vec::load_held(xs[j] + p);
                    TYPENET_CONV_UNROLL
                    for (int m = 0; m < MR; ++m) {
                        const Vec d = Vec::load(es[m] + p);
                        if constexpr (Sums) sum[m] = Vec::add(sum[m], d);
                        TYPENET_CONV_UNROLL
                        for (int j = 0; j < NR; ++j) acc[m][j] = Vec::fmadd(d, xv[j], acc[m][j]);
                    }
                }
            }
            TYPENET_CONV_UNROLL
            for (int m = 0; m < MR; ++m) {
                if (m >= mr) continue;
                const std::size_t r = r0 + std::size_t(m);
                TYPENET_CONV_UNROLL
                for (int j = 0; j < NR; ++j)
                    if (j < nr) {
                        float& out = b.dw[r * std::size_t(K) + std::size_t(k0 + j)];
                        out = b.accumulate ? out + Vec::sum(acc[m][j]) : Vec::sum(acc[m][j]);
                    }
                if constexpr (Sums) b.db[r] = b.accumulate ? b.db[r] + Vec::sum(sum[m]) : Vec::sum(sum[m]);
            }
        }
    }
}

/// Backward-filter, few taps (see ConvBwfWide). A first layer's 7-9 taps
/// (AVX-512) take one tile of 9 taps by 2 rows: a tile of 4 taps would
/// compute 12 tap slots for conv1's 9, and db comes from the same loads.
/// Any tile sums each value in the same order, so the results are the same.
inline void conv_bwf_wide(const ConvBwfWide& b) {
#if TYPENET_ISA == 2
    if (b.K > 6 && b.K <= 9) return conv_bwf_wide_tiles<2, 9, true>(b);
#endif
    conv_bwf_wide_tiles<conv_bww_mr, conv_bww_nr, false>(b);
    for (std::size_t r = 0; r < b.rows; ++r) {  // db: the wide rows' junk columns are zero
        Vec s = Vec::zero();
        const float* e = b.dy + r * b.plane;
        for (int i = 0; i < b.images; ++i, e += b.dy_image_stride)
            for (int k = 0; k < b.steps; ++k) s = Vec::add(s, Vec::load(e + std::size_t(k) * Vec::width));
        b.db[r] = b.accumulate ? b.db[r] + Vec::sum(s) : Vec::sum(s);
    }
}

#if TYPENET_ISA == 2
// out[j*os + i] = in[i*is + j] for a 16x16 block, in registers: pairs of
// rows interleaved, then 4x4 blocks within 128-bit lanes, then the lanes.
// (Zero-masking forms: the plain ones draw GCC 12's -Wmaybe-uninitialized.)
// Row i is read from row(i); row j of the result goes to store(j, vector).
template <class Row, class Store>
inline void conv_transpose16_rows(const Row& row, const Store& store) {
    __m512 a[16], c[16];
    for (int i = 0; i < 16; ++i) a[i] = _mm512_loadu_ps(row(i));
    for (int g = 0; g < 4; ++g) {
        const __m512 b0 = _mm512_maskz_unpacklo_ps(0xffff, a[4 * g], a[4 * g + 1]);
        const __m512 b1 = _mm512_maskz_unpackhi_ps(0xffff, a[4 * g], a[4 * g + 1]);
        const __m512 b2 = _mm512_maskz_unpacklo_ps(0xffff, a[4 * g + 2], a[4 * g + 3]);
        const __m512 b3 = _mm512_maskz_unpackhi_ps(0xffff, a[4 * g + 2], a[4 * g + 3]);
        c[4 * g + 0] = _mm512_maskz_shuffle_ps(0xffff, b0, b2, 0x44);  // lane k: column 4k, rows 4g..4g+3
        c[4 * g + 1] = _mm512_maskz_shuffle_ps(0xffff, b0, b2, 0xee);  // column 4k+1
        c[4 * g + 2] = _mm512_maskz_shuffle_ps(0xffff, b1, b3, 0x44);
        c[4 * g + 3] = _mm512_maskz_shuffle_ps(0xffff, b1, b3, 0xee);
    }
    for (int t = 0; t < 4; ++t) {
        const __m512 d0 = _mm512_maskz_shuffle_f32x4(0xffff, c[t], c[4 + t], 0x88);
        const __m512 d1 = _mm512_maskz_shuffle_f32x4(0xffff, c[t], c[4 + t], 0xdd);
        const __m512 d2 = _mm512_maskz_shuffle_f32x4(0xffff, c[8 + t], c[12 + t], 0x88);
        const __m512 d3 = _mm512_maskz_shuffle_f32x4(0xffff, c[8 + t], c[12 + t], 0xdd);
        store(t, _mm512_maskz_shuffle_f32x4(0xffff, d0, d2, 0x88));
        store(4 + t, _mm512_maskz_shuffle_f32x4(0xffff, d1, d3, 0x88));
        store(8 + t, _mm512_maskz_shuffle_f32x4(0xffff, d0, d2, 0xdd));
        store(12 + t, _mm512_maskz_shuffle_f32x4(0xffff, d1, d3, 0xdd));
    }
}
inline void conv_transpose16(const float* in, std::size_t is, float* out, std::size_t os) {
    conv_transpose16_rows([&](int i) { return in + std::size_t(i) * is; },
                          [&](int j, __m512 v) { _mm512_storeu_ps(out + std::size_t(j) * os, v); });
}
#endif

/// dst[c*dst_stride + r] = src[r*src_stride + c] for r < rows, c < cols.
inline void conv_transpose(const float* src, std::size_t src_stride, std::size_t rows, std::size_t cols, float* dst,
                           std::size_t dst_stride) {
    std::size_t r = 0;
#if TYPENET_ISA == 2
    for (; r + 16 <= rows; r += 16) {
        std::size_t c = 0;
        for (; c + 16 <= cols; c += 16)
            conv_transpose16(src + r * src_stride + c, src_stride, dst + c * dst_stride + r, dst_stride);
        for (; c < cols; ++c)
            for (std::size_t i = 0; i < 16; ++i) dst[c * dst_stride + r + i] = src[(r + i) * src_stride + c];
    }
#endif
    for (; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) dst[c * dst_stride + r] = src[r * src_stride + c];
}

/// sums[v] (+)= the sum over P rows of dyt's (P, ld) vectors: db.
inline void conv_column_sums(const float* dyt, std::size_t P, std::size_t ld, float* sums, bool accumulate) {
    for (std::size_t c = 0; c < ld; c += Vec::width) {
        Vec s = Vec::zero();
        for (std::size_t p = 0; p < P; ++p) s = Vec::add(s, Vec::load(dyt + p * ld + c));
        Vec::store(sums + c, accumulate ? Vec::add(Vec::load(sums + c), s) : s);
    }
}

/// sum[e] += part[e] for e < count: a backward-filter's chunk partials,
/// added in chunk order by the caller (each element's sum is the scalar
/// loop's, bit for bit). A kernel so that it is vectorised whatever the
/// includer's optimisation level (at -O2 GCC 12 left the loop scalar).
inline void conv_accumulate(float* sum, const float* part, std::size_t count) {
    std::size_t e = 0;
    for (; e + Vec::width <= count; e += Vec::width)
        Vec::store(sum + e, Vec::add(Vec::load(sum + e), Vec::load(part + e)));
    if (e < count) {
        const int k = int(count - e);
        Vec::store_n(sum + e, Vec::add(Vec::load_n(sum + e, k), Vec::load_n(part + e, k)), k);
    }
}

/// Copies `planes` planes of rows x width floats (packed, as NCHW stores
/// them) into rows of `stride` floats, planes `plane` floats apart: dy into
/// the wide layouts. Rows are a few floats, too short for memcpy calls.
inline void conv_widen(const float* src, std::size_t planes, std::size_t rows, int width, float* dst,
                       std::size_t stride, std::size_t plane) {
    for (std::size_t c = 0; c < planes; ++c, dst += plane)
        for (std::size_t r = 0; r < rows; ++r, src += width) {
            float* d = dst + r * stride;
            int i = 0;
            for (; i + Vec::width <= width; i += Vec::width) Vec::store(d + i, Vec::load(src + i));
            if (i < width) Vec::store_n(d + i, Vec::load_n(src + i, width - i), width - i);
        }
}

/// Fills one image's patch rows (see ConvPatches): on AVX-512 with 16-float
/// rows, 16 output positions of a row at a time by a transpose of the K
/// shifted runs (a row's last block spills into the next row's, written later).
inline void conv_patches(const ConvPatches& c) {
    const std::size_t kpad = std::size_t(c.kpad);
#if TYPENET_ISA == 2
    if (kpad == 16) {
        alignas(64) static constexpr float zeros[16] = {};
        for (int oh = 0; oh < c.out_h; ++oh)
            for (int ow = 0; ow < c.out_w; ow += 16) {
                const float* base = c.x + std::size_t(oh) * std::size_t(c.w) + std::size_t(ow);
                float* out = c.patches + (std::size_t(oh) * std::size_t(c.out_w) + std::size_t(ow)) * kpad;
                conv_transpose16_rows([&](int k) { return k < c.K ? base + c.off[k] : zeros; },
                                      [&](int i, __m512 v) { _mm512_storeu_ps(out + std::size_t(i) * kpad, v); });
            }
        return;
    }
#endif
    for (int oh = 0; oh < c.out_h; ++oh)
        for (int ow = 0; ow < c.out_w; ++ow) {
            const float* src = c.x + std::size_t(oh) * std::size_t(c.w) + std::size_t(ow);
            float* d = c.patches + (std::size_t(oh) * std::size_t(c.out_w) + std::size_t(ow)) * kpad;
            for (int k = 0; k < c.K; ++k) d[k] = src[c.off[k]];
            for (std::size_t k = std::size_t(c.K); k < kpad; ++k) d[k] = 0.0f;
        }
}

// Rows r0.. (count of them): b.g and b.at from index 0 get the gradients
// that pass the ReLU and their patch rows' offsets; db of those rows.
inline void conv_bwf_pooled_prepare(const ConvBwfPooled& b, std::size_t r0, std::size_t count) {
    constexpr int W = Vec::width;
    const Vec zero = Vec::zero(), last = Vec::set1(float(b.positions - 1)), row = Vec::set1(float(b.kpad));
    // Locals: b's fields reloaded after every store through g or at cost a third of the time.
    const int PP = b.PP;
    const std::size_t from = r0 * std::size_t(PP);
    const float *dy = b.dy + from, *y = b.y + from;
    const std::int32_t* argmax = b.argmax + from;
    float* gs = b.g;
    std::int32_t* at = b.at;
    for (std::size_t r = r0; r < r0 + count; ++r) {
        Vec s = zero;
        int p = 0;
        const auto step = [&](int k) {
            const Vec gv = Vec::select_gt(Vec::load_k(y + p, k), zero, Vec::load_k(dy + p, k), zero);
            Vec::store_k(gs + p, gv, k);
            s = Vec::add(s, gv);
            // argmax as float is exact (below 2^24); clamped, so no index reads outside the patches
            Vec a = Vec::max(Vec::load_i32_n(argmax + p, k), zero);
            a = Vec::select_gt(a, last, last, a);
            Vec::store_i32_n(at + p, Vec::mul(a, row), k);
        };
        for (; p + W <= PP; p += W) step(W);
        if (p < PP) step(PP - p);
        b.db[r] = b.accumulate ? b.db[r] + Vec::sum(s) : Vec::sum(s);
        dy += PP, y += PP, argmax += PP, gs += PP, at += PP;
    }
}

// Rows r0 + j of dw, CH of them, from scratch rows s0 + j of b.g and b.at;
// each sums even and odd positions apart when a patch is one vector (U =
// 2): CH * U independent FMA chains hide the latency, and 2*CH row pointers
// still fit the general registers (8 rows spilled them: 2x slower).
template <int NV, int CH>
void conv_bwf_pooled_rows(const ConvBwfPooled& b, std::size_t r0, std::size_t s0) {
    constexpr int W = Vec::width, U = NV == 1 ? 2 : 1;
    Vec acc[CH][U][NV];
    const float* g[CH];
    const std::int32_t* at[CH];
    const float* patches = b.patches;
    const int PP = b.PP;
    TYPENET_CONV_UNROLL
    for (int j = 0; j < CH; ++j) {
        const std::size_t r = r0 + std::size_t(j);
        g[j] = b.g + (s0 + std::size_t(j)) * std::size_t(PP);
        at[j] = b.at + (s0 + std::size_t(j)) * std::size_t(PP);
        TYPENET_CONV_UNROLL
        for (int v = 0; v < NV; ++v) {
            const int n = b.K - v * W < W ? b.K - v * W : W;
            acc[j][0][v] = b.accumulate && n > 0
                               ? Vec::load_n(b.dw + r * std::size_t(b.K) + std::size_t(v * W), n)
                               : Vec::zero();
            TYPENET_CONV_UNROLL
            for (int u = 1; u < U; ++u) acc[j][u][v] = Vec::zero();
        }
    }
    const auto step = [&](int q, int u) {
        TYPENET_CONV_UNROLL
        for (int j = 0; j < CH; ++j) {
            const Vec gj = Vec::set1(g[j][q]);
            const float* src = patches + at[j][q];
            TYPENET_CONV_UNROLL
            for (int v = 0; v < NV; ++v) acc[j][u][v] = Vec::fmadd(gj, Vec::load(src + v * W), acc[j][u][v]);
        }
    };
    int p = 0;
    for (; p + U <= PP; p += U) {
        TYPENET_CONV_UNROLL
        for (int u = 0; u < U; ++u) step(p + u, u);
    }
    if (p < PP) step(p, 0);
    TYPENET_CONV_UNROLL
    for (int j = 0; j < CH; ++j) {
        TYPENET_CONV_UNROLL
        for (int v = 0; v < NV; ++v) {
            TYPENET_CONV_UNROLL
            for (int u = 1; u < U; ++u) acc[j][0][v] = Vec::add(acc[j][0][v], acc[j][u][v]);
            const int n = b.K - v * W < W ? b.K - v * W : W;
            if (n > 0)
                Vec::store_n(b.dw + (r0 + std::size_t(j)) * std::size_t(b.K) + std::size_t(v * W), acc[j][0][v], n);
        }
    }
}

// Rows in runs of conv_bwf_pooled_run, each prepared then summed while its
// gradients and offsets are in L1 beside the patches.
template <int NV>
void conv_bwf_pooled_all(const ConvBwfPooled& b) {
    constexpr int CH = conv_bwf_pooled_run;
    for (std::size_t r = 0; r < b.rows; r += CH) {
        const std::size_t n = b.rows - r < std::size_t(CH) ? b.rows - r : std::size_t(CH);
        conv_bwf_pooled_prepare(b, r, n);
        if (n == std::size_t(CH))
            conv_bwf_pooled_rows<NV, CH>(b, r, 0);
        else
            for (std::size_t i = 0; i < n; ++i) conv_bwf_pooled_rows<NV, 1>(b, r + i, i);
    }
}

/// Backward-filter through a 2x2 max pooling (see ConvBwfPooled).
inline void conv_bwf_pooled(const ConvBwfPooled& b) {
    switch (b.kpad / Vec::width) {
        case 1: return conv_bwf_pooled_all<1>(b);
        case 2: return conv_bwf_pooled_all<2>(b);
        case 3: return conv_bwf_pooled_all<3>(b);
        default: return conv_bwf_pooled_all<4>(b);
    }
}

// dw[0:NB vectors] += sum over q of g[q] * src[at[q] + 0:NB vectors].
template <int NB>
void conv_sparse_dw(const float* src, const float* g, const std::int32_t* at, int count, float* dw) {
    constexpr int W = Vec::width;
    Vec acc[NB];
    TYPENET_CONV_UNROLL
    for (int v = 0; v < NB; ++v) acc[v] = Vec::load(dw + v * W);
    for (int q = 0; q < count; ++q) {
        const Vec gq = Vec::set1(g[q]);
        const float* s = src + at[q];
        TYPENET_CONV_UNROLL
        for (int v = 0; v < NB; ++v) acc[v] = Vec::fmadd(gq, Vec::load(s + v * W), acc[v]);
    }
    TYPENET_CONV_UNROLL
    for (int v = 0; v < NB; ++v) Vec::store(dw + v * W, acc[v]);
}

// dst[at[q] + 0:NB vectors] += g[q] * w[0:NB vectors] for each q in order.
template <int NB>
void conv_sparse_dx(const float* w, const float* g, const std::int32_t* at, int count, float* dst) {
    constexpr int W = Vec::width;
    Vec wv[NB];
    TYPENET_CONV_UNROLL
    for (int v = 0; v < NB; ++v) wv[v] = Vec::load_held(w + v * W);
    for (int q = 0; q < count; ++q) {
        const Vec gq = Vec::set1(g[q]);
        float* d = dst + at[q];
        TYPENET_CONV_UNROLL
        for (int v = 0; v < NB; ++v) Vec::store(d + v * W, Vec::fmadd(gq, wv[v], Vec::load(d + v * W)));
    }
}

// conv_pool_sparse's pass over the output channels: db, dw, and dx unless
// Windows (then conv_pool_sparse_windows_dx's).
template <bool Windows>
void conv_pool_sparse_channels(const ConvPoolSparse& s) {
    constexpr int W = Vec::width, NBMAX = TYPENET_ISA == 2 ? 8 : 4;  // accumulators per block
    const int PP = s.PP, last = s.positions - 1;
    for (std::size_t co = 0; co < s.c_out; ++co) {
        const float *dy = s.dy + co * std::size_t(PP), *y = s.y + co * std::size_t(PP);
        const std::int32_t* argmax = s.argmax + co * std::size_t(PP);
        // The gradients that are not 0 (NaN kept), branch-free: even pooled
        // columns, then odd, so that consecutive runs of dx do not overlap
        // (3-wide windows of neighbours do), each add waiting on none.
        float sum = 0.0f;
        int count = 0;
        for (int parity = 0; parity < 2; ++parity)
            for (int p = parity; p < PP; p += 2) {
                const float gv = std::bit_cast<float>(std::bit_cast<std::uint32_t>(dy[p]) &
                                                      (y[p] > 0.0f ? ~std::uint32_t{0} : std::uint32_t{0}));
                sum += gv;
                const int a = argmax[p] < 0 ? 0 : argmax[p] > last ? last : argmax[p];
                s.g[count] = gv;
                s.at[count] = s.base[a];
                count += gv != 0.0f;
            }
        s.db[co] += sum;
        if (count == 0) continue;
        for (int r = 0; r < s.kh; ++r) {
            const std::size_t off = std::size_t(r) * std::size_t(s.row);
            float* dw = s.dwt + (co * std::size_t(s.kh) + std::size_t(r)) * std::size_t(s.L);
            [[maybe_unused]] const float* w = s.wt + (co * std::size_t(s.kh) + std::size_t(r)) * std::size_t(s.L);
            for (int v = 0; v < s.L; v += NBMAX * W) {
                const int nb = (s.L - v) / W < NBMAX ? (s.L - v) / W : NBMAX;
                const float* xs = s.xt + off + std::size_t(v);
                [[maybe_unused]] float* dxs = s.dxt + off + std::size_t(v);
                switch (nb) {
#define TYPENET_SPARSE_CASE(N)                                                   \
    case N:                                                                      \
        conv_sparse_dw<N>(xs, s.g, s.at, count, dw + v);                         \
        if constexpr (!Windows) conv_sparse_dx<N>(w + v, s.g, s.at, count, dxs); \
        break;
                    TYPENET_SPARSE_CASE(1)
                    TYPENET_SPARSE_CASE(2)
                    TYPENET_SPARSE_CASE(3)
                    TYPENET_SPARSE_CASE(4)
#if TYPENET_ISA == 2
                    TYPENET_SPARSE_CASE(5)
                    TYPENET_SPARSE_CASE(6)
                    TYPENET_SPARSE_CASE(7)
                    TYPENET_SPARSE_CASE(8)
#endif
#undef TYPENET_SPARSE_CASE
                    default: break;
                }
            }
        }
    }
}

#if TYPENET_ISA == 2
/// One image of ConvBwfSlots (see there).
inline void conv_bwf_slots(const ConvBwfSlots& b) {
    const int PW = b.PW, PP = b.PH * b.PW, w = b.w, h = b.h, out_w = b.out_w, last = b.positions - 1;
    const __mmask16 lanes = Vec::mask(PW);
    const __m512i twice = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    // Windows read rows up to 2*PH + 1 and columns up to 2*PW + 1 < w.
    for (int r = 0; r < 2 * b.PH + 2; ++r) {
        __m512 split[4];
        conv_split_row(b.x + r * w, w, lanes, split);
        for (int t = 0; t < 4; ++t) _mm512_store_ps(b.cols + (t * h + r) * 16, split[t]);
    }
    const __m512 zero = _mm512_setzero_ps();
    const __m512i s00 = _mm512_setzero_si512(), s01 = _mm512_set1_epi32(1), s10 = _mm512_set1_epi32(out_w),
                  s11 = _mm512_set1_epi32(out_w + 1);
    for (std::size_t co = 0; co < b.rows; ++co) {
        const std::size_t from = co * std::size_t(PP);
        const bool ahead = co + 2 < b.rows;  // addresses inside the planes only
        float* acc_co = b.acc + co * 144;
        __m512 acc[9];
        TYPENET_CONV_UNROLL
        for (int k = 0; k < 9; ++k) acc[k] = _mm512_load_ps(acc_co + k * 16);
        __m512 sum = zero;
        for (int ph = 0; ph < b.PH; ++ph) {
            const std::size_t q = from + std::size_t(ph * PW);
            // Two channels ahead: the hardware's prefetch left these loads a
            // third of the time (batch 256: 1.6-1.8 -> 1.1 ms on one thread).
            if (ahead) {
                _mm_prefetch(reinterpret_cast<const char*>(b.dy + q + 2 * std::size_t(PP)), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(b.y + q + 2 * std::size_t(PP)), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(b.argmax + q + 2 * std::size_t(PP)), _MM_HINT_T0);
            }
            const __m512 dv = _mm512_maskz_loadu_ps(lanes, b.dy + q);
            const __mmask16 pos =
                _mm512_mask_cmp_ps_mask(lanes, _mm512_maskz_loadu_ps(lanes, b.y + q), zero, _CMP_GT_OQ);
            const __m512 gv = _mm512_maskz_mov_ps(pos, dv);
            sum = _mm512_add_ps(sum, gv);
            // the argmax's offset from its window's first position: 0, 1, out_w or out_w + 1 inside it
            const __m512i d = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(lanes, b.argmax + q),
                                               _mm512_add_epi32(twice, _mm512_set1_epi32(2 * ph * out_w)));
            const __mmask16 m00 = _mm512_mask_cmpeq_epi32_mask(pos, d, s00),
                            m01 = _mm512_mask_cmpeq_epi32_mask(pos, d, s01),
                            m10 = _mm512_mask_cmpeq_epi32_mask(pos, d, s10),
                            m11 = _mm512_mask_cmpeq_epi32_mask(pos, d, s11);
            const __mmask16 in = m00 | m01 | m10 | m11, down = m10 | m11, right = m01 | m11;
            const __m512 gi = _mm512_maskz_mov_ps(in, gv);
            // Each lane's inputs at its argmax's slot, picked by blends (the
            // FMA ports stay free): columns dc + kc, then rows dr + kr.
            const float* c0 = b.cols + 2 * ph * 16;
            __m512 cr[4][3];
            TYPENET_CONV_UNROLL
            for (int r = 0; r < 4; ++r) {
                TYPENET_CONV_UNROLL
                for (int kc = 0; kc < 3; ++kc)
                    cr[r][kc] = _mm512_mask_blend_ps(right, _mm512_load_ps(c0 + (kc * h + r) * 16),
                                                     _mm512_load_ps(c0 + ((kc + 1) * h + r) * 16));
            }
            TYPENET_CONV_UNROLL
            for (int k = 0; k < 9; ++k) {
                const int kr = k / 3, kc = k % 3;
                acc[k] = _mm512_fmadd_ps(gi, _mm512_mask_blend_ps(down, cr[kr][kc], cr[kr + 1][kc]), acc[k]);
            }
            // An argmax outside its window (not one the forward wrote) reads
            // the patch at its clamped position, as ConvBwfPooled does.
            const unsigned out = unsigned(_mm512_mask_cmp_ps_mask(pos, dv, zero, _CMP_NEQ_UQ)) & ~unsigned(in);
            if (out) [[unlikely]]
                for (int i = 0; i < PW; ++i) {
                    if (!(out >> i & 1u)) continue;
                    const int ai = b.argmax[q + std::size_t(i)], a = ai < 0 ? 0 : ai > last ? last : ai;
                    const float* src = b.x + (a / out_w) * w + a % out_w;
                    const float g = b.dy[q + std::size_t(i)];
                    for (int k = 0; k < 9; ++k) b.dw[co * 9 + std::size_t(k)] += g * src[(k / 3) * w + k % 3];
                }
        }
        TYPENET_CONV_UNROLL
        for (int k = 0; k < 9; ++k) _mm512_store_ps(acc_co + k * 16, acc[k]);
        b.db[co] += _mm512_reduce_add_ps(sum);
    }
}

/// dw[i] += the sum of acc[i]'s 16 lanes for i < count: ConvBwfSlots' sums out.
inline void conv_bwf_slots_finish(const float* acc, std::size_t count, float* dw) {
    for (std::size_t i = 0; i < count; ++i) dw[i] += _mm512_reduce_add_ps(_mm512_load_ps(acc + i * 16));
}

// s.tgc and s.tsc of every output channel, 16 pooled positions at a time;
// a gradient whose argmax lies outside its window (not one the forward
// wrote) is added to dxt here.
inline void conv_pool_sparse_slots(const ConvPoolSparse& s) {
    const int PP = s.PP, PPpad = s.PPpad;
    const __m512 zero = _mm512_setzero_ps(), half = _mm512_set1_ps(0.5f),
                 out_w = _mm512_set1_ps(float(s.out_w));
    const __m512i lo = _mm512_setzero_si512(), hi = _mm512_set1_epi32(s.positions - 1), one = _mm512_set1_epi32(1),
                  out_wi = _mm512_set1_epi32(s.out_w);
    for (std::size_t co = 0; co < s.c_out; ++co) {
        const std::size_t from = co * std::size_t(PP), to = co * std::size_t(PPpad);
        for (int p = 0; p < PPpad; p += 16) {
            const __mmask16 lanes = Vec::mask(std::min(PP - p, 16));
            const __m512 dv = _mm512_maskz_loadu_ps(lanes, s.dy + from + p);
            const __mmask16 pos =
                _mm512_mask_cmp_ps_mask(lanes, _mm512_maskz_loadu_ps(lanes, s.y + from + p), zero, _CMP_GT_OQ);
            const __m512 gv = _mm512_maskz_mov_ps(pos, dv);
            const __mmask16 keep = _mm512_mask_cmp_ps_mask(pos, dv, zero, _CMP_NEQ_UQ);
            const __m512i a0 = _mm512_maskz_loadu_epi32(lanes, s.argmax + from + p);
            const __m512i a = _mm512_min_epi32(_mm512_max_epi32(a0, lo), hi);
            // oh = a / out_w exactly (a < 2^22): (a + 0.5) / out_w, correctly rounded, is far from a whole number
            const __m512i oh = _mm512_cvttps_epi32(_mm512_div_ps(_mm512_add_ps(_mm512_cvtepi32_ps(a), half), out_w));
            const __m512i ow = _mm512_sub_epi32(a, _mm512_mullo_epi32(oh, out_wi));
            const __m512i dr = _mm512_sub_epi32(oh, _mm512_loadu_si512(s.win + p));
            const __m512i dc = _mm512_sub_epi32(ow, _mm512_loadu_si512(s.win + PPpad + p));
            const __mmask16 in = _mm512_mask_cmple_epu32_mask(_mm512_cmple_epu32_mask(dr, one), dc, one);
            _mm512_storeu_ps(s.tgc + to + p, _mm512_maskz_mov_ps(in, gv));
            _mm512_storeu_ps(s.tsc + to + p,
                             _mm512_maskz_cvtepi32_ps(in, _mm512_add_epi32(_mm512_add_epi32(dr, dr), dc)));
            const unsigned out = unsigned(keep) & ~unsigned(in);
            if (out) [[unlikely]] {
                alignas(64) float g[16];
                _mm512_store_ps(g, gv);
                for (int i = 0; i < 16; ++i) {
                    if (!(out >> i & 1u)) continue;
                    const int ai = s.argmax[from + std::size_t(p + i)];
                    const std::int32_t b = s.base[ai < 0 ? 0 : ai > s.positions - 1 ? s.positions - 1 : ai];
                    const Vec g1 = Vec::set1(g[i]);
                    for (int r = 0; r < 3; ++r) {
                        const float* w = s.wt + (co * 3 + std::size_t(r)) * std::size_t(s.L);
                        float* d = s.dxt + b + r * s.row;
                        for (int v = 0; v < s.L; v += 16)
                            Vec::store(d + v, Vec::fmadd(g1, Vec::load(w + v), Vec::load(d + v)));
                    }
                }
            }
        }
    }
}

// acc[(DR + r) * 4 + DC + c] += g[e] * wh(co[e])[r][c] over one window list,
// the channels whose argmax sits at (DR, DC) in the window.
template <int DR, int DC>
TYPENET_CONV_INLINE void conv_window_dx(const float* wh, const float* g, const std::int32_t* co, int n,
                                        Vec (&acc)[16]) {
    for (int e = 0; e < n; ++e) {
        const Vec gv = Vec::set1(g[e]);
        const float* w = wh + std::size_t(co[e]) * 144;
        TYPENET_CONV_UNROLL
        for (int r = 0; r < 3; ++r) {
            TYPENET_CONV_UNROLL
            for (int c = 0; c < 3; ++c) {
                Vec& a = acc[(DR + r) * 4 + DC + c];
                a = Vec::fmadd(gv, Vec::load(w + (r * 3 + c) * 16), a);
            }
        }
    }
}

// dx of a 3x3 kernel, one pooled window and 16 input channels at a time:
// the window's 4x4 input positions stay in 16 registers over every output
// channel and reach dxt once, where conv_sparse_dx loads, adds and stores
// every run vector per channel (store-bound: 36-41% of the op). The 16
// channels' weights (36 KB for 64 outputs) stay in L1 across the windows.
inline void conv_pool_sparse_windows_dx(const ConvPoolSparse& s) {
    constexpr int W = 16;
    const int PP = s.PP, C = int(s.c_out), cpad = s.L / 3, row = s.row;
    float* lg = s.g;
    std::int32_t* lco = s.at;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 zero = _mm512_setzero_ps();
    for (int h = 0; h < cpad; h += W) {
        const float* wh = s.wh + std::size_t(h / W) * std::size_t(C) * 144;
        for (int P = 0; P < PP; ++P) {
            const float* g = s.tg + std::size_t(P) * std::size_t(C);
            const float* slot = s.ts + std::size_t(P) * std::size_t(C);
            int n[4] = {0, 0, 0, 0};
            for (int c0 = 0; c0 < C; c0 += W) {
                const int m = C - c0 < W ? C - c0 : W;
                const __mmask16 lanes = Vec::mask(m);
                const __m512 gv = _mm512_maskz_loadu_ps(lanes, g + c0);
                const __m512 sv = _mm512_maskz_loadu_ps(lanes, slot + c0);
                const __mmask16 keep = _mm512_mask_cmp_ps_mask(lanes, gv, zero, _CMP_NEQ_UQ);
                const __m512i co = _mm512_add_epi32(iota, _mm512_set1_epi32(c0));
                for (int k = 0; k < 4; ++k) {
                    const __mmask16 at = _mm512_mask_cmp_ps_mask(keep, sv, _mm512_set1_ps(float(k)), _CMP_EQ_OQ);
                    const int cnt = std::popcount(unsigned(at));
                    const __mmask16 first = Vec::mask(cnt);
                    _mm512_mask_storeu_ps(lg + k * C + n[k], first, _mm512_maskz_compress_ps(at, gv));
                    _mm512_mask_storeu_epi32(lco + k * C + n[k], first, _mm512_maskz_compress_epi32(at, co));
                    n[k] += cnt;
                }
            }
            Vec acc[16];
            TYPENET_CONV_UNROLL
            for (int i = 0; i < 16; ++i) acc[i] = Vec::zero();
            conv_window_dx<0, 0>(wh, lg, lco, n[0], acc);
            conv_window_dx<0, 1>(wh, lg + C, lco + C, n[1], acc);
            conv_window_dx<1, 0>(wh, lg + 2 * C, lco + 2 * C, n[2], acc);
            conv_window_dx<1, 1>(wh, lg + 3 * C, lco + 3 * C, n[3], acc);
            float* d0 = s.dxt + s.win[P] * row + s.win[s.PPpad + P] * cpad + h;
            TYPENET_CONV_UNROLL
            for (int i = 0; i < 4; ++i) {
                TYPENET_CONV_UNROLL
                for (int j = 0; j < 4; ++j) {
                    float* d = d0 + i * row + j * cpad;
                    Vec::store(d, Vec::add(Vec::load(d), acc[i * 4 + j]));
                }
            }
        }
    }
}
#endif

/// One image's backward through a 2x2 max pooling, many taps (see ConvPoolSparse).
inline void conv_pool_sparse(const ConvPoolSparse& s) {
#if TYPENET_ISA == 2
    if (s.wh) {
        conv_pool_sparse_channels<true>(s);
        conv_pool_sparse_slots(s);
        conv_transpose(s.tgc, std::size_t(s.PPpad), s.c_out, std::size_t(s.PPpad), s.tg, s.c_out);
        conv_transpose(s.tsc, std::size_t(s.PPpad), s.c_out, std::size_t(s.PPpad), s.ts, s.c_out);
        return conv_pool_sparse_windows_dx(s);
    }
#endif
    conv_pool_sparse_channels<false>(s);
}
