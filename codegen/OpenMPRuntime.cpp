//===- OpenMPRuntime.cpp - Where compiled code finds libomp ---------------===//
//
// The paths come from the build (see CMakeLists.txt next to this file).
//
//===----------------------------------------------------------------------===//

#include "OpenMPRuntime.h"

const char *kiln::ompLibraryPath() { return KILN_OMP_LIBRARY; }

std::vector<std::string> kiln::ompLinkArguments() {
  const std::string dir = KILN_OMP_LIBRARY_DIR;
  return {"-L" + dir, "-lomp", "-Wl,-rpath," + dir};
}
