//===- FrontendFuzzer.cpp - libFuzzer entry point for the Kiln front end --===//
//
// Feeds arbitrary bytes to the lexer, parser and semantic checks, and every
// program that passes the checks to MLIRGen and the MLIR verifier. A crash,
// sanitizer report, hang or leak is a bug; so is a checked program whose
// kiln dialect does not verify (the checks promised MLIRGen a valid tree),
// which aborts on purpose so that libFuzzer records the input.
//
//===----------------------------------------------------------------------===//

#include "dialect/KilnDialect.h"
#include "frontend/Diagnostics.h"
#include "frontend/MLIRGen.h"
#include "frontend/Parser.h"
#include "frontend/Sema.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <cstdlib>

namespace {
/// One context for the whole run: creating one per input would dominate the
/// time per execution. Threading is off so each input runs deterministically.
mlir::MLIRContext &fuzzContext() {
  static mlir::MLIRContext *context = [] {
    auto *ctx = new mlir::MLIRContext(mlir::MLIRContext::Threading::DISABLED);
    ctx->loadDialect<kiln::KilnDialect, mlir::func::FuncDialect>();
    return ctx;
  }();
  return *context;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(reinterpret_cast<const char *>(data), size), "fuzz.kiln"),
      llvm::SMLoc());
  kiln::Diagnostics diagnostics(sourceMgr, llvm::nulls());
  std::unique_ptr<kiln::ast::Module> ast = kiln::parseFile(sourceMgr, diagnostics);
  if (!ast || failed(kiln::checkModule(*ast, diagnostics)))
    return 0;

  mlir::MLIRContext &context = fuzzContext();
  bool sawError = false;
  mlir::ScopedDiagnosticHandler silence(&context, [&](mlir::Diagnostic &diag) {
    if (diag.getSeverity() == mlir::DiagnosticSeverity::Error)
      sawError = true;
    return mlir::success();
  });
  mlir::OwningOpRef<mlir::ModuleOp> module = kiln::emitKilnDialect(context, *ast, sourceMgr);
  if (!module || failed(mlir::verify(*module)) || sawError) {
    llvm::errs() << "kiln fuzzer: a program that passed the checks did not become valid IR\n";
    std::abort();
  }
  return 0;
}
