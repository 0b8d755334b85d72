// typenet/backend/cpu/kernels/activation_body.hpp - the sigmoid, one path.
// Included by foreach_isa.hpp (through activation.hpp) once per path: no
// #include.

#if TYPENET_ISA >= 1
/// e^t for t in [-87, 0] (about 1.6e-38 to 1), or NaN for NaN: t = n ln2 + r
/// with integral n and |r| <= ln2 / 2 (ln2 in two parts, so that r is exact
/// to a float's precision), e^r by its Taylor series to r^7 (the next term is
/// under 1e-8 of it), and 2^n exactly.
inline Vec sigmoid_exp(Vec t) {
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer (|t / ln2| < 2^22).
    const Vec magic = Vec::set1(12582912.0f);
    const Vec n = Vec::sub(Vec::add(Vec::mul(t, Vec::set1(1.44269504f)), magic), magic);
    Vec r = Vec::fmadd(n, Vec::set1(-0.693359375f), t);
    r = Vec::fmadd(n, Vec::set1(2.12194440e-4f), r);
    constexpr float taylor[] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};
    Vec p = Vec::set1(taylor[0]);
    for (int i = 1; i < 8; ++i) p = Vec::fmadd(p, r, Vec::set1(taylor[i]));
    return Vec::mul(p, Vec::pow2i(n));
}

/// The sigmoid of one vector: with e = e^-|x| (never overflows), 1 / (1 + e)
/// for x > 0 and e / (1 + e) otherwise, so neither tail loses precision.
/// |x| beyond 87 saturates (1, or 1.6e-38 for the lower tail); NaN stays NaN.
inline Vec sigmoid_vec(Vec x) {
    const Vec zero = Vec::zero(), one = Vec::set1(1.0f);
    // -|x|, limited to -87; max returns its second operand for NaN, so NaN passes.
    const Vec neg = Vec::sub(zero, Vec::max(x, Vec::sub(zero, x)));
    const Vec e = sigmoid_exp(Vec::max(Vec::set1(-87.0f), neg));
    const Vec y = Vec::div(Vec::select_gt(x, zero, one, e), Vec::add(one, e));
    return Vec::select_eq(x, x, y, x);  // NaN in, NaN out (pow2i may not keep it)
}

inline void sigmoid_forward(const float* x, float* y, std::size_t n) {
    std::size_t i = 0;
    for (; i + Vec::width <= n; i += Vec::width) Vec::store(y + i, sigmoid_vec(Vec::load(x + i)));
    if (i < n) Vec::store_n(y + i, sigmoid_vec(Vec::load_n(x + i, int(n - i))), int(n - i));
}

/// dx = (dy * y) * (1 - y), the grouping of the scalar rule (the same bits).
inline void sigmoid_backward(const float* y, const float* dy, float* dx, std::size_t n) {
    const Vec one = Vec::set1(1.0f);
    const auto step = [&](std::size_t i, int k) {
        const Vec Y = Vec::load_k(y + i, k);
        Vec::store_k(dx + i, Vec::mul(Vec::mul(Vec::load_k(dy + i, k), Y), Vec::sub(one, Y)), k);
    };
    std::size_t i = 0;
    for (; i + Vec::width <= n; i += Vec::width) step(i, Vec::width);
    if (i < n) step(i, int(n - i));
}
#else
// The portable path: the backend calls Eigen there (as wide as the
// includer's flags, and faster than four-lane emulation of the above);
// these scalar loops keep the dispatch complete and are tested alike.
inline void sigmoid_forward(const float* x, float* y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        const float v = x[i], e = __builtin_expf(v > 0.0f ? -v : v);
        y[i] = (v > 0.0f ? 1.0f : e) / (1.0f + e);
    }
}

inline void sigmoid_backward(const float* y, const float* dy, float* dx, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}
#endif
