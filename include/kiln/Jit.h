//===- kiln/Jit.h - Compile and run Kiln models in process ------*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The JIT: `kiln::Jit` compiles a .kiln file or string in process through
// the same pipeline as kilnc (front end, kiln dialect, linalg, LLVM) and
// hands back callable entry points with tensors in and out.
//
//   auto jit = kiln::Jit::compileFile("model.kiln");
//   if (!jit) { llvm::errs() << llvm::toString(jit.takeError()); ... }
//   const kiln::ModelInfo *info = (*jit)->findModel("LinearRegression");
//   std::vector<kiln::Tensor> args = ...;   // the parameters, then the inputs
//   auto outputs = (*jit)->call("LinearRegression", "predict", args);
//
// Thread-safety: a compiled Jit is immutable; `call` may run concurrently
// from several threads (each call allocates its own results). Ownership:
// `call` copies nothing in; results are owned by the returned tensors.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_JIT_H
#define KILN_JIT_H

#include "kiln/ModelInfo.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln {

/// A dense, row-major host tensor that owns its data.
class Tensor {
public:
  Tensor() = default;
  /// A zero-filled tensor of the given element type and shape.
  Tensor(ElementType type, std::vector<int64_t> shape);

  ElementType getElementType() const { return type; }
  const std::vector<int64_t> &getShape() const { return shape; }
  int64_t getNumElements() const;
  /// The raw bytes (4 per element for f32 and i32).
  void *data() { return storage.data(); }
  const void *data() const { return storage.data(); }
  float *f32() { return reinterpret_cast<float *>(storage.data()); }
  const float *f32() const { return reinterpret_cast<const float *>(storage.data()); }
  int32_t *i32() { return reinterpret_cast<int32_t *>(storage.data()); }
  const int32_t *i32() const { return reinterpret_cast<const int32_t *>(storage.data()); }

private:
  ElementType type = ElementType::F32;
  std::vector<int64_t> shape;
  // 64-bit words keep the data 8-byte aligned.
  std::vector<uint64_t> storage;
};

/// Options of the JIT.
struct JitOptions {
  /// LLVM optimization level (0-3).
  unsigned optLevel = 3;
  /// Compile through the GPU lowering (kiln-map-to-gpu) and run its kernels
  /// as CPU loops (kiln-emulate-gpu-on-cpu): slow, for testing the GPU
  /// code generation on machines without a GPU.
  bool emulateGpu = false;
};

/// A compiled .kiln module with callable entry points.
class Jit {
public:
  ~Jit();

  /// Compiles a .kiln file. Errors (syntax, shapes, ...) come back as an
  /// llvm::Error whose message is the diagnostic text kilnc would print.
  static llvm::Expected<std::unique_ptr<Jit>> compileFile(llvm::StringRef path, const JitOptions &options = {});
  /// Compiles .kiln source text; `bufferName` names it in diagnostics.
  static llvm::Expected<std::unique_ptr<Jit>> compileString(llvm::StringRef source, llvm::StringRef bufferName,
                                                            const JitOptions &options = {});

  /// The models of the module, in source order.
  const std::vector<ModelInfo> &getModels() const;
  /// The model called `name`, or null.
  const ModelInfo *findModel(llvm::StringRef name) const;
  /// The address of the compiled `kiln_model_<name>` descriptor, the same
  /// struct an object file defines (`{json, predict, loss, train_step, gather}`
  /// packed entry points, docs/artifacts.md), or null. Valid while the Jit lives.
  const void *getModelDescriptor(llvm::StringRef name) const;

  /// Calls `<model>_<function>` (`predict`, `loss`, `grad` or `train_step`)
  /// with `args`: every parameter of the model in declaration order, then
  /// for `train_step` every optimizer state slot (ModelInfo::state), `lr`
  /// and `step` (rank-0 f32), then the function's inputs (see FunctionInfo).
  /// `gather_<input>` takes no parameters: a whole dataset of that input and
  /// i32 row indices, each with its own batch size (ModelInfo::gathers).
  /// Checks every argument's element type and shape (the batch size must
  /// agree across inputs) and returns the results. `train_step` updates the
  /// parameter and state tensors passed to it in place.
  llvm::Expected<std::vector<Tensor>> call(llvm::StringRef model, llvm::StringRef function,
                                           llvm::ArrayRef<const Tensor *> args) const;

  struct Impl;

private:
  explicit Jit(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

} // namespace kiln

#endif // KILN_JIT_H
