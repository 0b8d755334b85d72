// typenet_make_seeds <dir>: writes the fuzz targets' seed corpora, valid files
// made by typenet's own writers, into <dir>/{idx,safetensors,json,load,onnx}.
// Valid seeds let libFuzzer start from the formats' structure instead of
// discovering it byte by byte. Every seed is read back before it counts.
#include <typenet/data/idx.hpp>
#include <typenet/io/json.hpp>
#include <typenet/io/onnx.hpp>
#include <typenet/io/safetensors.hpp>
#include <typenet/optim/adam.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz_model.hpp"

namespace fs = std::filesystem;
namespace tn = typenet;

namespace {

void write_bytes(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    if (!out) throw std::runtime_error("could not write " + p.string());
}

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <class T>
std::vector<std::byte> as_bytes(const std::vector<T>& v) {
    std::vector<std::byte> b(v.size() * sizeof(T));
    if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
    return b;
}

std::vector<std::uint8_t> ramp(std::size_t n) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = std::uint8_t(i * 37);
    return v;
}

void idx_seeds(const fs::path& dir) {
    tn::write_idx(dir / "labels.idx", {10}, std::vector<std::uint8_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    tn::write_idx(dir / "images-nhw.idx", {3, 4, 4}, ramp(48));
    tn::write_idx(dir / "images-nchw.idx", {2, 1, 3, 3}, ramp(18));
    tn::write_idx(dir / "features-nf.idx", {2, 5}, ramp(10));
    tn::write_idx(dir / "one-byte.idx", {1}, std::vector<std::uint8_t>{255});
    for (const auto& p : fs::directory_iterator(dir)) (void)tn::read_idx(p.path());
    // The IDX types typenet rejects (signed byte, int16, int32, float32,
    // float64), three big-endian elements each: the fuzzer mutates from them too.
    const struct {
        const char* name;
        std::uint8_t code, size;
    } others[] = {{"i8", 0x09, 1}, {"i16", 0x0B, 2}, {"i32", 0x0C, 4}, {"f32", 0x0D, 4}, {"f64", 0x0E, 8}};
    for (const auto& o : others) {
        std::string f{'\0', '\0', char(o.code), '\1', '\0', '\0', '\0', '\3'};
        for (int e = 0; e < 3; ++e)
            for (int b = 0; b < o.size; ++b) f += char(b == o.size - 1 ? e + 1 : 0);
        write_bytes(dir / (std::string("rejected-") + o.name + ".idx"), f);
    }
}

void safetensors_seeds(const fs::path& dir) {
    {
        tn::SafetensorsWriter w;
        w.add<float>("0.weight", {2, 3}, std::vector<float>{1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, 7.0f});
        w.add<double>("0.bias", {2}, std::vector<double>{0.1, -1e300});
        w.add<std::uint64_t>("__typenet__.rng_state", {4}, std::vector<std::uint64_t>{1, 2, 3, ~std::uint64_t{0}});
        w.set_metadata("format", "pt");
        w.set_metadata("note", "escapes \"\\\n\t and UTF-8 \xC3\xA9 \xF0\x9F\x98\x80");
        w.write(dir / "f32-f64-u64-metadata.safetensors");
    }
    {
        tn::SafetensorsWriter w;  // F16: 1, -2.5, inf, NaN; BF16: 1, -3
        w.add_bytes("h", tn::Dtype::F16, {2, 2}, as_bytes(std::vector<std::uint16_t>{0x3C00, 0xC100, 0x7C00, 0x7E00}));
        w.add_bytes("b", tn::Dtype::BF16, {2}, as_bytes(std::vector<std::uint16_t>{0x3F80, 0xC040}));
        w.write(dir / "f16-bf16.safetensors");
    }
    {
        tn::SafetensorsWriter w;  // every dtype; a scalar and a zero-sized tensor among them
        for (const auto d : {tn::Dtype::BOOL, tn::Dtype::U8, tn::Dtype::I8, tn::Dtype::F8_E5M2, tn::Dtype::F8_E4M3,
                             tn::Dtype::I16, tn::Dtype::U16, tn::Dtype::F16, tn::Dtype::BF16, tn::Dtype::I32,
                             tn::Dtype::U32, tn::Dtype::F32, tn::Dtype::I64, tn::Dtype::U64, tn::Dtype::F64})
            w.add_bytes(std::string(tn::dtype_name(d)), d, {3}, std::vector<std::byte>(3 * tn::dtype_size(d), std::byte{1}));
        w.add<float>("scalar", {}, std::vector<float>{42.0f});
        w.add<float>("empty", {0, 3}, std::vector<float>{});
        w.write(dir / "all-dtypes.safetensors");
    }
    {
        tn::SafetensorsWriter w;
        w.set_metadata("only", "metadata");
        w.write(dir / "no-tensors.safetensors");
    }
}

// Weights and checkpoints of fuzz::Net: what fuzz_load takes, and real-world
// safetensors seeds for fuzz_safetensors too.
void model_seeds(const fs::path& dir) {
    fuzz::Model model{7, tn::Cpu{1}};
    tn::save(model, dir / "model.safetensors");
    fuzz::Optimizer optimizer;
    tn::save_checkpoint(dir / "checkpoint-fresh.safetensors", model, optimizer, 0);
    model.optimizer_state().claim(fuzz::Optimizer::name, fuzz::Optimizer::state_slots);  // as after 3 training steps
    model.optimizer_state().set_step(3);
    tn::save_checkpoint(dir / "checkpoint.safetensors", model, optimizer, 1);
    // Another optimizer's checkpoint: its state has another shape than fuzz::Optimizer's.
    tn::Adam adam;
    model.optimizer_state().claim(tn::Adam::name, tn::Adam::state_slots);
    tn::save_checkpoint(dir / "checkpoint-adam.safetensors", model, adam, 2);

    // The same weights as PyTorch might store them: F64, BF16 (a float's upper
    // half), and BatchNorm's num_batches_tracked counter.
    const std::vector<float> p = model.parameters().to_host(), b = model.buffers().to_host();
    tn::SafetensorsWriter f64, bf16;
    auto add = [&](const auto& segments, const std::vector<float>& values) {
        for (const auto& s : segments) {
            const std::vector<float> v(values.begin() + std::ptrdiff_t(s.offset),
                                       values.begin() + std::ptrdiff_t(s.offset + s.size));
            f64.add<double>(s.name, tn::io_detail::shape_of(s.dims), std::vector<double>(v.begin(), v.end()));
            std::vector<std::uint16_t> h(v.size());
            for (std::size_t i = 0; i < v.size(); ++i) h[i] = std::uint16_t(std::bit_cast<std::uint32_t>(v[i]) >> 16);
            bf16.add_bytes(s.name, tn::Dtype::BF16, tn::io_detail::shape_of(s.dims), as_bytes(h));
        }
    };
    add(model.segments(), p);
    add(model.buffer_segments(), b);
    f64.add<std::int64_t>("1.num_batches_tracked", {}, std::vector<std::int64_t>{5});
    f64.write(dir / "model-f64-torch.safetensors");
    bf16.write(dir / "model-bf16.safetensors");

    fuzz::Model check{8, tn::Cpu{1}};
    for (const auto& e : fs::directory_iterator(dir)) tn::load(check, e.path());
    fuzz::Optimizer check_optimizer;
    (void)tn::load_checkpoint(dir / "checkpoint.safetensors", check, check_optimizer);
}

// The JSON header of every safetensors seed, and documents that use the
// parser's escapes, Unicode, nesting and integer forms.
void json_seeds(const fs::path& dir, const fs::path& safetensors_dir) {
    for (const auto& e : fs::directory_iterator(safetensors_dir)) {
        const std::string f = read_bytes(e.path());
        std::uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | std::uint8_t(f[std::size_t(i)]);
        write_bytes(dir / ("header-" + e.path().stem().string() + ".json"), f.substr(8, n));
    }
    const char* docs[] = {
        R"({})",
        R"([])",
        R"("a string")",
        R"(0)",
        R"(-42)",
        R"(18446744073709551615)",
        R"({"k": ["a\"b\\\/\b\f\n\r\t", "\u00e9\ud83d\ude00\u0000", 0, -3, {}, []]})",
        "{\"utf-8\": \"\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"}",
        R"([[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]])",
        " {\n \"a\" : {\"dtype\":\"F32\", \"shape\":[1,2], \"data_offsets\":[0,8]},\r\n\t\"__metadata__\":{\"k\":\"v\"} } ",
    };
    int i = 0;
    for (const char* d : docs) {
        (void)tn::json::parse(d);
        write_bytes(dir / ("doc-" + std::to_string(i++) + ".json"), d);
    }
}

// fuzz::Net as export_onnx writes it, with a final Softmax, and as PyTorch
// would: Reshape with a Constant shape, a zero Pad, the bias through Identity.
void onnx_seeds(const fs::path& dir) {
    fuzz::Model model{7, tn::Cpu{1}};
    tn::export_onnx(model, dir / "model.onnx");
    tn::export_onnx(model, dir / "model-softmax.onnx", {.append_softmax = true});
    auto p = tn::onnx_model(model);
    tn::onnx::Tensor shape;
    shape.name = "shape";
    shape.data_type = tn::onnx::INT64;
    shape.dims = {2};
    for (const std::int64_t v : {std::int64_t(-1), std::int64_t(18)})
        for (int k = 0; k < 8; ++k) shape.raw.push_back(std::byte((std::uint64_t(v) >> (8 * k)) & 0xFF));
    tn::onnx::Node constant{"c", "Constant", "", {}, {"shape"}, {}};
    tn::onnx::Attribute value;
    value.name = "value";
    value.type = tn::onnx::ATTR_TENSOR;
    value.t.push_back(shape);
    constant.attributes.push_back(value);
    tn::onnx::Node alias{"alias", "Identity", "", {"4.bias"}, {"bias_alias"}, {}};
    for (auto& n : p.graph.nodes) {
        if (n.op_type == "Flatten") n.op_type = "Reshape", n.attributes.clear(), n.inputs.push_back("shape");
        if (n.op_type == "Gemm") n.inputs[2] = "bias_alias";
    }
    p.graph.nodes.insert(p.graph.nodes.begin(), {constant, alias});
    const auto bytes = tn::onnx::serialize(p);
    write_bytes(dir / "model-torch-style.onnx", std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    fuzz::Model check{8, tn::Cpu{1}};
    for (const auto& e : fs::directory_iterator(dir)) (void)tn::load_onnx(check, e.path());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " <corpus-dir>\n";
        return 2;
    }
    try {
        const fs::path root = argv[1];
        for (const char* d : {"idx", "safetensors", "json", "load", "onnx"}) {
            fs::remove_all(root / d);
            fs::create_directories(root / d);
        }
        idx_seeds(root / "idx");
        safetensors_seeds(root / "safetensors");
        model_seeds(root / "load");
        for (const auto& e : fs::directory_iterator(root / "load"))
            fs::copy_file(e.path(), root / "safetensors" / e.path().filename());
        for (const auto& e : fs::directory_iterator(root / "safetensors")) tn::SafetensorsReader r(e.path());
        json_seeds(root / "json", root / "safetensors");
        onnx_seeds(root / "onnx");
        for (const char* d : {"idx", "safetensors", "json", "load", "onnx"})
            std::cout << "make_seeds: " << std::distance(fs::directory_iterator(root / d), fs::directory_iterator{})
                      << " seeds in " << (root / d).string() << "\n";
    } catch (const std::exception& e) {
        std::cerr << "make_seeds: " << e.what() << "\n";
        return 1;
    }
}
