// typenet/backend/cpu/elementwise.hpp - bias, activations and softmax on the CPU.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <Eigen/Core>

#include "../../core/activation_kind.hpp"
#include "kernels/activation.hpp"
#include "kernels/update.hpp"

namespace typenet {

class Cpu;

namespace cpu_detail {
template <class T>
using Arr = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using CArr = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using RowMat = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using CRowMat = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

/// dx = x > 0 ? dy : 0. A float comparison may trap, so GCC will not turn
/// `x > 0 ? dy : 0` (or Eigen's select) into SIMD code and it runs as a
/// mispredicted branch per value; on the bits, x > 0 is a signed integer
/// comparison (sign bit clear and not +0), which vectorises: ~25x faster on
/// a conv layer's gradient. (+NaN counts as positive; its forward was NaN anyway.)
template <class T>
void relu_backward(std::size_t count, const T* x, const T* dy, T* dx) {
    using I = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
    static_assert(sizeof(I) == sizeof(T));
    for (std::size_t i = 0; i < count; ++i) {
        const I mask = -I(std::bit_cast<I>(x[i]) > 0);
        dx[i] = std::bit_cast<T>(I(std::bit_cast<I>(dy[i]) & mask));
    }
}
}  // namespace cpu_detail

/// y(n, c, s) += b(c) for a tensor seen as (n, channels, spatial).
template <class T>
void bias_add(const Cpu&, std::size_t n, std::size_t channels, std::size_t spatial, T* y, const T* b) {
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = 0; c < channels; ++c) {
            T* row = y + (i * channels + c) * spatial;
            const T bc = b[c];
            for (std::size_t s = 0; s < spatial; ++s) row[s] += bc;
        }
}

/// db(c) = sum over n and s of dy(n, c, s). Overwrites db.
template <class T>
void bias_grad(const Cpu&, std::size_t n, std::size_t channels, std::size_t spatial, const T* dy, T* db) {
    for (std::size_t c = 0; c < channels; ++c) db[c] = T(0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = 0; c < channels; ++c) {
            const T* row = dy + (i * channels + c) * spatial;
            T s = T(0);
            for (std::size_t k = 0; k < spatial; ++k) s += row[k];
            db[c] += s;
        }
}

namespace cpu_detail {
// Eigen evaluates a destination's unaligned head with its scalar functor and
// the rest with packets; for logistic, tanh and exp the two differ in the
// last bits (and in the denormal range) once packets are AVX-512 wide. So
// those values pass through a 64-byte-aligned block on the stack, and each
// result depends on its index alone, not on where x and y sit (in-place and
// out-of-place calls agree whatever -march the includer chose).
template <class T, class F>
void through_aligned_blocks(std::size_t count, const T* x, T* y, F&& f) {
    constexpr std::size_t block = 1024;
    alignas(64) T in[block];
    alignas(64) T out[block];
    for (std::size_t i = 0; i < count; i += block) {
        const std::size_t m = std::min(block, count - i);
        std::memcpy(in, x + i, m * sizeof(T));
        Arr<T> Y(out, Eigen::Index(m));
        f(CArr<T>(in, Eigen::Index(m)), Y);
        std::memcpy(y + i, out, m * sizeof(T));
    }
}
}  // namespace cpu_detail

/// y = f(x) elementwise over `count` values (x and y may alias).
template <class T>
void activation_forward(const Cpu& be, ActivationKind kind, std::size_t count, const T* x, T* y) {
    using namespace cpu_detail;
    const auto n = Eigen::Index(count);
    switch (kind) {
        case ActivationKind::identity: Arr<T>(y, n) = CArr<T>(x, n); break;
        case ActivationKind::relu: Arr<T>(y, n) = CArr<T>(x, n).max(T(0)); break;
        // float on the x86 paths: typenet's kernel (kernels/activation.hpp);
        // else Eigen's logistic(), vectorised and saturating cleanly for large
        // |x| (on the portable path faster than the portable kernel).
        case ActivationKind::sigmoid:
            if constexpr (std::is_same_v<T, float>)
                if (be.isa() != CpuIsa::portable) {
                    TYPENET_ISA_CALL(be.isa(), sigmoid_forward, x, y, count);
                    break;
                }
            through_aligned_blocks(count, x, y, [](const auto& X, auto& Y) { Y = X.logistic(); });
            break;
        case ActivationKind::tanh:
            through_aligned_blocks(count, x, y, [](const auto& X, auto& Y) { Y = X.tanh(); });
            break;
        case ActivationKind::elu:
            through_aligned_blocks(count, x, y,
                                   [](const auto& X, auto& Y) { Y = (X > T(0)).select(X, X.exp() - T(1)); });
            break;
        case ActivationKind::selu:
            through_aligned_blocks(count, x, y, [](const auto& X, auto& Y) {
                Y = T(selu_scale) * (X > T(0)).select(X, T(selu_alpha) * (X.exp() - T(1)));
            });
            break;
    }
}

/// dx = dy * f'(x), given x and y = f(x) (whichever is cheaper is used).
template <class T>
void activation_backward(const Cpu& be, ActivationKind kind, std::size_t count, const T* x, const T* y, const T* dy,
                         T* dx) {
    using namespace cpu_detail;
    const auto n = Eigen::Index(count);
    CArr<T> X(x, n), Y(y, n), DY(dy, n);
    Arr<T> DX(dx, n);
    switch (kind) {
        case ActivationKind::identity: DX = DY; break;
        case ActivationKind::relu: relu_backward(count, x, dy, dx); break;
        case ActivationKind::sigmoid:
            // The same products as Eigen's, at the path's width.
            if constexpr (std::is_same_v<T, float>)
                if (be.isa() != CpuIsa::portable) {
                    TYPENET_ISA_CALL(be.isa(), sigmoid_backward, y, dy, dx, count);
                    break;
                }
            DX = DY * Y * (T(1) - Y);
            break;
        case ActivationKind::tanh: DX = DY * (T(1) - Y.square()); break;
        case ActivationKind::elu: DX = (X > T(0)).select(DY, DY * (Y + T(1))); break;
        case ActivationKind::selu:
            DX = (X > T(0)).select(DY * T(selu_scale), DY * (Y + T(selu_scale * selu_alpha)));
            break;
    }
}

/// Row-wise softmax of a (rows, cols) matrix, max-shifted for stability.
template <class T>
void softmax_forward(const Cpu&, std::size_t rows, std::size_t cols, const T* x, T* y) {
    using namespace cpu_detail;
    for (std::size_t r = 0; r < rows; ++r) {
        CArr<T> X(x + r * cols, Eigen::Index(cols));
        Arr<T> Y(y + r * cols, Eigen::Index(cols));
        Y = (X - X.maxCoeff()).exp();
        Y /= Y.sum();
    }
}

/// dx = y * (dy - sum(dy * y)) row-wise, the softmax Jacobian-vector product.
template <class T>
void softmax_backward(const Cpu&, std::size_t rows, std::size_t cols, const T* y, const T* dy, T* dx) {
    using namespace cpu_detail;
    for (std::size_t r = 0; r < rows; ++r) {
        CArr<T> Y(y + r * cols, Eigen::Index(cols)), DY(dy + r * cols, Eigen::Index(cols));
        Arr<T> DX(dx + r * cols, Eigen::Index(cols));
        const T dot = (Y * DY).sum();
        DX = Y * (DY - dot);
    }
}

/// True when every value is finite (no NaN / inf). fit calls it on every
/// gradient each step, so float runs the dispatched kernel, in parallel
/// pieces when the buffer is large.
template <class T>
bool all_finite(const Cpu& be, std::size_t count, const T* x) {
    if constexpr (std::is_same_v<T, float>) {
        std::atomic<bool> finite{true};
        cpu_detail::parallel_items(be, count, 1, [&](std::size_t begin, std::size_t end) {
            if (!TYPENET_ISA_CALL(be.isa(), all_finite, x + begin, end - begin))
                finite.store(false, std::memory_order_relaxed);
        });
        return finite.load(std::memory_order_relaxed);
    } else {
        return cpu_detail::CArr<T>(x, Eigen::Index(count)).isFinite().all();
    }
}

}  // namespace typenet
