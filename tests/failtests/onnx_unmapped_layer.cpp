// Must not compile with TYPENET_FAILTEST: export_onnx of a network with a
// layer type that io/onnx.hpp has no mapping for (here a user's own layer).
#include <typenet/typenet.hpp>
#include <typenet/io/onnx.hpp>

namespace tn = typenet;

struct MyFlatten : tn::Flatten {};  // a valid layer, unknown to the ONNX mapping

#ifdef TYPENET_FAILTEST
using Net = tn::Sequential<tn::Input<1, 4, 4>, MyFlatten, tn::Dense<2>>;
#else
using Net = tn::Sequential<tn::Input<1, 4, 4>, tn::Flatten, tn::Dense<2>>;
#endif

int main() {
    tn::Model<Net> model{1};
    return tn::onnx_model(model).graph.nodes.size() == 2 ? 0 : 1;
}
