//===- CompileSession.cpp - One compilation of a .kiln source -------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// See include/kiln/CompileSession.h. The stages call the front end
// (frontend/Parser, Sema, MLIRGen) and the pipelines of passes/Pipelines.h;
// the model metadata is read (codegen/ModelInfo.cpp) after the kiln-level
// passes, which derive `_grad` and `_train_step`, and before code generation
// erases the attributes it is read from.
//
//===----------------------------------------------------------------------===//

#include "kiln/CompileSession.h"

#include "codegen/ModelInfoExtraction.h"
#include "frontend/AST.h"
#include "frontend/Diagnostics.h"
#include "frontend/MLIRGen.h"
#include "frontend/Parser.h"
#include "frontend/Sema.h"
#include "passes/Pipelines.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

using namespace kiln;

/// The source and what the front end made of it. The source manager lives
/// as long as the session: diagnostics of later stages point into it.
struct CompileSession::SourceState {
  llvm::SourceMgr sourceMgr;
  std::unique_ptr<ast::Module> ast;
};

CompileSession::CompileSession(CompileOptions options, llvm::raw_ostream &diagnostics)
    : options(std::move(options)), diagnostics(diagnostics) {}

CompileSession::~CompileSession() = default;

mlir::LogicalResult CompileSession::loadFile(llvm::StringRef path) {
  auto file = llvm::MemoryBuffer::getFileOrSTDIN(path, /*IsText=*/true);
  if (std::error_code ec = file.getError())
    return fail("cannot read '" + path + "': " + ec.message());
  source = std::make_unique<SourceState>();
  source->sourceMgr.AddNewSourceBuffer(std::move(*file), llvm::SMLoc());
  return mlir::success();
}

void CompileSession::loadSource(llvm::StringRef text, llvm::StringRef bufferName) {
  source = std::make_unique<SourceState>();
  source->sourceMgr.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(text, bufferName), llvm::SMLoc());
}

mlir::LogicalResult CompileSession::loadKilnIR(llvm::StringRef ir, llvm::StringRef bufferName) {
  loadSource(ir, bufferName);
  createContext();
  module = mlir::parseSourceFile<mlir::ModuleOp>(source->sourceMgr, context.get());
  if (!module || failed(mlir::verify(*module)))
    return fail("'" + bufferName + "' is not valid kiln-dialect IR");
  lastStage = int(CompileStage::Kiln);
  return mlir::success();
}

void CompileSession::createContext() {
  mlir::DialectRegistry registry;
  registerCompilerDialects(registry);
  context = std::make_unique<mlir::MLIRContext>(registry);
  context->loadAllAvailableDialects();
  // Internal diagnostics (emission, verification, passes) print in the
  // front end's format, against the same source.
  mlirDiagnostics = std::make_unique<mlir::SourceMgrDiagnosticHandler>(source->sourceMgr, context.get(), diagnostics);
}

const ast::Module &CompileSession::getAST() const {
  assert(source && source->ast && "the AST stage has not run");
  return *source->ast;
}

mlir::ModuleOp CompileSession::getModule() const { return module.get(); }

std::unique_ptr<mlir::MLIRContext> CompileSession::takeContext() {
  // The module belongs to the context: it goes first, while both exist;
  // the handler points into this session's source manager.
  module = nullptr;
  mlirDiagnostics.reset();
  return std::move(context);
}

mlir::LogicalResult CompileSession::fail(const llvm::Twine &message) {
  if (!options.toolName.empty())
    diagnostics << options.toolName << ": ";
  diagnostics << "error: " << message << "\n";
  return mlir::failure();
}

mlir::LogicalResult CompileSession::runTo(CompileStage stage) {
  if (!source)
    return fail("no source to compile");
  bool cuda = options.target == CompileTarget::Cuda;
  if (stage == CompileStage::Gpu && !cuda)
    return fail("the GPU stage applies to the CUDA target only");
  for (int next = lastStage + 1; next <= int(stage); ++next) {
    // The GPU mapping is part of the LLVM stage of the emulated target, and
    // no stage of the CPU target.
    if (CompileStage(next) == CompileStage::Gpu && !cuda)
      continue;
    if (failed(runStage(CompileStage(next))))
      return mlir::failure();
    lastStage = next;
  }
  return mlir::success();
}

mlir::LogicalResult CompileSession::runPasses(void (*build)(mlir::OpPassManager &, const CompileOptions &)) {
  mlir::PassManager pm(context.get(), mlir::ModuleOp::getOperationName());
  // The module is verified once, after the stage, not after every pass (MLIR's
  // default): with about 60 passes, that verification took a quarter of the
  // time FashionCnn spends in MLIR. kiln-opt verifies after every pass, to
  // find the one that breaks the IR.
  pm.enableVerifier(false);
  build(pm, options);
  if (failed(pm.run(*module)))
    return fail("compilation failed");
  if (failed(mlir::verify(*module)))
    return fail("internal error: the compiled module does not verify");
  return mlir::success();
}

mlir::LogicalResult CompileSession::runStage(CompileStage stage) {
  switch (stage) {
  case CompileStage::AST: {
    Diagnostics frontendDiagnostics(source->sourceMgr, diagnostics);
    source->ast = parseFile(source->sourceMgr, frontendDiagnostics);
    // The front end has printed its errors; nothing to add.
    if (!source->ast || failed(checkModule(*source->ast, frontendDiagnostics)))
      return mlir::failure();
    return mlir::success();
  }
  case CompileStage::Kiln: {
    createContext();
    module = emitKilnDialect(*context, *source->ast, source->sourceMgr);
    if (!module || failed(mlir::verify(*module)))
      return fail("internal error: the emitted kiln dialect does not verify");
    return mlir::success();
  }
  case CompileStage::Linalg:
    if (failed(runPasses([](mlir::OpPassManager &pm, const CompileOptions &) { buildKilnToLinalgPipeline(pm); })))
      return mlir::failure();
    models = extractModelInfo(*module);
    if (options.target == CompileTarget::Cuda)
      for (ModelInfo &model : models)
        model.device = "cuda";
    return mlir::success();
  case CompileStage::Gpu:
    return runPasses([](mlir::OpPassManager &pm, const CompileOptions &) { buildLinalgToGpuPipeline(pm); });
  case CompileStage::LLVMDialect:
    return runPasses([](mlir::OpPassManager &pm, const CompileOptions &options) {
      switch (options.target) {
      case CompileTarget::Cpu:
        buildLinalgToLLVMPipeline(pm, CpuPipelineOptions{});
        return;
      case CompileTarget::EmulatedGpu:
        buildGpuEmulationPipeline(pm);
        return;
      case CompileTarget::Cuda: {
        GpuPipelineOptions gpu;
        gpu.chip = options.gpuArch;
        gpu.optLevel = std::min(options.optLevel, 3u);
        gpu.toolkitPath = options.cudaToolkit;
        gpu.format = options.embedPtxOnly || options.cudaToolkit.empty() ? "isa" : "fatbin";
        buildGpuToLLVMPipeline(pm, gpu);
        return;
      }
      }
    });
  }
  llvm_unreachable("unknown compile stage");
}
