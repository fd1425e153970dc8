//===- GpuBuffers.cpp - Device or host placement of a function's buffers --===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The buffer placement step of kiln-map-to-gpu (see GpuBuffers.h and
// Passes.td, item 5): after bufferization a model function allocates both
// the tensors its kernels use and the small arrays of pointers and flags
// that buffer deallocation keeps; only the former move to the device.
//
//===----------------------------------------------------------------------===//

#include "passes/GpuBuffers.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

using namespace mlir;

namespace {

/// Whether the buffer `value` (or a view of it) is read or written by
/// kernels, returned, or passed to another function: then it lives on the
/// device. The deallocation bookkeeping (arrays of pointers and flags that
/// buffer-deallocation builds) stays on the host.
bool isDeviceBuffer(Value value) {
  SmallVector<Value> worklist = {value};
  while (!worklist.empty()) {
    Value current = worklist.pop_back_val();
    for (Operation *user : current.getUsers()) {
      if (isa<linalg::LinalgOp, func::ReturnOp>(user))
        return true;
      if (auto call = dyn_cast<func::CallOp>(user); call && call.getCallee().starts_with("kiln_impl_"))
        return true;
      if (isa<ViewLikeOpInterface, memref::CastOp>(user))
        llvm::append_range(worklist, user->getResults());
    }
  }
  return false;
}

/// Kernels, allocations and frees of `func` are async on `stream`.
void moveBuffersToDevice(RewriterBase &rewriter, func::FuncOp func, Value stream) {
  auto tokenType = rewriter.getType<gpu::AsyncTokenType>();
  SmallVector<memref::AllocOp> allocs;
  func.walk([&](memref::AllocOp alloc) {
    if (isDeviceBuffer(alloc.getResult()))
      allocs.push_back(alloc);
  });
  for (memref::AllocOp alloc : allocs) {
    rewriter.setInsertionPoint(alloc);
    Value result = alloc.getResult();
    SmallVector<memref::DeallocOp> deallocs;
    for (Operation *user : result.getUsers())
      if (auto dealloc = dyn_cast<memref::DeallocOp>(user))
        deallocs.push_back(dealloc);
    auto deviceAlloc = gpu::AllocOp::create(rewriter, alloc.getLoc(), alloc.getType(), tokenType, ValueRange{stream},
                                            alloc.getDynamicSizes(), alloc.getSymbolOperands());
    rewriter.replaceOp(alloc, deviceAlloc.getMemref());
    for (memref::DeallocOp dealloc : deallocs) {
      rewriter.setInsertionPoint(dealloc);
      gpu::DeallocOp::create(rewriter, dealloc.getLoc(), tokenType, ValueRange{stream}, dealloc.getMemref());
      rewriter.eraseOp(dealloc);
    }
  }
}

/// memref.dealloc of pointers that may be device buffers (the deallocation
/// helper's conditional frees of function results and arguments): every
/// remaining dealloc in a model function frees a device buffer, since the
/// host bookkeeping arrays are never freed conditionally.
void convertRemainingDeallocs(RewriterBase &rewriter, func::FuncOp func, Value stream) {
  SmallVector<memref::DeallocOp> deallocs;
  func.walk([&](memref::DeallocOp dealloc) {
    Value root = dealloc.getMemref();
    while (Operation *def = root.getDefiningOp()) {
      if (auto view = dyn_cast<ViewLikeOpInterface>(def))
        root = view.getViewSource();
      else if (auto cast = dyn_cast<memref::CastOp>(def))
        root = cast.getSource();
      else
        break;
    }
    if (!root.getDefiningOp<memref::AllocOp>())
      deallocs.push_back(dealloc);
  });
  auto tokenType = rewriter.getType<gpu::AsyncTokenType>();
  for (memref::DeallocOp dealloc : deallocs) {
    rewriter.setInsertionPoint(dealloc);
    gpu::DeallocOp::create(rewriter, dealloc.getLoc(), tokenType, ValueRange{stream}, dealloc.getMemref());
    rewriter.eraseOp(dealloc);
  }
}

} // namespace

void kiln::placeBuffersOnDevice(RewriterBase &rewriter, func::FuncOp func, Value stream) {
  moveBuffersToDevice(rewriter, func, stream);
  convertRemainingDeallocs(rewriter, func, stream);
}
