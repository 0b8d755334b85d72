// typenet/io/onnx.hpp - a Sequential network to and from an ONNX file.
//
// export_onnx(model, path, options) writes the network as an ONNX ModelProto
// (opset 13, IR version 7): one node per layer, the weights as float
// initializers named like the safetensors tensors ("0.weight"), the input
// "input" (batch, input shape...) with a symbolic batch dimension "N" and the
// output "output". load_onnx(model, path) reads a chain graph that matches the
// network type, as export_onnx or torch.onnx.export writes it, checking every
// operator, attribute, shape and dtype, and takes the initializers as weights.
//
// No protobuf library: the wire format is written and read here directly.
// The reader trusts nothing: every length is checked against the bytes that
// remain before anything is allocated, the parser follows the fixed schema
// path Model > Graph > Node > Attribute > Tensor (never recursing, never
// descending into subgraphs; at most 7 levels), and every problem is an
// IoError naming the file and the node, attribute or tensor.
//
// Field numbers used, from onnx.proto (onnx/onnx, stable since IR version 3):
//   ModelProto       1 ir_version, 2 producer_name, 3 producer_version, 7 graph, 8 opset_import
//   OperatorSetId    1 domain, 2 version
//   GraphProto       1 node, 2 name, 5 initializer, 11 input, 12 output
//   NodeProto        1 input, 2 output, 3 name, 4 op_type, 5 attribute, 7 domain
//   AttributeProto   1 name, 2 f, 3 i, 4 s, 5 t, 7 floats, 8 ints, 20 type
//                    (type: 1 FLOAT, 2 INT, 3 STRING, 4 TENSOR, 6 FLOATS, 7 INTS)
//   TensorProto      1 dims, 2 data_type, 4 float_data, 7 int64_data, 8 name, 9 raw_data,
//                    10 double_data, 14 data_location (1 = EXTERNAL)
//                    (data_type: 1 FLOAT, 7 INT64, 11 DOUBLE)
//   ValueInfoProto   1 name, 2 type;  TypeProto 1 tensor_type;  TypeProto.Tensor 1 elem_type, 2 shape
//   TensorShapeProto 1 dim;  Dimension 1 dim_value, 2 dim_param
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/activation_kind.hpp"
#include "../core/conv_geometry.hpp"
#include "../core/error.hpp"
#include "../core/shape.hpp"
#include "../core/version.hpp"
#include "../layers/activation.hpp"
#include "../layers/batchnorm.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/dense.hpp"
#include "../layers/dropout.hpp"
#include "../layers/flatten.hpp"
#include "../layers/pool2d.hpp"
#include "../model/sequential.hpp"
#include "atomic_file.hpp"

static_assert(std::endian::native == std::endian::little, "typenet's ONNX reader and writer assume a little-endian host");

namespace typenet {

namespace onnx {

inline constexpr std::int64_t opset = 13;      // the opset export_onnx writes
inline constexpr std::int64_t ir_version = 7;  // the IR version that goes with opset 13
// Opsets load_onnx reads: the operators typenet uses mean the same from 9
// (BatchNormalization without "spatial") to 21 on the inputs typenet has.
inline constexpr std::int64_t min_opset = 9, max_opset = 21;

enum DataType : std::int32_t { FLOAT = 1, INT64 = 7, DOUBLE = 11 };
enum AttrType : std::int32_t { ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_STRING = 3, ATTR_TENSOR = 4, ATTR_FLOATS = 6, ATTR_INTS = 7 };

inline std::string data_type_name(std::int32_t t) {
    static constexpr std::array<const char*, 17> names{"UNDEFINED", "FLOAT", "UINT8",  "INT8",   "UINT16",    "INT16",
                                                       "INT32",     "INT64", "STRING", "BOOL",   "FLOAT16",   "DOUBLE",
                                                       "UINT32",    "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"};
    if (t >= 0 && t < std::int32_t(names.size())) return names[std::size_t(t)];
    return "data type " + std::to_string(t);
}

/// A tensor: initializer, Constant value or attribute. Data as raw little-endian bytes.
struct Tensor {
    std::string name;
    std::int32_t data_type = FLOAT;
    std::vector<std::int64_t> dims;
    std::vector<std::byte> raw;
    bool external = false;  // data_location = EXTERNAL: the data is in another file

    std::uint64_t elements() const {
        std::uint64_t n = 1;
        for (auto d : dims) n *= std::uint64_t(d);  // dims checked non-negative and bounded by the reader
        return n;
    }
};

struct Attribute {
    std::string name;
    std::int32_t type = 0;
    float f = 0;
    std::int64_t i = 0;
    std::string s;
    std::vector<Tensor> t;  // zero or one
    std::vector<float> floats;
    std::vector<std::int64_t> ints;
};

struct Node {
    std::string name, op_type, domain;
    std::vector<std::string> inputs, outputs;
    std::vector<Attribute> attributes;

    const Attribute* find(std::string_view n) const {
        for (const auto& a : attributes)
            if (a.name == n) return &a;
        return nullptr;
    }
};

struct Dim {
    std::int64_t value = -1;  // -1: symbolic or unknown
    std::string param;
};

struct ValueInfo {
    std::string name;
    std::int32_t elem_type = 0;
    bool has_shape = false;
    std::vector<Dim> dims;
};

struct Graph {
    std::string name;
    std::vector<Node> nodes;
    std::vector<Tensor> initializers;
    std::vector<ValueInfo> inputs, outputs;
};

struct ModelProto {
    std::int64_t ir_version = 0;
    std::vector<std::pair<std::string, std::int64_t>> opsets;  // (domain, version)
    std::string producer_name, producer_version;
    Graph graph;
};

// --- writing -------------------------------------------------------------

namespace wire {
enum Type : unsigned { t_varint = 0, t_fixed64 = 1, t_bytes = 2, t_fixed32 = 5 };

class Writer {
public:
    std::vector<std::byte> out;

    void varint(std::uint64_t v) {
        while (v >= 0x80) {
            out.push_back(std::byte((v & 0x7F) | 0x80));
            v >>= 7;
        }
        out.push_back(std::byte(v));
    }
    void tag(unsigned field, Type t) { varint((std::uint64_t(field) << 3) | t); }
    void int_field(unsigned field, std::int64_t v) { tag(field, t_varint), varint(std::uint64_t(v)); }
    void float_field(unsigned field, float v) {
        tag(field, t_fixed32);
        const auto u = std::bit_cast<std::uint32_t>(v);
        for (int k = 0; k < 4; ++k) out.push_back(std::byte((u >> (8 * k)) & 0xFF));
    }
    void bytes_field(unsigned field, std::span<const std::byte> b) {
        tag(field, t_bytes);
        varint(b.size());
        out.insert(out.end(), b.begin(), b.end());
    }
    void string_field(unsigned field, std::string_view s) { bytes_field(field, std::as_bytes(std::span(s.data(), s.size()))); }
    void message_field(unsigned field, const Writer& w) { bytes_field(field, w.out); }
};
}  // namespace wire

inline wire::Writer serialize(const Tensor& t) {
    wire::Writer w;
    for (auto d : t.dims) w.int_field(1, d);
    w.int_field(2, t.data_type);
    w.string_field(8, t.name);
    w.bytes_field(9, t.raw);
    if (t.external) w.int_field(14, 1);
    return w;
}

inline wire::Writer serialize(const Attribute& a) {
    wire::Writer w;
    w.string_field(1, a.name);
    switch (a.type) {
        case ATTR_FLOAT: w.float_field(2, a.f); break;
        case ATTR_INT: w.int_field(3, a.i); break;
        case ATTR_STRING: w.string_field(4, a.s); break;
        case ATTR_TENSOR:
            for (const auto& t : a.t) w.message_field(5, serialize(t));
            break;
        case ATTR_FLOATS:
            for (float f : a.floats) w.float_field(7, f);
            break;
        case ATTR_INTS:
            for (auto i : a.ints) w.int_field(8, i);
            break;
        default: break;
    }
    w.int_field(20, a.type);
    return w;
}

inline wire::Writer serialize(const Node& n) {
    wire::Writer w;
    for (const auto& s : n.inputs) w.string_field(1, s);
    for (const auto& s : n.outputs) w.string_field(2, s);
    w.string_field(3, n.name);
    w.string_field(4, n.op_type);
    for (const auto& a : n.attributes) w.message_field(5, serialize(a));
    if (!n.domain.empty()) w.string_field(7, n.domain);
    return w;
}

inline wire::Writer serialize(const ValueInfo& v) {
    wire::Writer shape;
    for (const auto& d : v.dims) {
        wire::Writer dim;
        if (d.value >= 0) dim.int_field(1, d.value);
        else dim.string_field(2, d.param);
        shape.message_field(1, dim);
    }
    wire::Writer tensor_type;
    tensor_type.int_field(1, v.elem_type);
    if (v.has_shape) tensor_type.message_field(2, shape);
    wire::Writer type;
    type.message_field(1, tensor_type);
    wire::Writer w;
    w.string_field(1, v.name);
    w.message_field(2, type);
    return w;
}

/// The ModelProto's bytes.
inline std::vector<std::byte> serialize(const ModelProto& m) {
    wire::Writer g;
    for (const auto& n : m.graph.nodes) g.message_field(1, serialize(n));
    g.string_field(2, m.graph.name);
    for (const auto& t : m.graph.initializers) g.message_field(5, serialize(t));
    for (const auto& v : m.graph.inputs) g.message_field(11, serialize(v));
    for (const auto& v : m.graph.outputs) g.message_field(12, serialize(v));
    wire::Writer w;
    w.int_field(1, m.ir_version);
    w.string_field(2, m.producer_name);
    w.string_field(3, m.producer_version);
    w.message_field(7, g);
    for (const auto& [domain, version] : m.opsets) {
        wire::Writer o;
        o.string_field(1, domain);
        o.int_field(2, version);
        w.message_field(8, o);
    }
    return std::move(w.out);
}

// --- reading -------------------------------------------------------------

/// Parses a ModelProto from bytes; `file` names it in error messages.
class Parser {
public:
    static constexpr std::size_t max_file_bytes = std::size_t(2) << 30;  // protobuf's own 2 GiB limit
    static constexpr std::size_t max_rank = 32;

    Parser(std::span<const std::byte> bytes, std::string file) : data_(bytes), file_(std::move(file)) {}

    ModelProto parse() {
        if (data_.size() > max_file_bytes)
            fail(0, "is " + std::to_string(data_.size()) + " bytes, more than protobuf's 2 GiB limit", "ModelProto");
        if (data_.empty()) fail(0, "is empty", "ModelProto");
        ModelProto m;
        bool has_graph = false;
        for_fields({0, data_.size()}, "ModelProto", [&](unsigned field, Span f) {
            switch (field) {
                case 1: m.ir_version = std::int64_t(expect_varint(f, "ModelProto.ir_version")); break;
                case 2: m.producer_name = expect_string(f, "ModelProto.producer_name"); break;
                case 3: m.producer_version = expect_string(f, "ModelProto.producer_version"); break;
                case 7: m.graph = graph(expect_bytes(f, "ModelProto.graph")), has_graph = true; break;
                case 8: m.opsets.push_back(opset_id(expect_bytes(f, "ModelProto.opset_import"))); break;
                default: break;
            }
        });
        if (!has_graph) fail(data_.size(), "has no graph (field 7 of ModelProto is missing): is this an ONNX model?", "ModelProto");
        return m;
    }

private:
    // A field as the parser met it: wire type, its value for varint / fixed
    // types, its extent [begin, end) in data_ for length-delimited ones.
    struct Span {
        std::size_t begin = 0, end = 0;
        unsigned type = 0;
        std::uint64_t value = 0;
    };

    [[noreturn]] void fail(std::size_t at, const std::string& what, std::string_view where) const {
        throw IoError("load_onnx('" + file_ + "'): malformed ONNX file: " + std::string(where) + " " + what + " (at byte " +
                      std::to_string(at) + "); the file is damaged or not an ONNX model. Export it again.");
    }

    std::uint64_t read_varint(std::size_t& p, std::size_t end, std::string_view where) const {
        std::uint64_t v = 0;
        for (unsigned shift = 0; shift < 64; shift += 7) {
            if (p >= end) fail(p, "ends inside a varint (truncated)", where);
            const auto b = std::uint8_t(data_[p++]);
            if (shift == 63 && b > 1) fail(p - 1, "has a varint longer than 64 bits", where);
            v |= std::uint64_t(b & 0x7F) << shift;
            if (!(b & 0x80)) return v;
        }
        fail(p, "has a varint longer than 10 bytes", where);
    }

    // Calls f(field, span) for every field of the message in [r.begin, r.end).
    template <class F>
    void for_fields(Span r, std::string_view where, F&& f) const {
        std::size_t p = r.begin;
        while (p < r.end) {
            const std::size_t at = p;
            const std::uint64_t key = read_varint(p, r.end, where);
            const auto field = key >> 3;
            Span s;
            s.begin = at;  // where a scalar field starts; a length-delimited one's data, below
            s.type = unsigned(key & 7);
            if (field == 0 || field > (std::uint64_t(1) << 29) - 1) fail(at, "has an invalid field number " + std::to_string(field), where);
            switch (s.type) {
                case wire::t_varint: s.value = read_varint(p, r.end, where); break;
                case wire::t_fixed64:
                case wire::t_fixed32: {
                    const std::size_t n = s.type == wire::t_fixed64 ? 8 : 4;
                    if (r.end - p < n) fail(p, "ends inside a fixed-size field (truncated)", where);
                    for (std::size_t k = 0; k < n; ++k) s.value |= std::uint64_t(std::uint8_t(data_[p + k])) << (8 * k);
                    p += n;
                    break;
                }
                case wire::t_bytes: {
                    const std::uint64_t len = read_varint(p, r.end, where);
                    if (len > r.end - p)
                        fail(p, "declares a field " + std::to_string(field) + " of " + std::to_string(len) + " bytes but only " +
                                    std::to_string(r.end - p) + " remain in the enclosing message (truncated or damaged)",
                             where);
                    s.begin = p;
                    s.end = p + std::size_t(len);
                    p = s.end;
                    break;
                }
                default: fail(at, "has field " + std::to_string(field) + " of wire type " + std::to_string(s.type) +
                                      " (groups or invalid), which ONNX does not use", where);
            }
            f(unsigned(field), s);
        }
    }

    void expect_type(const Span& s, unsigned type, std::string_view where) const {
        static constexpr std::array<const char*, 6> names{"varint", "fixed64", "length-delimited", "group", "group", "fixed32"};
        if (s.type != type)
            fail(s.begin, std::string("has wire type ") + names[s.type] + " where " + names[type] + " is expected", where);
    }
    std::uint64_t expect_varint(const Span& s, std::string_view where) const {
        expect_type(s, wire::t_varint, where);
        return s.value;
    }
    Span expect_bytes(const Span& s, std::string_view where) const {
        expect_type(s, wire::t_bytes, where);
        return s;
    }
    std::string expect_string(const Span& s, std::string_view where) const {
        expect_type(s, wire::t_bytes, where);
        return {reinterpret_cast<const char*>(data_.data()) + s.begin, s.end - s.begin};
    }
    float expect_float(const Span& s, std::string_view where) const {
        expect_type(s, wire::t_fixed32, where);
        return std::bit_cast<float>(std::uint32_t(s.value));
    }
    // A repeated varint field, packed (one length-delimited run) or not.
    void repeated_varint(const Span& s, std::vector<std::int64_t>& out, std::string_view where) const {
        if (s.type == wire::t_varint) {
            out.push_back(std::int64_t(s.value));
            return;
        }
        expect_type(s, wire::t_bytes, where);
        std::size_t p = s.begin;
        while (p < s.end) out.push_back(std::int64_t(read_varint(p, s.end, where)));
    }
    // A repeated fixed-size field (float: 4, double: 8 bytes), packed or not, appended as raw bytes.
    void repeated_fixed(const Span& s, unsigned size, std::vector<std::byte>& raw, std::string_view where) const {
        if (s.type == (size == 4 ? wire::t_fixed32 : wire::t_fixed64)) {
            for (unsigned k = 0; k < size; ++k) raw.push_back(std::byte((s.value >> (8 * k)) & 0xFF));
            return;
        }
        expect_type(s, wire::t_bytes, where);
        if ((s.end - s.begin) % size != 0)
            fail(s.begin, "holds " + std::to_string(s.end - s.begin) + " bytes, not a whole number of " + std::to_string(size) +
                              "-byte values", where);
        raw.insert(raw.end(), data_.begin() + std::ptrdiff_t(s.begin), data_.begin() + std::ptrdiff_t(s.end));
    }

    std::pair<std::string, std::int64_t> opset_id(Span r) const {
        std::pair<std::string, std::int64_t> o{"", 0};
        for_fields(r, "OperatorSetIdProto", [&](unsigned field, Span f) {
            if (field == 1) o.first = expect_string(f, "OperatorSetIdProto.domain");
            else if (field == 2) o.second = std::int64_t(expect_varint(f, "OperatorSetIdProto.version"));
        });
        return o;
    }

    Graph graph(Span r) const {
        Graph g;
        for_fields(r, "GraphProto", [&](unsigned field, Span f) {
            switch (field) {
                case 1: g.nodes.push_back(node(expect_bytes(f, "GraphProto.node"))); break;
                case 2: g.name = expect_string(f, "GraphProto.name"); break;
                case 5: g.initializers.push_back(tensor(expect_bytes(f, "GraphProto.initializer"))); break;
                case 11: g.inputs.push_back(value_info(expect_bytes(f, "GraphProto.input"))); break;
                case 12: g.outputs.push_back(value_info(expect_bytes(f, "GraphProto.output"))); break;
                default: break;
            }
        });
        return g;
    }

    Node node(Span r) const {
        Node n;
        for_fields(r, "NodeProto", [&](unsigned field, Span f) {
            switch (field) {
                case 1: n.inputs.push_back(expect_string(f, "NodeProto.input")); break;
                case 2: n.outputs.push_back(expect_string(f, "NodeProto.output")); break;
                case 3: n.name = expect_string(f, "NodeProto.name"); break;
                case 4: n.op_type = expect_string(f, "NodeProto.op_type"); break;
                case 5: n.attributes.push_back(attribute(expect_bytes(f, "NodeProto.attribute"))); break;
                case 7: n.domain = expect_string(f, "NodeProto.domain"); break;
                default: break;
            }
        });
        return n;
    }

    Attribute attribute(Span r) const {
        Attribute a;
        std::int32_t seen = 0;  // the kind of value present, for files without the type field
        for_fields(r, "AttributeProto", [&](unsigned field, Span f) {
            switch (field) {
                case 1: a.name = expect_string(f, "AttributeProto.name"); break;
                case 2: a.f = expect_float(f, "AttributeProto.f"), seen = ATTR_FLOAT; break;
                case 3: a.i = std::int64_t(expect_varint(f, "AttributeProto.i")), seen = ATTR_INT; break;
                case 4: a.s = expect_string(f, "AttributeProto.s"), seen = ATTR_STRING; break;
                case 5:
                    if (!a.t.empty()) fail(f.begin, "holds two tensors", "AttributeProto.t");
                    a.t.push_back(tensor(expect_bytes(f, "AttributeProto.t"))), seen = ATTR_TENSOR;
                    break;
                case 7: {
                    std::vector<std::byte> raw;
                    repeated_fixed(f, 4, raw, "AttributeProto.floats");
                    for (std::size_t k = 0; k < raw.size(); k += 4) {
                        float v;
                        std::memcpy(&v, raw.data() + k, 4);
                        a.floats.push_back(v);
                    }
                    seen = ATTR_FLOATS;
                    break;
                }
                case 8: repeated_varint(f, a.ints, "AttributeProto.ints"), seen = ATTR_INTS; break;
                case 20: a.type = std::int32_t(expect_varint(f, "AttributeProto.type")); break;
                default: break;
            }
        });
        if (a.type == 0) a.type = seen;
        return a;
    }

    Tensor tensor(Span r) const {
        Tensor t;
        t.data_type = 0;
        std::vector<std::byte> typed;  // float_data / double_data / int64_data, as raw bytes
        bool has_raw = false;
        for_fields(r, "TensorProto", [&](unsigned field, Span f) {
            switch (field) {
                case 1: {
                    repeated_varint(f, t.dims, "TensorProto.dims");
                    if (t.dims.size() > max_rank) fail(f.begin, "has more than 32 dimensions", "TensorProto.dims");
                    break;
                }
                case 2: t.data_type = std::int32_t(expect_varint(f, "TensorProto.data_type")); break;
                case 4: repeated_fixed(f, 4, typed, "TensorProto.float_data"); break;
                case 7: {
                    std::vector<std::int64_t> v;
                    repeated_varint(f, v, "TensorProto.int64_data");
                    for (auto x : v)
                        for (int k = 0; k < 8; ++k) typed.push_back(std::byte((std::uint64_t(x) >> (8 * k)) & 0xFF));
                    break;
                }
                case 8: t.name = expect_string(f, "TensorProto.name"); break;
                case 9: {
                    const Span b = expect_bytes(f, "TensorProto.raw_data");
                    t.raw.assign(data_.begin() + std::ptrdiff_t(b.begin), data_.begin() + std::ptrdiff_t(b.end));
                    has_raw = true;
                    break;
                }
                case 10: repeated_fixed(f, 8, typed, "TensorProto.double_data"); break;
                case 14: t.external = expect_varint(f, "TensorProto.data_location") == 1; break;
                default: break;
            }
        });
        if (!has_raw) t.raw = std::move(typed);
        else if (!typed.empty()) fail(r.begin, "of '" + t.name + "' holds both raw_data and typed data", "TensorProto");
        // The element count must fit the bytes present (checked again per dtype where the data is used).
        std::uint64_t n = 1;
        for (auto d : t.dims) {
            if (d < 0) fail(r.begin, "of '" + t.name + "' has a negative dimension " + std::to_string(d), "TensorProto");
            if (d != 0 && n > (std::uint64_t(1) << 40) / std::uint64_t(d))
                fail(r.begin, "of '" + t.name + "' has more than 2^40 elements", "TensorProto");
            n *= std::uint64_t(d);
        }
        return t;
    }

    ValueInfo value_info(Span r) const {
        ValueInfo v;
        for_fields(r, "ValueInfoProto", [&](unsigned field, Span f) {
            if (field == 1) v.name = expect_string(f, "ValueInfoProto.name");
            if (field != 2) return;
            for_fields(expect_bytes(f, "ValueInfoProto.type"), "TypeProto", [&](unsigned tf, Span t) {
                if (tf != 1) return;  // sequences, maps...: no elem_type, rejected by load_onnx
                for_fields(expect_bytes(t, "TypeProto.tensor_type"), "TypeProto.Tensor", [&](unsigned ef, Span e) {
                    if (ef == 1) v.elem_type = std::int32_t(expect_varint(e, "TypeProto.Tensor.elem_type"));
                    if (ef != 2) return;
                    v.has_shape = true;
                    for_fields(expect_bytes(e, "TypeProto.Tensor.shape"), "TensorShapeProto", [&](unsigned sf, Span s) {
                        if (sf != 1) return;
                        if (v.dims.size() >= max_rank) fail(s.begin, "has more than 32 dimensions", "TensorShapeProto");
                        Dim d;
                        for_fields(expect_bytes(s, "TensorShapeProto.dim"), "TensorShapeProto.Dimension", [&](unsigned df, Span x) {
                            if (df == 1) d.value = std::int64_t(expect_varint(x, "Dimension.dim_value"));
                            if (df == 2) d.param = expect_string(x, "Dimension.dim_param");
                        });
                        v.dims.push_back(std::move(d));
                    });
                });
            });
        });
        return v;
    }

    std::span<const std::byte> data_;
    std::string file_;
};

inline ModelProto parse(std::span<const std::byte> bytes, const std::string& file) { return Parser(bytes, file).parse(); }

}  // namespace onnx

// --- export ---------------------------------------------------------------

struct OnnxExportOptions {
    /// Append a Softmax node, so the graph's output is probabilities (the
    /// network must have a flat output and not end in Softmax already).
    bool append_softmax = false;
    /// ModelProto.producer_name; the version is typenet's.
    std::string producer = "typenet";
    /// GraphProto.name.
    std::string graph_name = "typenet";
};

namespace onnx_detail {

template <class Net>
struct descriptions;
template <class In, class... Ls>
struct descriptions<Sequential<In, Ls...>> {
    using type = std::tuple<Ls...>;
};

template <class T>
inline constexpr bool no_mapping = false;

/// How one layer type maps to ONNX. Specialised below for every layer typenet has.
template <class L>
struct OnnxLayer {
    static_assert(no_mapping<L>,
                  "export_onnx / load_onnx: this layer type has no ONNX mapping (the compiler names it in "
                  "'In instantiation of OnnxLayer<...>'); map it in io/onnx.hpp or remove it from the network");
};

struct ExportContext {
    onnx::Graph& graph;
    std::string current;  // the value the next node reads
    std::size_t index = 0;
    std::function<std::vector<float>(const std::string&)> tensor;  // "0.weight" -> values

    onnx::Node& add(const std::string& op, std::vector<std::string> extra_inputs = {}) {
        onnx::Node n;
        n.op_type = op;
        n.name = "/" + std::to_string(index) + "/" + op;
        n.inputs.push_back(current);
        for (auto& s : extra_inputs) n.inputs.push_back(std::move(s));
        current = n.name + "_output_0";
        n.outputs.push_back(current);
        graph.nodes.push_back(std::move(n));
        return graph.nodes.back();
    }
    std::string initializer(const std::string& suffix, std::vector<std::int64_t> dims) {
        onnx::Tensor t;
        t.name = std::to_string(index) + "." + suffix;
        t.data_type = onnx::FLOAT;
        t.dims = std::move(dims);
        const std::vector<float> v = tensor(t.name);
        t.raw.resize(v.size() * 4);
        if (!v.empty()) std::memcpy(t.raw.data(), v.data(), t.raw.size());
        graph.initializers.push_back(std::move(t));
        return graph.initializers.back().name;
    }
};

inline onnx::Attribute attr_i(std::string name, std::int64_t v) {
    onnx::Attribute a;
    a.name = std::move(name), a.type = onnx::ATTR_INT, a.i = v;
    return a;
}
inline onnx::Attribute attr_f(std::string name, float v) {
    onnx::Attribute a;
    a.name = std::move(name), a.type = onnx::ATTR_FLOAT, a.f = v;
    return a;
}
inline onnx::Attribute attr_ints(std::string name, std::vector<std::int64_t> v) {
    onnx::Attribute a;
    a.name = std::move(name), a.type = onnx::ATTR_INTS, a.ints = std::move(v);
    return a;
}

// --- import ------------------------------------------------------------------

/// What the import of one layer sees: the chain of compute nodes, the
/// constant tensors (initializers, Constant nodes and their Identity
/// aliases), and where the weights go.
struct ImportContext {
    std::string file;
    std::vector<const onnx::Node*> chain;
    std::size_t pos = 0;
    std::string current;
    std::map<std::string, const onnx::Tensor*, std::less<>> constants;
    std::size_t index = 0;     // typenet layer
    std::string layer_name;    // "Dense<70>"
    std::function<void(const std::string&, std::vector<double>)> set;  // "0.weight" -> values (checked size)
    bool folded_into_previous = false;  // the previous layer is a Conv / Gemm an exporter may have folded a BatchNorm into
    std::vector<std::string> notes;
    std::deque<onnx::Tensor> computed;  // constants folded from shape arithmetic (stable addresses for `constants`)

    std::string where(const onnx::Node& n) const {
        return "load_onnx('" + file + "'): node '" + (n.name.empty() ? std::string("(unnamed)") : n.name) + "' (" + n.op_type + ")" +
               (layer_name.empty() ? std::string() : " for layer " + std::to_string(index) + " " + layer_name);
    }
    [[noreturn]] void fail(const onnx::Node& n, const std::string& what) const {
        throw IoError(where(n) + ": " + what + ". The graph must match the network layer by layer; export it from the "
                                               "equivalent nn.Sequential or change the network type.");
    }
    const onnx::Node* peek() const { return pos < chain.size() ? chain[pos] : nullptr; }

    /// The next node, which must be `op`; consumes it and advances the current value.
    const onnx::Node& expect(std::string_view op, std::size_t max_inputs) {
        const onnx::Node* n = peek();
        if (!n)
            throw IoError("load_onnx('" + file + "'): the graph ends before layer " + std::to_string(index) + " " + layer_name +
                          ", which expects a " + std::string(op) + " node; the file holds a shorter network.");
        if (n->op_type != op)
            fail(*n, "is a " + n->op_type + " node but layer " + std::to_string(index) + " " + layer_name + " expects " +
                         std::string(op));
        if (n->inputs.size() > max_inputs)
            fail(*n, "has " + std::to_string(n->inputs.size()) + " inputs, at most " + std::to_string(max_inputs) + " expected");
        if (n->inputs.empty() || n->inputs[0] != current)
            fail(*n, "reads '" + (n->inputs.empty() ? std::string() : n->inputs[0]) + "' but the value flowing through the chain is '" +
                         current + "'; typenet reads graphs that are one chain of nodes, input to output");
        advance();
        return *n;
    }
    void advance() {
        current = chain[pos]->outputs[0];
        ++pos;
    }

    // Attributes: absent means the operator's default.
    std::int64_t attr_int(const onnx::Node& n, std::string_view name, std::int64_t dflt) const {
        const onnx::Attribute* a = n.find(name);
        if (!a) return dflt;
        if (a->type != onnx::ATTR_INT) fail(n, "attribute '" + std::string(name) + "' is not an integer");
        return a->i;
    }
    float attr_float(const onnx::Node& n, std::string_view name, float dflt) const {
        const onnx::Attribute* a = n.find(name);
        if (!a) return dflt;
        if (a->type != onnx::ATTR_FLOAT) fail(n, "attribute '" + std::string(name) + "' is not a float");
        return a->f;
    }
    std::vector<std::int64_t> attr_ints(const onnx::Node& n, std::string_view name, std::vector<std::int64_t> dflt) const {
        const onnx::Attribute* a = n.find(name);
        if (!a) return dflt;
        if (a->type != onnx::ATTR_INTS) fail(n, "attribute '" + std::string(name) + "' is not a list of integers");
        return a->ints;
    }
    std::string attr_string(const onnx::Node& n, std::string_view name, std::string dflt) const {
        const onnx::Attribute* a = n.find(name);
        if (!a) return dflt;
        if (a->type != onnx::ATTR_STRING) fail(n, "attribute '" + std::string(name) + "' is not a string");
        return a->s;
    }
    static std::string list(const std::vector<std::int64_t>& v) {
        std::string s = "[";
        for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
        return s + "]";
    }
    void require_int(const onnx::Node& n, std::string_view name, std::int64_t dflt, std::int64_t want) const {
        const auto got = attr_int(n, name, dflt);
        if (got != want)
            fail(n, "attribute '" + std::string(name) + "' is " + std::to_string(got) + " but typenet's " + layer_name +
                        " needs " + std::to_string(want));
    }
    void require_ints(const onnx::Node& n, std::string_view name, std::vector<std::int64_t> dflt,
                      const std::vector<std::int64_t>& want) const {
        const auto got = attr_ints(n, name, std::move(dflt));
        if (got != want)
            fail(n, "attribute '" + std::string(name) + "' is " + list(got) + " but typenet's " + layer_name + " needs " + list(want));
    }
    static std::string number(double v) {
        char b[32];
        std::snprintf(b, sizeof b, "%.7g", v);
        return b;
    }
    void require_float(const onnx::Node& n, std::string_view name, float dflt, double want) const {
        const double got = attr_float(n, name, dflt);
        if (!(std::abs(got - want) <= 1e-6 * std::max(1.0, std::abs(want))))
            fail(n, "attribute '" + std::string(name) + "' is " + number(got) + " but typenet's " + layer_name + " uses " + number(want));
    }
    // Every attribute of the node must be one of `known`: an attribute typenet does not check could change the result.
    void only_attributes(const onnx::Node& n, std::initializer_list<std::string_view> known) const {
        for (const auto& a : n.attributes)
            if (std::find(known.begin(), known.end(), a.name) == known.end())
                fail(n, "has the attribute '" + a.name + "', which typenet's " + layer_name + " does not support");
    }

    /// The constant tensor at input k of n, checked against `dims`.
    const onnx::Tensor& constant(const onnx::Node& n, std::size_t k, const std::vector<std::int64_t>& dims,
                                 std::string_view role) const {
        const std::string& name = n.inputs[k];
        const auto it = constants.find(name);
        if (it == constants.end())
            fail(n, "input " + std::to_string(k) + " (" + std::string(role) + ") '" + name +
                        "' is not an initializer or constant; typenet takes weights from initializers");
        const onnx::Tensor& t = *it->second;
        if (t.dims != dims)
            fail(n, std::string(role) + " '" + name + "' has shape " + list(t.dims) + " but " + layer_name + " expects " + list(dims));
        return t;
    }
    /// The values of a float tensor (FLOAT or DOUBLE), checked against its dims.
    std::vector<double> values(const onnx::Node& n, const onnx::Tensor& t) const {
        if (t.external)
            fail(n, "tensor '" + t.name + "' keeps its data in an external file; typenet reads only self-contained files "
                                          "(save with onnx.save(model, path, save_as_external_data=False))");
        if (t.data_type != onnx::FLOAT && t.data_type != onnx::DOUBLE)
            fail(n, "tensor '" + t.name + "' has data type " + onnx::data_type_name(t.data_type) +
                        "; typenet reads weights as FLOAT or DOUBLE");
        const std::size_t size = t.data_type == onnx::FLOAT ? 4 : 8;
        if (t.raw.size() != t.elements() * size)
            fail(n, "tensor '" + t.name + "' has shape " + list(t.dims) + " (" + std::to_string(t.elements()) + " values) but holds " +
                        std::to_string(t.raw.size()) + " bytes of " + onnx::data_type_name(t.data_type));
        std::vector<double> v(t.elements());
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (size == 4) {
                float f;
                std::memcpy(&f, t.raw.data() + 4 * i, 4);
                v[i] = f;
            } else {
                std::memcpy(&v[i], t.raw.data() + 8 * i, 8);
            }
        }
        return v;
    }
    std::vector<std::int64_t> int64_values(const onnx::Node& n, const onnx::Tensor& t) const {
        if (t.data_type != onnx::INT64 || t.raw.size() != t.elements() * 8)
            fail(n, "tensor '" + t.name + "' is not an INT64 tensor of shape " + list(t.dims));
        std::vector<std::int64_t> v(t.elements());
        if (!v.empty()) std::memcpy(v.data(), t.raw.data(), t.raw.size());
        return v;
    }
    /// Takes a weight from input k into "<index>.<suffix>".
    void take(const onnx::Node& n, std::size_t k, const std::string& suffix, const std::vector<std::int64_t>& dims,
              std::string_view role) {
        set(std::to_string(index) + "." + suffix, values(n, constant(n, k, dims, role)));
    }
};

// --- constant shape arithmetic ---------------------------------------------
// torch.onnx.export computes nn.ZeroPad2d's pads with ConstantOfShape,
// Concat, Reshape, Slice, Transpose and Cast on constants. These are folded
// here, on INT64 tensors of at most 4096 values, so the Pad sees constant pads.

inline constexpr std::uint64_t max_folded = 4096;

inline bool is_foldable(std::string_view op) {
    return op == "ConstantOfShape" || op == "Concat" || op == "Reshape" || op == "Slice" || op == "Transpose" || op == "Cast";
}

struct IntTensor {
    std::vector<std::int64_t> dims, v;
};

inline std::size_t folded_count(const ImportContext& c, const onnx::Node& n, const std::vector<std::int64_t>& dims) {
    if (dims.size() > 8) c.fail(n, "computes a constant of rank " + std::to_string(dims.size()) + "; typenet folds rank 8 at most");
    std::uint64_t p = 1;
    for (auto d : dims) {
        if (d < 0) c.fail(n, "computes a constant with a negative dimension " + std::to_string(d));
        if (d != 0 && p > max_folded / std::uint64_t(d)) c.fail(n, "computes a constant of more than 4096 values");
        p *= std::uint64_t(d);
    }
    return std::size_t(p);
}

// out[o] = data[sum_i idx[perm[i]][o_i] * stride[perm[i]]]: Slice (idx) and Transpose (perm) in one.
inline IntTensor gather(const IntTensor& data, const std::vector<std::vector<std::int64_t>>& idx, const std::vector<std::size_t>& perm) {
    const std::size_t rank = data.dims.size();
    std::vector<std::int64_t> stride(rank, 1);
    for (std::size_t a = rank; a-- > 1;) stride[a - 1] = stride[a] * data.dims[a];
    IntTensor r;
    std::size_t total = 1;
    for (std::size_t i = 0; i < rank; ++i) r.dims.push_back(std::int64_t(idx[perm[i]].size())), total *= idx[perm[i]].size();
    std::vector<std::size_t> o(rank, 0);
    for (std::size_t k = 0; k < total; ++k) {
        std::int64_t off = 0;
        for (std::size_t i = 0; i < rank; ++i) off += idx[perm[i]][o[i]] * stride[perm[i]];
        r.v.push_back(data.v[std::size_t(off)]);
        for (std::size_t i = rank; i-- > 0;) {
            if (++o[i] < idx[perm[i]].size()) break;
            o[i] = 0;
        }
    }
    return r;
}

inline onnx::Tensor fold_constant(const ImportContext& c, const onnx::Node& n) {
    auto in = [&](std::size_t k) {
        const onnx::Tensor& t = *c.constants.at(n.inputs[k]);
        IntTensor r{t.dims, c.int64_values(n, t)};
        folded_count(c, n, r.dims);
        return r;
    };
    auto axis_of = [&](std::int64_t a, std::size_t rank) {
        if (a < -std::int64_t(rank) || a >= std::int64_t(rank))
            c.fail(n, "has axis " + std::to_string(a) + " outside a tensor of rank " + std::to_string(rank));
        return std::size_t(a < 0 ? a + std::int64_t(rank) : a);
    };
    IntTensor r;
    const std::string& op = n.op_type;
    if (op == "ConstantOfShape") {
        r.dims = in(0).v;
        const onnx::Attribute* value = n.find("value");
        if (!value || value->t.size() != 1 || value->t[0].elements() != 1)
            c.fail(n, "has no one-value INT64 tensor 'value'; typenet folds INT64 shape arithmetic only");
        r.v.assign(folded_count(c, n, r.dims), c.int64_values(n, value->t[0])[0]);
    } else if (op == "Concat") {
        const IntTensor first = in(0);
        if (first.dims.empty()) c.fail(n, "concatenates scalars");
        const std::size_t axis = axis_of(c.attr_int(n, "axis", 0), first.dims.size());
        std::vector<IntTensor> parts;
        r.dims = first.dims;
        r.dims[axis] = 0;
        for (std::size_t k = 0; k < n.inputs.size(); ++k) {
            parts.push_back(in(k));
            auto d = parts.back().dims;
            if (d.size() != first.dims.size()) c.fail(n, "concatenates tensors of different ranks");
            r.dims[axis] += d[axis];
            d[axis] = first.dims[axis];
            if (d != first.dims) c.fail(n, "concatenates tensors whose shapes differ off the axis");
        }
        folded_count(c, n, r.dims);
        std::size_t outer = 1, inner = 1;
        for (std::size_t a = 0; a < axis; ++a) outer *= std::size_t(first.dims[a]);
        for (std::size_t a = axis + 1; a < first.dims.size(); ++a) inner *= std::size_t(first.dims[a]);
        for (std::size_t o = 0; o < outer; ++o)
            for (const auto& p : parts) {
                const std::size_t block = std::size_t(p.dims[axis]) * inner;
                r.v.insert(r.v.end(), p.v.begin() + std::ptrdiff_t(o * block), p.v.begin() + std::ptrdiff_t((o + 1) * block));
            }
    } else if (op == "Reshape") {
        if (n.inputs.size() != 2) c.fail(n, "needs a data and a shape input");
        IntTensor data = in(0);
        const auto shape = in(1).v;
        const bool allowzero = c.attr_int(n, "allowzero", 0) != 0;
        std::int64_t known = 1;
        std::size_t infer = shape.size();
        for (std::size_t i = 0; i < shape.size(); ++i) {
            std::int64_t d = shape[i];
            if (d == 0 && !allowzero) {
                if (i >= data.dims.size()) c.fail(n, "copies dimension " + std::to_string(i) + " that the data does not have");
                d = data.dims[i];
            }
            if (d == -1) {
                if (infer != shape.size()) c.fail(n, "has two -1 in its shape");
                infer = i;
            } else if (d < 0 || (d != 0 && known > std::int64_t(max_folded) / d)) {
                c.fail(n, "reshapes to the invalid shape " + ImportContext::list(shape));
            } else {
                known *= d;
            }
            r.dims.push_back(d);
        }
        const auto count = std::int64_t(data.v.size());
        if (infer != shape.size()) {
            if (known == 0 || count % known != 0) c.fail(n, "cannot infer the -1 in " + ImportContext::list(shape));
            r.dims[infer] = count / known;
        } else if (known != count) {
            c.fail(n, "reshapes " + std::to_string(count) + " values to " + ImportContext::list(shape));
        }
        r.v = std::move(data.v);
    } else if (op == "Slice") {
        if (n.inputs.size() < 3 || n.inputs.size() > 5) c.fail(n, "needs 3 to 5 inputs (data, starts, ends, axes, steps)");
        const IntTensor data = in(0);
        const auto starts = in(1).v, ends = in(2).v;
        std::vector<std::int64_t> axes, steps(starts.size(), 1);
        if (n.inputs.size() > 3 && !n.inputs[3].empty()) axes = in(3).v;
        else
            for (std::size_t i = 0; i < starts.size(); ++i) axes.push_back(std::int64_t(i));
        if (n.inputs.size() > 4 && !n.inputs[4].empty()) steps = in(4).v;
        if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
            c.fail(n, "has starts, ends, axes and steps of different lengths");
        const std::size_t rank = data.dims.size();
        std::vector<std::vector<std::int64_t>> idx(rank);
        std::vector<bool> sliced(rank, false);
        for (std::size_t a = 0; a < rank; ++a)
            for (std::int64_t i = 0; i < data.dims[a]; ++i) idx[a].push_back(i);
        for (std::size_t k = 0; k < starts.size(); ++k) {
            const std::size_t a = axis_of(axes[k], rank);
            if (sliced[a]) c.fail(n, "slices axis " + std::to_string(a) + " twice");
            sliced[a] = true;
            const std::int64_t dim = data.dims[a], big = std::int64_t(max_folded) + 1;
            const std::int64_t step = std::clamp<std::int64_t>(steps[k], -big, big);  // |step| > dim takes one value
            if (step == 0) c.fail(n, "has a step of 0");
            std::int64_t b = std::clamp<std::int64_t>(starts[k], -big, big), e = std::clamp<std::int64_t>(ends[k], -big, big);
            if (b < 0) b += dim;
            if (e < 0) e += dim;
            b = step > 0 ? std::clamp<std::int64_t>(b, 0, dim) : std::clamp<std::int64_t>(b, 0, dim - 1);
            e = step > 0 ? std::clamp<std::int64_t>(e, 0, dim) : std::clamp<std::int64_t>(e, -1, dim - 1);
            idx[a].clear();
            for (std::int64_t i = b; step > 0 ? i < e : i > e; i += step) idx[a].push_back(i);
        }
        std::vector<std::size_t> perm(rank);
        for (std::size_t a = 0; a < rank; ++a) perm[a] = a;
        r = gather(data, idx, perm);
    } else if (op == "Transpose") {
        const IntTensor data = in(0);
        const std::size_t rank = data.dims.size();
        std::vector<std::int64_t> p = c.attr_ints(n, "perm", {});
        if (p.empty())
            for (std::size_t a = rank; a-- > 0;) p.push_back(std::int64_t(a));
        std::vector<std::size_t> perm;
        std::vector<bool> seen(rank, false);
        for (auto a : p) {
            if (a < 0 || a >= std::int64_t(rank) || seen[std::size_t(a)]) c.fail(n, "has the invalid perm " + ImportContext::list(p));
            seen[std::size_t(a)] = true;
            perm.push_back(std::size_t(a));
        }
        if (perm.size() != rank) c.fail(n, "has the invalid perm " + ImportContext::list(p));
        std::vector<std::vector<std::int64_t>> idx(rank);
        for (std::size_t a = 0; a < rank; ++a)
            for (std::int64_t i = 0; i < data.dims[a]; ++i) idx[a].push_back(i);
        r = gather(data, idx, perm);
    } else {  // Cast
        if (c.attr_int(n, "to", 0) != onnx::INT64) c.fail(n, "casts to a type other than INT64; typenet folds INT64 shape arithmetic only");
        r = in(0);
    }
    onnx::Tensor t;
    t.name = n.outputs[0];
    t.data_type = onnx::INT64;
    t.dims = r.dims;
    t.raw.resize(r.v.size() * 8);
    if (!r.v.empty()) std::memcpy(t.raw.data(), r.v.data(), t.raw.size());
    return t;
}

// --- the layers ----------------------------------------------------------

/// A Pad node's pads (attribute before opset 11, constant input after),
/// after checking it pads with zeros.
inline std::vector<std::int64_t> pad_amounts(const ImportContext& c, const onnx::Node& n) {
    c.only_attributes(n, {"mode", "pads", "value"});
    if (const auto mode = c.attr_string(n, "mode", "constant"); mode != "constant")
        c.fail(n, "attribute 'mode' is " + mode + "; typenet pads with zeros only (mode constant)");
    if (c.attr_float(n, "value", 0.0f) != 0.0f) c.fail(n, "pads with a non-zero value; typenet pads with zeros");
    if (n.inputs.size() >= 3 && !n.inputs[2].empty()) {
        const auto it = c.constants.find(n.inputs[2]);
        if (it == c.constants.end() || c.values(n, *it->second) != std::vector<double>(it->second->elements(), 0.0))
            c.fail(n, "pads with a non-zero or non-constant value; typenet pads with zeros");
    }
    if (n.inputs.size() >= 2 && !n.inputs[1].empty()) {
        const auto it = c.constants.find(n.inputs[1]);
        if (it == c.constants.end()) c.fail(n, "takes its pads from '" + n.inputs[1] + "', which is not a constant");
        return c.int64_values(n, *it->second);
    }
    return c.attr_ints(n, "pads", {});
}

template <std::size_t Units, class Init>
struct OnnxLayer<Dense<Units, Init>> {
    template <class BL>
    static void write(ExportContext& c) {
        const auto w = c.initializer("weight", {std::int64_t(BL::out), std::int64_t(BL::in)});
        const auto b = c.initializer("bias", {std::int64_t(BL::out)});
        auto& n = c.add("Gemm", {w, b});
        n.attributes = {attr_f("alpha", 1.0f), attr_f("beta", 1.0f), attr_i("transB", 1)};
    }
    template <class BL>
    static void read(ImportContext& c) {
        const auto& n = c.expect("Gemm", 3);
        c.only_attributes(n, {"alpha", "beta", "transA", "transB"});
        c.require_float(n, "alpha", 1.0f, 1.0);
        c.require_float(n, "beta", 1.0f, 1.0);
        c.require_int(n, "transA", 0, 0);
        const std::int64_t out = BL::out, in = BL::in;
        if (n.inputs.size() < 2) c.fail(n, "has no weight input B");
        const bool trans = c.attr_int(n, "transB", 0) != 0;
        auto w = c.values(n, c.constant(n, 1, trans ? std::vector{out, in} : std::vector{in, out}, "weight B"));
        if (!trans) {  // (in, out) -> typenet's (out, in)
            std::vector<double> t(w.size());
            for (std::size_t i = 0; i < BL::in; ++i)
                for (std::size_t o = 0; o < BL::out; ++o) t[o * BL::in + i] = w[i * BL::out + o];
            w = std::move(t);
        }
        c.set(std::to_string(c.index) + ".weight", std::move(w));
        // No bias (nn.Linear(bias=False)) is a zero bias.
        if (n.inputs.size() == 3 && !n.inputs[2].empty()) c.take(n, 2, "bias", {out}, "bias C");
        else c.set(std::to_string(c.index) + ".bias", std::vector<double>(BL::out, 0.0));
    }
};

template <std::size_t F, std::size_t KH, std::size_t KW, std::size_t SH, std::size_t SW, Padding P, class Init>
struct OnnxLayer<Conv2DRect<F, KH, KW, SH, SW, P, Init>> {
    // [top, left, bottom, right], typenet's Same split (the odd one bottom / right).
    template <class BL>
    static std::vector<std::int64_t> pads() {
        const auto g = make_conv2d_geometry(1, BL::C, BL::H, BL::W, F, KH, KW, SH, SW, P);
        const auto bottom = std::int64_t((g.out_h - 1) * SH + KH) - std::int64_t(BL::H) - std::int64_t(g.pad_h);
        const auto right = std::int64_t((g.out_w - 1) * SW + KW) - std::int64_t(BL::W) - std::int64_t(g.pad_w);
        return {std::int64_t(g.pad_h), std::int64_t(g.pad_w), std::max<std::int64_t>(bottom, 0), std::max<std::int64_t>(right, 0)};
    }
    template <class BL>
    static void write(ExportContext& c) {
        const auto w = c.initializer("weight", {std::int64_t(F), std::int64_t(BL::C), std::int64_t(KH), std::int64_t(KW)});
        const auto b = c.initializer("bias", {std::int64_t(F)});
        auto& n = c.add("Conv", {w, b});
        n.attributes = {attr_ints("dilations", {1, 1}), attr_i("group", 1), attr_ints("kernel_shape", {KH, KW}),
                        attr_ints("pads", pads<BL>()), attr_ints("strides", {SH, SW})};
    }
    template <class BL>
    static void read(ImportContext& c) {
        // nn.ZeroPad2d before nn.Conv2d (PyTorch's way to pad unevenly, as
        // typenet's Same does at stride 2) is a Pad node: its pads add to the Conv's.
        std::vector<std::int64_t> extra{0, 0, 0, 0};
        if (const onnx::Node* p = c.peek(); p && p->op_type == "Pad") {
            c.expect("Pad", 3);
            const auto v = pad_amounts(c, *p);
            if (v.size() != 8 || v[0] || v[1] || v[4] || v[5])
                c.fail(*p, "pads " + ImportContext::list(v) + "; before a Conv typenet takes a Pad of the height and width only");
            extra = {v[2], v[3], v[6], v[7]};
        }
        const auto& n = c.expect("Conv", 3);
        c.only_attributes(n, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
        c.require_ints(n, "kernel_shape", {KH, KW}, {KH, KW});
        c.require_ints(n, "strides", {1, 1}, {SH, SW});
        c.require_ints(n, "dilations", {1, 1}, {1, 1});
        c.require_int(n, "group", 1, 1);
        const auto want = pads<BL>();
        const std::string auto_pad = c.attr_string(n, "auto_pad", "NOTSET");
        if (auto_pad == "NOTSET") {
            auto got = c.attr_ints(n, "pads", {0, 0, 0, 0});
            if (got.size() == 4)
                for (std::size_t k = 0; k < 4; ++k) got[k] += extra[k];
            if (got != want)
                c.fail(n, "attribute 'pads' is " + ImportContext::list(got) +
                              (extra != std::vector<std::int64_t>{0, 0, 0, 0} ? " (with the Pad node before it)" : "") +
                              " but typenet's " + c.layer_name + " needs " + ImportContext::list(want));
        } else {
            // VALID pads nothing; SAME_UPPER puts the odd padding at the end, as typenet's Same does.
            const bool same = auto_pad == "SAME_UPPER" || (auto_pad == "SAME_LOWER" && want[0] == want[2] && want[1] == want[3]);
            const bool ok = auto_pad == "VALID" ? want == std::vector<std::int64_t>{0, 0, 0, 0} : same && P == Padding::same;
            if (!ok)
                c.fail(n, "attribute 'auto_pad' is " + auto_pad + " but typenet's " + c.layer_name + " needs pads " +
                              ImportContext::list(want));
            if (n.find("pads")) c.fail(n, "has both 'auto_pad' and 'pads'");
            if (extra != std::vector<std::int64_t>{0, 0, 0, 0}) c.fail(n, "has 'auto_pad' after a Pad node");
        }
        if (n.inputs.size() < 2) c.fail(n, "has no weight input W");
        c.take(n, 1, "weight", {std::int64_t(F), std::int64_t(BL::C), std::int64_t(KH), std::int64_t(KW)}, "weight W");
        if (n.inputs.size() == 3 && !n.inputs[2].empty()) c.take(n, 2, "bias", {std::int64_t(F)}, "bias B");
        else c.set(std::to_string(c.index) + ".bias", std::vector<double>(F, 0.0));
    }
};

template <bool Max, std::size_t Size, std::size_t Stride>
struct OnnxPool {
    static constexpr const char* op = Max ? "MaxPool" : "AveragePool";
    template <class BL>
    static void write(ExportContext& c) {
        auto& n = c.add(op);
        n.attributes = {attr_ints("kernel_shape", {Size, Size}), attr_ints("pads", {0, 0, 0, 0}),
                        attr_ints("strides", {Stride, Stride})};
    }
    template <class BL>
    static void read(ImportContext& c) {
        const auto& n = c.expect(op, 1);
        if (Max) c.only_attributes(n, {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"});
        else c.only_attributes(n, {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"});
        c.require_ints(n, "kernel_shape", {}, {Size, Size});
        c.require_ints(n, "strides", {1, 1}, {Stride, Stride});
        c.require_ints(n, "pads", {0, 0, 0, 0}, {0, 0, 0, 0});
        c.require_ints(n, "dilations", {1, 1}, {1, 1});
        if (const auto a = c.attr_string(n, "auto_pad", "NOTSET"); a != "NOTSET" && a != "VALID")
            c.fail(n, "attribute 'auto_pad' is " + a + " but typenet's pooling does not pad (NOTSET or VALID)");
        // ceil_mode changes the output size only when the windows do not tile the input.
        const bool tiles = (BL::H - Size) % Stride == 0 && (BL::W - Size) % Stride == 0;
        if (!tiles) c.require_int(n, "ceil_mode", 0, 0);
    }
};
template <std::size_t Size, std::size_t Stride>
struct OnnxLayer<MaxPool2D<Size, Stride>> : OnnxPool<true, Size, Stride> {};
template <std::size_t Size, std::size_t Stride>
struct OnnxLayer<AvgPool2D<Size, Stride>> : OnnxPool<false, Size, Stride> {};

/// (C,H,W) -> (C,1,1) -> (C): GlobalAveragePool, then a Flatten (as
/// nn.AdaptiveAvgPool2d(1) followed by nn.Flatten).
template <>
struct OnnxLayer<GlobalAvgPool2D> {
    template <class BL>
    static void write(ExportContext& c) {
        c.add("GlobalAveragePool");
        c.add("Flatten").attributes = {attr_i("axis", 1)};
    }
    template <class BL>
    static void read(ImportContext& c);
};

/// Flatten, or Reshape to (batch, features) with a constant shape.
inline bool read_flatten(ImportContext& c, std::size_t features) {
    const onnx::Node* n = c.peek();
    if (!n) return false;
    if (n->op_type == "Flatten") {
        c.expect("Flatten", 1);
        c.only_attributes(*n, {"axis"});
        c.require_int(*n, "axis", 1, 1);
        return true;
    }
    if (n->op_type == "Reshape") {
        c.expect("Reshape", 2);
        c.only_attributes(*n, {"allowzero"});
        if (n->inputs.size() < 2) c.fail(*n, "has no shape input");
        const auto it = c.constants.find(n->inputs[1]);
        if (it == c.constants.end()) c.fail(*n, "takes its shape from '" + n->inputs[1] + "', which is not a constant");
        const auto s = c.int64_values(*n, *it->second);
        const auto f = std::int64_t(features);
        const bool ok = s.size() == 2 && ((s[1] == f && (s[0] == 0 || s[0] == -1)) || (s[0] == 0 && s[1] == -1));
        if (!ok)
            c.fail(*n, "reshapes to " + ImportContext::list(s) + " but typenet's " + c.layer_name + " needs (batch, " +
                           std::to_string(features) + "): [-1, " + std::to_string(features) + "] or [0, -1]");
        if (s[0] == 0 && c.attr_int(*n, "allowzero", 0) != 0) c.fail(*n, "sets allowzero with a 0 in its shape");
        return true;
    }
    return false;
}

template <class BL>
void OnnxLayer<GlobalAvgPool2D>::read(ImportContext& c) {
    const auto& n = c.expect("GlobalAveragePool", 1);
    c.only_attributes(n, {});
    read_flatten(c, BL::C);  // optional: typenet's next layer may be a Flatten that reads it
}

template <>
struct OnnxLayer<Flatten> {
    template <class BL>
    static void write(ExportContext& c) {
        c.add("Flatten").attributes = {attr_i("axis", 1)};
    }
    template <class BL>
    static void read(ImportContext& c) {
        if (read_flatten(c, BL::input_shape::size) || BL::input_shape::rank == 1) return;
        const onnx::Node* n = c.peek();
        if (!n)
            throw IoError("load_onnx('" + c.file + "'): the graph ends before layer " + std::to_string(c.index) +
                          " Flatten, which expects a Flatten or Reshape node; the file holds a shorter network.");
        c.fail(*n, "is a " + n->op_type + " node but layer " + std::to_string(c.index) + " Flatten expects Flatten or Reshape");
    }
};

/// Dropout is the identity in inference: no node (exporters omit it, and
/// load_onnx skips Dropout and Identity nodes wherever they are).
template <double Rate>
struct OnnxLayer<Dropout<Rate>> {
    template <class BL>
    static void write(ExportContext&) {}
    template <class BL>
    static void read(ImportContext&) {}
};

template <ActivationKind Kind>
struct OnnxLayer<Activation<Kind>> {
    static constexpr const char* op = Kind == ActivationKind::relu      ? "Relu"
                                      : Kind == ActivationKind::sigmoid ? "Sigmoid"
                                      : Kind == ActivationKind::tanh    ? "Tanh"
                                      : Kind == ActivationKind::elu     ? "Elu"
                                      : Kind == ActivationKind::selu    ? "Selu"
                                                                        : "";
    template <class BL>
    static void write(ExportContext& c) {
        if constexpr (Kind == ActivationKind::identity) return;  // nothing to compute
        auto& n = c.add(op);
        if constexpr (Kind == ActivationKind::elu) n.attributes = {attr_f("alpha", 1.0f)};
        if constexpr (Kind == ActivationKind::selu)
            n.attributes = {attr_f("alpha", float(selu_alpha)), attr_f("gamma", float(selu_scale))};
    }
    template <class BL>
    static void read(ImportContext& c) {
        if constexpr (Kind == ActivationKind::identity) return;  // Identity nodes are skipped anyway
        const auto& n = c.expect(op, 1);
        if constexpr (Kind == ActivationKind::elu) {
            c.only_attributes(n, {"alpha"});
            c.require_float(n, "alpha", 1.0f, 1.0);
        } else if constexpr (Kind == ActivationKind::selu) {
            c.only_attributes(n, {"alpha", "gamma"});
            // ONNX's defaults are these constants rounded to float.
            c.require_float(n, "alpha", float(selu_alpha), selu_alpha);
            c.require_float(n, "gamma", float(selu_scale), selu_scale);
        } else {
            c.only_attributes(n, {});
        }
    }
};

template <>
struct OnnxLayer<Softmax> {
    template <class BL>
    static void write(ExportContext& c) {
        c.add("Softmax").attributes = {attr_i("axis", 1)};
    }
    template <class BL>
    static void read(ImportContext& c) {
        const auto& n = c.expect("Softmax", 1);
        c.only_attributes(n, {"axis"});
        // On (batch, features) axis 1 and -1 are the features at every opset.
        if (const auto axis = c.attr_int(n, "axis", 1); axis != 1 && axis != -1)
            c.fail(n, "attribute 'axis' is " + std::to_string(axis) + " but typenet's Softmax needs 1 or -1 (the features)");
    }
};

template <>
struct OnnxLayer<BatchNorm> {
    template <class BL>
    static void write(ExportContext& c) {
        const std::int64_t C = BL::C;
        const auto s = c.initializer("weight", {C});
        const auto b = c.initializer("bias", {C});
        const auto m = c.initializer("running_mean", {C});
        const auto v = c.initializer("running_var", {C});
        auto& n = c.add("BatchNormalization", {s, b, m, v});
        n.attributes = {attr_f("epsilon", float(BatchNorm::epsilon)), attr_f("momentum", float(1 - BatchNorm::momentum))};
    }
    template <class BL>
    static void read(ImportContext& c) {
        const std::int64_t C = BL::C;
        const onnx::Node* next = c.peek();
        if ((!next || next->op_type != "BatchNormalization") && c.folded_into_previous) {
            // torch.onnx.export's constant folding (its default, in eval mode)
            // folds a BatchNorm into the Conv / Gemm before it: the previous
            // node already applies it, so this one is the identity.
            const std::string p = std::to_string(c.index) + ".";
            c.set(p + "weight", std::vector<double>(BL::C, 1.0));
            c.set(p + "bias", std::vector<double>(BL::C, 0.0));
            c.set(p + "running_mean", std::vector<double>(BL::C, 0.0));
            c.set(p + "running_var", std::vector<double>(BL::C, 1.0 - BatchNorm::epsilon));
            c.notes.push_back("layer " + std::to_string(c.index) + " " + c.layer_name +
                              " has no BatchNormalization node (folded into the node before it by the exporter): loaded as "
                              "the identity (weight 1, bias 0, running mean 0, running variance 1 - epsilon)");
            return;
        }
        const auto& n = c.expect("BatchNormalization", 5);
        c.only_attributes(n, {"epsilon", "momentum", "training_mode"});
        c.require_float(n, "epsilon", 1e-5f, BatchNorm::epsilon);
        c.require_int(n, "training_mode", 0, 0);
        if (n.inputs.size() != 5) c.fail(n, "has " + std::to_string(n.inputs.size()) + " inputs, 5 expected");
        if (n.outputs.size() > 1 && std::any_of(n.outputs.begin() + 1, n.outputs.end(), [](const std::string& o) { return !o.empty(); }))
            c.fail(n, "has the training outputs running_mean / running_var; export the network in evaluation mode");
        c.take(n, 1, "weight", {C}, "scale");
        c.take(n, 2, "bias", {C}, "B");
        c.take(n, 3, "running_mean", {C}, "input_mean");
        c.take(n, 4, "running_var", {C}, "input_var");
    }
};

template <class L>
inline constexpr bool folds_batchnorm = false;  // a Conv / Gemm an exporter may fold a following BatchNorm into
template <std::size_t U, class I>
inline constexpr bool folds_batchnorm<Dense<U, I>> = true;
template <std::size_t F, std::size_t KH, std::size_t KW, std::size_t SH, std::size_t SW, Padding P, class I>
inline constexpr bool folds_batchnorm<Conv2DRect<F, KH, KW, SH, SW, P, I>> = true;

template <class Shape>
std::vector<onnx::Dim> batch_dims(const std::string& batch) {
    std::vector<onnx::Dim> d{onnx::Dim{-1, batch}};
    for (std::size_t i = 0; i < Shape::rank; ++i) d.push_back(onnx::Dim{std::int64_t(Shape::dims[i]), ""});
    return d;
}

template <class M>
std::string shape_text() {
    std::string s = "(N";
    for (std::size_t i = 0; i < M::rank; ++i) s += ", " + std::to_string(M::dims[i]);
    return s + ")";
}

}  // namespace onnx_detail

/// The network as an in-memory ONNX model (what export_onnx writes).
template <class M>
onnx::ModelProto onnx_model(const M& model, const OnnxExportOptions& options = {}) {
    using Net = typename M::network;
    using Descs = typename onnx_detail::descriptions<Net>::type;
    using T = typename M::scalar;
    const std::vector<T> params = model.parameters().to_host();
    const std::vector<T> buffers = model.buffers().to_host();
    auto tensor = [&](const std::string& name) -> std::vector<float> {
        for (const auto* segs : {&model.segments(), &model.buffer_segments()})
            for (const auto& s : *segs)
                if (s.name == name) {
                    const auto& src = segs == &model.segments() ? params : buffers;
                    return {src.begin() + std::ptrdiff_t(s.offset), src.begin() + std::ptrdiff_t(s.offset + s.size)};
                }
        throw ArgumentError("export_onnx: the model has no tensor '" + name + "' (internal error)");
    };

    onnx::ModelProto m;
    m.ir_version = onnx::ir_version;
    m.opsets = {{"", onnx::opset}};
    m.producer_name = options.producer;
    m.producer_version = std::string(version);
    m.graph.name = options.graph_name;
    onnx_detail::ExportContext c{m.graph, "input", 0, tensor};
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((c.index = I, onnx_detail::OnnxLayer<std::tuple_element_t<I, Descs>>::template write<typename Net::template layer<I>>(c)),
         ...);
    }(std::make_index_sequence<Net::layer_count>{});

    using Out = typename Net::output_shape;
    if (options.append_softmax) {
        if (Out::rank != 1)
            throw ArgumentError("export_onnx: append_softmax needs a flat network output, but it is " +
                                onnx_detail::shape_text<Out>() + "; end the network with Flatten and Dense");
        if (!m.graph.nodes.empty() && m.graph.nodes.back().op_type == "Softmax")
            throw ArgumentError("export_onnx: append_softmax is set but the network already ends in Softmax");
        c.index = Net::layer_count;
        c.add("Softmax").attributes = {onnx_detail::attr_i("axis", 1)};
    }
    if (m.graph.nodes.empty()) {  // a network of pass-through layers still needs a node
        c.index = 0;
        c.add("Identity");
    }
    m.graph.nodes.back().outputs[0] = "output";
    m.graph.inputs.push_back({"input", onnx::FLOAT, true, onnx_detail::batch_dims<typename Net::input_shape>("N")});
    m.graph.outputs.push_back({"output", onnx::FLOAT, true, onnx_detail::batch_dims<Out>("N")});
    return m;
}

/// The bytes of the ONNX file export_onnx writes.
template <class M>
std::vector<std::byte> onnx_bytes(const M& model, const OnnxExportOptions& options = {}) {
    return onnx::serialize(onnx_model(model, options));
}

/// Writes the network and its weights as a self-contained ONNX file (opset 13,
/// float32). The file is replaced atomically, as save() does. Throws IoError.
template <class M>
void export_onnx(const M& model, const std::filesystem::path& path, const OnnxExportOptions& options = {}) {
    const auto bytes = onnx_bytes(model, options);
    const std::span<const std::byte> parts[1] = {bytes};
    write_file_atomically(path, parts, "export_onnx('" + path.string() + "')");
}

// --- import ---------------------------------------------------------------

/// What load_onnx found besides the weights: the producer and opset, and
/// notes on what it accepted that was not one node per layer.
struct OnnxImportReport {
    std::string producer;
    std::int64_t opset = 0;
    std::vector<std::string> notes;
};

namespace onnx_detail {

template <class M>
struct Importer {
    using Net = typename M::network;
    using Descs = typename descriptions<Net>::type;
    using T = typename M::scalar;

    const M& model;
    const onnx::ModelProto& m;
    std::string file;
    std::vector<T> params, buffers;
    std::vector<bool> filled;  // per segment (parameters, then buffers)
    OnnxImportReport report;

    [[noreturn]] void fail(const std::string& what) const {
        throw IoError("load_onnx('" + file + "'): " + what);
    }

    void check_header() {
        std::int64_t version = -1;
        for (const auto& [domain, v] : m.opsets)
            if (domain.empty() || domain == "ai.onnx") version = v;
        if (version < 0) fail("the model imports no opset of the default domain; it is not a standard ONNX model");
        if (version < onnx::min_opset || version > onnx::max_opset)
            fail("the model uses opset " + std::to_string(version) + "; typenet reads opsets " + std::to_string(onnx::min_opset) +
                 " to " + std::to_string(onnx::max_opset) + " (export with opset_version=13, 14 or 17)");
        report.opset = version;
        report.producer = m.producer_name + (m.producer_version.empty() ? "" : " " + m.producer_version);
    }

    void check_io(const onnx::ValueInfo& v, const std::vector<onnx::Dim>& want, const std::string& role) const {
        if (v.elem_type != onnx::FLOAT && v.elem_type != onnx::DOUBLE)
            fail("graph " + role + " '" + v.name + "' has element type " + onnx::data_type_name(v.elem_type) +
                 "; typenet reads FLOAT (or DOUBLE) tensors");
        if (!v.has_shape) return;
        bool ok = v.dims.size() == want.size();
        for (std::size_t i = 1; ok && i < want.size(); ++i) ok = v.dims[i].value < 0 || v.dims[i].value == want[i].value;
        if (!ok) {
            std::string got = "(";
            for (std::size_t i = 0; i < v.dims.size(); ++i)
                got += (i ? ", " : "") + (v.dims[i].value >= 0 ? std::to_string(v.dims[i].value) : v.dims[i].param.empty() ? "?" : v.dims[i].param);
            fail("graph " + role + " '" + v.name + "' has shape " + got + ") but the network's " + role + " is " +
                 (role == "input" ? shape_text<typename Net::input_shape>() : shape_text<typename Net::output_shape>()));
        }
    }

    void run() {
        check_header();
        const auto& g = m.graph;
        ImportContext c;
        c.file = file;
        for (const auto& t : g.initializers) c.constants[t.name] = &t;

        // The graph's one real input (old exporters list initializers as inputs too) and its one output.
        std::vector<const onnx::ValueInfo*> inputs;
        for (const auto& v : g.inputs)
            if (!c.constants.count(v.name)) inputs.push_back(&v);
        if (inputs.size() != 1)
            fail("the graph has " + std::to_string(inputs.size()) + " inputs that are not initializers; typenet's networks take one");
        if (g.outputs.size() != 1) fail("the graph has " + std::to_string(g.outputs.size()) + " outputs; typenet's networks have one");
        check_io(*inputs[0], batch_dims<typename Net::input_shape>(""), "input");
        c.current = inputs[0]->name;

        // Constants and their aliases, then the chain of everything else.
        for (const auto& n : g.nodes) {
            const std::string name = "node '" + n.name + "' (" + n.op_type + ")";
            if (!n.domain.empty() && n.domain != "ai.onnx")
                fail(name + " is in the domain '" + n.domain + "'; typenet reads only standard ONNX operators");
            if (n.outputs.empty() || n.outputs[0].empty()) fail(name + " has no output");
            if (n.op_type == "Constant") {
                const onnx::Attribute* v = n.find("value");
                if (!v || v->type != onnx::ATTR_TENSOR || v->t.size() != 1)
                    fail(name + " has no tensor attribute 'value'; typenet reads Constant nodes with 'value' only");
                c.constants[n.outputs[0]] = &v->t[0];
                continue;
            }
            if (n.op_type == "Identity" && !n.inputs.empty() && c.constants.count(n.inputs[0])) {
                c.constants[n.outputs[0]] = c.constants[n.inputs[0]];
                continue;
            }
            if (is_foldable(n.op_type) && !n.inputs.empty() &&
                std::all_of(n.inputs.begin(), n.inputs.end(), [&](const std::string& i) { return i.empty() || c.constants.count(i); })) {
                c.layer_name.clear();  // not matched to a layer
                c.computed.push_back(fold_constant(c, n));
                c.constants[n.outputs[0]] = &c.computed.back();
                continue;
            }
            c.chain.push_back(&n);
        }
        c.set = [this](const std::string& name, std::vector<double> v) { set(name, std::move(v)); };

        // Walk the layers. Before each, skip what is the identity in inference
        // (Identity, Dropout, Pad by zero) and check that the next node reads
        // the value the chain has reached.
        auto skip_noops = [&] {
            c.layer_name.clear();  // the nodes skipped here belong to no layer
            while (const onnx::Node* n = c.peek()) {
                check_reads_current(c, *n);
                if (n->op_type == "Identity" || n->op_type == "Dropout") {
                    if (n->outputs.size() > 1 && !n->outputs[1].empty())
                        fail("node '" + n->name + "' (Dropout) has its mask output in use; typenet reads inference graphs");
                    c.advance();
                    continue;
                }
                if (n->op_type == "Pad" && zero_pad(c, *n)) {
                    c.advance();
                    continue;
                }
                break;
            }
        };
        const auto names = M::layer_names();
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (([&] {
                 skip_noops();
                 c.index = I;
                 c.layer_name = names[I];
                 using L = std::tuple_element_t<I, Descs>;
                 OnnxLayer<L>::template read<typename Net::template layer<I>>(c);
                 c.folded_into_previous = folds_batchnorm<L>;
             }()),
             ...);
        }(std::make_index_sequence<Net::layer_count>{});
        skip_noops();
        // A Softmax after the last layer (export_onnx's append_softmax) changes
        // the output only to probabilities, which predict computes anyway.
        if (const onnx::Node* n = c.peek(); n && n->op_type == "Softmax" && Net::output_shape::rank == 1 &&
                                            c.attr_int(*n, "axis", 1) != 0 && n->attributes.size() <= 1) {
            c.advance();
            report.notes.push_back("the final Softmax node '" + n->name + "' is not part of the network and was skipped");
            skip_noops();
        }
        if (const onnx::Node* n = c.peek())
            fail("the graph continues after the network's last layer with node '" + n->name + "' (" + n->op_type +
                 "); the file holds a longer network than " + std::to_string(Net::layer_count) + " layers");
        if (c.current != g.outputs[0].name)
            fail("the chain of nodes ends in '" + c.current + "' but the graph's output is '" + g.outputs[0].name +
                 "'; the graph is not a chain");
        check_io(g.outputs[0], batch_dims<typename Net::output_shape>(""), "output");
        report.notes.insert(report.notes.end(), c.notes.begin(), c.notes.end());
    }

    void check_reads_current(const ImportContext& c, const onnx::Node& n) const {
        if (n.inputs.empty() || n.inputs[0] != c.current)
            fail("node '" + n.name + "' (" + n.op_type + ") reads '" + (n.inputs.empty() ? std::string() : n.inputs[0]) +
                 "' but the value flowing through the chain is '" + c.current +
                 "'; typenet reads graphs that are one chain of nodes, input to output");
        for (std::size_t k = 1; k < n.inputs.size(); ++k)
            if (!n.inputs[k].empty() && !c.constants.count(n.inputs[k]))
                fail("node '" + n.name + "' (" + n.op_type + ") input " + std::to_string(k) + " '" + n.inputs[k] +
                     "' is neither an initializer nor a constant; typenet reads graphs that are one chain of nodes");
    }

    static bool zero_pad(const ImportContext& c, const onnx::Node& n) {
        const auto pads = pad_amounts(c, n);
        return std::all_of(pads.begin(), pads.end(), [](std::int64_t p) { return p == 0; });
    }

    void set(const std::string& name, std::vector<double> v) {
        const auto& ps = model.segments();
        for (std::size_t i = 0; i < ps.size(); ++i)
            if (ps[i].name == name) return put(ps[i], i, params, v);
        const auto& bs = model.buffer_segments();
        for (std::size_t i = 0; i < bs.size(); ++i)
            if (bs[i].name == name) return put(bs[i], ps.size() + i, buffers, v);
        fail("internal error: the network has no tensor '" + name + "'");
    }
    template <class Segment>
    void put(const Segment& s, std::size_t k, std::vector<T>& dst, const std::vector<double>& v) {
        if (v.size() != s.size) fail("internal error: tensor '" + s.name + "' has the wrong size");
        for (std::size_t i = 0; i < v.size(); ++i) dst[s.offset + i] = T(v[i]);
        filled[k] = true;
    }
};

}  // namespace onnx_detail

/// Loads an ONNX model whose graph is a chain matching the network type
/// (see the top of this file and docs/io.md) into `model`: the initializers
/// become its weights. Everything is checked before the model changes; any
/// mismatch is an IoError naming the node, the attribute and the expected
/// value. `bytes` is the file's contents; `file` names it in messages.
template <class M>
OnnxImportReport load_onnx(M& model, std::span<const std::byte> bytes, const std::string& file) {
    const onnx::ModelProto proto = onnx::parse(bytes, file);
    onnx_detail::Importer<M> im{model, proto, file, std::vector<typename M::scalar>(model.parameters().size()),
                                std::vector<typename M::scalar>(model.buffers().size()),
                                std::vector<bool>(model.segments().size() + model.buffer_segments().size()), {}};
    im.run();
    for (std::size_t k = 0; k < im.filled.size(); ++k)
        if (!im.filled[k])
            im.fail("internal error: no value for tensor '" +
                    (k < model.segments().size() ? model.segments()[k].name
                                                 : model.buffer_segments()[k - model.segments().size()].name) + "'");
    model.parameters().from_host(im.params);
    model.buffers().from_host(im.buffers);
    return im.report;
}

/// load_onnx from a file.
template <class M>
OnnxImportReport load_onnx(M& model, const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    const std::string file = path.string();
    std::error_code ec;
    const auto st = fs::status(path, ec);
    if (!fs::exists(st)) throw IoError("load_onnx('" + file + "'): the file does not exist; check the path.");
    if (fs::is_directory(st)) throw IoError("load_onnx('" + file + "'): this is a directory; give the path of a .onnx file.");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw IoError("load_onnx('" + file + "'): the file exists but could not be opened; check its permissions.");
    in.seekg(0, std::ios::end);
    const std::streamoff end = in.tellg();
    if (!in || end < 0) throw IoError("load_onnx('" + file + "'): not a seekable regular file; copy it to a regular file.");
    if (std::uint64_t(end) > onnx::Parser::max_file_bytes)
        throw IoError("load_onnx('" + file + "'): the file is " + std::to_string(end) +
                      " bytes, more than protobuf's 2 GiB limit for one ONNX file.");
    std::vector<std::byte> bytes(static_cast<std::size_t>(end));
    in.seekg(0);
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!in) throw IoError("load_onnx('" + file + "'): reading the file failed (it became shorter while it was read?).");
    return load_onnx(model, std::span<const std::byte>(bytes), file);
}

}  // namespace typenet
