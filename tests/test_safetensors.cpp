// Tests of io/safetensors.hpp, io/json.hpp and io/dtype.hpp: round trips,
// dtype conversions, and every kind of malformed file giving an IoError that
// names the file and the tensor (plus a mutation fuzz that must never crash).
#include <typenet/core/random.hpp>
#include <typenet/io/safetensors.hpp>

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "io_test_util.hpp"

namespace tn = typenet;
namespace fs = std::filesystem;
using io_test::expect_io_error;
using io_test::le64;
using io_test::TempDir;
using io_test::write_raw;

namespace {
std::string st_file(const std::string& header, const std::string& data = {}) { return le64(header.size()) + header + data; }
std::vector<std::byte> bytes_of(const std::string& s) {
    std::vector<std::byte> b(s.size());
    if (!s.empty()) std::memcpy(b.data(), s.data(), s.size());
    return b;
}
}  // namespace

TEST(Safetensors, WriterReaderRoundTripKeepsValuesShapesAndMetadata) {
    TempDir dir;
    const std::vector<float> f{1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, 7.0f};
    const std::vector<double> d{0.1, -1e300};
    const std::vector<std::uint64_t> u{0, ~std::uint64_t{0}, 42};
    tn::SafetensorsWriter w;
    w.add<float>("layer.0 \"odd\" name", {2, 3}, f);
    w.add<double>("d", {2}, d);
    w.add<std::uint64_t>("u", {3}, u);
    w.add<float>("empty", {0, 4}, {});
    w.set_metadata("note", "line\nbreak, tab\t, quote \", unicode \xC3\xA9 \xF0\x9F\x98\x80");
    w.write(dir / "a.safetensors");

    ASSERT_EQ(w.header().size() % 8, 0u) << "data must start 8-byte aligned";
    const tn::SafetensorsReader r(dir / "a.safetensors");
    ASSERT_EQ(r.tensors().size(), 4u);
    EXPECT_EQ(r.tensors()[0].name, "layer.0 \"odd\" name");
    EXPECT_EQ(r.tensors()[0].shape, (std::vector<std::uint64_t>{2, 3}));
    EXPECT_EQ(r.read<float>("layer.0 \"odd\" name"), f);
    EXPECT_EQ(r.read<double>("d"), d);
    EXPECT_EQ(r.read<std::uint64_t>("u"), u);
    EXPECT_TRUE(r.read<float>("empty").empty());
    EXPECT_EQ(r.metadata().at("note"), "line\nbreak, tab\t, quote \", unicode \xC3\xA9 \xF0\x9F\x98\x80");
    // float <-> double conversions on read
    EXPECT_EQ(r.read<double>("layer.0 \"odd\" name")[2], 3.25);
    EXPECT_EQ(r.read<float>("d")[0], 0.1f);
    expect_io_error([&] { (void)r.read<float>("u"); }, {"tensor 'u'", "has dtype U64", "F16, BF16, F32 or F64"});
    expect_io_error([&] { (void)r.read<float>("nope"); }, {"tensor 'nope'", "is not in the file"});
}

TEST(Safetensors, ReadsFromMemoryAsFromAFile) {
    TempDir dir;
    tn::SafetensorsWriter w;
    w.add<float>("w", {2, 2}, std::vector<float>{1, 2, 3, 4});
    w.add<std::int32_t>("i", {1}, std::vector<std::int32_t>{-7});
    w.set_metadata("k", "v");
    w.write(dir / "m.safetensors");
    const tn::SafetensorsReader r(bytes_of(io_test::read_raw(dir / "m.safetensors")), "weights in memory");
    EXPECT_EQ(r.path(), "weights in memory");
    ASSERT_EQ(r.tensors().size(), 2u);
    EXPECT_EQ(r.read<float>("w"), (std::vector<float>{1, 2, 3, 4}));
    EXPECT_EQ(r.read<std::int32_t>("i"), std::vector<std::int32_t>{-7});
    EXPECT_EQ(r.metadata().at("k"), "v");
    expect_io_error([&] { (void)r.read<float>("nope"); }, {"safetensors file 'weights in memory'", "tensor 'nope'"});
}

TEST(Safetensors, ReadsHalfAndBfloat16Exactly) {
    TempDir dir;
    // F16: 1, -2.5, 65504 (max), 2^-24 (smallest subnormal), 2^-14 (smallest normal), -0, inf, NaN
    const std::vector<std::uint16_t> half{0x3C00, 0xC100, 0x7BFF, 0x0001, 0x0400, 0x8000, 0x7C00, 0x7E00};
    // BF16: 1, -3, 2^-133 (subnormal), inf
    const std::vector<std::uint16_t> bf{0x3F80, 0xC040, 0x0001, 0x7F80};
    auto bytes = [](const std::vector<std::uint16_t>& v) {
        std::vector<std::byte> b(v.size() * 2);
        std::memcpy(b.data(), v.data(), b.size());
        return b;
    };
    tn::SafetensorsWriter w;
    w.add_bytes("h", tn::Dtype::F16, {8}, bytes(half));
    w.add_bytes("b", tn::Dtype::BF16, {2, 2}, bytes(bf));
    w.write(dir / "h.safetensors");
    const tn::SafetensorsReader r(dir / "h.safetensors");
    const auto h = r.read<float>("h");
    EXPECT_EQ(h[0], 1.0f);
    EXPECT_EQ(h[1], -2.5f);
    EXPECT_EQ(h[2], 65504.0f);
    EXPECT_EQ(h[3], std::ldexp(1.0f, -24));
    EXPECT_EQ(h[4], std::ldexp(1.0f, -14));
    EXPECT_TRUE(h[5] == 0.0f && std::signbit(h[5]));
    EXPECT_EQ(h[6], std::numeric_limits<float>::infinity());
    EXPECT_TRUE(std::isnan(h[7]));
    const auto b = r.read<double>("b");
    EXPECT_EQ(b[0], 1.0);
    EXPECT_EQ(b[1], -3.0);
    EXPECT_EQ(b[2], std::ldexp(1.0, -133));
    EXPECT_EQ(b[3], std::numeric_limits<double>::infinity());
}

TEST(Safetensors, AcceptsWhitespaceAnyOrderAndZeroSizedTensors) {
    TempDir dir;
    const std::string header =
        " {\n \"b\" : {\"shape\":[1], \"data_offsets\":[4,8], \"dtype\":\"F32\"},\t\"z\":{\"dtype\":\"F64\",\"shape\":[0],"
        "\"data_offsets\":[4,4]},\r\n \"a\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4]}, \"__metadata__\":{} }   ";
    std::string data(8, '\0');
    data[4] = '\x00', data[5] = '\x00', data[6] = '\x80', data[7] = '\x3F';  // 1.0f
    write_raw(dir / "w.safetensors", st_file(header, data));
    const tn::SafetensorsReader r(dir / "w.safetensors");
    ASSERT_EQ(r.tensors().size(), 3u);
    EXPECT_EQ(r.read<float>("b"), std::vector<float>{1.0f});
    EXPECT_EQ(r.at("a").shape.size(), 0u) << "a scalar has shape []";
    EXPECT_EQ(r.read<std::int32_t>("a"), std::vector<std::int32_t>{0});
}

struct BadFile {
    const char* what;
    std::string bytes;
    std::vector<std::string> expected;  // substrings of the IoError's message
};

TEST(Safetensors, EveryMalformedFileGivesAClearIoError) {
    const std::string ok_entry = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
    std::string many_values = "[0";  // each value costs memory: their number is bounded
    for (int i = 0; i < (1 << 20); ++i) many_values += ",0";
    many_values += "]";
    auto one = [&](const std::string& entry, std::size_t data = 8) {
        return st_file("{\"a\":" + entry + "}", std::string(data, '\0'));
    };
    const std::vector<BadFile> cases{
        {"empty file", "", {"0 bytes long", "too short for the 8-byte header length"}},
        {"shorter than the length field", "abc", {"3 bytes long"}},
        {"header length beyond the file", le64(1000) + "{}", {"header of 1000 bytes", "beyond the end of the file"}},
        {"absurd header length", le64(std::numeric_limits<std::uint64_t>::max()) + "{}", {"beyond the end of the file"}},
        {"header length zero", le64(0) + "{}", {"0 bytes, too short for a JSON object"}},
        {"truncated JSON", st_file(R"({"a":{"dtype":"F32")"), {"malformed JSON header", "unexpected end"}},
        {"missing colon", st_file(R"({"a" {}})"), {"malformed JSON header", "expected ':'"}},
        {"trailing comma", st_file(R"({"a":{},})"), {"expected a string key"}},
        {"text after the object", st_file("{} x"), {"unexpected text after the end"}},
        {"top level array", st_file("[]"), {"is an array, not an object"}},
        {"fraction", one(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})"), {"only integers"}},
        {"true", one(R"({"dtype":true})"), {"true, false and null"}},
        {"leading zero", one(R"({"dtype":"F32","shape":[02],"data_offsets":[0,8]})"), {"leading zeros"}},
        {"integer overflow", one(R"({"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]})"), {"does not fit in 64 bits"}},
        {"nesting bomb", st_file(std::string(100000, '[')), {"nests deeper than 16 levels"}},
        {"value bomb (memory)", st_file(many_values), {"more than 1048576 values"}},
        {"invalid UTF-8", st_file("{\"\xC3\x28\":{}}"), {"invalid UTF-8"}},
        {"overlong UTF-8", st_file("{\"\xC0\xAF\":{}}"), {"invalid UTF-8"}},
        {"raw control character", st_file("{\"a\nb\":{}}"), {"control character"}},
        {"bad escape", st_file(R"({"a\q":{}})"), {"invalid escape '\\q'"}},
        {"lone surrogate", st_file(R"({"\udc00":{}})"), {"lone low surrogate"}},
        {"unterminated string", st_file(R"({"abc)"), {"unterminated string"}},
        {"duplicate tensor name", st_file("{\"a\":" + ok_entry + ",\"a\":" + ok_entry + "}", std::string(8, '\0')),
         {"duplicate key \"a\""}},
        {"unknown dtype", one(R"({"dtype":"F33","shape":[2],"data_offsets":[0,8]})"), {"tensor 'a'", "unknown dtype \"F33\""}},
        {"dtype not a string", one(R"({"dtype":32,"shape":[2],"data_offsets":[0,8]})"), {"tensor 'a'", "dtype that is not a string"}},
        {"missing field", one(R"({"dtype":"F32","data_offsets":[0,8]})"), {"tensor 'a'", "lacks the field shape"}},
        {"unknown field", one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":[]})"), {"tensor 'a'", "unknown field \"x\""}},
        {"negative dimension", one(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"), {"tensor 'a'", "not a non-negative integer"}},
        {"shape overflow", one(R"({"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]})"),
         {"tensor 'a'", "overflows 64 bits"}},
        {"three offsets", one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4,8]})"), {"tensor 'a'", "[begin, end]"}},
        {"offsets reversed", one(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})"), {"tensor 'a'", "end before they begin"}},
        {"shape and offsets disagree", one(R"({"dtype":"F32","shape":[2,2],"data_offsets":[0,8]})"),
         {"tensor 'a'", "shape (2, 2) of F32, which needs 16 bytes", "hold 8 bytes", "disagree"}},
        {"offsets past the end", one(ok_entry, 4), {"tensor 'a'", "past the end of the data, which holds 4 bytes"}},
        {"overlapping tensors",
         st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                 std::string(12, '\0')),
         {"tensor 'b'", "overlap tensor 'a' [0, 8]"}},
        {"gap between tensors",
         st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                 std::string(12, '\0')),
         {"tensor 'b'", "gap of 4 unused bytes"}},
        {"trailing data", one(ok_entry, 12), {"4 bytes of data after the last tensor"}},
        {"metadata not strings", st_file(R"({"__metadata__":{"k":1}})"), {"metadata \"k\"", "must be strings"}},
        {"metadata not an object", st_file(R"({"__metadata__":"x"})"), {"\"__metadata__\" that is a string"}},
    };
    TempDir dir;
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        const fs::path p = dir / "bad.safetensors";
        write_raw(p, c.bytes);
        auto expected = c.expected;
        expected.push_back("safetensors file '" + p.string() + "'");
        expect_io_error([&] { tn::SafetensorsReader r(p); }, expected);
        // The in-memory reader makes the same checks.
        expected.back() = "safetensors file 'in memory'";
        expect_io_error([&] { tn::SafetensorsReader r(bytes_of(c.bytes), "in memory"); }, expected);
    }
}

TEST(Safetensors, MissingFileAndDirectoryAreIoErrors) {
    TempDir dir;
    expect_io_error([&] { tn::SafetensorsReader r(dir / "none.safetensors"); }, {"none.safetensors", "does not exist"});
    expect_io_error([&] { tn::SafetensorsReader r(dir.path()); }, {"is a directory"});
}

// Random damage to a valid file: each result either reads completely or
// throws IoError; anything else (a crash, another exception, a huge
// allocation) fails. Run under AddressSanitizer for the full effect.
TEST(Safetensors, FuzzedFilesNeverCrash) {
    TempDir dir;
    tn::SafetensorsWriter w;
    w.add<float>("0.weight", {3, 4}, std::vector<float>(12, 0.5f));
    w.add<float>("0.bias", {3}, std::vector<float>(3, -1.0f));
    w.add<double>("2.weight", {2, 3}, std::vector<double>(6, 2.0));
    w.add<std::uint64_t>("__typenet__.rng_state", {4}, std::vector<std::uint64_t>{1, 2, 3, 4});
    w.set_metadata("typenet.version", "0.1.0");
    w.write(dir / "good.safetensors");
    const std::string good = io_test::read_raw(dir / "good.safetensors");
    std::size_t header_end = 8;
    for (int i = 0; i < 8; ++i) header_end += std::size_t(static_cast<unsigned char>(good[i])) << (8 * i);

    tn::Rng rng(2024);
    const fs::path p = dir / "fuzz.safetensors";
    std::size_t accepted = 0;
    for (int iter = 0; iter < 3000; ++iter) {
        std::string f = good;
        const int edits = 1 + int(rng.below(4));
        for (int e = 0; e < edits; ++e) {
            const auto kind = rng.below(6);
            // Mostly the header, where the parser lives.
            const std::size_t at = std::min<std::size_t>(rng.below(4) ? rng.below(header_end) : rng.below(f.size() + 1), f.size());
            if (kind == 0 && at < f.size()) f[at] = char(rng.below(256));
            else if (kind == 1 && at < f.size()) f[at] = "{}[]\",:0123456789-.e\\u "[rng.below(24)];
            else if (kind == 2) f.resize(std::min(f.size(), at));
            else if (kind == 3) f.insert(at, 1, char(rng.below(256)));
            else if (kind == 4 && at < f.size()) f.erase(at, 1 + rng.below(8));
            else if (kind == 5 && f.size() >= 8) f[rng.below(8)] = char(rng.below(256));  // the length field
        }
        write_raw(p, f);
        try {
            const tn::SafetensorsReader r(p);
            for (const auto& t : r.tensors()) {
                if (tn::is_readable_float(t.dtype)) (void)r.read<double>(t);
                else (void)r.read_bytes(t);
            }
            ++accepted;
        } catch (const tn::IoError&) {
        }
    }
    EXPECT_GT(accepted, 0u) << "some mutations (e.g. in tensor data) leave a valid file";
}

TEST(Safetensors, WriterRejectsReservedDuplicateAndMisSizedTensors) {
    tn::SafetensorsWriter w;
    const std::vector<float> v(4);
    w.add<float>("a", {4}, v);
    EXPECT_THROW(w.add<float>("a", {4}, v), tn::ArgumentError);
    EXPECT_THROW(w.add<float>("__metadata__", {4}, v), tn::ArgumentError);
    EXPECT_THROW(w.add<float>("b", {2, 3}, v), tn::ArgumentError);
}

TEST(Json, ParsesTheSubsetAndDecodesEscapes) {
    const auto v = tn::json::parse(R"( {"k": ["a\"b\\\/\b\f\n\r\t", "\u00e9\ud83d\ude00", 0, 18446744073709551615, -3, {}]} )");
    ASSERT_EQ(v.kind, tn::json::Value::Kind::object);
    const auto& items = v.find("k")->items;
    ASSERT_EQ(items.size(), 6u);
    EXPECT_EQ(items[0].string, "a\"b\\/\b\f\n\r\t");
    EXPECT_EQ(items[1].string, "\xC3\xA9\xF0\x9F\x98\x80");
    EXPECT_EQ(items[3].integer, std::numeric_limits<std::uint64_t>::max());
    EXPECT_TRUE(items[4].negative);
    EXPECT_EQ(items[4].integer, 3u);
    EXPECT_EQ(tn::json::parse(tn::json::quote(std::string("x\x01\"\\y", 5))).string, std::string("x\x01\"\\y", 5));
    EXPECT_THROW(tn::json::parse(R"({"a":1} {})"), tn::json::SyntaxError);
    EXPECT_THROW(tn::json::parse(R"("\ud800x")"), tn::json::SyntaxError);
    EXPECT_THROW(tn::json::parse("-"), tn::json::SyntaxError);
    EXPECT_THROW(tn::json::parse(""), tn::json::SyntaxError);
}
