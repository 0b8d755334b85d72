// typenet/layers/batchnorm.hpp - batch normalisation, 2-D (per channel) or 1-D (per feature).
#pragma once

#include <string>

#include "layer.hpp"

namespace typenet {

/// BatchNorm: on a (C,H,W) input normalises each channel over (N,H,W), as
/// PyTorch's BatchNorm2d; on a flat (F) input each feature over N, as
/// BatchNorm1d. PyTorch conventions (and state_dict names): weight (gamma,
/// init 1), bias (beta, init 0), buffers running_mean (0) / running_var (1),
/// momentum 0.1, epsilon 1e-5. Training uses batch statistics and updates the
/// running ones; evaluation uses the running ones.
struct BatchNorm {
    static constexpr double momentum = 0.1;
    static constexpr double epsilon = 1e-5;

    template <class In>
    struct bind : LayerBase<In, In> {
        static constexpr std::size_t C = channels_of<In>;
        static constexpr std::size_t spatial = In::size / C;
        static constexpr std::size_t parameter_count = 2 * C;
        static constexpr std::size_t buffer_count = 2 * C;
        static constexpr std::array<ParamSpec, 2> params{{
            {"weight", Dims{C}, 1, 1, false, false},  // gamma (C)
            {"bias", Dims{C}, 1, 1, false, true},     // beta (C)
        }};
        static constexpr std::array<ParamSpec, 2> buffers{{
            {"running_mean", Dims{C}, 0, 0, false, false},
            {"running_var", Dims{C}, 0, 0, false, false},
        }};
        static constexpr OpFamily ops = OpFamily::normalization;
        static std::string name() { return In::rank == 3 ? "BatchNorm2D" : "BatchNorm1D"; }

        template <class T>
        static void initialize(Rng&, std::span<T> w) {
            for (std::size_t c = 0; c < C; ++c) w[c] = T(1), w[C + c] = T(0);
        }
        template <class T>
        static void initialize_buffers(std::span<T> b) {
            for (std::size_t c = 0; c < C; ++c) b[c] = T(0), b[C + c] = T(1);
        }
        template <class T, NormalizationOps<T> B>
        static void forward(LayerIo<T, B>& io) {
            if (io.training)
                batchnorm_forward_training(io.be, io.n, C, spatial, io.x, io.w, io.w + C, io.buffers, io.buffers + C,
                                           momentum, epsilon, io.y);
            else
                batchnorm_forward_inference(io.be, io.n, C, spatial, io.x, io.w, io.w + C, io.buffers, io.buffers + C,
                                            epsilon, io.y);
        }
        template <class T, NormalizationOps<T> B>
        static void backward(LayerIo<T, B>& io) {
            batchnorm_backward(io.be, io.n, C, spatial, io.x, io.dy, io.w, epsilon, io.dx, io.dw, io.dw + C);
        }
    };
};

}  // namespace typenet
