// libFuzzer target: json::parse on arbitrary text. A json::SyntaxError is the
// promised answer to bad text. What it accepts must survive a round trip:
// written back (strings through json::quote) and parsed again, it gives the
// same value.
#include <typenet/io/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"

namespace {
namespace json = typenet::json;

void write(const json::Value& v, std::string& out) {
    switch (v.kind) {
        case json::Value::Kind::object:
            out += '{';
            for (std::size_t i = 0; i < v.members.size(); ++i) {
                if (i) out += ',';
                out += json::quote(v.members[i].first);
                out += ':';
                write(v.members[i].second, out);
            }
            out += '}';
            break;
        case json::Value::Kind::array:
            out += '[';
            for (std::size_t i = 0; i < v.items.size(); ++i) {
                if (i) out += ',';
                write(v.items[i], out);
            }
            out += ']';
            break;
        case json::Value::Kind::string: out += json::quote(v.string); break;
        case json::Value::Kind::integer: out += (v.negative ? "-" : "") + std::to_string(v.integer); break;
    }
}

bool same(const json::Value& a, const json::Value& b) {
    if (a.kind != b.kind || a.string != b.string || a.integer != b.integer || a.negative != b.negative ||
        a.items.size() != b.items.size() || a.members.size() != b.members.size())
        return false;
    for (std::size_t i = 0; i < a.items.size(); ++i)
        if (!same(a.items[i], b.items[i])) return false;
    for (std::size_t i = 0; i < a.members.size(); ++i)
        if (a.members[i].first != b.members[i].first || !same(a.members[i].second, b.members[i].second)) return false;
    return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    json::Value v;
    try {
        v = json::parse(std::string_view(reinterpret_cast<const char*>(data), size));
    } catch (const json::SyntaxError&) {
        return 0;
    }
    std::string text;
    write(v, text);
    try {
        fuzz::check(same(v, json::parse(text)), "parsing a written-back value gives the same value");
    } catch (const json::SyntaxError& e) {
        std::fprintf(stderr, "re-parsing %s: %s\n", text.c_str(), e.what());
        fuzz::check(false, "a written-back value parses again");
    }
    return 0;
}
