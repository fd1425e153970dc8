//===- Lexer.cpp - Tokens of the Kiln language ----------------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// A hand-written lexer over a `[begin, end)` byte range. It is total: every
// byte sequence yields a token stream ending in `Eof` or `Error`.
//
//===----------------------------------------------------------------------===//

#include "frontend/Lexer.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/Format.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

using namespace kiln;

llvm::StringRef kiln::getTokenKindSpelling(TokenKind kind) {
  switch (kind) {
  case TokenKind::Eof:
    return "end of file";
  case TokenKind::Error:
    return "invalid token";
  case TokenKind::Identifier:
    return "identifier";
  case TokenKind::Number:
    return "number";
  case TokenKind::KwModel:
    return "'model'";
  case TokenKind::KwInput:
    return "'input'";
  case TokenKind::KwParam:
    return "'param'";
  case TokenKind::KwLoss:
    return "'loss'";
  case TokenKind::KwOptimizer:
    return "'optimizer'";
  case TokenKind::KwMetric:
    return "'metric'";
  case TokenKind::KwOutput:
    return "'output'";
  case TokenKind::LBrace:
    return "'{'";
  case TokenKind::RBrace:
    return "'}'";
  case TokenKind::LParen:
    return "'('";
  case TokenKind::RParen:
    return "')'";
  case TokenKind::LBracket:
    return "'['";
  case TokenKind::RBracket:
    return "']'";
  case TokenKind::Comma:
    return "','";
  case TokenKind::Colon:
    return "':'";
  case TokenKind::Equal:
    return "'='";
  case TokenKind::EqualEqual:
    return "'=='";
  case TokenKind::NotEqual:
    return "'!='";
  case TokenKind::Less:
    return "'<'";
  case TokenKind::LessEqual:
    return "'<='";
  case TokenKind::Greater:
    return "'>'";
  case TokenKind::GreaterEqual:
    return "'>='";
  case TokenKind::Plus:
    return "'+'";
  case TokenKind::Minus:
    return "'-'";
  case TokenKind::Star:
    return "'*'";
  case TokenKind::StarStar:
    return "'**'";
  case TokenKind::Slash:
    return "'/'";
  case TokenKind::At:
    return "'@'";
  case TokenKind::Pipe:
    return "'|>'";
  }
  return "token";
}

std::string Token::describe() const {
  if (kind == TokenKind::Eof)
    return "end of file";
  if (kind == TokenKind::Error)
    return "invalid token";
  return ("'" + text + "'").str();
}

Lexer::Lexer(const llvm::SourceMgr &srcMgr, unsigned bufferID) {
  const llvm::MemoryBuffer *buffer = srcMgr.getMemoryBuffer(bufferID);
  bufStart = buffer->getBufferStart();
  cur = bufStart;
  bufEnd = buffer->getBufferEnd();
}

Lexer::Lexer(llvm::StringRef buffer) : bufStart(buffer.begin()), cur(buffer.begin()), bufEnd(buffer.end()) {}

const Token &Lexer::peek(unsigned n) {
  while (lookahead.size() <= n) {
    // After Eof or Error, keep repeating that token.
    if (!lookahead.empty() && (lookahead.back().is(TokenKind::Eof) || lookahead.back().is(TokenKind::Error))) {
      Token last = lookahead.back();
      lookahead.push_back(std::move(last));
      continue;
    }
    lookahead.push_back(lexToken());
  }
  return lookahead[n];
}

void Lexer::consume() {
  const Token &tok = peek(0);
  if (tok.is(TokenKind::Eof) || tok.is(TokenKind::Error))
    return;
  lookahead.pop_front();
}

Token Lexer::makeToken(TokenKind kind, const char *start) {
  Token tok;
  tok.kind = kind;
  tok.text = llvm::StringRef(start, cur - start);
  tok.loc = Location(llvm::SMLoc::getFromPointer(start), static_cast<unsigned>(cur - start));
  return tok;
}

Token Lexer::makeError(const char *start, unsigned length, std::string message) {
  Token tok;
  tok.kind = TokenKind::Error;
  tok.text = llvm::StringRef(start, length);
  tok.loc = Location(llvm::SMLoc::getFromPointer(start), length);
  tok.errorMessage = std::move(message);
  // Stop lexing: everything after an error is ignored.
  cur = bufEnd;
  return tok;
}

static bool isIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool isDigit(char c) { return c >= '0' && c <= '9'; }
static bool isIdentChar(char c) { return isIdentStart(c) || isDigit(c); }

/// Describes a byte for an "unexpected character" message.
static std::string describeByte(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7f)
    return std::string("'") + c + "'";
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "byte " << llvm::format("0x%02x", u);
  if (u >= 0x80)
    os << " (non-ASCII text is allowed only in comments)";
  return s;
}

Token Lexer::lexToken() {
  // Skip whitespace and comments.
  while (cur < bufEnd) {
    char c = *cur;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      ++cur;
      continue;
    }
    if (c == '#') {
      while (cur < bufEnd && *cur != '\n')
        ++cur;
      continue;
    }
    break;
  }
  const char *start = cur;
  if (cur >= bufEnd) {
    Token tok;
    tok.kind = TokenKind::Eof;
    tok.text = llvm::StringRef(bufEnd, 0);
    tok.loc = Location(llvm::SMLoc::getFromPointer(bufEnd), 0);
    return tok;
  }

  char c = *cur;
  if (isIdentStart(c))
    return lexIdentifier(start);
  if (isDigit(c))
    return lexNumber(start);

  auto next = [&](char expected) { return cur + 1 < bufEnd && cur[1] == expected; };
  auto single = [&](TokenKind kind) {
    ++cur;
    return makeToken(kind, start);
  };
  auto twoChar = [&](TokenKind kind) {
    cur += 2;
    return makeToken(kind, start);
  };

  switch (c) {
  case '{':
    return single(TokenKind::LBrace);
  case '}':
    return single(TokenKind::RBrace);
  case '(':
    return single(TokenKind::LParen);
  case ')':
    return single(TokenKind::RParen);
  case '[':
    return single(TokenKind::LBracket);
  case ']':
    return single(TokenKind::RBracket);
  case ',':
    return single(TokenKind::Comma);
  case ':':
    return single(TokenKind::Colon);
  case '+':
    return single(TokenKind::Plus);
  case '-':
    return single(TokenKind::Minus);
  case '/':
    return single(TokenKind::Slash);
  case '@':
    return single(TokenKind::At);
  case '*':
    return next('*') ? twoChar(TokenKind::StarStar) : single(TokenKind::Star);
  case '=':
    return next('=') ? twoChar(TokenKind::EqualEqual) : single(TokenKind::Equal);
  case '<':
    return next('=') ? twoChar(TokenKind::LessEqual) : single(TokenKind::Less);
  case '>':
    return next('=') ? twoChar(TokenKind::GreaterEqual) : single(TokenKind::Greater);
  case '!':
    if (next('='))
      return twoChar(TokenKind::NotEqual);
    return makeError(start, 1, "unexpected character '!'; did you mean '!='?");
  case '|':
    if (next('>'))
      return twoChar(TokenKind::Pipe);
    return makeError(start, 1, "unexpected character '|'; did you mean '|>'?");
  case '.':
    return makeError(start, 1,
                     "unexpected character '.'; a number needs a digit "
                     "before its decimal point");
  default:
    return makeError(start, 1, "unexpected " + describeByte(c));
  }
}

Token Lexer::lexIdentifier(const char *start) {
  while (cur < bufEnd && isIdentChar(*cur))
    ++cur;
  llvm::StringRef text(start, cur - start);
  TokenKind kind = llvm::StringSwitch<TokenKind>(text)
                       .Case("model", TokenKind::KwModel)
                       .Case("input", TokenKind::KwInput)
                       .Case("param", TokenKind::KwParam)
                       .Case("loss", TokenKind::KwLoss)
                       .Case("optimizer", TokenKind::KwOptimizer)
                       .Case("metric", TokenKind::KwMetric)
                       .Case("output", TokenKind::KwOutput)
                       .Default(TokenKind::Identifier);
  return makeToken(kind, start);
}

/// number ::= digit+ ('.' digit+)? ([eE] [+-]? digit+)?
Token Lexer::lexNumber(const char *start) {
  bool isInteger = true;
  while (cur < bufEnd && isDigit(*cur))
    ++cur;
  if (cur < bufEnd && *cur == '.') {
    isInteger = false;
    ++cur;
    if (cur >= bufEnd || !isDigit(*cur))
      return makeError(start, static_cast<unsigned>(cur - start), "expected a digit after the decimal point");
    while (cur < bufEnd && isDigit(*cur))
      ++cur;
  }
  if (cur < bufEnd && (*cur == 'e' || *cur == 'E')) {
    const char *p = cur + 1;
    if (p < bufEnd && (*p == '+' || *p == '-'))
      ++p;
    if (p >= bufEnd || !isDigit(*p))
      return makeError(start, static_cast<unsigned>(p - start), "expected digits in the exponent of a number");
    isInteger = false;
    cur = p;
    while (cur < bufEnd && isDigit(*cur))
      ++cur;
  }
  if (cur < bufEnd && (isIdentChar(*cur) || *cur == '.')) {
    while (cur < bufEnd && (isIdentChar(*cur) || *cur == '.'))
      ++cur;
    return makeError(start, static_cast<unsigned>(cur - start),
                     "invalid number literal '" + std::string(start, cur - start) + "'");
  }

  Token tok = makeToken(TokenKind::Number, start);
  tok.isIntegerLiteral = isInteger;
  // strtod needs a NUL-terminated string; the text may sit at the very end of
  // a buffer that is not NUL-terminated.
  std::string text(start, cur - start);
  errno = 0;
  double value = std::strtod(text.c_str(), nullptr);
  if (!std::isfinite(value))
    return makeError(start, static_cast<unsigned>(cur - start), "number literal '" + text + "' is out of range");
  tok.numberValue = value;
  return tok;
}
