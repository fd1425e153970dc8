//===- DialectInterfaceTest.cpp - The differentiation interface -----------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Unit tests of the kiln dialect's differentiation interface
// (dialect/KilnInterfaces.td): which ops implement
// `kiln::DifferentiableOpInterface`, what its default methods do, and which
// ops carry the `kiln::OpTrait::NonDifferentiable` trait instead. Each test
// parses a small function and inspects the ops in it.
//
//===----------------------------------------------------------------------===//

#include "dialect/KilnDialect.h"
#include "dialect/KilnInterfaces.h"
#include "dialect/KilnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Parser/Parser.h"

#include "gtest/gtest.h"

#include <string>
#include <vector>

using namespace mlir;

namespace {

/// Owns a context with the kiln and func dialects and parses IR into it.
class DialectInterfaceTest : public ::testing::Test {
protected:
  DialectInterfaceTest() { context.loadDialect<kiln::KilnDialect, func::FuncDialect>(); }

  /// Parses `source`; the module is null (and the test has failed) when the
  /// source does not parse and verify.
  OwningOpRef<ModuleOp> parse(llvm::StringRef source) {
    OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(source, &context);
    EXPECT_TRUE(module) << "the test IR did not parse";
    return module;
  }

  /// The first op named `name` in `module`, or null.
  static Operation *findOp(ModuleOp module, llvm::StringRef name) {
    Operation *found = nullptr;
    module->walk([&](Operation *op) {
      if (!found && op->getName().getStringRef() == name)
        found = op;
    });
    return found;
  }

  MLIRContext context;
};

TEST_F(DialectInterfaceTest, ReluImplementsTheInterface) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @f(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
      %0 = kiln.relu %x : tensor<?x64xf32>
      return %0 : tensor<?x64xf32>
    }
  )mlir");
  ASSERT_TRUE(module);
  Operation *relu = findOp(*module, "kiln.relu");
  ASSERT_NE(relu, nullptr);
  EXPECT_TRUE(isa<kiln::DifferentiableOpInterface>(relu));
  EXPECT_FALSE(relu->hasTrait<kiln::OpTrait::NonDifferentiable>());
}

/// The interface with nothing but its default methods, as an op has it
/// before its rule is written. (Every kiln op that lists the interface gets
/// its own rule from the autodiff work, so the defaults are exercised on an
/// op given the interface here, in the test's context only.)
struct DefaultRulesModel : kiln::DifferentiableOpInterface::ExternalModel<DefaultRulesModel, func::CallOp> {};

// Until an op has its own rule, the default buildVectorJacobianProduct fails
// with an error at the op naming it, and produces no cotangent.
TEST_F(DialectInterfaceTest, DefaultVectorJacobianProductFailsWithDiagnostic) {
  func::CallOp::attachInterface<DefaultRulesModel>(context);
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func private @g(tensor<?x64xf32>) -> tensor<?x64xf32>
    func.func @f(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
      %0 = func.call @g(%x) : (tensor<?x64xf32>) -> tensor<?x64xf32>
      return %0 : tensor<?x64xf32>
    }
  )mlir");
  ASSERT_TRUE(module);
  auto call = dyn_cast_or_null<kiln::DifferentiableOpInterface>(findOp(*module, "func.call"));
  ASSERT_TRUE(call);

  std::vector<std::string> messages;
  std::vector<Location> locations;
  std::vector<DiagnosticSeverity> severities;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    messages.push_back(diag.str());
    locations.push_back(diag.getLocation());
    severities.push_back(diag.getSeverity());
    return success();
  });

  OpBuilder builder(call);
  SmallVector<Value> operandCotangents;
  Value cotangent = call->getResult(0); // any value of the result's type
  EXPECT_TRUE(failed(call.buildVectorJacobianProduct(builder, {cotangent}, operandCotangents)));
  EXPECT_TRUE(operandCotangents.empty());

  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0], "'func.call' has no differentiation rule yet");
  EXPECT_EQ(severities[0], DiagnosticSeverity::Error);
  EXPECT_EQ(locations[0], call->getLoc());
  // The default isOperandDifferentiable: the float operand takes a cotangent.
  EXPECT_TRUE(call.isOperandDifferentiable(0));
}

// The default isOperandDifferentiable is true for float operands only: the
// logits of a cross-entropy take a cotangent, its i32 labels do not.
TEST_F(DialectInterfaceTest, CrossEntropyLabelsAreNotDifferentiable) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @f(%logits: tensor<?x10xf32>, %labels: tensor<?xi32>) -> tensor<f32> {
      %0 = kiln.cross_entropy %logits, %labels : tensor<?x10xf32>, tensor<?xi32> -> tensor<f32>
      return %0 : tensor<f32>
    }
  )mlir");
  ASSERT_TRUE(module);
  auto loss = dyn_cast_or_null<kiln::DifferentiableOpInterface>(findOp(*module, "kiln.cross_entropy"));
  ASSERT_TRUE(loss);
  ASSERT_EQ(loss->getNumOperands(), 2u);
  EXPECT_TRUE(loss.isOperandDifferentiable(0));  // logits
  EXPECT_FALSE(loss.isOperandDifferentiable(1)); // labels
}

// Ops without a derivative carry the NonDifferentiable trait and do not
// implement the interface, so autodiff treats their results as constants.
TEST_F(DialectInterfaceTest, ArgmaxCompareConstantAreNonDifferentiable) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @f(%x: tensor<?x10xf32>, %y: tensor<?xi32>) -> (tensor<?xi32>, tensor<?xf32>, tensor<f32>) {
      %0 = kiln.argmax %x axis = 1 : tensor<?x10xf32> -> tensor<?xi32>
      %1 = kiln.compare eq, %0, %y : tensor<?xi32>, tensor<?xi32> -> tensor<?xf32>
      %2 = kiln.constant dense<1.0> : tensor<f32>
      return %0, %1, %2 : tensor<?xi32>, tensor<?xf32>, tensor<f32>
    }
  )mlir");
  ASSERT_TRUE(module);
  for (llvm::StringRef name : {"kiln.argmax", "kiln.compare", "kiln.constant"}) {
    SCOPED_TRACE(name.str());
    Operation *op = findOp(*module, name);
    ASSERT_NE(op, nullptr);
    EXPECT_TRUE(op->hasTrait<kiln::OpTrait::NonDifferentiable>());
    EXPECT_FALSE(isa<kiln::DifferentiableOpInterface>(op));
  }
}

} // namespace
