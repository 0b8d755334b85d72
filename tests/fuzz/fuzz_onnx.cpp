// libFuzzer target: load_onnx of a small network (fuzz_model.hpp) from
// arbitrary bytes, and the ONNX parser on its own. An IoError is the promised
// answer to a bad or mismatching file, and then the model must be left
// exactly as it was. What the parser accepts must survive a round trip:
// serialize() of the parsed model parses to the same model.
#include <typenet/io/onnx.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_check.hpp"
#include "fuzz_model.hpp"

namespace tn = typenet;

namespace {
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}
bool same(const tn::onnx::Tensor& a, const tn::onnx::Tensor& b) {
    return a.name == b.name && a.data_type == b.data_type && a.dims == b.dims && a.raw == b.raw && a.external == b.external;
}
// The fields serialize() writes (it drops what load_onnx never reads).
bool same(const tn::onnx::ModelProto& a, const tn::onnx::ModelProto& b) {
    if (a.ir_version != b.ir_version || a.opsets != b.opsets || a.producer_name != b.producer_name ||
        a.graph.name != b.graph.name || a.graph.nodes.size() != b.graph.nodes.size() ||
        a.graph.initializers.size() != b.graph.initializers.size() || a.graph.inputs.size() != b.graph.inputs.size())
        return false;
    for (std::size_t i = 0; i < a.graph.nodes.size(); ++i) {
        const auto &x = a.graph.nodes[i], &y = b.graph.nodes[i];
        if (x.op_type != y.op_type || x.name != y.name || x.inputs != y.inputs || x.outputs != y.outputs ||
            x.domain != y.domain || x.attributes.size() != y.attributes.size())
            return false;
        for (std::size_t k = 0; k < x.attributes.size(); ++k)
            if (x.attributes[k].name != y.attributes[k].name || x.attributes[k].type != y.attributes[k].type) return false;
    }
    for (std::size_t i = 0; i < a.graph.initializers.size(); ++i)
        if (!same(a.graph.initializers[i], b.graph.initializers[i])) return false;
    return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static fuzz::Model model{1, tn::Cpu{1}};
    static const std::vector<float> initial_parameters = model.parameters().to_host();
    static const std::vector<float> initial_buffers = model.buffers().to_host();
    model.parameters().from_host(initial_parameters);  // each input starts from the same model
    model.buffers().from_host(initial_buffers);

    std::vector<std::byte> bytes(size);
    if (size) std::memcpy(bytes.data(), data, size);
    try {
        (void)tn::load_onnx(model, std::span<const std::byte>(bytes), "fuzz.onnx");
    } catch (const tn::IoError&) {
        fuzz::check(same_bits(model.parameters().to_host(), initial_parameters) &&
                        same_bits(model.buffers().to_host(), initial_buffers),
                    "a failed load_onnx() leaves the model as it was");
    }

    tn::onnx::ModelProto parsed;
    try {
        parsed = tn::onnx::parse(bytes, "fuzz.onnx");
    } catch (const tn::IoError&) {
        return 0;
    }
    // serialize() writes every attribute with its type, so an attribute of an unknown type
    // (graphs, strings lists, ...) reads back as type 0: compare only the known ones.
    for (auto& n : parsed.graph.nodes)
        for (auto& a : n.attributes)
            if (a.type != tn::onnx::ATTR_FLOAT && a.type != tn::onnx::ATTR_INT && a.type != tn::onnx::ATTR_STRING &&
                a.type != tn::onnx::ATTR_TENSOR && a.type != tn::onnx::ATTR_FLOATS && a.type != tn::onnx::ATTR_INTS)
                a.type = 0;
    try {
        const auto again = tn::onnx::parse(tn::onnx::serialize(parsed), "rewritten.onnx");
        fuzz::check(same(parsed, again), "a parsed ONNX model, written again, parses to the same model");
    } catch (const tn::IoError&) {
        fuzz::check(false, "the parser reads back what serialize() wrote of an accepted file");
    }
    return 0;
}
