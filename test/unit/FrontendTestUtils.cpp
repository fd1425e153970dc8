//===- FrontendTestUtils.cpp - Helpers for the front-end unit tests -------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Implements `SourceFixture` and `readExample` (see FrontendTestUtils.h).
//
//===----------------------------------------------------------------------===//

#include "FrontendTestUtils.h"

#include "llvm/Support/MemoryBuffer.h"

#include <cstdlib>

using namespace kiln;
using namespace kiln::test;

SourceFixture::SourceFixture(llvm::StringRef text) {
  srcMgr.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(text, "test.kiln"), llvm::SMLoc());
}

bool SourceFixture::parse() {
  module = parseFile(srcMgr, diags);
  return module != nullptr && !diags.hadError();
}

bool SourceFixture::check() {
  if (!parse())
    return false;
  return succeeded(checkModule(*module, diags)) && !diags.hadError();
}

ast::Model &SourceFixture::model(unsigned index) const { return *module->getModels()[index]; }

std::string SourceFixture::firstError() const {
  for (const auto &record : diags.getRecords())
    if (record.severity == Diagnostics::Severity::Error)
      return record.message;
  return "";
}

std::string SourceFixture::firstErrorPos() const {
  for (const auto &record : diags.getRecords())
    if (record.severity == Diagnostics::Severity::Error)
      return std::to_string(record.pos.line) + ":" + std::to_string(record.pos.col);
  return "";
}

std::string SourceFixture::pos(Location loc) const {
  LineCol lc = getLineCol(srcMgr, loc);
  return std::to_string(lc.line) + ":" + std::to_string(lc.col);
}

std::string kiln::test::readExample(llvm::StringRef name) {
  std::string path = (llvm::Twine(KILN_EXAMPLES_DIR) + "/" + name).str();
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer) {
    llvm::errs() << "cannot read " << path << "\n";
    std::abort();
  }
  return (*buffer)->getBuffer().str();
}
