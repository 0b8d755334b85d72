// typenet/core/version.hpp - the library's version, written into saved files.
//
// Keep it equal to project(typenet VERSION ...) in CMakeLists.txt; tests/test_io
// compares the two.
#pragma once

#include <string_view>

namespace typenet {

inline constexpr std::string_view version = "0.1.0";

}  // namespace typenet
