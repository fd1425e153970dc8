//===- ModelCommands.h - The model binary's commands as a library -*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The public face of libkiln_model_support for programs other than a model
// binary: `kilnc train` runs the binaries' training loop on JIT-compiled
// code through trainModel. The binaries' own `main` (ModelMain.cpp) and the
// rest of the commands' internals are in ModelBinary.h, which is private.
//
// Errors never end the process: every function here reports them on
// standard error as `<program>: error: <message>` and returns a status.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_MODEL_MODELCOMMANDS_H
#define KILN_RUNTIME_MODEL_MODELCOMMANDS_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln_binary {

/// The options of `train` and `eval` (ModelTraining.cpp).
struct TrainOptions {
  std::string data, testData, save, resume, weights;
  int64_t epochs = 1, batch = 32;
  std::optional<double> lr; ///< none: the model's own
  uint64_t seed = 0;
  std::optional<int64_t> limit;     ///< use only the first `limit` training examples
  std::vector<std::string> columns; ///< CSV data: `input=col1,col2,...`
  bool quiet = false;
  /// Under mpirun: how long a rank waits for the others at a collective.
  double mpiTimeoutSeconds = 300;
};

/// Trains the model whose compiled descriptor (`kiln_model_<Model>`, as
/// kiln::Jit::getModelDescriptor returns it) is `descriptor`, as a model
/// binary's `train` does. `programName` starts the messages. Returns the
/// process exit status: 0, or 1 after an error was printed.
int trainModel(const void *descriptor, const TrainOptions &options, const std::string &programName);

} // namespace kiln_binary

#endif // KILN_RUNTIME_MODEL_MODELCOMMANDS_H
