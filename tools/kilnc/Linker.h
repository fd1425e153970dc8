//===- Linker.h - Linking kilnc's objects, with lld in process ---*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// `kilnc --emit=lib|exe` links the objects it compiled with the system's C
// runtime, libstdc++ and the Kiln runtime archives. Which crt files, search
// paths and system libraries that takes is the C++ compiler driver's
// knowledge, so the driver is asked (`-###`: print the link command, run
// nothing), and the command it prints is run by LLVM's lld inside kilnc.
// Linker.cpp says why.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TOOLS_KILNC_LINKER_H
#define KILN_TOOLS_KILNC_LINKER_H

#include "llvm/ADT/ArrayRef.h"

#include <string>

namespace kiln {

/// Links as `DRIVER arguments...` would, DRIVER being g++ (or clang++ when
/// `needsClang`: the sanitizers' runtimes are clang's). Returns a failure
/// message, or "" once the output is written.
std::string linkWithDriverCommand(llvm::ArrayRef<std::string> arguments, bool needsClang);

} // namespace kiln

#endif // KILN_TOOLS_KILNC_LINKER_H
