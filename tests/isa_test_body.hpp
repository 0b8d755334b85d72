// Included by test_isa.cpp once per kernel path (inside its namespace): no includes.
inline float test_dot(const float* a, const float* b, int n) {
    Vec acc = Vec::zero();
    int i = 0;
    for (; i + Vec::width <= n; i += Vec::width) acc = Vec::fmadd(Vec::load(a + i), Vec::load(b + i), acc);
    if (i < n) acc = Vec::fmadd(Vec::load_n(a + i, n - i), Vec::load_n(b + i, n - i), acc);
    return Vec::sum(acc);
}
inline int test_width() { return Vec::width; }
inline float test_max(const float* a, int n) {
    Vec m = Vec::set1(-1e30f);
    int i = 0;
    for (; i + Vec::width <= n; i += Vec::width) m = Vec::max(m, Vec::load(a + i));
    if (i < n) m = Vec::max(m, Vec::load_n(a + i, n - i));  // zero-filled lanes: a[] has values above 0
    float out[16];
    Vec::store(out, m);
    float r = out[0];
    for (int k = 1; k < Vec::width; ++k) r = r > out[k] ? r : out[k];
    return r;
}
// even/odd (width floats each) = the even / odd elements of in[0, 2 * width).
inline void test_deinterleave(const float* in, float* even, float* odd) {
    Vec e, o;
    Vec::deinterleave(Vec::load(in), Vec::load(in + Vec::width), e, o);
    Vec::store(even, e);
    Vec::store(odd, o);
}
// lo, hi (width floats each) = a[0] b[0] a[1] b[1] ... over a, b (width each).
inline void test_interleave(const float* a, const float* b, float* lo, float* hi) {
    Vec l, h;
    Vec::interleave(Vec::load(a), Vec::load(b), l, h);
    Vec::store(lo, l);
    Vec::store(hi, h);
}
// out[i] = a[i] == b[i] ? x[i] : y[i], by select_eq.
inline void test_select_eq(const float* a, const float* b, const float* x, const float* y, float* out) {
    Vec::store(out, Vec::select_eq(Vec::load(a), Vec::load(b), Vec::load(x), Vec::load(y)));
}
