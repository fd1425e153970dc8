//===- Parser.cpp - Recursive-descent parser for Kiln ---------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// One function per grammar rule (the grammar is in Parser.h). Each returns
// null or failure after the first error; `hadError` makes sure that nothing is
// reported after it.
//
//===----------------------------------------------------------------------===//

#include "frontend/Parser.h"

#include "llvm/ADT/StringMap.h"

using namespace kiln;
using namespace kiln::ast;
using llvm::failure;
using llvm::LogicalResult;
using llvm::success;

std::unique_ptr<Module> kiln::parseFile(llvm::SourceMgr &srcMgr, Diagnostics &diags) {
  Lexer lexer(srcMgr, srcMgr.getMainFileID());
  Parser parser(lexer, diags, &srcMgr);
  return parser.parseFile();
}

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

void Parser::consume() {
  lastLoc = cur().loc;
  lexer.consume();
}

void Parser::error(Location loc, const llvm::Twine &msg) {
  if (hadError)
    return;
  hadError = true;
  diags.error(loc, msg);
}

void Parser::errorExpected(const llvm::Twine &what) {
  const Token &tok = cur();
  if (tok.is(TokenKind::Error)) {
    error(tok.loc, tok.errorMessage);
    return;
  }
  error(tok.loc, "expected " + what + ", found " + tok.describe());
}

LogicalResult Parser::expect(TokenKind kind, const llvm::Twine &what) {
  if (cur().is(kind)) {
    consume();
    return success();
  }
  errorExpected(what);
  return failure();
}

LogicalResult Parser::expectClosing(TokenKind kind, const llvm::Twine &what, Location open) {
  if (cur().is(kind)) {
    consume();
    return success();
  }
  // The missing token is reported where something else was found, which may
  // be lines later: point at the bracket it should close too (not after a
  // lexical error, which is about the bad token itself).
  bool noteOpen = !hadError && cur().isNot(TokenKind::Error);
  errorExpected(what);
  if (noteOpen)
    diags.note(open, "to match this '" + llvm::StringRef(open.begin(), open.length) + "'");
  return failure();
}

Location Parser::spanFrom(Location start) const { return Location::span(start, lastLoc); }

std::unique_ptr<Expr> Parser::checkHeight(std::unique_ptr<Expr> expr, Location at) {
  if (expr->getHeight() > kMaxExprDepth) {
    error(at, "expression nested too deeply");
    return nullptr;
  }
  return expr;
}

std::unique_ptr<Expr> Parser::makeBinary(BinaryOp op, Location opLoc, std::unique_ptr<Expr> lhs,
                                         std::unique_ptr<Expr> rhs) {
  Location loc = Location::span(lhs->getLoc(), rhs->getLoc());
  return checkHeight(std::make_unique<BinaryExpr>(loc, op, opLoc, std::move(lhs), std::move(rhs)), opLoc);
}

//===----------------------------------------------------------------------===//
// Files, models, statements
//===----------------------------------------------------------------------===//

/// file ::= model*
std::unique_ptr<Module> Parser::parseFile() {
  std::vector<std::unique_ptr<Model>> models;
  while (!cur().is(TokenKind::Eof)) {
    auto model = parseModel();
    if (!model)
      return nullptr;
    models.push_back(std::move(model));
  }
  return std::make_unique<Module>(std::move(models), srcMgr);
}

/// model ::= 'model' IDENT '{' statement* '}'
std::unique_ptr<Model> Parser::parseModel() {
  Location start = cur().loc;
  if (failed(expect(TokenKind::KwModel, "'model'")))
    return nullptr;
  if (cur().isNot(TokenKind::Identifier)) {
    errorExpected("a model name");
    return nullptr;
  }
  std::string name = cur().text.str();
  Location nameLoc = cur().loc;
  consume();
  Location braceLoc = cur().loc;
  if (failed(expect(TokenKind::LBrace, "'{' after the model name")))
    return nullptr;
  // An unclosed model is reported where the next model or the end of the file
  // is found, which may be far away: point at the brace it should close too.
  auto noteOpenBrace = [&] { diags.note(braceLoc, "to match this '{'"); };
  std::vector<std::unique_ptr<Stmt>> stmts;
  while (cur().isNot(TokenKind::RBrace)) {
    if (cur().is(TokenKind::Eof)) {
      error(cur().loc, "expected '}' at the end of model '" + name + "', found end of file");
      noteOpenBrace();
      return nullptr;
    }
    if (cur().is(TokenKind::KwModel)) {
      error(cur().loc, "expected '}' before the next 'model'");
      noteOpenBrace();
      return nullptr;
    }
    auto stmt = parseStatement();
    if (!stmt)
      return nullptr;
    stmts.push_back(std::move(stmt));
  }
  consume(); // '}'
  return std::make_unique<Model>(spanFrom(start), name, nameLoc, std::move(stmts));
}

/// statement ::= input | param | let | loss | optimizer | metric | output
std::unique_ptr<Stmt> Parser::parseStatement() {
  switch (cur().kind) {
  case TokenKind::KwInput:
    return parseInput();
  case TokenKind::KwParam:
    return parseParam();
  case TokenKind::Identifier:
    return parseLet();
  case TokenKind::KwLoss:
    return parseLoss();
  case TokenKind::KwOptimizer:
    return parseOptimizer();
  case TokenKind::KwMetric:
    return parseMetric();
  case TokenKind::KwOutput:
    return parseOutput();
  default:
    errorExpected("a statement (input, param, loss, optimizer, metric, "
                  "output or 'name = expression')");
    return nullptr;
  }
}

/// The keyword that starts a declaration ('input', 'param', ...), then the
/// name that must follow it: `what` describes the name for the error.
LogicalResult Parser::parseDeclaredName(llvm::StringRef what, std::string &name, Location &nameLoc) {
  consume(); // the keyword
  if (cur().isNot(TokenKind::Identifier)) {
    errorExpected(what);
    return failure();
  }
  name = cur().text.str();
  nameLoc = cur().loc;
  consume();
  return success();
}

/// 'input' IDENT ':' type
std::unique_ptr<Stmt> Parser::parseInput() {
  Location start = cur().loc;
  std::string name;
  Location nameLoc;
  if (failed(parseDeclaredName("an input name", name, nameLoc)))
    return nullptr;
  if (failed(expect(TokenKind::Colon, "':' and a type after the input name")))
    return nullptr;
  auto type = parseType();
  if (!type)
    return nullptr;
  return std::make_unique<InputStmt>(spanFrom(start), name, nameLoc, std::move(*type));
}

/// 'param' IDENT ':' type ('=' initializer)?
std::unique_ptr<Stmt> Parser::parseParam() {
  Location start = cur().loc;
  std::string name;
  Location nameLoc;
  if (failed(parseDeclaredName("a parameter name", name, nameLoc)))
    return nullptr;
  if (failed(expect(TokenKind::Colon, "':' and a type after the parameter name")))
    return nullptr;
  auto type = parseType();
  if (!type)
    return nullptr;
  InitializerSpec init;
  if (cur().is(TokenKind::Equal)) {
    consume();
    auto parsed = parseInitializer();
    if (!parsed)
      return nullptr;
    init = std::move(*parsed);
  }
  return std::make_unique<ParamStmt>(spanFrom(start), name, nameLoc, std::move(*type), std::move(init));
}

/// initializer ::= IDENT | '-'? NUMBER
std::optional<InitializerSpec> Parser::parseInitializer() {
  InitializerSpec init;
  init.present = true;
  Location start = cur().loc;
  if (cur().is(TokenKind::Identifier)) {
    init.name = cur().text.str();
    init.loc = cur().loc;
    consume();
    return init;
  }
  bool negative = false;
  if (cur().is(TokenKind::Minus)) {
    negative = true;
    consume();
  }
  if (cur().isNot(TokenKind::Number)) {
    errorExpected("an initializer (" + getNamedInitializerList() + " or a number)");
    return std::nullopt;
  }
  init.value = negative ? -cur().numberValue : cur().numberValue;
  consume();
  init.loc = spanFrom(start);
  return init;
}

/// type ::= dtype ('[' dim (',' dim)* ']')?
/// dtype ::= 'f32' | 'i32'
std::optional<TypeSpec> Parser::parseType() {
  TypeSpec spec;
  Location start = cur().loc;
  if (cur().is(TokenKind::Identifier) && cur().text == "f32") {
    spec.type.dtype = DType::F32;
  } else if (cur().is(TokenKind::Identifier) && cur().text == "i32") {
    spec.type.dtype = DType::I32;
  } else {
    errorExpected("a type ('f32' or 'i32')");
    return std::nullopt;
  }
  consume();
  if (cur().is(TokenKind::LBracket)) {
    Location open = cur().loc;
    consume();
    if (failed(parseDim(spec.type.dims)))
      return std::nullopt;
    while (cur().is(TokenKind::Comma)) {
      consume();
      if (failed(parseDim(spec.type.dims)))
        return std::nullopt;
    }
    if (failed(expectClosing(TokenKind::RBracket, "',' or ']' in the type", open)))
      return std::nullopt;
  }
  spec.loc = spanFrom(start);
  return spec;
}

/// dim ::= INTEGER | 'N'
LogicalResult Parser::parseDim(std::vector<int64_t> &dims) {
  const Token &tok = cur();
  if (dims.size() >= kMaxRank) {
    error(tok.loc, "a tensor type has at most " + llvm::Twine(kMaxRank) + " dimensions");
    return failure();
  }
  if (tok.is(TokenKind::Identifier) && tok.text == "N") {
    dims.push_back(kDynamic);
    consume();
    return success();
  }
  if (tok.is(TokenKind::Number)) {
    if (!tok.isIntegerLiteral || tok.numberValue < 1 || tok.numberValue > static_cast<double>(kMaxDimSize)) {
      error(tok.loc, "a dimension must be 'N' or an integer from 1 to " + llvm::Twine(kMaxDimSize) + ", found '" +
                         tok.text + "'");
      return failure();
    }
    dims.push_back(static_cast<int64_t>(tok.numberValue));
    consume();
    return success();
  }
  errorExpected("a dimension (an integer or 'N')");
  return failure();
}

/// IDENT '=' expr
std::unique_ptr<Stmt> Parser::parseLet() {
  std::string name = cur().text.str();
  Location nameLoc = cur().loc;
  consume();
  if (cur().isNot(TokenKind::Equal)) {
    errorExpected("'=' after '" + name + "' (a statement 'name = expression')");
    return nullptr;
  }
  consume();
  auto expr = parseExpr();
  if (!expr)
    return nullptr;
  return std::make_unique<LetStmt>(spanFrom(nameLoc), name, nameLoc, std::move(expr));
}

/// 'loss' expr
std::unique_ptr<Stmt> Parser::parseLoss() {
  Location start = cur().loc;
  consume(); // 'loss'
  auto expr = parseExpr();
  if (!expr)
    return nullptr;
  return std::make_unique<LossStmt>(spanFrom(start), std::move(expr));
}

/// 'optimizer' IDENT '(' (kwarg (',' kwarg)*)? ')'
std::unique_ptr<Stmt> Parser::parseOptimizer() {
  Location start = cur().loc;
  std::string name;
  Location nameLoc;
  if (failed(parseDeclaredName("an optimizer name (" + getOptimizerNameList() + ")", name, nameLoc)))
    return nullptr;
  Location open = cur().loc;
  if (failed(expect(TokenKind::LParen, "'(' after the optimizer name")))
    return nullptr;
  std::vector<CallArg> args;
  if (cur().isNot(TokenKind::RParen) && failed(parseArgs(args, /*keywordsOnly=*/true)))
    return nullptr;
  if (failed(expectClosing(TokenKind::RParen, "',' or ')' after the argument", open)))
    return nullptr;
  return std::make_unique<OptimizerStmt>(spanFrom(start), name, nameLoc, std::move(args));
}

/// 'metric' IDENT '=' expr
std::unique_ptr<Stmt> Parser::parseMetric() {
  Location start = cur().loc;
  std::string name;
  Location nameLoc;
  if (failed(parseDeclaredName("a metric name", name, nameLoc)))
    return nullptr;
  if (failed(expect(TokenKind::Equal, "'=' after the metric name")))
    return nullptr;
  auto expr = parseExpr();
  if (!expr)
    return nullptr;
  return std::make_unique<MetricStmt>(spanFrom(start), name, nameLoc, std::move(expr));
}

/// 'output' IDENT ('=' expr)?
std::unique_ptr<Stmt> Parser::parseOutput() {
  Location start = cur().loc;
  std::string name;
  Location nameLoc;
  if (failed(parseDeclaredName("an output name", name, nameLoc)))
    return nullptr;
  std::unique_ptr<Expr> expr;
  if (cur().is(TokenKind::Equal)) {
    consume();
    expr = parseExpr();
    if (!expr)
      return nullptr;
  }
  return std::make_unique<OutputStmt>(spanFrom(start), name, nameLoc, std::move(expr));
}

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

/// expr ::= comparison ('|>' IDENT ('(' args? ')')?)*
std::unique_ptr<Expr> Parser::parseExpr() {
  auto lhs = parseComparison();
  if (!lhs)
    return nullptr;
  while (cur().is(TokenKind::Pipe)) {
    consume();
    if (cur().isNot(TokenKind::Identifier)) {
      errorExpected("a function name after '|>'");
      return nullptr;
    }
    std::string callee = cur().text.str();
    Location calleeLoc = cur().loc;
    consume();
    std::vector<CallArg> args;
    args.push_back(CallArg{"", Location(), std::move(lhs)});
    if (cur().is(TokenKind::LParen)) {
      Location open = cur().loc;
      consume();
      if (cur().isNot(TokenKind::RParen) && failed(parseArgs(args, /*keywordsOnly=*/false)))
        return nullptr;
      if (failed(expectClosing(TokenKind::RParen, "',' or ')' after the argument", open)))
        return nullptr;
    }
    lhs = checkHeight(std::make_unique<CallExpr>(spanFrom(calleeLoc), callee, calleeLoc, std::move(args),
                                                 /*piped=*/true),
                      calleeLoc);
    if (!lhs)
      return nullptr;
  }
  return lhs;
}

/// The binary operator a token spells, if any, at its level.
static std::optional<BinaryOp> binaryOperatorAt(Precedence level, TokenKind kind) {
  struct Spelling {
    TokenKind token;
    BinaryOp op;
    Precedence level;
  };
  static constexpr Spelling spellings[] = {
      {TokenKind::EqualEqual, BinaryOp::Eq, Precedence::Comparison},
      {TokenKind::NotEqual, BinaryOp::Ne, Precedence::Comparison},
      {TokenKind::Less, BinaryOp::Lt, Precedence::Comparison},
      {TokenKind::LessEqual, BinaryOp::Le, Precedence::Comparison},
      {TokenKind::Greater, BinaryOp::Gt, Precedence::Comparison},
      {TokenKind::GreaterEqual, BinaryOp::Ge, Precedence::Comparison},
      {TokenKind::Plus, BinaryOp::Add, Precedence::Additive},
      {TokenKind::Minus, BinaryOp::Sub, Precedence::Additive},
      {TokenKind::Star, BinaryOp::Mul, Precedence::Multiplicative},
      {TokenKind::Slash, BinaryOp::Div, Precedence::Multiplicative},
      {TokenKind::At, BinaryOp::MatMul, Precedence::Multiplicative},
  };
  for (const Spelling &spelling : spellings)
    if (spelling.token == kind && spelling.level == level)
      return spelling.op;
  return std::nullopt;
}

/// comparison ::= additive (('=='|'!='|'<'|'<='|'>'|'>=') additive)?
std::unique_ptr<Expr> Parser::parseComparison() {
  auto lhs = parseAdditive();
  if (!lhs)
    return nullptr;
  std::optional<BinaryOp> op = binaryOperatorAt(Precedence::Comparison, cur().kind);
  if (!op)
    return lhs;
  Location opLoc = cur().loc;
  consume();
  auto rhs = parseAdditive();
  if (!rhs)
    return nullptr;
  if (binaryOperatorAt(Precedence::Comparison, cur().kind)) {
    error(cur().loc, "comparisons cannot be chained; add parentheses");
    return nullptr;
  }
  return makeBinary(*op, opLoc, std::move(lhs), std::move(rhs));
}

/// One left-associative level of binary operators: operand (op operand)*.
std::unique_ptr<Expr> Parser::parseLeftAssociative(Precedence level, std::unique_ptr<Expr> (Parser::*parseOperand)()) {
  auto lhs = (this->*parseOperand)();
  if (!lhs)
    return nullptr;
  while (std::optional<BinaryOp> op = binaryOperatorAt(level, cur().kind)) {
    Location opLoc = cur().loc;
    consume();
    auto rhs = (this->*parseOperand)();
    if (!rhs)
      return nullptr;
    lhs = makeBinary(*op, opLoc, std::move(lhs), std::move(rhs));
    if (!lhs)
      return nullptr;
  }
  return lhs;
}

/// additive ::= multiplicative (('+'|'-') multiplicative)*
std::unique_ptr<Expr> Parser::parseAdditive() {
  return parseLeftAssociative(Precedence::Additive, &Parser::parseMultiplicative);
}

/// multiplicative ::= unary (('*'|'/'|'@') unary)*
std::unique_ptr<Expr> Parser::parseMultiplicative() {
  return parseLeftAssociative(Precedence::Multiplicative, &Parser::parseUnary);
}

/// unary ::= '-' unary | power
std::unique_ptr<Expr> Parser::parseUnary() {
  // Every level of nesting passes through here: bound the recursion.
  if (depth >= kMaxExprDepth) {
    error(cur().loc, "expression nested too deeply");
    return nullptr;
  }
  struct DepthGuard {
    unsigned &d;
    explicit DepthGuard(unsigned &d) : d(d) { ++d; }
    ~DepthGuard() { --d; }
  } guard(depth);

  if (cur().isNot(TokenKind::Minus))
    return parsePower();
  Location opLoc = cur().loc;
  consume();
  auto operand = parseUnary();
  if (!operand)
    return nullptr;
  Location loc = Location::span(opLoc, operand->getLoc());
  return checkHeight(std::make_unique<UnaryExpr>(loc, opLoc, std::move(operand)), opLoc);
}

/// power ::= primary ('**' unary)?
std::unique_ptr<Expr> Parser::parsePower() {
  auto base = parsePrimary();
  if (!base)
    return nullptr;
  if (cur().isNot(TokenKind::StarStar))
    return base;
  Location opLoc = cur().loc;
  consume();
  auto exponent = parseUnary();
  if (!exponent)
    return nullptr;
  return makeBinary(BinaryOp::Pow, opLoc, std::move(base), std::move(exponent));
}

/// primary ::= NUMBER | IDENT | IDENT '(' args? ')' | '(' expr ')' | '[' expr (',' expr)* ']'
std::unique_ptr<Expr> Parser::parsePrimary() {
  const Token &tok = cur();
  if (tok.is(TokenKind::Number)) {
    auto number = std::make_unique<NumberExpr>(tok.loc, tok.numberValue, tok.isIntegerLiteral);
    consume();
    return number;
  }
  if (tok.is(TokenKind::Identifier)) {
    std::string name = tok.text.str();
    Location nameLoc = tok.loc;
    consume();
    if (cur().isNot(TokenKind::LParen))
      return std::make_unique<NameExpr>(nameLoc, name);
    Location open = cur().loc;
    consume(); // '('
    std::vector<CallArg> args;
    if (cur().isNot(TokenKind::RParen) && failed(parseArgs(args, /*keywordsOnly=*/false)))
      return nullptr;
    if (failed(expectClosing(TokenKind::RParen, "',' or ')' after the argument", open)))
      return nullptr;
    return checkHeight(std::make_unique<CallExpr>(spanFrom(nameLoc), name, nameLoc, std::move(args),
                                                  /*piped=*/false),
                       nameLoc);
  }
  if (tok.is(TokenKind::LBracket)) {
    // A list, for reshape's shape and transpose's permutation (Sema checks
    // where it stands and what it holds).
    Location open = tok.loc;
    consume();
    std::vector<std::unique_ptr<Expr>> elements;
    while (true) {
      if (elements.size() >= kMaxRank) {
        error(cur().loc, "a list has at most " + llvm::Twine(kMaxRank) + " elements");
        return nullptr;
      }
      auto element = parseExpr();
      if (!element)
        return nullptr;
      elements.push_back(std::move(element));
      if (cur().isNot(TokenKind::Comma))
        break;
      consume();
    }
    if (failed(expectClosing(TokenKind::RBracket, "',' or ']' in the list", open)))
      return nullptr;
    return checkHeight(std::make_unique<ListExpr>(spanFrom(open), std::move(elements)), open);
  }
  if (tok.is(TokenKind::LParen)) {
    Location open = tok.loc;
    consume();
    auto inner = parseExpr();
    if (!inner)
      return nullptr;
    if (failed(expectClosing(TokenKind::RParen, "')'", open)))
      return nullptr;
    return inner;
  }
  errorExpected("an expression");
  return nullptr;
}

/// args ::= arg (',' arg)*
/// arg  ::= expr | IDENT '=' expr
/// With `keywordsOnly` (optimizer arguments): kwarg ::= IDENT '=' expr.
LogicalResult Parser::parseArgs(std::vector<CallArg> &args, bool keywordsOnly) {
  llvm::StringMap<Location> seen;
  bool sawKeyword = false;
  while (true) {
    CallArg arg;
    bool isKeyword = cur().is(TokenKind::Identifier) && lexer.peek(1).is(TokenKind::Equal);
    if (isKeyword) {
      arg.keyword = cur().text.str();
      arg.keywordLoc = cur().loc;
      auto [it, inserted] = seen.try_emplace(arg.keyword, arg.keywordLoc);
      if (!inserted) {
        error(arg.keywordLoc, "argument '" + arg.keyword + "' is given more than once");
        diags.note(it->second, "first given here");
        return failure();
      }
      consume(); // IDENT
      consume(); // '='
      sawKeyword = true;
    } else if (keywordsOnly) {
      errorExpected("a keyword argument 'name = value'");
      return failure();
    }
    Location argStart = cur().loc;
    arg.value = parseExpr();
    if (!arg.value)
      return failure();
    if (!isKeyword && sawKeyword) {
      error(Location::span(argStart, arg.value->getLoc()), "positional argument after a keyword argument");
      return failure();
    }
    args.push_back(std::move(arg));
    if (cur().isNot(TokenKind::Comma))
      return success();
    consume();
  }
}
