// typenet/model/summary.hpp - a Keras-like table of a network's layers.
#pragma once

#include <iomanip>
#include <sstream>
#include <string>

#include "../core/shape.hpp"

namespace typenet {

namespace summary_detail {
inline std::string grouped(std::size_t v) {
    const std::string digits = std::to_string(v);
    std::string s;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0) s += ',';
        s += digits[i];
    }
    return s;
}
}  // namespace summary_detail

/// Layer, output shape and parameter count per layer, then the totals.
/// Works on a Model (or any type with a `network` and `layer_count`).
template <class M>
std::string summary(const M&) {
    using namespace summary_detail;
    std::ostringstream o;
    const std::string rule(64, '-');
    o << rule << "\n"
      << std::left << std::setw(6) << "#" << std::setw(24) << "Layer" << std::setw(22) << "Output shape" << std::right
      << std::setw(12) << "Params" << "\n"
      << rule << "\n";
    o << std::left << std::setw(6) << "" << std::setw(24) << "Input" << std::setw(22)
      << shape_string<typename M::input_shape>() << std::right << std::setw(12) << 0 << "\n";
    M::for_each_layer([&]<std::size_t I, class BL>() {
        o << std::left << std::setw(6) << I << std::setw(24) << BL::name() << std::setw(22)
          << shape_string<typename BL::output_shape>() << std::right << std::setw(12) << grouped(BL::parameter_count)
          << "\n";
    });
    o << rule << "\n"
      << "Total parameters: " << grouped(M::parameter_count) << " (" << grouped(M::parameter_count * 4)
      << " bytes as float32)\n"
      << rule << "\n";
    return o.str();
}

}  // namespace typenet
