//===- Parser.h - Recursive-descent parser for Kiln -------------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Builds the AST (AST.h) of one source buffer. The parser stops at the first
// error, which it reports through `Diagnostics` at a precise location; it
// never crashes, whatever the bytes: recursion and tree height are bounded
// (`kMaxExprDepth`), numbers are range-checked, and end of input may occur
// anywhere.
//
// The grammar (newlines are insignificant; `#` starts a comment to the end of
// the line; `model input param loss optimizer metric output` are reserved):
//
//   file           ::= model*
//   model          ::= 'model' IDENT '{' statement* '}'
//   statement      ::= 'input' IDENT ':' type
//                    | 'param' IDENT ':' type ('=' initializer)?
//                    | IDENT '=' expr
//                    | 'loss' expr
//                    | 'optimizer' IDENT '(' (kwarg (',' kwarg)*)? ')'
//                    | 'metric' IDENT '=' expr
//                    | 'output' IDENT ('=' expr)?
//   type           ::= dtype ('[' dim (',' dim)* ']')?
//   dtype          ::= 'f32' | 'i32'
//   dim            ::= INTEGER | 'N'
//   initializer    ::= IDENT | '-'? NUMBER
//   kwarg          ::= IDENT '=' expr
//   expr           ::= comparison ('|>' IDENT ('(' args? ')')?)*
//   comparison     ::= additive (('=='|'!='|'<'|'<='|'>'|'>=') additive)?
//   additive       ::= multiplicative (('+'|'-') multiplicative)*
//   multiplicative ::= unary (('*'|'/'|'@') unary)*
//   unary          ::= '-' unary | power
//   power          ::= primary ('**' unary)?
//   primary        ::= NUMBER | IDENT | IDENT '(' args? ')' | '(' expr ')'
//   args           ::= arg (',' arg)*
//   arg            ::= expr | IDENT '=' expr
//
// Precedence, lowest first: `|>`; comparisons (non-associative: `a < b < c`
// is an error); `+ -`; `* / @`; unary `-`; `**` (right-associative, binding
// tighter than unary minus on its left: `-x ** 2` is `-(x ** 2)`, and
// `2 ** -1` is allowed). Keyword arguments come after positional ones and
// may not repeat. `a |> f(args)` becomes the call `f(a, args)` and `a |> f`
// becomes `f(a)`, marked `piped`.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_PARSER_H
#define KILN_FRONTEND_PARSER_H

#include "frontend/AST.h"
#include "frontend/Diagnostics.h"
#include "frontend/Lexer.h"

#include "llvm/Support/LogicalResult.h"
#include "llvm/Support/SourceMgr.h"

#include <memory>
#include <optional>

namespace kiln {

/// The deepest nesting of expressions (and the greatest height of an
/// expression tree) the parser accepts.
constexpr unsigned kMaxExprDepth = 256;

/// Parses the main buffer of `srcMgr`. Returns null after reporting an error.
std::unique_ptr<ast::Module> parseFile(llvm::SourceMgr &srcMgr, Diagnostics &diags);

/// A recursive-descent parser over a `Lexer`.
/// The levels of binary operators, loosest first ('**' binds tighter still,
/// and is parsed with the unary minus).
enum class Precedence { Comparison, Additive, Multiplicative };

class Parser {
public:
  /// `srcMgr`, if given, is recorded in the module for the AST printer.
  Parser(Lexer &lexer, Diagnostics &diags, const llvm::SourceMgr *srcMgr = nullptr)
      : lexer(lexer), diags(diags), srcMgr(srcMgr) {}

  /// Parses a whole file. Returns null after reporting the first error.
  std::unique_ptr<ast::Module> parseFile();

private:
  std::unique_ptr<ast::Model> parseModel();
  std::unique_ptr<ast::Stmt> parseStatement();
  llvm::LogicalResult parseDeclaredName(llvm::StringRef what, std::string &name, Location &nameLoc);
  std::unique_ptr<ast::Stmt> parseInput();
  std::unique_ptr<ast::Stmt> parseParam();
  std::unique_ptr<ast::Stmt> parseLet();
  std::unique_ptr<ast::Stmt> parseLoss();
  std::unique_ptr<ast::Stmt> parseOptimizer();
  std::unique_ptr<ast::Stmt> parseMetric();
  std::unique_ptr<ast::Stmt> parseOutput();
  std::optional<ast::TypeSpec> parseType();
  llvm::LogicalResult parseDim(std::vector<int64_t> &dims);
  std::optional<ast::InitializerSpec> parseInitializer();

  std::unique_ptr<ast::Expr> parseExpr();
  std::unique_ptr<ast::Expr> parseComparison();
  std::unique_ptr<ast::Expr> parseLeftAssociative(Precedence level,
                                                  std::unique_ptr<ast::Expr> (Parser::*parseOperand)());
  std::unique_ptr<ast::Expr> parseAdditive();
  std::unique_ptr<ast::Expr> parseMultiplicative();
  std::unique_ptr<ast::Expr> parseUnary();
  std::unique_ptr<ast::Expr> parsePower();
  std::unique_ptr<ast::Expr> parsePrimary();
  llvm::LogicalResult parseArgs(std::vector<ast::CallArg> &args, bool keywordsOnly);

  /// Builds a binary node, checking the height bound.
  std::unique_ptr<ast::Expr> makeBinary(ast::BinaryOp op, Location opLoc, std::unique_ptr<ast::Expr> lhs,
                                        std::unique_ptr<ast::Expr> rhs);
  /// Reports an error if `expr` is taller than `kMaxExprDepth`.
  std::unique_ptr<ast::Expr> checkHeight(std::unique_ptr<ast::Expr> expr, Location at);

  // Token helpers.
  const Token &cur() { return lexer.getCurToken(); }
  /// Consumes the current token, remembering where it ended.
  void consume();
  /// Consumes a token of `kind`, or reports "expected <what>" and fails.
  llvm::LogicalResult expect(TokenKind kind, const llvm::Twine &what);
  /// Like `expect`, for the token that closes a bracket opened at `open`;
  /// the error gets a note "to match this '('" there.
  llvm::LogicalResult expectClosing(TokenKind kind, const llvm::Twine &what, Location open);
  /// Reports "expected <what>, found <current token>" (or the current token's
  /// lexical error).
  void errorExpected(const llvm::Twine &what);
  void error(Location loc, const llvm::Twine &msg);
  /// The location from `start` to the end of the last consumed token.
  Location spanFrom(Location start) const;

  Lexer &lexer;
  Diagnostics &diags;
  const llvm::SourceMgr *srcMgr;
  Location lastLoc;
  unsigned depth = 0;
  bool hadError = false;
};

} // namespace kiln

#endif // KILN_FRONTEND_PARSER_H
