// typenet/train/finite.hpp - what fit does when a loss or gradient stops being
// finite, and how it finds the first place where that happened.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace typenet {

/// fit's reaction to a batch whose loss or parameter gradients hold NaN or inf.
enum class OnNonFinite {
    stop,        // throw NumericalError naming the epoch, batch and first non-finite layer
    skip_batch,  // leave the weights as they were before the batch, count it in EpochStats::skipped_batches
};

namespace detail {

/// Names where the last training step first produced a non-finite value, in
/// data-flow order: the input batch, then each layer's parameters and output,
/// then the parameter gradients from the last layer back (the order backward
/// computes them). Reads device memory, so it may synchronise; only called
/// once something is already wrong.
template <class M>
std::string locate_non_finite(M& model, const typename M::scalar* batch, std::size_t n) {
    auto& be = model.backend();
    const std::vector<std::string> names = M::layer_names();
    const auto layer = [&](std::size_t i) { return "layer " + std::to_string(i) + " (" + names[i] + ")"; };
    const auto* params = model.parameters().data();
    const auto* grads = model.gradients().data();

    if (!all_finite(be, n * M::input_size, batch))
        return "the input batch itself holds NaN or inf (the dataset has non-finite values; clean or standardize it)";
    for (std::size_t i = 0; i < M::layer_count; ++i) {
        for (const auto& s : model.segments())
            if (s.layer == i && !all_finite(be, s.size, params + s.offset))
                return "the parameters of " + layer(i) + " ('" + s.name + "') are not finite";
        const auto out = model.layer_output(i);
        if (!all_finite(be, out.size(), out.data)) return "the output of " + layer(i) + " is the first that is not finite";
    }
    const auto& segs = model.segments();
    for (auto s = segs.rbegin(); s != segs.rend(); ++s)
        if (!all_finite(be, s->size, grads + s->offset))
            return "the gradient of '" + s->name + "' in " + layer(s->layer) + " is the first that is not finite";
    return "every layer output is finite, so the loss itself overflowed (check the labels and the loss for this output)";
}

}  // namespace detail
}  // namespace typenet
