//===- FlushDenormals.cpp - Compiled code runs with FTZ and DAZ set -------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// flushDenormalsInComputeCode (ObjectEmitter.h). Subnormal floats are about
// 5x slower on x86, and training makes them: after two epochs about a
// quarter of FashionCnn's Adam second moments are subnormal. TensorFlow and
// oneDNN flush them to zero; Kiln does the same in the code it generates, so
// that every way of running it (model binaries, objects and shared libraries
// with their C header, the JIT) gets it, on every thread:
//   - each C-interface entry point (`_mlir_ciface_*`, what the packed ABI and
//     the JIT call) sets FTZ and DAZ in MXCSR on entry and restores the
//     caller's MXCSR on return, so the host program's own arithmetic keeps
//     its mode;
//   - each OpenMP-outlined parallel region (`*..omp_par*`, what libomp's
//     workers run) does the same, so the workers compute like the caller
//     and leave with the mode they came with.
//
//===----------------------------------------------------------------------===//

#include "codegen/ObjectEmitter.h"

#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/Intrinsics.h"
#include "llvm/IR/IntrinsicsX86.h"
#include "llvm/IR/Module.h"
#include "llvm/TargetParser/Triple.h"

namespace {
/// MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) flags.
constexpr uint32_t kFlushToZeroAndDenormalsAreZero = 0x8040;

bool runsComputeCode(const llvm::Function &function) {
  if (function.isDeclaration())
    return false;
  llvm::StringRef name = function.getName();
  return name.starts_with("_mlir_ciface_") || name.contains("..omp_par");
}

/// Sets FTZ and DAZ for the duration of `function`.
void flushDenormalsIn(llvm::Function &function) {
  llvm::IRBuilder<> builder(&*function.getEntryBlock().getFirstInsertionPt());
  llvm::Type *i32 = builder.getInt32Ty();
  llvm::AllocaInst *callers = builder.CreateAlloca(i32, nullptr, "callers.mxcsr");
  llvm::AllocaInst *flushing = builder.CreateAlloca(i32, nullptr, "flushing.mxcsr");
  llvm::Function *store =
      llvm::Intrinsic::getOrInsertDeclaration(function.getParent(), llvm::Intrinsic::x86_sse_stmxcsr);
  llvm::Function *load =
      llvm::Intrinsic::getOrInsertDeclaration(function.getParent(), llvm::Intrinsic::x86_sse_ldmxcsr);
  builder.CreateCall(store, {callers});
  llvm::Value *mode = builder.CreateLoad(i32, callers);
  builder.CreateStore(builder.CreateOr(mode, kFlushToZeroAndDenormalsAreZero), flushing);
  builder.CreateCall(load, {flushing});
  for (llvm::BasicBlock &block : function)
    if (auto *ret = llvm::dyn_cast<llvm::ReturnInst>(block.getTerminator())) {
      llvm::IRBuilder<> atReturn(ret);
      atReturn.CreateCall(load, {callers});
    }
}
} // namespace

void kiln::flushDenormalsInComputeCode(llvm::Module &module, const llvm::Triple &triple) {
  // MXCSR is x86's; other targets keep IEEE subnormals.
  if (!triple.isX86())
    return;
  for (llvm::Function &function : module)
    if (runsComputeCode(function))
      flushDenormalsIn(function);
}
