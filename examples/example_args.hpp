// examples/example_args.hpp - the tiny command-line parser the examples share.
#pragma once

#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

namespace example {

/// "--name value" options with defaults; --help prints them.
class Args {
public:
    Args(int argc, char** argv, std::string usage) : usage_(std::move(usage)) {
        for (int i = 1; i < argc; ++i) args_.emplace_back(argv[i]);
        for (const auto& a : args_)
            if (a == "--help" || a == "-h") {
                std::cout << usage_;
                std::exit(0);
            }
    }
    std::string get(std::string_view name, std::string fallback) const {
        for (std::size_t i = 0; i + 1 < args_.size(); ++i)
            if (args_[i] == name) return args_[i + 1];
        return fallback;
    }
    long get_int(std::string_view name, long fallback) const {
        const std::string v = get(name, "");
        if (v.empty()) return fallback;
        char* end = nullptr;
        const long r = std::strtol(v.c_str(), &end, 10);
        if (*end != '\0' || r < 0) fail(std::string(name) + " needs a non-negative integer, got '" + v + "'");
        return r;
    }
    double get_double(std::string_view name, double fallback) const {
        const std::string v = get(name, "");
        if (v.empty()) return fallback;
        char* end = nullptr;
        const double r = std::strtod(v.c_str(), &end);
        if (*end != '\0') fail(std::string(name) + " needs a number, got '" + v + "'");
        return r;
    }
    [[noreturn]] void fail(const std::string& msg) const {
        std::cerr << "error: " << msg << "\n\n" << usage_;
        std::exit(2);
    }

private:
    std::string usage_;
    std::vector<std::string> args_;
};

}  // namespace example
