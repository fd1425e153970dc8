//===- kiln-opt.cpp - The kiln optimizer driver ------------------*- C++ -*-===//
//
// mlir-opt for Kiln: MlirOptMain with the kiln dialect plus every upstream
// dialect, extension and pass registered, so that kiln IR can be parsed,
// verified, printed and transformed from the command line and in lit tests.
//
//===----------------------------------------------------------------------===//

#include "dialect/KilnDialect.h"
#include "passes/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  kiln::registerKilnPassesAndPipelines();

  mlir::DialectRegistry registry;
  registry.insert<kiln::KilnDialect>();
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);

  return mlir::asMainReturnCode(mlir::MlirOptMain(argc, argv, "Kiln optimizer driver\n", registry));
}
