//===- kiln/CompileSession.h - One compilation of a .kiln source -*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The compile API: the one place where "parse, check, MLIRGen, pipeline"
// happens. kilnc, kiln::Jit (and through it kiln-run and gradcheck) and the
// front-end fuzzer all drive a CompileSession, in the spirit of IREE's
// compiler API (a session with options, a source, stages run in order, and
// one diagnostics sink).
//
//   kiln::CompileSession session(options, llvm::errs());
//   if (failed(session.loadFile("model.kiln")) ||
//       failed(session.runTo(kiln::CompileStage::LLVMDialect)))
//     return 1;                       // the diagnostics are already printed
//   mlir::ModuleOp lowered = session.getModule();
//
// Stages run in order and at most once; `runTo` runs the ones not yet run.
// User mistakes are printed to the sink as `file:line:col: error: ...` with
// the source line and a caret; internal failures (a pass that fails, IR
// that does not verify) are printed there too, through MLIR's source-manager
// diagnostic handler, with a one-line `error:` summary. No stage exits the
// process.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILESESSION_H
#define KILN_COMPILESESSION_H

#include "kiln/ModelInfo.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir {
class OpPassManager;
class SourceMgrDiagnosticHandler;
} // namespace mlir

namespace kiln {
namespace ast {
class Module;
} // namespace ast

/// What the compiled code runs on.
enum class CompileTarget {
  /// The host CPU (the CPU pipeline).
  Cpu,
  /// An NVIDIA GPU through the CUDA driver (kilnc --target=cuda).
  Cuda,
  /// The GPU lowering with its kernels run as CPU loops: slow, for testing
  /// the GPU code generation without a GPU (kiln::JitOptions::emulateGpu).
  EmulatedGpu,
};

/// The stages of a compilation, in order. Each one's result is what
/// `kilnc --emit=` prints at that level.
enum class CompileStage {
  /// Parsed and checked: the typed AST (`--emit=ast`).
  AST,
  /// The kiln dialect, verified (`--emit=kiln`).
  Kiln,
  /// linalg/tensor/arith/math on tensors, with `_grad` and `_train_step`
  /// derived; the model metadata is read here (`--emit=linalg`, `summary`).
  Linalg,
  /// Cuda only: host functions launching GPU kernels (`--emit=gpu`).
  Gpu,
  /// The LLVM dialect, ready to translate to LLVM IR (for Cuda with the
  /// device code compiled and embedded).
  LLVMDialect,
};

/// Options of one compilation.
struct CompileOptions {
  CompileTarget target = CompileTarget::Cpu;
  /// Cuda: the GPU architecture (sm_90 for H100/H200).
  std::string gpuArch = "sm_90";
  /// Cuda: the toolkit whose ptxas and fatbinary make the cubin; empty: none
  /// (only PTX is embedded, which the driver compiles at load time).
  std::string cudaToolkit;
  /// Cuda: embed PTX (`isa`) even when a toolkit is given (`--emit=ptx`).
  bool embedPtxOnly = false;
  /// Optimization level (0-3) of the device code.
  unsigned optLevel = 3;
  /// Prefixes the session's one-line messages (`kilnc: error: ...`); empty:
  /// `error: ...`.
  std::string toolName;
};

/// One compilation of one source. Not copyable; owns its MLIRContext until
/// takeContext().
class CompileSession {
public:
  /// Diagnostics go to `diagnostics`, which must outlive the session.
  explicit CompileSession(CompileOptions options, llvm::raw_ostream &diagnostics = llvm::errs());
  ~CompileSession();
  CompileSession(const CompileSession &) = delete;
  CompileSession &operator=(const CompileSession &) = delete;

  /// Reads the source from a file ("-": standard input).
  mlir::LogicalResult loadFile(llvm::StringRef path);
  /// Takes the source text; `bufferName` names it in diagnostics.
  void loadSource(llvm::StringRef source, llvm::StringRef bufferName);
  /// Takes kiln-dialect IR (MLIR text) instead of a .kiln source: the
  /// session starts after the Kiln stage. For tests and tools that write the
  /// IR themselves; fails (diagnostics printed) if it does not parse or
  /// verify.
  mlir::LogicalResult loadKilnIR(llvm::StringRef ir, llvm::StringRef bufferName);

  /// Runs every stage up to and including `stage` that has not run yet.
  /// Fails (diagnostics printed) if one fails or `stage` does not apply to
  /// the target (Gpu on the CPU).
  mlir::LogicalResult runTo(CompileStage stage);

  /// The checked AST (after the AST stage).
  const ast::Module &getAST() const;
  /// The module at the latest stage run (Kiln or later).
  mlir::ModuleOp getModule() const;
  /// The models' metadata (after the Linalg stage).
  const std::vector<ModelInfo> &getModels() const { return models; }
  const CompileOptions &getOptions() const { return options; }

  /// Hands over the context, for code that outlives the session (the JIT's
  /// compiled functions); the session's module is then unusable.
  std::unique_ptr<mlir::MLIRContext> takeContext();

private:
  mlir::LogicalResult runStage(CompileStage stage);
  mlir::LogicalResult runPasses(void (*build)(mlir::OpPassManager &, const CompileOptions &));
  mlir::LogicalResult fail(const llvm::Twine &message);
  void createContext();

  struct SourceState;
  CompileOptions options;
  llvm::raw_ostream &diagnostics;
  std::unique_ptr<SourceState> source;
  std::unique_ptr<mlir::MLIRContext> context;
  /// Prints MLIR's diagnostics against the source; declared after the
  /// context, so that it unregisters before the context goes.
  std::unique_ptr<mlir::SourceMgrDiagnosticHandler> mlirDiagnostics;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::vector<ModelInfo> models;
  /// The stages run so far (none: -1).
  int lastStage = -1;
};

} // namespace kiln

#endif // KILN_COMPILESESSION_H
