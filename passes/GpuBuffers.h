//===- GpuBuffers.h - Buffers kiln-map-to-gpu puts on the device *- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Buffer placement, the first step of kiln-map-to-gpu (GpuBuffers.cpp): kept
// apart from the kernel mapping because it is a decision about memory, not
// about kernels, and must be taken while the linalg ops that use the buffers
// are still there to tell device buffers from host bookkeeping.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_GPUBUFFERS_H
#define KILN_PASSES_GPUBUFFERS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/PatternMatch.h"

namespace kiln {

/// Allocates with `gpu.alloc` (and frees with `gpu.dealloc`) every buffer of
/// `func` that kernels read or write, that is returned or that is passed to
/// a model function, async on `stream`; frees of pointers that may be such
/// buffers (the deallocation helper's conditional frees) become
/// `gpu.dealloc` too. The deallocation bookkeeping stays on the host. Runs
/// before the linalg ops are mapped: their uses are what marks a device
/// buffer.
void placeBuffersOnDevice(mlir::RewriterBase &rewriter, mlir::func::FuncOp func, mlir::Value stream);

} // namespace kiln

#endif // KILN_PASSES_GPUBUFFERS_H
