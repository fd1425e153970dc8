//===- ParserTest.cpp - Unit tests for the Kiln parser --------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Statement kinds, precedence, pipe desugaring, keyword arguments, the four
// examples, and syntax errors reported at the right line:col.
//
//===----------------------------------------------------------------------===//

#include "FrontendTestUtils.h"

#include "llvm/Support/Format.h"

#include <gtest/gtest.h>

using namespace kiln;
using namespace kiln::ast;
using kiln::test::expectEach;
using kiln::test::readExample;
using kiln::test::SourceFixture;

namespace {

/// Renders an expression as a fully parenthesised s-expression.
std::string sexpr(const Expr &expr) {
  switch (expr.getKind()) {
  case Expr::Expr_Number: {
    std::string s;
    llvm::raw_string_ostream(s) << llvm::format("%g", llvm::cast<NumberExpr>(expr).getValue());
    return s;
  }
  case Expr::Expr_Name:
    return llvm::cast<NameExpr>(expr).getName().str();
  case Expr::Expr_Unary:
    return "(neg " + sexpr(llvm::cast<UnaryExpr>(expr).getOperand()) + ")";
  case Expr::Expr_Binary: {
    const auto &b = llvm::cast<BinaryExpr>(expr);
    return "(" + getBinaryOpSpelling(b.getOp()).str() + " " + sexpr(b.getLHS()) + " " + sexpr(b.getRHS()) + ")";
  }
  case Expr::Expr_Call: {
    const auto &c = llvm::cast<CallExpr>(expr);
    std::string s = (c.isPiped() ? "(pipe:" : "(call:") + c.getCallee().str();
    for (const CallArg &arg : c.getArgs()) {
      s += " ";
      if (arg.isKeyword())
        s += arg.keyword + "=";
      s += sexpr(*arg.value);
    }
    return s + ")";
  }
  case Expr::Expr_List: {
    std::string s = "[";
    for (const auto &element : llvm::cast<ListExpr>(expr).getElements())
      s += (s.size() > 1 ? " " : "") + sexpr(*element);
    return s + "]";
  }
  }
  return "?";
}

/// Parses `model M { y = <text> }` and renders the expression.
std::string parseExpr(llvm::StringRef text) {
  SourceFixture f(("model M { y = " + text + " }").str());
  if (!f.parse())
    return "error: " + f.firstError();
  auto *let = llvm::cast<LetStmt>(f.model().getStmts()[0].get());
  return sexpr(*let->getExpr());
}

/// Parses `text` and returns "line:col: message" of the first error.
std::string parseError(llvm::StringRef text) {
  SourceFixture f(text);
  EXPECT_FALSE(f.parse()) << text.str();
  return f.firstErrorPos() + ": " + f.firstError();
}

TEST(ParserTest, Precedence) {
  expectEach(parseExpr, {
                            {"-x ** 2", "(neg (** x 2))"},
                            {"a + b * c", "(+ a (* b c))"},
                            {"x @ w + b", "(+ (@ x w) b)"},
                            {"a - b - c", "(- (- a b) c)"},
                            {"a / b * c", "(* (/ a b) c)"},
                            {"a ** b ** c", "(** a (** b c))"},
                            {"2 ** -1", "(** 2 (neg 1))"},
                            {"- - x", "(neg (neg x))"},
                            {"a + b == c * d", "(== (+ a b) (* c d))"},
                            {"(p > 0.5) == (y > 0.5)", "(== (> p 0.5) (> y 0.5))"},
                            {"(a + b) * c", "(* (+ a b) c)"},
                            {"1 - y * score", "(- 1 (* y score))"},
                        });
}

TEST(ParserTest, Comparisons) {
  for (const char *op : {"==", "!=", "<", "<=", ">", ">="})
    EXPECT_EQ(parseExpr(std::string("a ") + op + " b"), std::string("(") + op + " a b)");
  EXPECT_EQ(parseError("model M { y = a < b < c }"), "1:21: comparisons cannot be chained; add parentheses");
}

TEST(ParserTest, Calls) {
  expectEach(parseExpr,
             {
                 {"f()", "(call:f)"},
                 {"sum(w ** 2)", "(call:sum (** w 2))"},
                 {"softmax(x, axis = -1)", "(call:softmax x axis=(neg 1))"},
                 {"conv2d(x, 32, 3, relu, stride=2, padding=same)", "(call:conv2d x 32 3 relu stride=2 padding=same)"},
                 {"reshape(x, [N, 4, 6])", "(call:reshape x [N 4 6])"},
                 {"x |> transpose([0, 2, 1])", "(pipe:transpose x [0 2 1])"},
             });
}

TEST(ParserTest, PipeDesugaring) {
  expectEach(parseExpr, {
                            {"x |> f", "(pipe:f x)"},
                            {"x |> f()", "(pipe:f x)"},
                            {"x |> dense(64, relu) |> dense(10)", "(pipe:dense (pipe:dense x 64 relu) 10)"},
                        });
  // The pipe has the lowest precedence.
  EXPECT_EQ(parseExpr("a + b |> f(k = 1)"), "(pipe:f (+ a b) k=1)");
  EXPECT_EQ(parseExpr("a == b |> f"), "(pipe:f (== a b))");

  SourceFixture f("model M {\n  y = x\n    |> flatten\n    |> dense(3)\n}");
  ASSERT_TRUE(f.parse()) << f.output();
  auto *let = llvm::cast<LetStmt>(f.model().getStmts()[0].get());
  auto *call = llvm::cast<CallExpr>(let->getExpr());
  EXPECT_TRUE(call->isPiped());
  EXPECT_EQ(call->getCallee(), "dense");
  // The call's location is its callee through ')'.
  EXPECT_EQ(f.pos(call->getLoc()), "4:8");
  EXPECT_EQ(call->getLoc().length, 8u);
  auto *inner = llvm::cast<CallExpr>(call->getArgs()[0].value.get());
  EXPECT_EQ(inner->getCallee(), "flatten");
  EXPECT_EQ(f.pos(inner->getLoc()), "3:8");
}

TEST(ParserTest, KeywordArguments) {
  EXPECT_EQ(parseError("model M { y = f(a = 1, b) }"), "1:24: positional argument after a keyword argument");
  SourceFixture f("model M { y = f(a = 1,\n a = 2) }");
  EXPECT_FALSE(f.parse());
  EXPECT_EQ(f.firstErrorPos(), "2:2");
  EXPECT_EQ(f.firstError(), "argument 'a' is given more than once");
  ASSERT_EQ(f.getDiags().getRecords().size(), 2u);
  EXPECT_EQ(f.getDiags().getRecords()[1].severity, Diagnostics::Severity::Note);
}

TEST(ParserTest, StatementKinds) {
  SourceFixture f(R"(model M {
  input x: f32[N, 3]
  input y: i32[N]
  param w: f32[3, 2] = glorot_uniform
  param b: f32 = -0.5
  param c: f32[2]
  z = x @ w + b
  loss mean(z)
  optimizer adam(lr = 0.01, beta_1 = 0.8)
  metric m = sum(z)
  output z
  output p = softmax(z)
})");
  ASSERT_TRUE(f.parse()) << f.output();
  const Model &m = f.model();
  EXPECT_EQ(m.getName(), "M");
  auto stmts = m.getStmts();
  ASSERT_EQ(stmts.size(), 11u);
  auto *x = llvm::dyn_cast<InputStmt>(stmts[0].get());
  ASSERT_TRUE(x);
  EXPECT_EQ(x->getName(), "x");
  EXPECT_EQ(x->getType().str(), "f32[N, 3]");
  EXPECT_EQ(llvm::cast<InputStmt>(stmts[1].get())->getType().str(), "i32[N]");
  auto *w = llvm::dyn_cast<ParamStmt>(stmts[2].get());
  ASSERT_TRUE(w);
  EXPECT_EQ(w->getInitializer().name, "glorot_uniform");
  auto *b = llvm::cast<ParamStmt>(stmts[3].get());
  EXPECT_TRUE(b->getType().isScalar());
  EXPECT_TRUE(b->getInitializer().present);
  EXPECT_DOUBLE_EQ(b->getInitializer().value, -0.5);
  EXPECT_FALSE(llvm::cast<ParamStmt>(stmts[4].get())->getInitializer().present);
  EXPECT_TRUE(llvm::isa<LetStmt>(stmts[5].get()));
  EXPECT_TRUE(llvm::isa<LossStmt>(stmts[6].get()));
  auto *opt = llvm::dyn_cast<OptimizerStmt>(stmts[7].get());
  ASSERT_TRUE(opt);
  EXPECT_EQ(opt->getName(), "adam");
  ASSERT_EQ(opt->getArgs().size(), 2u);
  EXPECT_EQ(opt->getArgs()[1].keyword, "beta_1");
  EXPECT_TRUE(llvm::isa<MetricStmt>(stmts[8].get()));
  auto *out1 = llvm::cast<OutputStmt>(stmts[9].get());
  EXPECT_EQ(out1->getExpr(), nullptr);
  auto *out2 = llvm::cast<OutputStmt>(stmts[10].get());
  EXPECT_NE(out2->getExpr(), nullptr);
  EXPECT_EQ(f.pos(out2->getLoc()), "12:3");
  EXPECT_EQ(m.getInputs().size(), 2u);
  EXPECT_EQ(m.getOutputs().size(), 2u);
  EXPECT_NE(m.getLoss(), nullptr);
  EXPECT_EQ(m.getOptimizerStmt(), opt);
}

TEST(ParserTest, MultipleModelsAndEmptyFile) {
  SourceFixture f("model A { } model B { }");
  ASSERT_TRUE(f.parse());
  EXPECT_EQ(f.getModule()->getModels().size(), 2u);
  SourceFixture empty("  # nothing\n");
  ASSERT_TRUE(empty.parse());
  EXPECT_TRUE(empty.getModule()->getModels().empty());
}

TEST(ParserTest, AllExamplesParse) {
  for (const char *name :
       {"fashion_cnn.kiln", "linear_regression.kiln", "linear_svm.kiln", "logistic_regression.kiln"}) {
    SourceFixture f(readExample(name));
    EXPECT_TRUE(f.parse()) << name << "\n" << f.output();
  }
}

TEST(ParserTest, BinaryLocations) {
  SourceFixture f("model M { y = a +  bb }");
  ASSERT_TRUE(f.parse());
  auto *let = llvm::cast<LetStmt>(f.model().getStmts()[0].get());
  auto *binary = llvm::cast<BinaryExpr>(let->getExpr());
  EXPECT_EQ(f.pos(binary->getLoc()), "1:15");
  EXPECT_EQ(binary->getLoc().length, 7u);
  EXPECT_EQ(f.pos(binary->getOpLoc()), "1:17");
}

TEST(ParserTest, SyntaxErrors) {
  expectEach(parseError,
             {
                 {"model { }", "1:7: expected a model name, found '{'"},
                 {"model M {\n  input x f32\n}", "2:11: expected ':' and a type after the input name, found "
                                                 "'f32'"},
                 {"model M {\n  input x: f64\n}", "2:12: expected a type ('f32' or 'i32'), found 'f64'"},
                 {"model M {\n  input x: f32[N, 0]\n}", "2:19: a dimension must be 'N' or an integer from 1 to "
                                                        "2147483647, found '0'"},
                 {"model M { input x: f32[2.5] }", "1:24: a dimension must be 'N' or an integer from 1 to "
                                                   "2147483647, found '2.5'"},
                 {"model M { input x: f32[] }", "1:24: expected a dimension (an integer or 'N'), found ']'"},
                 {"model M { input x: f32[1,1,1,1,1,1,1,1,1] }", "1:40: a tensor type has at most 8 dimensions"},
                 {"model M {\n  y = (a + b\n}", "3:1: expected ')', found '}'"},
                 {"model M {\n  y = a +\n}", "3:1: expected an expression, found '}'"},
                 {"model M {\n  y = a\n", "3:1: expected '}' at the end of model 'M', found end of file"},
                 {"model M {\n  y = a $ b\n}", "2:9: unexpected '$'"},
                 {"model M { optimizer sgd(0.1) }", "1:25: expected a keyword argument 'name = value', found '0.1'"},
                 {"model M { 3 }", "1:11: expected a statement (input, param, loss, optimizer, "
                                   "metric, output or 'name = expression'), found '3'"},
                 {"model M { y = x |> 3 }", "1:20: expected a function name after '|>', found '3'"},
                 {"model M { loss = 3 }", "1:16: expected an expression, found '='"},
                 {"model M { y }", "1:13: expected '=' after 'y' (a statement 'name = expression'), "
                                   "found '}'"},
                 {"model M { param w: f32 = }", "1:26: expected an initializer (zeros, ones, glorot_uniform or a "
                                                "number), found '}'"},
                 {"x", "1:1: expected 'model', found 'x'"},
                 {"model M { y = reshape(x, [N, 4 }", "1:32: expected ',' or ']' in the list, found '}'"},
                 {"model M { y = reshape(x, []) }", "1:27: expected an expression, found ']'"},
                 {"model M { y = f([1,2,3,4,5,6,7,8,9]) }", "1:34: a list has at most 8 elements"},
             });
}

TEST(ParserTest, PrintsDiagnosticWithCaret) {
  SourceFixture f("model M {\n  y = (a + b\n}");
  EXPECT_FALSE(f.parse());
  EXPECT_EQ(f.output(), "test.kiln:3:1: error: expected ')', found '}'\n"
                        "}\n"
                        "^\n"
                        "test.kiln:2:7: note: to match this '('\n"
                        "  y = (a + b\n"
                        "      ^\n");
  SourceFixture g("model M {\n  y = a $$ b\n}");
  EXPECT_FALSE(g.parse());
  EXPECT_EQ(g.output(), "test.kiln:2:9: error: unexpected '$'\n"
                        "  y = a $$ b\n"
                        "        ^\n");
}

TEST(ParserTest, NestingLimit) {
  // Deep parentheses and unary minus recurse; long left-associative chains
  // (+, |>) build tall trees without recursion. Both are bounded.
  std::string sum = "model M { y = x", pipes = "model M { y = x";
  for (int i = 0; i < 300; ++i) {
    sum += " + x";
    pipes += " |> relu";
  }
  for (const std::string &source : {"model M { y = " + std::string(300, '(') + "x" + std::string(300, ')') + " }",
                                    "model M { y = " + std::string(300, '-') + "x }", sum + " }", pipes + " }"}) {
    SourceFixture f(source);
    EXPECT_FALSE(f.parse()) << source.substr(0, 40);
    EXPECT_EQ(f.firstError(), "expression nested too deeply") << source.substr(0, 40);
  }

  // 100 levels are fine.
  SourceFixture ok("model M { y = " + std::string(100, '(') + "x" + std::string(100, ')') + " }");
  EXPECT_TRUE(ok.parse()) << ok.output();
}

} // namespace
