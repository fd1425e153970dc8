//===- Lexer.h - Tokens of the Kiln language --------------------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The lexer turns one `SourceMgr` buffer into tokens on demand. Newlines are
// insignificant; `#` starts a comment that runs to the end of the line. The
// lexer never reads past the end of the buffer (embedded NUL bytes are
// ordinary bad characters), and it never prints: a bad character becomes an
// `Error` token carrying its message, which the parser reports when it meets
// it, so that the first error in source order is the one reported.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_LEXER_H
#define KILN_FRONTEND_LEXER_H

#include "frontend/Diagnostics.h"

#include "llvm/ADT/StringRef.h"

#include <deque>
#include <string>

namespace kiln {

/// The kinds of tokens.
enum class TokenKind {
  Eof,
  Error, ///< A lexical error; `Token::errorMessage` says what.
  Identifier,
  Number,
  // Reserved words.
  KwModel,
  KwInput,
  KwParam,
  KwLoss,
  KwOptimizer,
  KwMetric,
  KwOutput,
  // Punctuation.
  LBrace,   ///< {
  RBrace,   ///< }
  LParen,   ///< (
  RParen,   ///< )
  LBracket, ///< [
  RBracket, ///< ]
  Comma,    ///< ,
  Colon,    ///< :
  // Operators.
  Equal,        ///< =
  EqualEqual,   ///< ==
  NotEqual,     ///< !=
  Less,         ///< <
  LessEqual,    ///< <=
  Greater,      ///< >
  GreaterEqual, ///< >=
  Plus,         ///< +
  Minus,        ///< -
  Star,         ///< *
  StarStar,     ///< **
  Slash,        ///< /
  At,           ///< @
  Pipe,         ///< |>
};

/// Returns a human-readable spelling of a token kind, e.g. `'|>'` or
/// `identifier`, for "expected ..." messages.
llvm::StringRef getTokenKindSpelling(TokenKind kind);

/// One token: its kind, its text (a view into the source buffer) and location.
struct Token {
  TokenKind kind = TokenKind::Eof;
  llvm::StringRef text;
  Location loc;
  /// For `Number`: the value (always finite).
  double numberValue = 0.0;
  /// For `Number`: true if written without '.' or exponent (e.g. `32`).
  bool isIntegerLiteral = false;
  /// For `Error`: the message to report at `loc`.
  std::string errorMessage;

  bool is(TokenKind k) const { return kind == k; }
  bool isNot(TokenKind k) const { return kind != k; }
  bool isKeyword() const { return kind >= TokenKind::KwModel && kind <= TokenKind::KwOutput; }
  /// Returns a short description for messages: `'foo'`, or `end of file`.
  std::string describe() const;
};

/// Lexes one buffer of a `SourceMgr`, with arbitrary lookahead.
class Lexer {
public:
  /// Lexes the buffer `bufferID` of `srcMgr`.
  Lexer(const llvm::SourceMgr &srcMgr, unsigned bufferID);
  /// Lexes `buffer`, which must stay alive as long as the tokens.
  explicit Lexer(llvm::StringRef buffer);

  /// Returns the current token.
  const Token &getCurToken() { return peek(0); }
  /// Returns the token `n` places after the current one (0 = current).
  const Token &peek(unsigned n);
  /// Moves to the next token. Once `Eof` or `Error` is reached, it stays.
  void consume();

private:
  Token lexToken();
  Token makeToken(TokenKind kind, const char *start);
  Token makeError(const char *start, unsigned length, std::string message);
  Token lexIdentifier(const char *start);
  Token lexNumber(const char *start);

  const char *bufStart;
  const char *cur;
  const char *bufEnd;
  std::deque<Token> lookahead;
};

} // namespace kiln

#endif // KILN_FRONTEND_LEXER_H
