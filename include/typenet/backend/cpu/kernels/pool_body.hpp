// typenet/backend/cpu/kernels/pool_body.hpp - 2x2 stride-2 max pooling, one
// path. Included by foreach_isa.hpp (through pool.hpp) once per path: no
// #include.
//
// Forward: one or two vectors hold the input pixels of up to `width`
// windows' rows; permutes split them into each window's left and right columns, and
// four compare-selects in window order pick the maximum and its plane index
// (kept in float lanes). Backward: each window's gradient goes to the
// output its argmax names, the columns interleaved back into rows.

/// Lane tables: even[j] = 2j and odd[j] = 2j + 1 for j < width/2 (the left
/// and right column of window j), iota[j] = j.
struct PoolLanes {
    Vec::Perm even, odd;
    Vec iota;
    PoolLanes() {
        int e[Vec::width], o[Vec::width];
        float io[Vec::width];
        for (int j = 0; j < Vec::width; ++j) {
            e[j] = j < Vec::width / 2 ? 2 * j : 0;
            o[j] = j < Vec::width / 2 ? 2 * j + 1 : 0;
            io[j] = static_cast<float>(j);
        }
        even = Vec::perm(e);
        odd = Vec::perm(o);
        iota = Vec::load(io);
    }
};

/// m = the maximum of each lane's window, given as its four values in window
/// order (top left a0, top right a1, bottom left b0, bottom right b1), and i
/// its plane index (top left's at; one and a row further on): a strict > so
/// the first of equal values wins and a NaN wins only as the first.
inline void pool2x2_pick(Vec a0, Vec a1, Vec b0, Vec b1, Vec at, Vec one, Vec row, Vec row1, Vec& m, Vec& i) {
    m = a0, i = at;
    i = Vec::select_gt(a1, m, Vec::add(at, one), i);
    m = Vec::select_gt(a1, m, a1, m);
    i = Vec::select_gt(b0, m, Vec::add(at, row), i);
    m = Vec::select_gt(b0, m, b0, m);
    i = Vec::select_gt(b1, m, Vec::add(at, row1), i);
    m = Vec::select_gt(b1, m, b1, m);
}

/// y[oh][ow] = the maximum of x's window (2oh..2oh+1, 2ow..2ow+1), argmax its
/// index row * w + col in the plane; the last row / column of an odd h / w
/// is in no window (floor). Rows are `stride` floats apart in x (w for a
/// packed plane; more when the plane is a convolution's wide output).
inline void maxpool2x2_plane(const float* x, std::size_t stride, std::size_t w, std::size_t out_h,
                             std::size_t out_w, float* y, std::int32_t* argmax) {
    constexpr int W = Vec::width;
    const PoolLanes L;
    const Vec one = Vec::set1(1.0f), row = Vec::set1(static_cast<float>(w)), row1 = Vec::add(row, one);
    const Vec two_j = Vec::add(L.iota, L.iota);
    // A row's 2k floats split into the windows' left and right columns: one
    // vector and two permutes for up to width/2 windows (pool2's 5 per row),
    // else two vectors deinterleaved (pool1's 13: one step instead of two).
    const auto load_pair = [&L](const float* p, int k, Vec& even, Vec& odd) {
        if (2 * k <= W) {
            const Vec a = Vec::load_k(p, 2 * k);
            even = Vec::permute(a, L.even);
            odd = Vec::permute(a, L.odd);
        } else {
            Vec::deinterleave(Vec::load(p), Vec::load_k(p + W, 2 * k - W), even, odd);
        }
    };
    for (std::size_t oh = 0; oh < out_h; ++oh) {
        const float* r0 = x + 2 * oh * stride;
        const float* r1 = r0 + stride;
        for (std::size_t o = 0; o < out_w; o += W) {
            const int k = static_cast<int>(out_w - o < std::size_t(W) ? out_w - o : W);
            Vec a0, a1, b0, b1;
            load_pair(r0 + 2 * o, k, a0, a1);
            load_pair(r1 + 2 * o, k, b0, b1);
            const Vec at = Vec::add(Vec::set1(static_cast<float>(2 * oh * w + 2 * o)), two_j);
            Vec m, i;
            pool2x2_pick(a0, a1, b0, b1, at, one, row, row1, m, i);
            Vec::store_k(y + oh * out_w + o, m, k);
            Vec::store_i32_n(argmax + oh * out_w + o, i, k);
        }
    }
}

/// dx = dy at each window's argmax (plus 0, so -0 becomes +0 as in the
/// scalar dx += dy), zero elsewhere; with relu_y (the forward's output),
/// only from windows whose y > 0. dx (h rows of w, `stride` floats apart)
/// is overwritten, the floor's leftover row and column included; columns
/// from w to stride are not touched (a wide layout's junk columns).
/// A vector of windows at a time: the argmax's place in its window picks
/// which of the four outputs gets the gradient, and interleaving the left
/// and right columns' vectors lays out the two output rows.
inline void maxpool2x2_backward_plane(const float* dy, const std::int32_t* argmax, const float* relu_y, std::size_t h,
                                      std::size_t w, std::size_t out_h, std::size_t out_w, float* dx,
                                      std::size_t stride) {
    constexpr int W = Vec::width;
    const PoolLanes L;
    const Vec zero = Vec::zero(), one = Vec::set1(1.0f), row = Vec::set1(static_cast<float>(w));
    const Vec row1 = Vec::add(row, one), two_j = Vec::add(L.iota, L.iota);
    for (std::size_t oh = 0; oh < out_h; ++oh) {
        float* d0 = dx + 2 * oh * stride;
        float* d1 = d0 + stride;
        for (std::size_t o = 0; o < out_w; o += W) {
            const int k = static_cast<int>(out_w - o < std::size_t(W) ? out_w - o : W);
            const std::size_t at = oh * out_w + o;
            Vec g = Vec::add(Vec::load_k(dy + at, k), zero);
            if (relu_y) g = Vec::select_gt(Vec::load_k(relu_y + at, k), zero, g, zero);
            // The argmax's offset from its window's top left: 0, 1, w or w + 1 (exact: below 2^24).
            const Vec top_left = Vec::add(Vec::set1(static_cast<float>(2 * oh * w + 2 * o)), two_j);
            const Vec d = Vec::sub(Vec::load_i32_n(argmax + at, k), top_left);
            Vec t0, t1, b0, b1;
            Vec::interleave(Vec::select_eq(d, zero, g, zero), Vec::select_eq(d, one, g, zero), t0, t1);
            Vec::interleave(Vec::select_eq(d, row, g, zero), Vec::select_eq(d, row1, g, zero), b0, b1);
            const int cols = 2 * k;  // of the two rows: t0 / b0 hold the first W, t1 / b1 the rest
            Vec::store_k(d0 + 2 * o, t0, cols < W ? cols : W);
            Vec::store_k(d1 + 2 * o, b0, cols < W ? cols : W);
            if (cols > W) {
                Vec::store_k(d0 + 2 * o + W, t1, cols - W);
                Vec::store_k(d1 + 2 * o + W, b1, cols - W);
            }
        }
        for (std::size_t c = 2 * out_w; c < w; ++c) d0[c] = d1[c] = 0.0f;
    }
    for (std::size_t r = 2 * out_h; r < h; ++r)
        for (std::size_t c = 0; c < w; ++c) dx[r * stride + c] = 0.0f;
}
