// A value-parameterised GoogleTest fixture over the CPU kernel paths: each
// case is skipped (naming the path) on a CPU that lacks it.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include <typenet/backend/cpu/isa.hpp>

class KernelPathTest : public ::testing::TestWithParam<typenet::CpuIsa> {
protected:
    void SetUp() override {
        if (static_cast<int>(GetParam()) > static_cast<int>(typenet::supported_isa()))
            GTEST_SKIP() << typenet::isa_name(GetParam()) << " not supported by this CPU (widest: "
                         << typenet::isa_name(typenet::supported_isa()) << ")";
    }
};

/// Test names per path: Paths/Suite.Case/avx512 ...
inline std::string kernel_path_name(const ::testing::TestParamInfo<typenet::CpuIsa>& info) {
    return std::string(typenet::isa_key(info.param));
}
