//===- FrontendTestUtils.h - Helpers for the front-end unit tests -*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// `SourceFixture` owns a SourceMgr holding one source string (named
// "test.kiln"), a Diagnostics writing into a string, and the parsed module, so
// that each test can parse, check and inspect messages in a few lines.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_UNIT_FRONTENDTESTUTILS_H
#define KILN_TEST_UNIT_FRONTENDTESTUTILS_H

#include "frontend/AST.h"
#include "frontend/Diagnostics.h"
#include "frontend/Parser.h"
#include "frontend/Sema.h"

#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <utility>

#include <memory>
#include <string>

namespace kiln::test {

/// Owns the source text, diagnostics and AST of one test input.
class SourceFixture {
public:
  /// Loads `text` as the main buffer "test.kiln".
  explicit SourceFixture(llvm::StringRef text);

  /// Parses the text. Returns true on success.
  bool parse();
  /// Parses and checks the text. Returns true on success.
  bool check();

  /// The module (null if parsing failed).
  ast::Module *getModule() const { return module.get(); }
  /// The first model of the module.
  ast::Model &model(unsigned index = 0) const;
  /// Everything Diagnostics printed.
  const std::string &output() const { return printed; }
  /// The first error (empty if none).
  std::string firstError() const;
  /// "line:col" of the first error ("" if none).
  std::string firstErrorPos() const;
  Diagnostics &getDiags() { return diags; }
  llvm::SourceMgr &getSourceMgr() { return srcMgr; }
  /// The line:col of a location, as "line:col".
  std::string pos(Location loc) const;

private:
  llvm::SourceMgr srcMgr;
  std::string printed;
  llvm::raw_string_ostream os{printed};
  Diagnostics diags{srcMgr, os};
  std::unique_ptr<ast::Module> module;
};

/// Reads examples/<name> from the source tree.
std::string readExample(llvm::StringRef name);

/// EXPECT_EQ(render(input), expected) for each {input, expected}: tables of
/// parser and Sema cases (a rendered tree, or "line:col: message").
inline void expectEach(std::string (*render)(llvm::StringRef),
                       std::initializer_list<std::pair<std::string, std::string>> cases) {
  for (const auto &[input, expected] : cases)
    EXPECT_EQ(render(input), expected) << input;
}

} // namespace kiln::test

#endif // KILN_TEST_UNIT_FRONTENDTESTUTILS_H
