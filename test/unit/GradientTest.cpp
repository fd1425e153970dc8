//===- GradientTest.cpp - Every differentiation rule vs central differences ===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// kiln-gradient-tests: for every differentiable kiln op, a small float64
// model `loss(x...) = sum(u * op(x...))` (the op's operands are parameters,
// `u` a random cotangent given as an input) goes through kiln-autodiff and
// the whole CPU pipeline into mlir::ExecutionEngine; the generated gradient
// is checked against central differences in float64,
// `<u, f(x + e v) - f(x - e v)> / 2e ~ sum over parameters of <grad, v>`,
// for random directions v, at points chosen away from kinks and ties.
// float64 keeps the difference quotient accurate to ~1e-9, so the
// tolerance (1e-6 relative) catches any wrong term of a rule.
//
//===----------------------------------------------------------------------===//

#include "codegen/ObjectEmitter.h"
#include "kiln/CompileSession.h"
#include "passes/Passes.h"
#include "passes/Pipelines.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/TargetSelect.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace {

/// One operand of the op under test: a float64 parameter with a static
/// shape, drawn uniformly from [low, high] (away from the op's kinks).
struct Operand {
  std::vector<int64_t> shape;
  double low = -2.0, high = 2.0;
};

/// One op under test: its operands (parameters %x0, %x1, ...), the MLIR
/// line(s) computing `%y` of type `resultType` from them (and from `%t`, an
/// i32 label tensor of shape `labels`, when that is non-empty).
struct OpCase {
  std::string name;
  std::vector<Operand> operands;
  std::vector<int64_t> resultShape;
  std::string body;
  std::vector<int64_t> labels = {};
};

/// How GoogleTest prints a case (in the ctest log, `GetParam() = mse`)
/// instead of a dump of the struct's bytes.
void PrintTo(const OpCase &c, std::ostream *os) { *os << c.name; }

std::string tensorType(const std::vector<int64_t> &shape, const char *element = "f64") {
  std::string text = "tensor<";
  for (int64_t d : shape)
    text += std::to_string(d) + "x";
  return text + element + ">";
}

int64_t numElements(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// The model module of `c`: parameters x0..xn, inputs u (and t), and
/// `T_loss = sum(u * y)`.
std::string modelSource(const OpCase &c) {
  std::string params, args;
  for (size_t i = 0; i < c.operands.size(); ++i) {
    std::string type = tensorType(c.operands[i].shape);
    params += "    kiln.param @x" + std::to_string(i) + " : " + type + " init = zeros\n";
    args += "%x" + std::to_string(i) + ": " + type + " {kiln.param = @x" + std::to_string(i) + "}, ";
  }
  std::string resultType = tensorType(c.resultShape);
  args += "%u: " + resultType + " {kiln.input = \"u\"}";
  if (!c.labels.empty())
    args += ", %t: " + tensorType(c.labels, "i32") + " {kiln.input = \"t\"}";
  return R"mlir(module {
  module @T attributes {kiln.model} {
)mlir" + params +
         "    func.func @T_loss(" + args + ") -> (tensor<f64> {kiln.output = \"loss\"}) {\n      " + c.body +
         "\n      %p = kiln.mul %u, %y : " + resultType + ", " + resultType + " -> " + resultType +
         "\n      %l = kiln.reduce_sum %p : " + resultType + R"mlir( -> tensor<f64>
      return %l : tensor<f64>
    }
  }
})mlir";
}

class GradientTest : public ::testing::TestWithParam<OpCase> {
protected:
  void SetUp() override {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  }

  /// Compiles the model of `c` (kiln-autodiff, then the CPU pipeline) through
  /// a compile session that starts from its kiln-dialect IR.
  void compile(const OpCase &c) {
    std::string source = modelSource(c), diagnosticText;
    llvm::raw_string_ostream diagnostics(diagnosticText);
    kiln::CompileSession session(kiln::CompileOptions{}, diagnostics);
    ASSERT_TRUE(mlir::succeeded(session.loadKilnIR(source, "gradient-test.mlir"))) << diagnosticText << source;
    ASSERT_TRUE(mlir::succeeded(session.runTo(kiln::CompileStage::LLVMDialect))) << diagnosticText << source;
    auto created = kiln::createCpuExecutionEngine(session.getModule(), {}, /*optLevel=*/2);
    ASSERT_TRUE(bool(created)) << llvm::toString(created.takeError());
    engine = std::move(*created);
    context = session.takeContext();
  }

  /// Calls `kiln_impl_T_<function>` with `args` (f64 buffers and shapes, then
  /// the i32 labels if any) and returns its results as f64 vectors, given
  /// their ranks.
  std::vector<std::vector<double>> call(const std::string &function, const std::vector<std::vector<double>> &args,
                                        const std::vector<std::vector<int64_t>> &shapes,
                                        const std::vector<int32_t> &labels, const std::vector<int64_t> &labelShape,
                                        const std::vector<size_t> &resultRanks) {
    size_t resultWords = 0;
    for (size_t rank : resultRanks)
      resultWords += 3 + 2 * rank;
    std::vector<int64_t> results(resultWords, 0);
    std::vector<std::vector<int64_t>> descriptors;
    for (size_t i = 0; i < args.size(); ++i)
      descriptors.push_back(kiln::memrefDescriptorWords(args[i].data(), shapes[i]));
    if (!labelShape.empty())
      descriptors.push_back(kiln::memrefDescriptorWords(labels.data(), labelShape));
    std::vector<void *> pointers = {results.data()};
    for (auto &d : descriptors)
      pointers.push_back(d.data());
    std::vector<void *> packed;
    for (void *&p : pointers)
      packed.push_back(&p);
    llvm::Error error = engine->invokePacked("_mlir_ciface_" + kiln::implementationSymbol("T_" + function), packed);
    EXPECT_FALSE(bool(error)) << llvm::toString(std::move(error));

    std::vector<std::vector<double>> values;
    size_t word = 0;
    std::vector<void *> toFree;
    for (size_t rank : resultRanks) {
      const double *aligned = reinterpret_cast<const double *>(results[word + 1]);
      int64_t offset = results[word + 2];
      const int64_t *sizes = &results[word + 3], *strides = &results[word + 3 + rank];
      std::vector<int64_t> index(rank, 0);
      int64_t count = 1;
      for (size_t d = 0; d < rank; ++d)
        count *= sizes[d];
      std::vector<double> out;
      for (int64_t n = 0; n < count; ++n) {
        int64_t element = offset;
        for (size_t d = 0; d < rank; ++d)
          element += index[d] * strides[d];
        out.push_back(aligned[element]);
        for (int64_t d = int64_t(rank) - 1; d >= 0; --d) {
          if (++index[d] < sizes[d])
            break;
          index[d] = 0;
        }
      }
      values.push_back(std::move(out));
      void *allocated = reinterpret_cast<void *>(results[word]);
      if (std::find(toFree.begin(), toFree.end(), allocated) == toFree.end())
        toFree.push_back(allocated);
      word += 3 + 2 * rank;
    }
    for (void *allocated : toFree)
      std::free(allocated);
    return values;
  }

  std::unique_ptr<mlir::MLIRContext> context;
  std::unique_ptr<mlir::ExecutionEngine> engine;
};

TEST_P(GradientTest, MatchesCentralDifferences) {
  const OpCase &c = GetParam();
  compile(c);
  ASSERT_TRUE(engine);

  std::mt19937 rng(1234);
  std::vector<std::vector<double>> x;
  std::vector<std::vector<int64_t>> shapes;
  for (const Operand &operand : c.operands) {
    std::uniform_real_distribution<double> dist(operand.low, operand.high);
    std::vector<double> values(numElements(operand.shape));
    for (double &v : values)
      v = dist(rng);
    x.push_back(std::move(values));
    shapes.push_back(operand.shape);
  }
  std::normal_distribution<double> normal;
  std::vector<double> u(numElements(c.resultShape));
  for (double &v : u)
    v = normal(rng);
  std::vector<int32_t> labels(numElements(c.labels));
  for (size_t i = 0; i < labels.size(); ++i)
    labels[i] = int32_t((i * 3 + 1) % 5);

  // The generated gradient.
  auto withU = [&](std::vector<std::vector<double>> params) {
    params.push_back(u);
    return params;
  };
  std::vector<std::vector<int64_t>> allShapes = shapes;
  allShapes.push_back(c.resultShape);
  std::vector<size_t> gradRanks = {0};
  for (const Operand &operand : c.operands)
    gradRanks.push_back(operand.shape.size());
  std::vector<std::vector<double>> grad = call("grad", withU(x), allShapes, labels, c.labels, gradRanks);
  ASSERT_EQ(grad.size(), c.operands.size() + 1);
  double loss = call("loss", withU(x), allShapes, labels, c.labels, {0})[0][0];
  EXPECT_NEAR(grad[0][0], loss, 1e-12 * std::max(1.0, std::abs(loss))) << "the loss of _grad and _loss differ";

  // Three random directions through all operands at once.
  const double eps = 1e-6;
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<std::vector<double>> v, plus = x, minus = x;
    double predicted = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
      std::vector<double> direction(x[i].size());
      for (size_t j = 0; j < direction.size(); ++j) {
        direction[j] = normal(rng);
        plus[i][j] += eps * direction[j];
        minus[i][j] -= eps * direction[j];
        predicted += grad[i + 1][j] * direction[j];
      }
    }
    double fPlus = call("loss", withU(plus), allShapes, labels, c.labels, {0})[0][0];
    double fMinus = call("loss", withU(minus), allShapes, labels, c.labels, {0})[0][0];
    double difference = (fPlus - fMinus) / (2 * eps);
    EXPECT_NEAR(predicted, difference, 1e-6 * std::max(1.0, std::abs(difference))) << c.name << ", direction " << trial;
  }
}

std::string nameOf(const ::testing::TestParamInfo<OpCase> &info) { return info.param.name; }

/// `%y = <op> %x0, %x1 : <types> -> <result>` for a binary elementwise op.
OpCase binary(const std::string &op, std::vector<int64_t> a, std::vector<int64_t> b, std::vector<int64_t> result,
              double low = -2.0, double high = 2.0, double bLow = -2.0, double bHigh = 2.0) {
  return {op,
          {{a, low, high}, {b, bLow, bHigh}},
          result,
          "%y = kiln." + op + " %x0, %x1 : " + tensorType(a) + ", " + tensorType(b) + " -> " + tensorType(result)};
}

OpCase unary(const std::string &op, double low = -2.0, double high = 2.0) {
  std::vector<int64_t> shape = {3, 4};
  return {op, {{shape, low, high}}, shape, "%y = kiln." + op + " %x0 : " + tensorType(shape)};
}

/// `%y = kiln.<op> %x0 <attrs> : <in> -> <out>` (reductions, pooling, reshape).
OpCase shaped(const std::string &name, const std::string &op, std::vector<int64_t> in, const std::string &attrs,
              std::vector<int64_t> out) {
  return {name, {{in}}, out, "%y = kiln." + op + " %x0 " + attrs + " : " + tensorType(in) + " -> " + tensorType(out)};
}

const OpCase kCases[] = {
    // Elementwise binary ops, with broadcasting on one side.
    binary("add", {3, 4}, {4}, {3, 4}),
    binary("sub", {3, 4}, {3, 1}, {3, 4}),
    binary("mul", {3, 4}, {}, {3, 4}),
    binary("div", {3, 4}, {4}, {3, 4}, -2.0, 2.0, 1.0, 2.0),
    binary("pow", {3, 4}, {4}, {3, 4}, 0.5, 2.0, -1.5, 1.5),
    binary("maximum", {3, 4}, {3, 4}, {3, 4}),
    binary("minimum", {4}, {3, 4}, {3, 4}),
    // Elementwise unary ops (log and sqrt on positive numbers).
    unary("neg"),
    unary("relu"),
    unary("sigmoid"),
    unary("tanh"),
    unary("exp"),
    unary("log", 0.5, 3.0),
    unary("sqrt", 0.5, 3.0),
    unary("abs"),
    // matmul in its four rank combinations.
    {"matmul_2x2",
     {{{3, 4}}, {{4, 2}}},
     {3, 2},
     "%y = kiln.matmul %x0, %x1 : tensor<3x4xf64>, tensor<4x2xf64> -> tensor<3x2xf64>"},
    {"matmul_2x1",
     {{{3, 4}}, {{4}}},
     {3},
     "%y = kiln.matmul %x0, %x1 : tensor<3x4xf64>, tensor<4xf64> -> tensor<3xf64>"},
    {"matmul_1x2",
     {{{4}}, {{4, 2}}},
     {2},
     "%y = kiln.matmul %x0, %x1 : tensor<4xf64>, tensor<4x2xf64> -> tensor<2xf64>"},
    {"matmul_1x1", {{{4}}, {{4}}}, {}, "%y = kiln.matmul %x0, %x1 : tensor<4xf64>, tensor<4xf64> -> tensor<f64>"},
    // Convolutions: strided with same padding, and asymmetric padding.
    {"conv2d_strided",
     {{{2, 5, 5, 2}}, {{3, 3, 2, 3}}},
     {2, 3, 3, 3},
     "%y = kiln.conv2d %x0, %x1 strides = [2, 2] padding = [1, 1, 1, 1] : tensor<2x5x5x2xf64>, tensor<3x3x2x3xf64> -> "
     "tensor<2x3x3x3xf64>"},
    {"conv2d_padded",
     {{{2, 5, 4, 2}}, {{2, 3, 2, 3}}},
     {2, 5, 3, 3},
     "%y = kiln.conv2d %x0, %x1 strides = [1, 1] padding = [0, 1, 1, 0] : tensor<2x5x4x2xf64>, tensor<2x3x2x3xf64> -> "
     "tensor<2x5x3x3xf64>"},
    // Pooling: overlapping max windows, uncovered rows for average.
    shaped("maxpool", "maxpool", {2, 4, 4, 2}, "window = [2, 2] strides = [1, 1]", {2, 3, 3, 2}),
    shaped("avgpool", "avgpool", {2, 5, 5, 2}, "window = [2, 2] strides = [2, 2]", {2, 2, 2, 2}),
    shaped("avgpool_overlapping", "avgpool", {2, 4, 4, 2}, "window = [3, 3] strides = [1, 1]", {2, 2, 2, 2}),
    shaped("reshape", "reshape", {2, 3, 4}, "", {6, 4}),
    {"dropout", {{{3, 4}}}, {3, 4}, "%y = kiln.dropout %x0 rate = 5.000000e-01 : tensor<3x4xf64>"},
    // Reductions with and without an axis.
    shaped("reduce_sum_axis", "reduce_sum", {3, 4}, "axis = 1", {3}),
    shaped("reduce_sum_all", "reduce_sum", {3, 4}, "", {}),
    shaped("reduce_mean_axis", "reduce_mean", {3, 4}, "axis = 0", {4}),
    shaped("reduce_mean_all", "reduce_mean", {3, 4}, "", {}),
    shaped("reduce_max_axis", "reduce_max", {3, 4}, "axis = 1", {3}),
    shaped("reduce_max_all", "reduce_max", {3, 4}, "", {}),
    shaped("reduce_min_axis", "reduce_min", {3, 4}, "axis = 0", {4}),
    shaped("reduce_min_all", "reduce_min", {3, 4}, "", {}),
    // take along either axis; the i32 indices (1, 4, 2, 0) get no gradient.
    {"take_axis1",
     {{{4, 5}}},
     {4},
     "%y = kiln.take %x0, %t axis = 1 : tensor<4x5xf64>, tensor<4xi32> -> tensor<4xf64>",
     {4}},
    {"take_axis0",
     {{{5, 4}}},
     {4},
     "%y = kiln.take %x0, %t axis = 0 : tensor<5x4xf64>, tensor<4xi32> -> tensor<4xf64>",
     {4}},
    {"softmax", {{{3, 4}}}, {3, 4}, "%y = kiln.softmax %x0 axis = 1 : tensor<3x4xf64>"},
    {"log_softmax", {{{3, 4}}}, {3, 4}, "%y = kiln.log_softmax %x0 axis = 0 : tensor<3x4xf64>"},
    // Losses.
    {"cross_entropy",
     {{{4, 5}}},
     {},
     "%y = kiln.cross_entropy %x0, %t : tensor<4x5xf64>, tensor<4xi32> -> tensor<f64>",
     {4}},
    {"binary_cross_entropy",
     {{{3, 4}, 0.1, 0.9}, {{3, 4}, 0.0, 1.0}},
     {},
     "%y = kiln.binary_cross_entropy %x0, %x1 : tensor<3x4xf64>, tensor<3x4xf64> -> tensor<f64>"},
    {"mse", {{{3, 4}}, {{3, 4}}}, {}, "%y = kiln.mse %x0, %x1 : tensor<3x4xf64>, tensor<3x4xf64> -> tensor<f64>"},
    // Dropout in training, with a fixed key (seed 5, step 3): the gradient is
    // the same mask and scale applied to the cotangent.
    {"dropout_training",
     {{{6, 7}}},
     {6, 7},
     "%seed = kiln.constant dense<5> : tensor<i32>\n      %step = kiln.constant dense<3.0> : tensor<f32>\n"
     "      %y = kiln.dropout %x0 key(%seed, %step : tensor<i32>, tensor<f32>) rate = 4.000000e-01 "
     "{instance = 2 : i64} : tensor<6x7xf64>"},
};

INSTANTIATE_TEST_SUITE_P(EveryDifferentiableOp, GradientTest, ::testing::ValuesIn(kCases), nameOf);

} // namespace
