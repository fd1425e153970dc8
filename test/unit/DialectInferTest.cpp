//===- DialectInferTest.cpp - Result-type inference of the kiln ops -------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The kiln ops that implement InferTypeOpInterface, built without a result
// type as MLIRGen and the differentiation rules build them: the inferred
// types follow frontend/ShapeRules.h (a `?` against a static size gives the
// static size), and every op built so verifies.
//
//===----------------------------------------------------------------------===//

#include "dialect/KilnDialect.h"
#include "dialect/KilnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include "gtest/gtest.h"

#include <optional>

using namespace mlir;

namespace {

constexpr int64_t Q = ShapedType::kDynamic;

/// Creates ops inside a function whose arguments have the types asked for.
class DialectInferTest : public ::testing::Test {
protected:
  DialectInferTest() : builder(&context) {
    context.loadDialect<kiln::KilnDialect, func::FuncDialect>();
    module = ModuleOp::create(builder.getUnknownLoc());
    builder.setInsertionPointToEnd(module.getBody());
    func = func::FuncOp::create(builder, builder.getUnknownLoc(), "f", builder.getFunctionType({}, {}));
    builder.setInsertionPointToEnd(func.addEntryBlock());
  }
  ~DialectInferTest() override { module->erase(); }

  /// A new function argument of type `shape` x `element` (f32 by default).
  Value arg(ArrayRef<int64_t> shape, Type element = {}) {
    if (!element)
      element = builder.getF32Type();
    return func.getBody().addArgument(RankedTensorType::get(shape, element), builder.getUnknownLoc());
  }

  static RankedTensorType type(Value value) { return cast<RankedTensorType>(value.getType()); }

  /// True if every op built verifies.
  bool verifies() {
    func::ReturnOp::create(builder, builder.getUnknownLoc());
    func.setType(builder.getFunctionType(func.getBody().getArgumentTypes(), {}));
    return succeeded(verify(module));
  }

  MLIRContext context;
  OpBuilder builder;
  ModuleOp module;
  func::FuncOp func;
};

TEST_F(DialectInferTest, BroadcastingOps) {
  Location loc = builder.getUnknownLoc();
  Value a = arg({Q, 10}), bias = arg({10}), b = arg({5, 1});
  EXPECT_EQ(type(kiln::AddOp::create(builder, loc, a, bias)).getShape(), ArrayRef<int64_t>({Q, 10}));
  // `?` against a static size: the static size.
  EXPECT_EQ(type(kiln::MulOp::create(builder, loc, a, b)).getShape(), ArrayRef<int64_t>({5, 10}));
  // compare: f32 for integer operands, the operands' float type otherwise.
  Value labels = arg({Q}, builder.getI32Type()), other = arg({Q}, builder.getI32Type());
  Value eq = kiln::CompareOp::create(builder, loc, kiln::ComparePredicate::EQ, labels, other);
  EXPECT_EQ(type(eq), RankedTensorType::get({Q}, builder.getF32Type()));
  Value d = arg({3}, builder.getF64Type());
  Value gt = kiln::CompareOp::create(builder, loc, kiln::ComparePredicate::GT, d, d);
  EXPECT_EQ(type(gt), RankedTensorType::get({3}, builder.getF64Type()));
  EXPECT_TRUE(verifies());
}

TEST_F(DialectInferTest, MatmulConvPoolReductions) {
  Location loc = builder.getUnknownLoc();
  Value x = arg({Q, 3}), w = arg({3, 4}), v = arg({3});
  EXPECT_EQ(type(kiln::MatmulOp::create(builder, loc, x, w)).getShape(), ArrayRef<int64_t>({Q, 4}));
  EXPECT_EQ(type(kiln::MatmulOp::create(builder, loc, x, v)).getShape(), ArrayRef<int64_t>({Q}));
  EXPECT_EQ(type(kiln::MatmulOp::create(builder, loc, v, v)).getRank(), 0);

  Value image = arg({Q, 9, 9, 2}), filter = arg({3, 3, 2, 4});
  Value conv = kiln::Conv2DOp::create(builder, loc, image, filter, builder.getDenseI64ArrayAttr({2, 2}),
                                      builder.getDenseI64ArrayAttr({1, 1, 1, 1}));
  EXPECT_EQ(type(conv).getShape(), ArrayRef<int64_t>({Q, 5, 5, 4}));
  Value pool = kiln::MaxPoolOp::create(builder, loc, conv, builder.getDenseI64ArrayAttr({2, 2}),
                                       builder.getDenseI64ArrayAttr({2, 2}), nullptr);
  EXPECT_EQ(type(pool).getShape(), ArrayRef<int64_t>({Q, 2, 2, 4}));
  // Padding = same on 5x5 with window 2, stride 2: one row and column after.
  Value padded =
      kiln::AvgPoolOp::create(builder, loc, conv, builder.getDenseI64ArrayAttr({2, 2}),
                              builder.getDenseI64ArrayAttr({2, 2}), builder.getDenseI64ArrayAttr({0, 1, 0, 1}));
  EXPECT_EQ(type(padded).getShape(), ArrayRef<int64_t>({Q, 3, 3, 4}));

  Value sum = kiln::ReduceSumOp::create(builder, loc, x, std::optional<int64_t>(1));
  EXPECT_EQ(type(sum).getShape(), ArrayRef<int64_t>({Q}));
  Value all = kiln::ReduceMeanOp::create(builder, loc, x, std::optional<int64_t>());
  EXPECT_EQ(type(all).getRank(), 0);
  Value index = kiln::ArgmaxOp::create(builder, loc, x, uint64_t(1));
  EXPECT_EQ(type(index), RankedTensorType::get({Q}, builder.getI32Type()));
  Value labels = arg({Q}, builder.getI32Type());
  Value loss = kiln::CrossEntropyOp::create(builder, loc, x, labels);
  EXPECT_EQ(type(loss), RankedTensorType::get({}, builder.getF32Type()));
  Value t = kiln::TransposeOp::create(builder, loc, x, builder.getDenseI64ArrayAttr({1, 0}));
  EXPECT_EQ(type(t).getShape(), ArrayRef<int64_t>({3, Q}));
  EXPECT_TRUE(verifies());
}

} // namespace
