// typenet/backend/cpu/kernels/simd.hpp - the vector type of one kernel path.
//
// Included by foreach_isa.hpp inside each path's namespace (guarded per
// path), so kernel bodies are written once against Vec:
//   Vec::width floats; zero(), set1(x), load(p), store(p, v),
//   load_n(p, k) / store_n(p, v, k) for the first k < width lanes,
//   load_k(p, k) / store_k(p, v, k) for k <= width,
//   fmadd(a, b, c) = a*b + c (one rounding on the x86 paths), add, sub, mul,
//   div, sqrt (each correctly rounded, as the scalar operation), max,
//   pow2i(n) = 2^n exactly for integral n in [-126, 127] (x86 paths only;
//   NaN: NaN on AVX-512, a finite value on AVX2),
//   sum(v) (horizontal), permute(v, perm(idx)) = lanes idx[0..width) of v
//   (idx holds width ints, each in [0, width)), select_gt(a, b, x, y) =
//   a > b ? x : y per lane (false when either is NaN, as the scalar '>'),
//   select_eq(a, b, x, y) = a == b ? x : y (false with a NaN, as '=='),
//   deinterleave(a, b, even, odd): the even and the odd lanes of a then b,
//   interleave(a, b, lo, hi): its inverse, a0 b0 a1 b1 ... into lo then hi,
//   load_i32_n(p, k) / store_i32_n(p, v, k): the first k lanes from / to
//   int32 (converted; for integers below 2^24, which floats hold exactly),
//   load_held(p): load(p) kept in a register (GCC would fold a vector used
//   by several FMAs into each as a memory operand: one load per use).
// The portable Vec is four floats in an array; compilers map it to SSE2 or
// NEON, and its fmadd is a multiply then an add.

#if TYPENET_ISA == 2 && !defined(TYPENET_SIMD_AVX512_DEFINED)
#define TYPENET_SIMD_AVX512_DEFINED
struct Vec {
    static constexpr int width = 16;
    __m512 v;
    static Vec zero() { return {_mm512_setzero_ps()}; }
    static Vec set1(float x) { return {_mm512_set1_ps(x)}; }
    static Vec load(const float* p) { return {_mm512_loadu_ps(p)}; }
    static Vec load_held(const float* p) {
        __m512 r = _mm512_loadu_ps(p);
        __asm__("" : "+v"(r));
        return {r};
    }
    static Vec load_n(const float* p, int k) { return {_mm512_maskz_loadu_ps(mask(k), p)}; }
    static void store(float* p, Vec a) { _mm512_storeu_ps(p, a.v); }
    static void store_n(float* p, Vec a, int k) { _mm512_mask_storeu_ps(p, mask(k), a.v); }
    // load_n / store_n, or the plain form when k is the full width (faster).
    static Vec load_k(const float* p, int k) { return k == width ? load(p) : load_n(p, k); }
    static void store_k(float* p, Vec a, int k) {
        if (k == width) store(p, a);
        else store_n(p, a, k);
    }
    static Vec fmadd(Vec a, Vec b, Vec c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
    static Vec add(Vec a, Vec b) { return {_mm512_add_ps(a.v, b.v)}; }
    static Vec mul(Vec a, Vec b) { return {_mm512_mul_ps(a.v, b.v)}; }
    static Vec sub(Vec a, Vec b) { return {_mm512_sub_ps(a.v, b.v)}; }
    static Vec div(Vec a, Vec b) { return {_mm512_div_ps(a.v, b.v)}; }
    static Vec sqrt(Vec a) { return {_mm512_sqrt_ps(a.v)}; }
    // max and permute through their zero-masking forms: the plain ones pass
    // _mm512_undefined_ps(), which draws GCC 12's -Wmaybe-uninitialized.
    static Vec max(Vec a, Vec b) { return {_mm512_maskz_max_ps(0xffff, a.v, b.v)}; }
    static Vec pow2i(Vec n) { return {_mm512_maskz_scalef_ps(0xffff, _mm512_set1_ps(1.0f), n.v)}; }
    // Halves through the zero-masking extract: the plain extract (inside
    // _mm512_reduce_add_ps and _mm512_castps512_ps256) draws GCC 12's -Wuninitialized.
    static __m256 half(Vec a, int upper) {
        return _mm256_castpd_ps(upper ? _mm512_maskz_extractf64x4_pd(0xff, _mm512_castps_pd(a.v), 1)
                                      : _mm512_maskz_extractf64x4_pd(0xff, _mm512_castps_pd(a.v), 0));
    }
    static float sum(Vec a) {
        const __m256 s8 = _mm256_add_ps(half(a, 0), half(a, 1));
        const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
        const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
    }
    static __mmask16 mask(int k) { return static_cast<__mmask16>((1u << k) - 1u); }
    using Perm = __m512i;
    static Perm perm(const int* idx) { return _mm512_loadu_si512(idx); }
    static Vec permute(Vec a, Perm p) { return {_mm512_maskz_permutexvar_ps(0xffff, p, a.v)}; }
    static Vec select_gt(Vec a, Vec b, Vec x, Vec y) {
        return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ), y.v, x.v)};
    }
    static Vec select_eq(Vec a, Vec b, Vec x, Vec y) {
        return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(a.v, b.v, _CMP_EQ_OQ), y.v, x.v)};
    }
    static void deinterleave(Vec a, Vec b, Vec& even, Vec& odd) {
        const __m512i e = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        even.v = _mm512_permutex2var_ps(a.v, e, b.v);
        odd.v = _mm512_permutex2var_ps(a.v, _mm512_add_epi32(e, _mm512_set1_epi32(1)), b.v);
    }
    static void interleave(Vec a, Vec b, Vec& lo, Vec& hi) {
        const __m512i l = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        lo.v = _mm512_permutex2var_ps(a.v, l, b.v);
        hi.v = _mm512_permutex2var_ps(a.v, _mm512_add_epi32(l, _mm512_set1_epi32(8)), b.v);
    }
    static Vec load_i32_n(const std::int32_t* p, int k) {
        return {_mm512_maskz_cvtepi32_ps(0xffff, _mm512_maskz_loadu_epi32(mask(k), p))};
    }
    static void store_i32_n(std::int32_t* p, Vec a, int k) {
        _mm512_mask_storeu_epi32(p, mask(k), _mm512_maskz_cvttps_epi32(0xffff, a.v));
    }
};
#elif TYPENET_ISA == 1 && !defined(TYPENET_SIMD_AVX2_DEFINED)
#define TYPENET_SIMD_AVX2_DEFINED
struct Vec {
    static constexpr int width = 8;
    __m256 v;
    static Vec zero() { return {_mm256_setzero_ps()}; }
    static Vec set1(float x) { return {_mm256_set1_ps(x)}; }
    static Vec load(const float* p) { return {_mm256_loadu_ps(p)}; }
    static Vec load_held(const float* p) {
        __m256 r = _mm256_loadu_ps(p);
        __asm__("" : "+x"(r));
        return {r};
    }
    static Vec load_n(const float* p, int k) { return {_mm256_maskload_ps(p, mask(k))}; }
    static void store(float* p, Vec a) { _mm256_storeu_ps(p, a.v); }
    static void store_n(float* p, Vec a, int k) { _mm256_maskstore_ps(p, mask(k), a.v); }
    // load_n / store_n, or the plain form when k is the full width (faster).
    static Vec load_k(const float* p, int k) { return k == width ? load(p) : load_n(p, k); }
    static void store_k(float* p, Vec a, int k) {
        if (k == width) store(p, a);
        else store_n(p, a, k);
    }
    static Vec fmadd(Vec a, Vec b, Vec c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
    static Vec add(Vec a, Vec b) { return {_mm256_add_ps(a.v, b.v)}; }
    static Vec mul(Vec a, Vec b) { return {_mm256_mul_ps(a.v, b.v)}; }
    static Vec sub(Vec a, Vec b) { return {_mm256_sub_ps(a.v, b.v)}; }
    static Vec div(Vec a, Vec b) { return {_mm256_div_ps(a.v, b.v)}; }
    static Vec sqrt(Vec a) { return {_mm256_sqrt_ps(a.v)}; }
    static Vec max(Vec a, Vec b) { return {_mm256_max_ps(a.v, b.v)}; }
    static Vec pow2i(Vec n) {
        const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127));
        return {_mm256_castsi256_ps(_mm256_slli_epi32(e, 23))};
    }
    static float sum(Vec a) {
        const __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
        const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
        return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
    }
    // Lanes below k all-ones: compare the lane numbers with k.
    static __m256i mask(int k) {
        return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    using Perm = __m256i;
    static Perm perm(const int* idx) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx)); }
    static Vec permute(Vec a, Perm p) { return {_mm256_permutevar8x32_ps(a.v, p)}; }
    static Vec select_gt(Vec a, Vec b, Vec x, Vec y) {
        return {_mm256_blendv_ps(y.v, x.v, _mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ))};
    }
    // Within 128-bit halves, then the halves' 64-bit pairs in order.
    static void deinterleave(Vec a, Vec b, Vec& even, Vec& odd) {
        even.v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a.v, b.v, 0x88)), 0xd8));
        odd.v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a.v, b.v, 0xdd)), 0xd8));
    }
    // Within 128-bit halves (a0 b0 a1 b1 | a4 b4 a5 b5), then the halves in order.
    static void interleave(Vec a, Vec b, Vec& lo, Vec& hi) {
        const __m256 l = _mm256_unpacklo_ps(a.v, b.v), h = _mm256_unpackhi_ps(a.v, b.v);
        lo.v = _mm256_permute2f128_ps(l, h, 0x20);
        hi.v = _mm256_permute2f128_ps(l, h, 0x31);
    }
    static Vec select_eq(Vec a, Vec b, Vec x, Vec y) {
        return {_mm256_blendv_ps(y.v, x.v, _mm256_cmp_ps(a.v, b.v, _CMP_EQ_OQ))};
    }
    static Vec load_i32_n(const std::int32_t* p, int k) {
        return {_mm256_cvtepi32_ps(_mm256_maskload_epi32(reinterpret_cast<const int*>(p), mask(k)))};
    }
    static void store_i32_n(std::int32_t* p, Vec a, int k) {
        _mm256_maskstore_epi32(reinterpret_cast<int*>(p), mask(k), _mm256_cvttps_epi32(a.v));
    }
};
#elif TYPENET_ISA == 0 && !defined(TYPENET_SIMD_PORTABLE_DEFINED)
#define TYPENET_SIMD_PORTABLE_DEFINED
struct Vec {
    static constexpr int width = 4;
    float v[4];
    static Vec zero() { return {{0.0f, 0.0f, 0.0f, 0.0f}}; }
    static Vec set1(float x) { return {{x, x, x, x}}; }
    static Vec load(const float* p) { return {{p[0], p[1], p[2], p[3]}}; }
    static Vec load_held(const float* p) { return load(p); }
    static Vec load_n(const float* p, int k) {
        Vec r = zero();
        for (int i = 0; i < k; ++i) r.v[i] = p[i];
        return r;
    }
    static void store(float* p, Vec a) {
        for (int i = 0; i < 4; ++i) p[i] = a.v[i];
    }
    static void store_n(float* p, Vec a, int k) {
        for (int i = 0; i < k; ++i) p[i] = a.v[i];
    }
    // load_n / store_n, or the plain form when k is the full width (the same here).
    static Vec load_k(const float* p, int k) { return k == width ? load(p) : load_n(p, k); }
    static void store_k(float* p, Vec a, int k) {
        if (k == width) store(p, a);
        else store_n(p, a, k);
    }
    static Vec fmadd(Vec a, Vec b, Vec c) {
        for (int i = 0; i < 4; ++i) c.v[i] += a.v[i] * b.v[i];
        return c;
    }
    static Vec add(Vec a, Vec b) {
        for (int i = 0; i < 4; ++i) a.v[i] += b.v[i];
        return a;
    }
    static Vec mul(Vec a, Vec b) {
        for (int i = 0; i < 4; ++i) a.v[i] *= b.v[i];
        return a;
    }
    static Vec sub(Vec a, Vec b) {
        for (int i = 0; i < 4; ++i) a.v[i] -= b.v[i];
        return a;
    }
    static Vec div(Vec a, Vec b) {
        for (int i = 0; i < 4; ++i) a.v[i] /= b.v[i];
        return a;
    }
    // The builtin: simd.hpp is included inside a namespace, after <cmath> or not.
    static Vec sqrt(Vec a) {
        for (int i = 0; i < 4; ++i) a.v[i] = __builtin_sqrtf(a.v[i]);
        return a;
    }
    // As the x86 max: b when either is NaN or they are equal.
    static Vec max(Vec a, Vec b) {
        for (int i = 0; i < 4; ++i) a.v[i] = a.v[i] > b.v[i] ? a.v[i] : b.v[i];
        return a;
    }
    static float sum(Vec a) { return (a.v[0] + a.v[2]) + (a.v[1] + a.v[3]); }
    struct Perm {
        int i[4];
    };
    static Perm perm(const int* idx) { return {{idx[0], idx[1], idx[2], idx[3]}}; }
    static Vec permute(Vec a, Perm p) { return {{a.v[p.i[0]], a.v[p.i[1]], a.v[p.i[2]], a.v[p.i[3]]}}; }
    static Vec select_gt(Vec a, Vec b, Vec x, Vec y) {
        for (int i = 0; i < 4; ++i) x.v[i] = a.v[i] > b.v[i] ? x.v[i] : y.v[i];
        return x;
    }
    static void deinterleave(Vec a, Vec b, Vec& even, Vec& odd) {
        even = {{a.v[0], a.v[2], b.v[0], b.v[2]}};
        odd = {{a.v[1], a.v[3], b.v[1], b.v[3]}};
    }
    static void interleave(Vec a, Vec b, Vec& lo, Vec& hi) {
        lo = {{a.v[0], b.v[0], a.v[1], b.v[1]}};
        hi = {{a.v[2], b.v[2], a.v[3], b.v[3]}};
    }
    static Vec select_eq(Vec a, Vec b, Vec x, Vec y) {
        for (int i = 0; i < 4; ++i) x.v[i] = a.v[i] == b.v[i] ? x.v[i] : y.v[i];
        return x;
    }
    static Vec load_i32_n(const std::int32_t* p, int k) {
        Vec r = zero();
        for (int i = 0; i < k; ++i) r.v[i] = static_cast<float>(p[i]);
        return r;
    }
    static void store_i32_n(std::int32_t* p, Vec a, int k) {
        for (int i = 0; i < k; ++i) p[i] = static_cast<std::int32_t>(a.v[i]);
    }
};
#endif
