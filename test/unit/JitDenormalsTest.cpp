//===- JitDenormalsTest.cpp - Compiled code flushes subnormals ------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Generated code runs with FTZ and DAZ set (codegen/FlushDenormals.cpp), on
// the calling thread and on libomp's workers, and gives the caller its own
// MXCSR back. Checked against IEEE arithmetic done here: 1e-20 * 1e-20 is
// the subnormal 1e-40 in IEEE and 0 flushed; 1e-39 (subnormal) * 1e20 is
// 1e-19 in IEEE and 0 when denormal inputs read as zero.
//
//===----------------------------------------------------------------------===//

#include "kiln/Jit.h"

#include <gtest/gtest.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>

namespace {

constexpr const char *kScaling = R"kiln(
model Scale {
  input x: f32[N, 4]
  output small = x * 1e-20
  output large = x * 1e20
}
)kiln";

TEST(JitDenormals, FlushedInCompiledCodeAndTheCallersModeKept) {
  // The host runs IEEE arithmetic (no FTZ/DAZ) and must keep it.
  unsigned callers = _mm_getcsr() & ~0x8040u;
  _mm_setcsr(callers);
  volatile float tiny = 1e-20f, subnormal = 1e-39f;
  ASSERT_GT(tiny * tiny, 0.0f) << "the host itself flushes";
  ASSERT_GT(subnormal * 1e20f, 0.0f);

  auto jit = kiln::Jit::compileString(kScaling, "scale.kiln");
  ASSERT_TRUE(bool(jit)) << llvm::toString(jit.takeError());
  // A small batch runs on the calling thread; a large one on the workers.
  for (int64_t rows : {1, 1 << 16}) {
    kiln::Tensor x(kiln::ElementType::F32, {rows, 4});
    for (int64_t i = 0; i < rows * 4; ++i)
      x.f32()[i] = i % 2 ? 1e-20f : 1e-39f;
    const kiln::Tensor *args[] = {&x};
    auto results = (*jit)->call("Scale", "predict", args);
    ASSERT_TRUE(bool(results)) << llvm::toString(results.takeError());
    const kiln::Tensor &small = (*results)[0], &large = (*results)[1];
    for (int64_t i = 0; i < rows * 4; ++i) {
      ASSERT_EQ(small.f32()[i], 0.0f) << "element " << i << " of " << rows << " rows: not flushed to zero";
      ASSERT_EQ(large.f32()[i], i % 2 ? 1.0f : 0.0f) << "element " << i << " of " << rows << " rows";
    }
    // The control bits; the low six are sticky exception flags.
    EXPECT_EQ(_mm_getcsr() & ~0x3Fu, callers & ~0x3Fu) << "the caller's MXCSR modes were not restored";
  }
}

} // namespace
#endif
