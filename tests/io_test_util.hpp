// Helpers shared by the io tests: a temporary directory, raw file access and
// an IoError matcher.
#pragma once

#include <typenet/core/error.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

namespace io_test {

/// A fresh directory under the test temp dir, removed with its contents.
class TempDir {
public:
    TempDir() {
        static std::atomic<int> counter{0};
        path_ = std::filesystem::path(::testing::TempDir()) /
                ("typenet_io_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
    /// Names of the files in the directory.
    std::vector<std::string> files() const {
        std::vector<std::string> v;
        for (const auto& e : std::filesystem::directory_iterator(path_)) v.push_back(e.path().filename().string());
        return v;
    }

private:
    std::filesystem::path path_;
};

inline std::string le64(std::uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[i] = char((v >> (8 * i)) & 0xFF);
    return s;
}

inline void write_raw(const std::filesystem::path& p, const std::string& bytes) {
    // A new file rather than a truncated one: ext4 flushes a truncated-and-
    // rewritten file on close (auto_da_alloc), which made the fuzz test wait on the disk.
    std::error_code ec;
    std::filesystem::remove(p, ec);
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    ASSERT_TRUE(out.good()) << "could not write " << p;
}

inline std::string read_raw(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Runs f, which must throw typenet::IoError whose message holds every string of `expected`.
template <class F>
void expect_io_error(F&& f, const std::vector<std::string>& expected) {
    try {
        f();
        ADD_FAILURE() << "no IoError was thrown";
    } catch (const typenet::IoError& e) {
        const std::string msg = e.what();
        for (const auto& s : expected) EXPECT_NE(msg.find(s), std::string::npos) << "'" << s << "' not in: " << msg;
    }
}

}  // namespace io_test
