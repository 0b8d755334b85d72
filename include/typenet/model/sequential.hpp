// typenet/model/sequential.hpp - a network as a flat list of layer types.
//
// Sequential<Input<1,28,28>, Conv2D<32,3>, ReLU, ...> binds each layer to the
// output shape of the one before it, at compile time. The result is a list of
// bound layers plus the network's input / output shapes and parameter count.
#pragma once

#include <cstddef>
#include <tuple>

#include "../core/shape.hpp"
#include "../layers/layer.hpp"

namespace typenet {

/// The network's per-sample input shape: Input<784> or Input<1,28,28>.
template <std::size_t... D>
struct Input {
    using shape = Shape<D...>;
};

namespace seq_detail {
template <class... Ts>
struct list {
    static constexpr std::size_t size = sizeof...(Ts);
};

template <class S, class... Ls>
struct bind_all {
    using type = list<>;
    using output_shape = S;
};
template <class S, class L, class... Rest>
struct bind_all<S, L, Rest...> {
    static_assert(LayerDescription<L, S>,
                  "a layer type in Sequential does not satisfy the LayerDescription contract (layers/layer.hpp): "
                  "L::bind<Shape> must be a BoundLayer");
    using first = typename L::template bind<S>;
    using next = bind_all<typename first::output_shape, Rest...>;
    template <class... Bs>
    static list<first, Bs...> prepend(list<Bs...>);
    using type = decltype(prepend(typename next::type{}));
    using output_shape = typename next::output_shape;
};

template <class... Bs>
std::tuple<Bs...> to_tuple(list<Bs...>);

template <class L>
struct sum_params;
template <class... Bs>
struct sum_params<list<Bs...>> {
    static constexpr std::size_t value = (std::size_t{0} + ... + Bs::parameter_count);
};

template <class T>
struct is_input : std::false_type {};
template <std::size_t... D>
struct is_input<Input<D...>> : std::true_type {};
}  // namespace seq_detail

template <class In, class... Layers>
struct Sequential {
    static_assert(seq_detail::is_input<In>::value,
                  "Sequential's first type must be the input shape, e.g. Sequential<Input<784>, Dense<10>> or "
                  "Sequential<Input<1,28,28>, Conv2D<32,3>, ...>");
    static_assert(sizeof...(Layers) > 0, "Sequential needs at least one layer after Input");

    using input_shape = typename In::shape;
    using binder = seq_detail::bind_all<input_shape, Layers...>;
    using layers = typename binder::type;  // seq_detail::list<bound layers...>
    using output_shape = typename binder::output_shape;
    static constexpr std::size_t layer_count = sizeof...(Layers);

    using layer_tuple = decltype(seq_detail::to_tuple(layers{}));
    /// The I-th bound layer (0 = first layer after Input).
    template <std::size_t I>
    using layer = std::tuple_element_t<I, layer_tuple>;

    static constexpr std::size_t parameter_count = seq_detail::sum_params<layers>::value;
};

}  // namespace typenet
