// typenet/backend/cpu/kernels/update_body.hpp - optimizer updates and the
// finiteness check, one path. Included by foreach_isa.hpp (through
// update.hpp) once per path: no #include.
//
// Each update is the rule of optim/update_rules.hpp written on Vec, operation
// for operation (the same products, sums, square roots and quotients in the
// same grouping), over full vectors and then one masked tail.

/// Calls step(i, k) for the k-lane vectors starting at i that cover [0, n):
/// full vectors, then one of n % width lanes.
template <class Step>
inline void for_vectors(std::size_t n, Step&& step) {
    std::size_t i = 0;
    for (; i + Vec::width <= n; i += Vec::width) step(i, Vec::width);
    if (i < n) step(i, int(n - i));
}


/// True when no value of x[0, n) is NaN or inf: x * 0 is 0 for a finite x
/// and NaN otherwise, so the sum of those products is 0 exactly when all are
/// finite. No early exit: the check is one streaming pass either way.
inline bool all_finite(const float* x, std::size_t n) {
    const Vec zero = Vec::zero();
    Vec a0 = zero, a1 = zero, a2 = zero, a3 = zero;  // four chains hide the FMA latency
    std::size_t i = 0;
    for (; i + 4 * Vec::width <= n; i += 4 * Vec::width) {
        a0 = Vec::fmadd(Vec::load(x + i), zero, a0);
        a1 = Vec::fmadd(Vec::load(x + i + Vec::width), zero, a1);
        a2 = Vec::fmadd(Vec::load(x + i + 2 * Vec::width), zero, a2);
        a3 = Vec::fmadd(Vec::load(x + i + 3 * Vec::width), zero, a3);
    }
    for_vectors(n - i, [&](std::size_t j, int k) { a0 = Vec::fmadd(Vec::load_k(x + i + j, k), zero, a0); });
    const float s = Vec::sum(Vec::add(Vec::add(a0, a1), Vec::add(a2, a3)));
    return s == 0.0f;
}

/// SGD: w -= lr g.
inline void sgd_update(float* w, const float* g, std::size_t n, float lr) {
    const Vec vlr = Vec::set1(lr);
    for_vectors(n, [&](std::size_t i, int k) {
        Vec::store_k(w + i, Vec::sub(Vec::load_k(w + i, k), Vec::mul(vlr, Vec::load_k(g + i, k))), k);
    });
}

/// SGD with momentum: v = momentum v - lr g; w += v, or w += momentum v - lr g (Nesterov).
inline void sgd_momentum_update(float* w, const float* g, float* v, std::size_t n, float lr, float momentum,
                                bool nesterov) {
    const Vec vlr = Vec::set1(lr), vm = Vec::set1(momentum);
    for_vectors(n, [&](std::size_t i, int k) {
        const Vec lr_g = Vec::mul(vlr, Vec::load_k(g + i, k));
        const Vec V = Vec::sub(Vec::mul(vm, Vec::load_k(v + i, k)), lr_g);
        Vec::store_k(v + i, V, k);
        const Vec W = Vec::load_k(w + i, k);
        Vec::store_k(w + i, nesterov ? Vec::add(W, Vec::sub(Vec::mul(vm, V), lr_g)) : Vec::add(W, V), k);
    });
}

/// RMSprop: s = rho s + (1 - rho) g^2; w -= lr g / (sqrt(s) + eps).
inline void rmsprop_update(float* w, const float* g, float* s, std::size_t n, float lr, float rho, float eps) {
    const Vec vlr = Vec::set1(lr), vrho = Vec::set1(rho), vkeep = Vec::set1(1.0f - rho), veps = Vec::set1(eps);
    for_vectors(n, [&](std::size_t i, int k) {
        const Vec G = Vec::load_k(g + i, k);
        const Vec S = Vec::add(Vec::mul(vrho, Vec::load_k(s + i, k)), Vec::mul(vkeep, Vec::mul(G, G)));
        Vec::store_k(s + i, S, k);
        const Vec step = Vec::div(Vec::mul(vlr, G), Vec::add(Vec::sqrt(S), veps));
        Vec::store_k(w + i, Vec::sub(Vec::load_k(w + i, k), step), k);
    });
}

/// Adam: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
/// w -= lr (m / c1) / (sqrt(v / c2) + eps).
inline void adam_update(float* w, const float* g, float* m, float* v, std::size_t n, float lr, float beta1, float beta2,
                        float eps, float c1, float c2) {
    const Vec vlr = Vec::set1(lr), vb1 = Vec::set1(beta1), vk1 = Vec::set1(1.0f - beta1), vb2 = Vec::set1(beta2),
              vk2 = Vec::set1(1.0f - beta2), veps = Vec::set1(eps), vc1 = Vec::set1(c1), vc2 = Vec::set1(c2);
    for_vectors(n, [&](std::size_t i, int k) {
        const Vec G = Vec::load_k(g + i, k);
        const Vec M = Vec::add(Vec::mul(vb1, Vec::load_k(m + i, k)), Vec::mul(vk1, G));
        const Vec V = Vec::add(Vec::mul(vb2, Vec::load_k(v + i, k)), Vec::mul(vk2, Vec::mul(G, G)));
        Vec::store_k(m + i, M, k);
        Vec::store_k(v + i, V, k);
        const Vec step = Vec::div(Vec::mul(vlr, Vec::div(M, vc1)), Vec::add(Vec::sqrt(Vec::div(V, vc2)), veps));
        Vec::store_k(w + i, Vec::sub(Vec::load_k(w + i, k), step), k);
    });
}
