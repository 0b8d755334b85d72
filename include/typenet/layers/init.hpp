// typenet/layers/init.hpp - weight initialisers (biases always start at zero).
//
// Each initialiser fills a weight tensor given its fan-in and fan-out, drawing
// from the model's Rng. Normal variants are plain (not truncated) normals.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>

#include "../core/random.hpp"

namespace typenet {

namespace init_detail {
template <class T>
void uniform(Rng& rng, std::span<T> w, double limit) {
    for (auto& v : w) v = T(rng.uniform(-limit, limit));
}
template <class T>
void normal(Rng& rng, std::span<T> w, double stddev) {
    for (auto& v : w) v = T(rng.normal() * stddev);
}
}  // namespace init_detail

/// Glorot / Xavier uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out)). Keras' default.
struct GlorotUniform {
    static constexpr const char* name = "glorot_uniform";
    template <class T>
    static void fill(Rng& rng, std::span<T> w, std::size_t fan_in, std::size_t fan_out) {
        init_detail::uniform(rng, w, std::sqrt(6.0 / double(fan_in + fan_out)));
    }
};
/// Glorot normal: N(0, 2 / (fan_in + fan_out)).
struct GlorotNormal {
    static constexpr const char* name = "glorot_normal";
    template <class T>
    static void fill(Rng& rng, std::span<T> w, std::size_t fan_in, std::size_t fan_out) {
        init_detail::normal(rng, w, std::sqrt(2.0 / double(fan_in + fan_out)));
    }
};
/// He uniform: U(-l, l), l = sqrt(6 / fan_in). For ReLU networks.
struct HeUniform {
    static constexpr const char* name = "he_uniform";
    template <class T>
    static void fill(Rng& rng, std::span<T> w, std::size_t fan_in, std::size_t) {
        init_detail::uniform(rng, w, std::sqrt(6.0 / double(fan_in)));
    }
};
/// He normal: N(0, 2 / fan_in).
struct HeNormal {
    static constexpr const char* name = "he_normal";
    template <class T>
    static void fill(Rng& rng, std::span<T> w, std::size_t fan_in, std::size_t) {
        init_detail::normal(rng, w, std::sqrt(2.0 / double(fan_in)));
    }
};
/// LeCun uniform: U(-l, l), l = sqrt(3 / fan_in). The natural pair of SELU.
struct LeCunUniform {
    static constexpr const char* name = "lecun_uniform";
    template <class T>
    static void fill(Rng& rng, std::span<T> w, std::size_t fan_in, std::size_t) {
        init_detail::uniform(rng, w, std::sqrt(3.0 / double(fan_in)));
    }
};
/// LeCun normal: N(0, 1 / fan_in).
struct LeCunNormal {
    static constexpr const char* name = "lecun_normal";
    template <class T>
    static void fill(Rng& rng, std::span<T> w, std::size_t fan_in, std::size_t) {
        init_detail::normal(rng, w, std::sqrt(1.0 / double(fan_in)));
    }
};
/// The reference articles' rule: U(-l, l), l = 0.5 * sqrt(1 / fan_in).
struct ArticleUniform {
    static constexpr const char* name = "article_uniform";
    template <class T>
    static void fill(Rng& rng, std::span<T> w, std::size_t fan_in, std::size_t) {
        init_detail::uniform(rng, w, 0.5 * std::sqrt(1.0 / double(fan_in)));
    }
};

}  // namespace typenet
