//===- KilnInterfaces.cpp - Differentiation interface ------------*- C++ -*-===//
//
// Instantiates the generated code of `kiln::DifferentiableOpInterface`
// (declared in KilnInterfaces.td). The default methods live in the .td; the
// per-op differentiation rules are added by the autodiff work.
//
//===----------------------------------------------------------------------===//

#include "dialect/KilnInterfaces.h"

#include "dialect/KilnInterfaces.cpp.inc"
