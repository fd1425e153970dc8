//===- BufferCache.cpp - Link the buffer cache into compiled modules ------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The CPU pipeline lowers memref.alloc/dealloc to calls of
// `_mlir_memref_to_llvm_alloc`/`_free` (finalize-memref-to-llvm with
// use-generic-functions). Their definitions, the size-class cache of
// buffer-cache/BufferCache.c, are compiled to LLVM IR at build time and
// embedded here; linkBufferCache links them into each translated module
// with internal linkage, so every object, library, binary and JIT module
// carries its own copy and needs nothing beyond libc.
//
//===----------------------------------------------------------------------===//

#include "codegen/ObjectEmitter.h"

#include "llvm/AsmParser/Parser.h"
#include "llvm/IR/Module.h"
#include "llvm/Linker/Linker.h"
#include "llvm/Support/SourceMgr.h"

#include "codegen/BufferCache.ll.inc"

llvm::Error kiln::linkBufferCache(llvm::Module &module) {
  static const char *const entryPoints[] = {"_mlir_memref_to_llvm_alloc", "_mlir_memref_to_llvm_free"};
  bool used = false;
  for (const char *name : entryPoints)
    if (module.getFunction(name))
      used = true;
  if (!used)
    return llvm::Error::success();

  llvm::SMDiagnostic diagnostic;
  std::unique_ptr<llvm::Module> cache = llvm::parseAssemblyString(kBufferCacheIR, diagnostic, module.getContext());
  if (!cache)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "internal error: the embedded buffer cache does not parse: " +
                                       diagnostic.getMessage().str());
  // The same target as the module (the IR was compiled for the build host).
  cache->setTargetTriple(module.getTargetTriple());
  cache->setDataLayout(module.getDataLayout());
  if (llvm::Linker::linkModules(module, std::move(cache)))
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "internal error: linking the buffer cache failed");
  for (const char *name : entryPoints)
    if (llvm::Function *function = module.getFunction(name); function && !function->isDeclaration())
      function->setLinkage(llvm::GlobalValue::InternalLinkage);
  return llvm::Error::success();
}
