//===- OpenMPRuntime.h - Where compiled code finds libomp -------*- C++ -*-===//
//
// Compiled CPU code runs its parallel loops through LLVM's OpenMP runtime
// (libomp). The build finds it once (KILN_OMP_LIBRARY in the top
// CMakeLists.txt); everything that links, loads or documents it asks here.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_OPENMPRUNTIME_H
#define KILN_CODEGEN_OPENMPRUNTIME_H

#include <string>
#include <vector>

namespace kiln {

/// The shared library's path, for the JIT to load.
const char *ompLibraryPath();

/// The linker arguments of an executable or shared library that calls it:
/// its directory, -lomp, and an rpath so that the output runs without
/// LD_LIBRARY_PATH.
std::vector<std::string> ompLinkArguments();

} // namespace kiln

#endif // KILN_CODEGEN_OPENMPRUNTIME_H
