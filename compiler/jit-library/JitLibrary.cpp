//===- JitLibrary.cpp - Anchor of the libKilnJit.so shared library --------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// libKilnJit.so is KilnCodegen linked as a whole archive (see
// codegen/CMakeLists.txt); CMake needs at least one source of its own, and
// this one records which Kiln the library is.
//
//===----------------------------------------------------------------------===//

extern "C" const char *kiln_jit_version() { return "kiln 0.1 (MLIR 22)"; }
