// Must not compile with TYPENET_FAILTEST: a CNN on a backend that lacks the
// convolution op family. The error is Model's, naming ConvolutionOps, not one
// from deep inside Conv2D::forward.
#include <typenet/typenet.hpp>

namespace tn = typenet;

// The CPU backend with its convolution ops taken away (the deleted overload
// is the better match, so conv2d_workspace(be, g) does not resolve).
struct NoConvCpu : tn::Cpu {
    NoConvCpu() : tn::Cpu(1) {}
};
std::size_t conv2d_workspace(const NoConvCpu&, const tn::Conv2dGeometry&) = delete;

int main() {
    using Mlp = tn::Sequential<tn::Input<4>, tn::Dense<3>, tn::ReLU, tn::Dense<2>>;
    tn::Model<Mlp, NoConvCpu> mlp{1};  // needs no convolution: fine either way
#ifdef TYPENET_FAILTEST
    using Cnn = tn::Sequential<tn::Input<1, 6, 6>, tn::Conv2D<2, 3>, tn::ReLU, tn::Flatten, tn::Dense<2>>;
    tn::Model<Cnn, NoConvCpu> cnn{1};
#endif
    return mlp.parameters().size() > 0 ? 0 : 1;
}
