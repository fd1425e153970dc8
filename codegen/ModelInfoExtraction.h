//===- ModelInfoExtraction.h - Read ModelInfo from the kiln dialect -*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Reads the public ModelInfo (include/kiln/ModelInfo.h) of every model
// module in a kiln-dialect module, before lowering erases the metadata.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_MODELINFOEXTRACTION_H
#define KILN_CODEGEN_MODELINFOEXTRACTION_H

#include "kiln/ModelInfo.h"

#include "mlir/IR/BuiltinOps.h"

#include <vector>

namespace kiln {

/// Returns the metadata of each `module @<Model> attributes {kiln.model}`
/// nested in `module`, in order.
std::vector<ModelInfo> extractModelInfo(mlir::ModuleOp module);

} // namespace kiln

#endif // KILN_CODEGEN_MODELINFOEXTRACTION_H
