//===- SemaTest.cpp - Unit tests for Kiln's semantic checks ---------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Types and parameters of the examples, layer attributes, optimizers,
// dependencies, and one test per family of errors (message and line:col).
//
//===----------------------------------------------------------------------===//

#include "FrontendTestUtils.h"

#include <gtest/gtest.h>

using namespace kiln;
using namespace kiln::ast;
using kiln::test::expectEach;
using kiln::test::readExample;
using kiln::test::SourceFixture;

namespace {

/// Checks `text` and returns "line:col: message" of the first error.
std::string checkError(llvm::StringRef text) {
  SourceFixture f(text);
  EXPECT_FALSE(f.check()) << text.str();
  return f.firstErrorPos() + ": " + f.firstError();
}

/// Wraps statements in a model with a batch input `x: f32[N, 4]` and an
/// output of `x` so that only the statements under test matter.
std::string inModel(llvm::StringRef body) {
  return ("model M {\n  input x: f32[N, 4]\n" + body + "\n  output x\n}").str();
}

/// Returns the type of let `name` in the first model.
std::string letType(SourceFixture &f, llvm::StringRef name) {
  for (LetStmt *let : f.model().getLets())
    if (let->getName() == name)
      return let->type.str();
  return "<no let " + name.str() + ">";
}

TEST(SemaTest, AllExamplesCheck) {
  for (const char *name :
       {"fashion_cnn.kiln", "linear_regression.kiln", "linear_svm.kiln", "logistic_regression.kiln"}) {
    SourceFixture f(readExample(name));
    EXPECT_TRUE(f.check()) << name << "\n" << f.output();
  }
}

TEST(SemaTest, FashionCnn) {
  SourceFixture f(readExample("fashion_cnn.kiln"));
  ASSERT_TRUE(f.check()) << f.output();
  Model &m = f.model();
  EXPECT_EQ(letType(f, "logits"), "f32[N, 10]");

  std::vector<std::pair<std::string, std::string>> expected = {
      {"conv2d_0.kernel", "f32[3, 3, 1, 32]"},  {"conv2d_0.bias", "f32[32]"},
      {"conv2d_1.kernel", "f32[3, 3, 32, 32]"}, {"conv2d_1.bias", "f32[32]"},
      {"dense_0.kernel", "f32[18432, 64]"},     {"dense_0.bias", "f32[64]"},
      {"dense_1.kernel", "f32[64, 10]"},        {"dense_1.bias", "f32[10]"},
  };
  ASSERT_EQ(m.params.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(m.params[i].name, expected[i].first);
    EXPECT_EQ(m.params[i].type.str(), expected[i].second);
    EXPECT_EQ(m.params[i].init, i % 2 == 0 ? InitKind::GlorotUniform : InitKind::Zeros);
  }
  EXPECT_EQ(f.pos(m.params[0].loc), "7:8");

  // The layers, outermost (dense_1) first.
  auto *logits = m.getLets()[0];
  auto *dense1 = llvm::cast<CallExpr>(logits->getExpr());
  EXPECT_EQ(dense1->builtin, Builtin::Dense);
  EXPECT_EQ(dense1->instanceName, "dense_1");
  EXPECT_EQ(dense1->layer.units, 10);
  EXPECT_EQ(dense1->layer.activation, Activation::Linear);
  ASSERT_EQ(dense1->operands.size(), 1u);
  auto *dense0 = llvm::cast<CallExpr>(dense1->operands[0]);
  EXPECT_EQ(dense0->instanceName, "dense_0");
  EXPECT_EQ(dense0->layer.activation, Activation::Relu);
  EXPECT_EQ(dense0->getType().str(), "f32[N, 64]");
  auto *flatten = llvm::cast<CallExpr>(dense0->operands[0]);
  EXPECT_EQ(flatten->builtin, Builtin::Flatten);
  EXPECT_EQ(flatten->instanceName, "flatten_0");
  EXPECT_EQ(flatten->getType().str(), "f32[N, 18432]");
  auto *conv1 = llvm::cast<CallExpr>(flatten->operands[0]);
  EXPECT_EQ(conv1->instanceName, "conv2d_1");
  EXPECT_EQ(conv1->getType().str(), "f32[N, 24, 24, 32]");
  auto *conv0 = llvm::cast<CallExpr>(conv1->operands[0]);
  EXPECT_EQ(conv0->instanceName, "conv2d_0");
  EXPECT_EQ(conv0->getType().str(), "f32[N, 26, 26, 32]");
  EXPECT_EQ(conv0->layer.filters, 32);
  EXPECT_EQ(conv0->layer.kernelSize, 3);
  EXPECT_EQ(conv0->layer.stride, 1);
  EXPECT_EQ(conv0->layer.activation, Activation::Relu);
  EXPECT_EQ(conv0->paramNames, (std::vector<std::string>{"conv2d_0.kernel", "conv2d_0.bias"}));
  EXPECT_EQ(conv0->paramIndices, (std::vector<unsigned>{0, 1}));
  auto *image = llvm::cast<NameExpr>(conv0->operands[0]);
  EXPECT_EQ(image->targetKind, NameKind::Input);

  // Loss, optimizer, metric, output.
  ASSERT_NE(m.getLoss(), nullptr);
  EXPECT_EQ(m.getLoss()->type.str(), "f32");
  EXPECT_EQ(m.getLoss()->deps.inputs, (std::vector<std::string>{"image", "label"}));
  EXPECT_EQ(m.getLoss()->deps.params.size(), 8u);
  ASSERT_TRUE(m.optimizer.has_value());
  EXPECT_EQ(m.optimizer->name, "adam");
  std::vector<std::pair<std::string, double>> adam = {
      {"lr", 0.001}, {"beta_1", 0.9}, {"beta_2", 0.999}, {"epsilon", 1e-7}};
  EXPECT_EQ(m.optimizer->hyperParams, adam);
  auto metrics = m.getMetrics();
  ASSERT_EQ(metrics.size(), 1u);
  EXPECT_EQ(metrics[0]->type.str(), "f32");
  auto *mean = llvm::cast<CallExpr>(metrics[0]->getExpr());
  EXPECT_EQ(mean->builtin, Builtin::Mean);
  EXPECT_FALSE(mean->axis.has_value());
  auto *eq = llvm::cast<BinaryExpr>(mean->operands[0]);
  EXPECT_EQ(eq->getType().str(), "f32[N]");
  auto *argmax = llvm::cast<CallExpr>(&eq->getLHS());
  EXPECT_EQ(argmax->builtin, Builtin::Argmax);
  EXPECT_EQ(argmax->getType().str(), "i32[N]");
  EXPECT_EQ(argmax->axis, std::optional<int64_t>(1));
  auto outputs = m.getOutputs();
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0]->type.str(), "f32[N, 10]");
  EXPECT_EQ(outputs[0]->deps.inputs, std::vector<std::string>{"image"});
  auto *softmax = llvm::cast<CallExpr>(outputs[0]->getExpr());
  EXPECT_EQ(softmax->axis, std::optional<int64_t>(1));
}

TEST(SemaTest, LinearRegression) {
  SourceFixture f(readExample("linear_regression.kiln"));
  ASSERT_TRUE(f.check()) << f.output();
  Model &m = f.model();
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[0].name, "w");
  EXPECT_EQ(m.params[0].type.str(), "f32[10]");
  EXPECT_EQ(m.params[0].init, InitKind::Zeros);
  EXPECT_EQ(m.params[1].name, "b");
  EXPECT_EQ(m.params[1].type.str(), "f32");
  EXPECT_EQ(m.params[1].init, InitKind::Constant);
  EXPECT_EQ(m.params[1].initValue, 0.0);
  EXPECT_EQ(letType(f, "pred"), "f32[N]");
  std::vector<std::pair<std::string, double>> sgd = {{"lr", 0.1}, {"momentum", 0.0}, {"nesterov", 0.0}};
  EXPECT_EQ(m.optimizer->hyperParams, sgd);
  // `output pred` exports the let.
  OutputStmt *out = m.getOutputs()[0];
  EXPECT_EQ(out->sourceKind, NameKind::Let);
  EXPECT_EQ(out->source, m.getLets()[0]);
  EXPECT_EQ(out->type.str(), "f32[N]");
  EXPECT_EQ(out->deps.inputs, std::vector<std::string>{"x"});
  EXPECT_EQ(out->deps.params, (std::vector<std::string>{"w", "b"}));
  // The metric `mse` may share its name with the builtin.
  EXPECT_EQ(m.getMetrics()[0]->getName(), "mse");
  EXPECT_EQ(m.getMetrics()[0]->deps.inputs, (std::vector<std::string>{"x", "y"}));
  // Name targets.
  auto *plus = llvm::cast<BinaryExpr>(m.getLets()[0]->getExpr());
  auto *b = llvm::cast<NameExpr>(&plus->getRHS());
  EXPECT_EQ(b->targetKind, NameKind::Param);
  EXPECT_EQ(b->paramIndex, 1);
}

TEST(SemaTest, OtherExamplesOptimizers) {
  SourceFixture lr(readExample("logistic_regression.kiln"));
  ASSERT_TRUE(lr.check()) << lr.output();
  std::vector<std::pair<std::string, double>> sgd = {{"lr", 0.1}, {"momentum", 0.9}, {"nesterov", 0.0}};
  EXPECT_EQ(lr.model().optimizer->hyperParams, sgd);
  SourceFixture svm(readExample("linear_svm.kiln"));
  ASSERT_TRUE(svm.check()) << svm.output();
  std::vector<std::pair<std::string, double>> rmsprop = {
      {"lr", 0.01}, {"rho", 0.9}, {"momentum", 0.0}, {"epsilon", 1e-7}};
  EXPECT_EQ(svm.model().optimizer->hyperParams, rmsprop);
  EXPECT_EQ(letType(svm, "score"), "f32[N]");
}

TEST(SemaTest, ShapesOfOperators) {
  SourceFixture f(inModel(R"(
  param m: f32[4, 3]
  param v: f32[4]
  param r: f32[3, 1]
  a = x @ m
  b = x @ v
  c = v @ m
  d = v @ v
  e = x + 1
  g = x * v
  h = r + v
  k = x > 0.5
  s = sum(x, axis = -1)
  t = max(x, axis = 0)
  u = max(x, v)
  q = x |> softmax(axis = 0)
  o = -x ** 2
  ce = cross_entropy(a, argmax(a))
  l = mse(x, x) + binary_cross_entropy(x, x) + mean(a) + sum(b) + sum(c) + d
  loss l + sum(h) + mean(q) + mean(o) + mean(u) + ce
  optimizer sgd()
)"));
  ASSERT_TRUE(f.check()) << f.output();
  EXPECT_EQ(letType(f, "a"), "f32[N, 3]");
  EXPECT_EQ(letType(f, "b"), "f32[N]");
  EXPECT_EQ(letType(f, "c"), "f32[3]");
  EXPECT_EQ(letType(f, "d"), "f32");
  EXPECT_EQ(letType(f, "e"), "f32[N, 4]");
  EXPECT_EQ(letType(f, "g"), "f32[N, 4]");
  EXPECT_EQ(letType(f, "h"), "f32[3, 4]");
  EXPECT_EQ(letType(f, "k"), "f32[N, 4]");
  EXPECT_EQ(letType(f, "s"), "f32[N]");
  EXPECT_EQ(letType(f, "t"), "f32[4]");
  EXPECT_EQ(letType(f, "u"), "f32[N, 4]");
  EXPECT_EQ(letType(f, "q"), "f32[N, 4]");
  EXPECT_EQ(letType(f, "o"), "f32[N, 4]");
  EXPECT_EQ(letType(f, "ce"), "f32");
  EXPECT_EQ(letType(f, "l"), "f32");
  Model &m = f.model();
  auto lets = m.getLets();
  EXPECT_EQ(llvm::cast<CallExpr>(lets[8]->getExpr())->axis, std::optional<int64_t>(1));
  EXPECT_EQ(llvm::cast<CallExpr>(lets[9]->getExpr())->builtin, Builtin::ReduceMax);
  EXPECT_EQ(llvm::cast<CallExpr>(lets[10]->getExpr())->builtin, Builtin::Maximum);
  EXPECT_EQ(m.optimizer->hyperParams[0].second, 0.01);
}

TEST(SemaTest, I32LiteralComparison) {
  SourceFixture f(R"(model M {
  input y: i32[N]
  output z = y == 1
  output w = -1 < y
})");
  ASSERT_TRUE(f.check()) << f.output();
  auto outs = f.model().getOutputs();
  auto *eq = llvm::cast<BinaryExpr>(outs[0]->getExpr());
  EXPECT_EQ(eq->getType().str(), "f32[N]");
  EXPECT_EQ(eq->getRHS().getType().str(), "i32");
  auto *lt = llvm::cast<BinaryExpr>(outs[1]->getExpr());
  EXPECT_EQ(lt->getLHS().getType().str(), "i32");
  EXPECT_EQ(getConstantValue(lt->getLHS()), std::optional<double>(-1.0));

  EXPECT_EQ(checkError("model M {\n  input y: i32[N]\n  output z = y == 0.5\n}"),
            "3:19: comparing with i32 needs an integer, got 0.5");
}

TEST(SemaTest, LayerAttributes) {
  SourceFixture f(R"(model M {
  input img: f32[N, 28, 28, 3]
  a = img |> conv2d(8, 3, stride = 2, padding = same, activation = tanh)
  b = img |> conv2d(filters = 4, kernel = 5, padding = same)
  c = img |> maxpool(2)
  d = img |> avgpool(3, stride = 2)
  e = dense(flatten(img), 7, softmax) |> dropout(0.25)
  output a
  output b
  output c
  output d
  output e
})");
  ASSERT_TRUE(f.check()) << f.output();
  auto lets = f.model().getLets();
  auto *a = llvm::cast<CallExpr>(lets[0]->getExpr());
  EXPECT_EQ(a->getType().str(), "f32[N, 14, 14, 8]");
  EXPECT_EQ(a->layer.stride, 2);
  EXPECT_EQ(a->layer.padding, Padding::Same);
  // out 14, total = 13*2 + 3 - 28 = 1: top 0, bottom 1.
  EXPECT_EQ(a->layer.pads, (std::array<int64_t, 4>{0, 1, 0, 1}));
  EXPECT_EQ(a->layer.activation, Activation::Tanh);
  auto *b = llvm::cast<CallExpr>(lets[1]->getExpr());
  EXPECT_EQ(b->getType().str(), "f32[N, 28, 28, 4]");
  EXPECT_EQ(b->layer.pads, (std::array<int64_t, 4>{2, 2, 2, 2}));
  EXPECT_EQ(b->instanceName, "conv2d_1");
  auto *c = llvm::cast<CallExpr>(lets[2]->getExpr());
  EXPECT_EQ(c->getType().str(), "f32[N, 14, 14, 3]");
  EXPECT_EQ(c->layer.kernelSize, 2);
  EXPECT_EQ(c->layer.stride, 2);
  EXPECT_EQ(c->instanceName, "maxpool_0");
  auto *d = llvm::cast<CallExpr>(lets[3]->getExpr());
  EXPECT_EQ(d->getType().str(), "f32[N, 13, 13, 3]");
  auto *e = llvm::cast<CallExpr>(lets[4]->getExpr());
  EXPECT_EQ(e->builtin, Builtin::Dropout);
  EXPECT_DOUBLE_EQ(e->layer.rate, 0.25);
  EXPECT_EQ(e->getType().str(), "f32[N, 7]");
  auto *dense = llvm::cast<CallExpr>(e->operands[0]);
  EXPECT_EQ(dense->layer.activation, Activation::Softmax);
  EXPECT_EQ(dense->instanceName, "dense_0");
  // Parameters interleave in source order.
  const auto &params = f.model().params;
  ASSERT_EQ(params.size(), 6u);
  EXPECT_EQ(params[4].name, "dense_0.kernel");
  EXPECT_EQ(params[4].type.str(), "f32[2352, 7]");
}

TEST(SemaTest, LayerNamesFollowSourceOrder) {
  SourceFixture f(R"(model M {
  input x: f32[N, 4]
  y = dense(dense(x, 5), 3)
  output y
})");
  ASSERT_TRUE(f.check()) << f.output();
  auto *outer = llvm::cast<CallExpr>(f.model().getLets()[0]->getExpr());
  EXPECT_EQ(outer->instanceName, "dense_0");
  EXPECT_EQ(llvm::cast<CallExpr>(outer->operands[0])->instanceName, "dense_1");
  EXPECT_EQ(f.model().params[0].name, "dense_0.kernel");
  EXPECT_EQ(f.model().params[0].type.str(), "f32[5, 3]");
  EXPECT_EQ(f.model().params[2].type.str(), "f32[4, 5]");
}

TEST(SemaTest, OptimizerDefaultsAndAliases) {
  SourceFixture f(inModel("  optimizer adagrad(learning_rate = 0.5)\n"
                          "  loss mean(x)"));
  ASSERT_TRUE(f.check()) << f.output();
  std::vector<std::pair<std::string, double>> adagrad = {{"lr", 0.5}, {"initial_accumulator", 0.1}, {"epsilon", 1e-7}};
  EXPECT_EQ(f.model().optimizer->hyperParams, adagrad);

  SourceFixture g(inModel("  optimizer sgd(nesterov = true, momentum = 0.5)\n"
                          "  loss mean(x)"));
  ASSERT_TRUE(g.check()) << g.output();
  std::vector<std::pair<std::string, double>> sgd = {{"lr", 0.01}, {"momentum", 0.5}, {"nesterov", 1.0}};
  EXPECT_EQ(g.model().optimizer->hyperParams, sgd);
}

TEST(SemaTest, ShapeErrors) {
  expectEach(
      checkError,
      {
          {inModel("  param v: f32[5]\n  y = x + v"), "4:9: cannot broadcast f32[N, 4] and f32[5] in '+'"},
          {inModel("  param v: f32[5]\n  y = x @ v"), "4:9: matmul '@' inner dimensions differ: f32[N, 4] @ f32[5]"},
          {inModel("  param v: f32[2, 2, 2]\n  y = x @ v"),
           "4:9: matmul '@' needs operands of rank 1 or 2: f32[N, 4] @ "
           "f32[2, 2, 2]"},
          {inModel("  y = x(1)"), "3:7: 'x' is not a function"},
          {inModel("  y = sum(x, axis = 1) + x"), "3:24: cannot broadcast f32[N] and f32[N, 4] in '+'"},
          {inModel("  param r: f32[4, 1]\n  y = sum(x, axis=1) * r"),
           "4:22: cannot broadcast f32[N] and f32[4, 1] in '*': the batch "
           "dimension N would not be the first dimension"},
          {inModel("  y = x |> dense(3, relu, 5)"), "3:12: dense expects 1 to 2 arguments after its input, got 3"},
          {inModel("  y = relu(x, x)"), "3:7: relu expects 1 argument, got 2"},
          {inModel("  y = x |> dense(3, units = 4)"), "3:21: argument 'units' of dense is already given by position"},
          {inModel("  y = x |> dense(3, act = relu)"),
           "3:21: unknown keyword argument 'act' for dense; expected one of "
           "units, activation"},
          {inModel("  y = x |> dense()"), "3:12: dense is missing its argument 'units'"},
          {inModel("  y = dense(64)"), "3:7: dense needs its input first: write 'x |> dense(...)' or "
                                       "'dense(x, ...)'"},
          {inModel("  y = x |> dense(2.5)"), "3:18: 'units' of dense must be a positive integer literal (at "
                                             "most 2147483647)"},
          {inModel("  y = x |> dense(3, gelu)"), "3:21: unknown activation 'gelu' for dense; expected relu, "
                                                 "sigmoid, "
                                                 "tanh, softmax or linear"},
          {inModel("  y = x |> conv2d(3, 3)"), "3:12: conv2d expects an input of rank 4 (NHWC: [N, height, "
                                               "width, channels]), got f32[N, 4]"},
          {"model M {\n  input i: f32[N, 2, 2, 1]\n"
           "  output y = i |> conv2d(4, 3)\n}",
           "3:19: conv2d window 3x3 does not fit in the input f32[N, 2, 2, "
           "1] (padding=valid)"},
          {inModel("  y = x |> dropout(1)"), "3:20: dropout rate must be a number in [0, 1), got 1"},
          {inModel("  y = softmax(x, axis = 2)"), "3:25: axis 2 is out of range for f32[N, 4] (rank 2)"},
          {inModel("  y = cross_entropy(x, x)"), "3:7: cross_entropy expects logits f32[N, C] and labels i32[N], "
                                                 "got f32[N, 4] and f32[N, 4]"},
          {"model M {\n  input y: i32[N]\n  output z = y + 1\n}",
           "3:16: '+' on i32[N]: arithmetic on i32 is not supported (i32 is "
           "for labels)"},
          {"model M {\n  input y: i32[N]\n  input x: f32[N]\n"
           "  output z = x == y\n}",
           "4:16: cannot compare f32[N] and i32[N] with '==': both sides "
           "need the same element type"},
      });
}

TEST(SemaTest, NameErrors) {
  EXPECT_EQ(checkError(inModel("  y = z")), "3:7: unknown name 'z'");
  {
    SourceFixture f(inModel("  y = z\n  z = x"));
    EXPECT_FALSE(f.check());
    EXPECT_EQ(f.firstErrorPos() + ": " + f.firstError(), "3:7: 'z' is used before its definition");
    ASSERT_EQ(f.getDiags().getRecords().size(), 2u);
    EXPECT_EQ(f.getDiags().getRecords()[1].message, "'z' is defined here");
    EXPECT_EQ(f.getDiags().getRecords()[1].pos.line, 4u);
  }
  {
    SourceFixture f(inModel("  y = x\n  y = x"));
    EXPECT_FALSE(f.check());
    EXPECT_EQ(f.firstErrorPos() + ": " + f.firstError(), "4:3: redefinition of 'y'");
    ASSERT_EQ(f.getDiags().getRecords().size(), 2u);
    EXPECT_EQ(f.getDiags().getRecords()[1].pos.line, 3u);
  }
  expectEach(checkError,
             {
                 {inModel("  relu = x"), "3:3: 'relu' is the name of a builtin function; choose another "
                                         "name"},
                 {inModel("  y = relu + x"), "3:7: 'relu' is a function; call it, as in relu(x) or x |> relu"},
                 {inModel("  y = x |> foo"), "3:12: unknown function 'foo'"},
                 {"model A {\n  input x: f32[N]\n  output x\n}\n"
                  "model A {\n  input x: f32[N]\n  output x\n}",
                  "5:7: redefinition of model 'A'"},
                 {inModel("  output x"), "4:10: 'x' is already an output"},
             });
}

TEST(SemaTest, DeclarationErrors) {
  expectEach(
      checkError,
      {
          {"model M {\n  input x: f32[4]\n  output x\n}",
           "2:12: input 'x' must have the batch dimension N first (as in "
           "f32[N, ...]), but has type f32[4]"},
          {"model M {\n  input x: f32[N, N]\n  output x\n}",
           "2:12: the batch dimension 'N' may only be the first dimension, "
           "in f32[N, N]"},
          {inModel("  param p: i32[3]"), "3:12: parameters must be f32, but 'p' has type i32[3]"},
          {inModel("  param p: f32[N, 3]"), "3:12: a parameter cannot have the batch dimension N"},
          {inModel("  param p: f32[3] = random"), "3:21: unknown initializer 'random'; expected zeros, ones, "
                                                  "glorot_uniform or a number"},
          {inModel("  param p: f32[65536, 65536, 65536]"), "3:12: type f32[65536, 65536, 65536] has more than 2^40 "
                                                           "elements"},
          {"model M {\n  input x: f32[N, 100000]\n"
           "  output y = x |> dense(100000000)\n}",
           "3:19: parameter 'dense_0.kernel' of type f32[100000, 100000000] "
           "would have more than 2^40 elements"},
      });
}

TEST(SemaTest, ModelRules) {
  expectEach(checkError,
             {
                 {"model M {\n  input x: f32[N]\n}", "1:7: model 'M' has no output"},
                 {inModel("  loss x"), "3:8: loss must be a scalar, but has type f32[N, 4]"},
                 {inModel("  loss mean(x)"), "3:3: model 'M' has a loss but no optimizer"},
                 {inModel("  optimizer sgd()"), "3:3: model 'M' has an optimizer but no loss"},
                 {inModel("  loss mean(x)\n  loss sum(x)\n"
                          "  optimizer sgd()"),
                  "4:3: a model has at most one loss"},
                 {inModel("  metric m = x"), "3:14: metric 'm' must be a scalar, but has type f32[N, 4]"},
                 {inModel("  output s = sum(x)"), "3:14: output 's' must have the batch dimension N first, but has "
                                                  "type f32"},
                 {inModel("  param w: f32[4]\n  param v: f32[4]\n"
                          "  loss mean(x @ w)\n  optimizer sgd()"),
                  "4:9: parameter 'v' does not affect the loss"},
                 {inModel("  p = x |> dense(3)\n  loss mean(x)\n"
                          "  optimizer sgd()"),
                  "3:12: parameter 'dense_0.kernel' does not affect the loss"},
             });
}

TEST(SemaTest, OptimizerErrors) {
  auto withLoss = [](llvm::StringRef opt) { return inModel(("  loss mean(x)\n  optimizer " + opt).str()); };
  expectEach(checkError,
             {
                 {withLoss("nadam()"), "4:13: unknown optimizer 'nadam'; expected sgd, adagrad, rmsprop "
                                       "or adam"},
                 {withLoss("adam(beta = 0.5)"), "4:18: unknown hyper-parameter 'beta' for adam; expected lr, "
                                                "beta_1, beta_2 or epsilon"},
                 {withLoss("sgd(lr = -0.1)"), "4:22: 'lr' must be greater than 0, got -0.1"},
                 {withLoss("sgd(momentum = 1)"), "4:28: 'momentum' must be in [0, 1), got 1"},
                 {withLoss("adam(epsilon = 0)"), "4:28: 'epsilon' must be greater than 0, got 0"},
                 {withLoss("sgd(nesterov = 1)"), "4:28: 'nesterov' must be true or false"},
                 {withLoss("sgd(lr = 0.1, learning_rate = 0.2)"), "4:27: hyper-parameter 'lr' is given more than once"},
                 {withLoss("sgd(lr = x)"), "4:22: 'lr' must be a number literal"},
             });
}

TEST(SemaTest, ReservedNamesAndExportedNames) {
  EXPECT_EQ(checkError("model M {\n  input N: f32[N]\n  output N\n}"), "2:9: 'N' is reserved for the batch dimension");
  // Metric and output names are exported and may reuse a builtin's name;
  // call syntax still means the builtin.
  SourceFixture f(inModel("  param w: f32[4]\n  output relu = x @ w |> relu\n"
                          "  loss mean(relu)\n  metric mse = mse(relu, relu)\n"
                          "  optimizer sgd()"));
  ASSERT_TRUE(f.check()) << f.output();
  auto *loss = llvm::cast<CallExpr>(f.model().getLoss()->getExpr());
  auto *ref = llvm::cast<NameExpr>(loss->operands[0]);
  EXPECT_EQ(ref->targetKind, NameKind::Output);
  Dependencies deps = collectDependencies(*loss, f.model());
  EXPECT_EQ(deps.inputs, std::vector<std::string>{"x"});
  EXPECT_EQ(deps.params, std::vector<std::string>{"w"});
}

TEST(SemaTest, PrintsRangeUnderOffendingText) {
  SourceFixture f(inModel("  y = x |> dense(3, relu, 5)"));
  EXPECT_FALSE(f.check());
  EXPECT_EQ(f.output(), "test.kiln:3:12: error: dense expects 1 to 2 arguments after its "
                        "input, got 3\n"
                        "  y = x |> dense(3, relu, 5)\n"
                        "           ^~~~~~~~~~~~~~~~~\n");
}

TEST(SemaTest, EmptyFileIsAnError) {
  SourceFixture f("");
  EXPECT_FALSE(f.check());
  EXPECT_EQ(f.firstError(), "the file contains no model");
}

TEST(SemaTest, PrinterShowsTypesAndLayers) {
  SourceFixture f(readExample("fashion_cnn.kiln"));
  ASSERT_TRUE(f.check()) << f.output();
  std::string text;
  llvm::raw_string_ostream os(text);
  printModule(*f.getModule(), os);
  EXPECT_NE(text.find("Call conv2d (layer conv2d_0) : f32[N, 26, 26, 32] @7:8"), std::string::npos) << text;
  EXPECT_NE(text.find("Input image : f32[N, 28, 28, 1] @3:3"), std::string::npos) << text;
  EXPECT_NE(text.find("Name image -> input : f32[N, 28, 28, 1] @6:12"), std::string::npos) << text;
}

} // namespace
