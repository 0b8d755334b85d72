// typenet/core/backend.hpp - the Backend concept: the operation set layers use.
//
// A backend is an object (it may hold a thread count, a stream, library
// handles) plus free functions found by argument-dependent lookup whose first
// argument is that object: gemm(be, ...), bias_add(be, ...), ... Layers call
// only these; backends never know about layers. Adding a backend means
// implementing this set.
//
// requires: B::device is a Device (core/device.hpp) that owns every pointer
//           passed to an op; ops may run asynchronously with respect to the
//           host and are ordered among themselves.
// ensures:  synchronize() waits for all ops; read_accumulator copies the
//           two-double metric accumulator (loss sum, correct count) to the host.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "activation_kind.hpp"

namespace typenet {

template <class B>
concept Backend = requires(B& b, float* p, const float* cp, const std::int32_t* lab, const std::uint32_t* idx,
                           double* acc, std::size_t n, ActivationKind a) {
    typename B::device;
    { B::name } -> std::convertible_to<const char*>;
    b.synchronize();
    gemm(b, false, true, n, n, n, 1.0f, cp, n, cp, n, 0.0f, p, n);
    bias_add(b, n, n, n, p, cp);
    bias_grad(b, n, n, n, cp, p);
    activation_forward(b, a, n, cp, p);
    activation_backward(b, a, n, cp, cp, cp, p);
    softmax_forward(b, n, n, cp, p);
    softmax_backward(b, n, n, cp, cp, p);
    softmax_cross_entropy(b, n, n, cp, lab, p, 1.0f, acc);
    binary_cross_entropy(b, n, n, cp, lab, p, 1.0f, acc);
    mean_squared_error(b, n, n, cp, lab, p, 1.0f, acc);
    count_correct(b, n, n, cp, lab, acc);
    gather_rows(b, n, n, cp, idx, p);
    gather_labels(b, n, lab, idx, const_cast<std::int32_t*>(lab));
    sgd_update(b, n, p, cp, p, 0.1f, 0.9f, false, 0.0f, 0.0f);
    rmsprop_update(b, n, p, cp, p, 0.1f, 0.9f, 1e-7f, 0.0f, 0.0f);
    adam_update(b, n, p, cp, p, p, 0.1f, 0.9f, 0.999f, 1e-7f, 1.0f, 1.0f, 0.0f, 0.0f);
    { all_finite(b, n, cp) } -> std::convertible_to<bool>;
    read_accumulator(b, acc, acc);
};

}  // namespace typenet
