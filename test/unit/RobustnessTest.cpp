//===- RobustnessTest.cpp - The front end never crashes -------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// A deterministic, in-process cousin of the libFuzzer target: every prefix of
// every example, byte mutations and random token soup go through parse, check
// and the AST printer. Each run must end either in success with no error or
// in failure with at least one error — and never crash.
//
//===----------------------------------------------------------------------===//

#include "FrontendTestUtils.h"

#include <gtest/gtest.h>

#include <random>

using namespace kiln;
using kiln::test::readExample;
using kiln::test::SourceFixture;

namespace {

const char *const kExamples[] = {"fashion_cnn.kiln", "linear_regression.kiln", "linear_svm.kiln",
                                 "logistic_regression.kiln"};

/// Runs the whole front end on `text` and checks the success/error contract.
void runFrontEnd(llvm::StringRef text) {
  SourceFixture f(text);
  f.getDiags().setSilent(true);
  bool ok = f.check();
  EXPECT_EQ(ok, f.getDiags().getNumErrors() == 0) << text.str();
  if (f.getModule()) {
    std::string printed;
    llvm::raw_string_ostream os(printed);
    ast::printModule(*f.getModule(), os);
  }
}

TEST(RobustnessTest, EveryPrefixOfTheExamples) {
  for (const char *name : kExamples) {
    std::string text = readExample(name);
    for (size_t n = 0; n <= text.size(); ++n)
      runFrontEnd(llvm::StringRef(text).take_front(n));
  }
}

TEST(RobustnessTest, ByteMutations) {
  std::mt19937 rng(1234);
  for (const char *name : kExamples) {
    std::string text = readExample(name);
    for (int round = 0; round < 400; ++round) {
      std::string mutated = text;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        size_t pos = rng() % (mutated.size() + 1);
        switch (rng() % 3) {
        case 0:
          if (pos < mutated.size())
            mutated[pos] = static_cast<char>(rng() % 256);
          break;
        case 1:
          mutated.insert(pos, 1, static_cast<char>(rng() % 256));
          break;
        default:
          if (pos < mutated.size())
            mutated.erase(pos, 1);
          break;
        }
      }
      runFrontEnd(mutated);
    }
  }
}

TEST(RobustnessTest, TokenSoup) {
  const char *const pieces[] = {"model",  "M",         "{",      "}",       "input",  "param",
                                "loss",   "optimizer", "metric", "output",  "x",      "y",
                                "N",      "f32",       "i32",    "[",       "]",      "(",
                                ")",      ",",         ":",      "=",       "==",     "<",
                                "+",      "-",         "*",      "**",      "/",      "@",
                                "|>",     "1",         "0",      "2.5",     "1e-4",   "99999999999",
                                "relu",   "dense",     "conv2d", "flatten", "sum",    "max",
                                "argmax", "softmax",   "axis",   "sgd",     "adam",   "lr",
                                "zeros",  "\n",        "#c\n",   "\0",      "\xff",   "cross_entropy",
                                "mean",   "true",      "take",   "one_hot", "argmin", "stop_gradient"};
  const size_t numPieces = sizeof(pieces) / sizeof(pieces[0]);
  std::mt19937 rng(99);
  for (int round = 0; round < 3000; ++round) {
    std::string text = "model M {\n input x: f32[N, 4]\n";
    int length = static_cast<int>(rng() % 40);
    for (int i = 0; i < length; ++i) {
      const char *piece = pieces[rng() % numPieces];
      // "\0" is one NUL byte.
      text += *piece ? std::string(piece) : std::string(1, '\0');
      text += ' ';
    }
    if (rng() % 2)
      text += "\n output x }";
    runFrontEnd(text);
  }
}

TEST(RobustnessTest, ExtremeValues) {
  runFrontEnd("model M { input x: f32[N, 2147483647, 2147483647] output x }");
  runFrontEnd("model M { input x: f32[N, 2147483648] output x }");
  runFrontEnd("model M { input x: f32[N, 99999999999999999999999] output x }");
  runFrontEnd("model M { input x: f32[N, 4] output y = x |> "
              "dense(2147483647) |> dense(2147483647) }");
  runFrontEnd("model M { input x: f32[N, 4, 4, 1] output y = x |> "
              "conv2d(2147483647, 2147483647, stride = 2147483647, padding = "
              "same) }");
  runFrontEnd("model M { input x: f32[N, 4] output y = x |> "
              "softmax(axis = -99999999999999999) }");
  runFrontEnd("model M { input x: f32[N, 4] output y = x * 1e308 * 1e308 }");
  runFrontEnd("model M { param p: f32 = 1e400 input x: f32[N] output x }");
  runFrontEnd("model M { input x: f32[N, 65536] param p: f32[65536, 1] "
              "param q: f32[1, 65536] output y = x + p + q }");
}

} // namespace
