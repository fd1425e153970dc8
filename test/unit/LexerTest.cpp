//===- LexerTest.cpp - Unit tests for the Kiln lexer ----------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Tokens, numbers, operators, comments, locations and bad characters.
//
//===----------------------------------------------------------------------===//

#include "frontend/Lexer.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <gtest/gtest.h>

#include <vector>

using namespace kiln;

namespace {

using K = TokenKind;

/// Lexes `text` to the end (Eof or Error, included) and keeps the SourceMgr
/// for locations.
struct Lexed {
  llvm::SourceMgr srcMgr;
  std::vector<Token> tokens;

  explicit Lexed(llvm::StringRef text) {
    unsigned id = srcMgr.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(text, "lex.kiln"), llvm::SMLoc());
    Lexer lexer(srcMgr, id);
    while (true) {
      tokens.push_back(lexer.getCurToken());
      if (tokens.back().is(TokenKind::Eof) || tokens.back().is(TokenKind::Error))
        break;
      lexer.consume();
    }
  }

  std::vector<TokenKind> kinds() const {
    std::vector<TokenKind> result;
    for (const Token &tok : tokens)
      result.push_back(tok.kind);
    return result;
  }
  LineCol pos(size_t i) const { return getLineCol(srcMgr, tokens[i].loc); }
};

TEST(LexerTest, PunctuationAndOperators) {
  Lexed lexed("{ } ( ) [ ] , : = == != < <= > >= + - * ** / @ |>");
  EXPECT_EQ(lexed.kinds(),
            std::vector<K>({K::LBrace,    K::RBrace,  K::LParen,       K::RParen,     K::LBracket, K::RBracket,
                            K::Comma,     K::Colon,   K::Equal,        K::EqualEqual, K::NotEqual, K::Less,
                            K::LessEqual, K::Greater, K::GreaterEqual, K::Plus,       K::Minus,    K::Star,
                            K::StarStar,  K::Slash,   K::At,           K::Pipe,       K::Eof}));
}

TEST(LexerTest, OperatorsWithoutSpaces) {
  Lexed lexed("x**2==y|>f");
  EXPECT_EQ(lexed.kinds(), std::vector<K>({K::Identifier, K::StarStar, K::Number, K::EqualEqual, K::Identifier, K::Pipe,
                                           K::Identifier, K::Eof}));
  EXPECT_EQ(lexed.tokens[1].text, "**");
  EXPECT_EQ(lexed.tokens[5].text, "|>");
}

TEST(LexerTest, KeywordsAndIdentifiers) {
  Lexed lexed("model input param loss optimizer metric output modelx _a1 N f32");
  EXPECT_EQ(lexed.kinds(),
            std::vector<K>({K::KwModel, K::KwInput, K::KwParam, K::KwLoss, K::KwOptimizer, K::KwMetric, K::KwOutput,
                            K::Identifier, K::Identifier, K::Identifier, K::Identifier, K::Eof}));
  EXPECT_EQ(lexed.tokens[7].text, "modelx");
  EXPECT_EQ(lexed.tokens[8].text, "_a1");
}

TEST(LexerTest, Numbers) {
  Lexed lexed("2 0.001 1e-4 2.5E+3 32 0");
  ASSERT_EQ(lexed.tokens.size(), 7u);
  for (size_t i = 0; i < 6; ++i)
    EXPECT_EQ(lexed.tokens[i].kind, TokenKind::Number) << i;
  EXPECT_DOUBLE_EQ(lexed.tokens[0].numberValue, 2.0);
  EXPECT_TRUE(lexed.tokens[0].isIntegerLiteral);
  EXPECT_DOUBLE_EQ(lexed.tokens[1].numberValue, 0.001);
  EXPECT_FALSE(lexed.tokens[1].isIntegerLiteral);
  EXPECT_DOUBLE_EQ(lexed.tokens[2].numberValue, 1e-4);
  EXPECT_EQ(lexed.tokens[2].text, "1e-4");
  EXPECT_FALSE(lexed.tokens[2].isIntegerLiteral);
  EXPECT_DOUBLE_EQ(lexed.tokens[3].numberValue, 2500.0);
  EXPECT_TRUE(lexed.tokens[4].isIntegerLiteral);
  EXPECT_DOUBLE_EQ(lexed.tokens[5].numberValue, 0.0);
}

TEST(LexerTest, MinusIsSeparateFromNumber) {
  Lexed lexed("-1 1-2");
  EXPECT_EQ(lexed.kinds(), std::vector<K>({K::Minus, K::Number, K::Number, K::Minus, K::Number, K::Eof}));
}

TEST(LexerTest, BadNumbers) {
  for (const char *text : {"1e", "1e+", "1.", "2x", "1.2.3", "1e999"}) {
    Lexed lexed(text);
    EXPECT_EQ(lexed.tokens.back().kind, TokenKind::Error) << text;
    EXPECT_FALSE(lexed.tokens.back().errorMessage.empty()) << text;
  }
  Lexed huge("1e999");
  EXPECT_NE(huge.tokens.back().errorMessage.find("out of range"), std::string::npos);
}

TEST(LexerTest, CommentsAndNewlines) {
  Lexed lexed("# a comment ü\nx # trailing\n\n  y#z\n");
  ASSERT_EQ(lexed.kinds(), std::vector<K>({K::Identifier, K::Identifier, K::Eof}));
  EXPECT_EQ(lexed.tokens[0].text, "x");
  EXPECT_EQ(lexed.tokens[1].text, "y");
}

TEST(LexerTest, Locations) {
  Lexed lexed("model M {\n  input x: f32\n}");
  // model@1:1 M@1:7 {@1:9 input@2:3 x@2:9 :@2:10 f32@2:12 }@3:1
  ASSERT_EQ(lexed.tokens.size(), 9u);
  EXPECT_EQ(lexed.pos(0).line, 1u);
  EXPECT_EQ(lexed.pos(0).col, 1u);
  EXPECT_EQ(lexed.pos(1).col, 7u);
  EXPECT_EQ(lexed.pos(3).line, 2u);
  EXPECT_EQ(lexed.pos(3).col, 3u);
  EXPECT_EQ(lexed.tokens[3].loc.length, 5u);
  EXPECT_EQ(lexed.pos(6).col, 12u);
  EXPECT_EQ(lexed.pos(7).line, 3u);
  EXPECT_EQ(lexed.pos(7).col, 1u);
  EXPECT_EQ(lexed.tokens[8].kind, TokenKind::Eof);
}

TEST(LexerTest, BadCharacters) {
  {
    Lexed lexed("x $ y");
    ASSERT_EQ(lexed.tokens.size(), 2u);
    EXPECT_EQ(lexed.tokens[1].kind, TokenKind::Error);
    EXPECT_EQ(lexed.tokens[1].errorMessage, "unexpected '$'");
    EXPECT_EQ(lexed.pos(1).col, 3u);
  }
  {
    Lexed lexed("a ! b");
    EXPECT_EQ(lexed.tokens.back().kind, TokenKind::Error);
    EXPECT_NE(lexed.tokens.back().errorMessage.find("'!='"), std::string::npos);
  }
  {
    Lexed lexed("a | b");
    EXPECT_NE(lexed.tokens.back().errorMessage.find("'|>'"), std::string::npos);
  }
  {
    Lexed lexed(llvm::StringRef("a\0b", 3));
    EXPECT_EQ(lexed.tokens.back().kind, TokenKind::Error);
    EXPECT_EQ(lexed.tokens.back().errorMessage, "unexpected byte 0x00");
  }
  {
    Lexed lexed("x = \xc3\xa9");
    EXPECT_EQ(lexed.tokens.back().kind, TokenKind::Error);
    EXPECT_NE(lexed.tokens.back().errorMessage.find("non-ASCII"), std::string::npos);
  }
}

TEST(LexerTest, EmptyInputAndLookahead) {
  Lexed empty("");
  ASSERT_EQ(empty.tokens.size(), 1u);
  EXPECT_EQ(empty.tokens[0].kind, TokenKind::Eof);

  llvm::StringRef text = "a = b";
  Lexer lexer(text);
  EXPECT_EQ(lexer.peek(0).kind, TokenKind::Identifier);
  EXPECT_EQ(lexer.peek(1).kind, TokenKind::Equal);
  EXPECT_EQ(lexer.peek(5).kind, TokenKind::Eof);
  lexer.consume();
  EXPECT_EQ(lexer.getCurToken().kind, TokenKind::Equal);
  lexer.consume();
  lexer.consume();
  lexer.consume(); // stays at Eof
  EXPECT_EQ(lexer.getCurToken().kind, TokenKind::Eof);
}

} // namespace
