//===- ShapeRulesTest.cpp - Tests of the shared shape rules ---------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// frontend/ShapeRules.h against cases derived by hand from the definitions
// it follows: NumPy's broadcasting rules, numpy.matmul on ranks 1 and 2,
// and PyTorch's Conv2d output size floor((H + 2p - d(k - 1) - 1) / s) + 1.
// Both dynamic conventions are covered: the front end's `N` (-1, symbolic)
// and MLIR's `?` (INT64_MIN, unknown).
//
//===----------------------------------------------------------------------===//

#include "frontend/ShapeRules.h"

#include <gtest/gtest.h>

#include <limits>

using namespace kiln::shape;

namespace {

constexpr int64_t N = -1;                                  // ast::kDynamic
constexpr int64_t Q = std::numeric_limits<int64_t>::min(); // ShapedType::kDynamic
using Shape = std::vector<int64_t>;
constexpr DynamicDims Sym = DynamicDims::Symbolic;
constexpr DynamicDims Unk = DynamicDims::Unknown;

TEST(ShapeRulesTest, BroadcastNumPyExamples) {
  // The examples of the NumPy broadcasting documentation.
  EXPECT_EQ(broadcastShapes({256, 256, 3}, {3}, Sym), Shape({256, 256, 3}));
  EXPECT_EQ(broadcastShapes({8, 1, 6, 1}, {7, 1, 5}, Sym), Shape({8, 7, 6, 5}));
  EXPECT_EQ(broadcastShapes({5, 4}, {1}, Sym), Shape({5, 4}));
  EXPECT_EQ(broadcastShapes({15, 3, 5}, {15, 1, 5}, Sym), Shape({15, 3, 5}));
  EXPECT_EQ(broadcastShapes({15, 3, 5}, {3, 1}, Sym), Shape({15, 3, 5}));
  // Scalars broadcast to anything; the result is symmetric.
  EXPECT_EQ(broadcastShapes({}, {2, 3}, Sym), Shape({2, 3}));
  EXPECT_EQ(broadcastShapes({2, 3}, {}, Sym), Shape({2, 3}));
  EXPECT_EQ(broadcastShapes({}, {}, Sym), Shape({}));
  // "trailing dimensions do not match".
  EXPECT_EQ(broadcastShapes({3}, {4}, Sym), std::nullopt);
  EXPECT_EQ(broadcastShapes({2, 1}, {8, 4, 3}, Sym), std::nullopt);
}

TEST(ShapeRulesTest, BroadcastSymbolicBatch) {
  EXPECT_EQ(broadcastShapes({N, 10}, {10}, Sym), Shape({N, 10}));
  EXPECT_EQ(broadcastShapes({N, 1}, {N, 10}, Sym), Shape({N, 10}));
  EXPECT_EQ(broadcastShapes({1, 10}, {N, 1}, Sym), Shape({N, 10}));
  // `N` is one size: not compatible with a static size other than 1.
  EXPECT_EQ(broadcastShapes({N}, {5}, Sym), std::nullopt);
}

TEST(ShapeRulesTest, BroadcastUnknownDims) {
  // `?` against a static size gives the static size, either way round.
  EXPECT_EQ(broadcastShapes({Q, 10}, {5, 10}, Unk), Shape({5, 10}));
  EXPECT_EQ(broadcastShapes({5, 10}, {Q, 10}, Unk), Shape({5, 10}));
  EXPECT_EQ(broadcastShapes({Q, 10}, {1, 10}, Unk), Shape({Q, 10}));
  EXPECT_EQ(broadcastShapes({Q}, {Q}, Unk), Shape({Q}));
  EXPECT_EQ(broadcastShapes({3}, {4}, Unk), std::nullopt);
  // A declared result may keep `?` where the inferred extent is static.
  EXPECT_TRUE(isBroadcastResult({Q, 10}, {5, 10}, {5, 10}));
  EXPECT_TRUE(isBroadcastResult({Q, 10}, {5, 10}, {Q, 10}));
  EXPECT_FALSE(isBroadcastResult({Q, 10}, {}, {Q, 5}));
  EXPECT_FALSE(isBroadcastResult({4, 10}, {}, {Q, 10}));
  EXPECT_FALSE(isBroadcastResult({10}, {}, {1, 10}));
}

TEST(ShapeRulesTest, BroadcastsTo) {
  EXPECT_TRUE(broadcastsTo({10}, {Q, 10}));
  EXPECT_TRUE(broadcastsTo({1, 10}, {4, 10}));
  EXPECT_TRUE(broadcastsTo({}, {4, 10}));
  EXPECT_FALSE(broadcastsTo({3}, {Q, 10}));
  EXPECT_FALSE(broadcastsTo({2, 4, 10}, {4, 10}));
}

TEST(ShapeRulesTest, Matmul) {
  // numpy.matmul: (m,k)@(k,n) -> (m,n); (m,k)@(k,) -> (m,);
  // (k,)@(k,n) -> (n,); (k,)@(k,) -> ().
  EXPECT_EQ(matmulShape({2, 3}, {3, 4}), Shape({2, 4}));
  EXPECT_EQ(matmulShape({N, 3}, {3}), Shape({N}));
  EXPECT_EQ(matmulShape({3}, {3, 4}), Shape({4}));
  EXPECT_EQ(matmulShape({3}, {3}), Shape({}));
  EXPECT_TRUE(matmulContractionMatches({2, 3}, {3, 4}, Sym));
  EXPECT_FALSE(matmulContractionMatches({2, 3}, {4, 4}, Sym));
  EXPECT_TRUE(matmulContractionMatches({3, N}, {N}, Sym));
  EXPECT_FALSE(matmulContractionMatches({3, N}, {5}, Sym));
  EXPECT_TRUE(matmulContractionMatches({3, Q}, {5}, Unk));
  EXPECT_FALSE(isMatmulRank(0));
  EXPECT_TRUE(isMatmulRank(1));
  EXPECT_TRUE(isMatmulRank(2));
  EXPECT_FALSE(isMatmulRank(3));
}

TEST(ShapeRulesTest, WindowOutputSizePyTorchFormula) {
  // floor((H + 2p - d(k - 1) - 1) / s) + 1.
  EXPECT_EQ(windowOutputSize(28, 3, 1), 26);         // (28 - 2 - 1) / 1 + 1
  EXPECT_EQ(windowOutputSize(28, 3, 1, 1, 1), 28);   // 'same' for k = 3
  EXPECT_EQ(windowOutputSize(7, 3, 2), 3);           // (7 - 3) / 2 + 1
  EXPECT_EQ(windowOutputSize(8, 3, 2), 3);           // floor(5 / 2) + 1
  EXPECT_EQ(windowOutputSize(10, 3, 1, 0, 0, 2), 6); // (10 - 4 - 1) + 1
  EXPECT_EQ(windowOutputSize(5, 2, 3, 1, 1), 2);     // (5 + 2 - 1 - 1) / 3 + 1
  EXPECT_EQ(windowOutputSize(3, 3, 1), 1);           // the window just fits
  EXPECT_EQ(windowOutputSize(2, 3, 1), std::nullopt);
  EXPECT_EQ(windowOutputSize(2, 3, 1, 1, 0), 1); // fits once padded
  EXPECT_EQ(windowOutputSize(N, 3, 1), N);
  EXPECT_EQ(windowOutputSize(Q, 3, 2, 1, 1), Q);
}

TEST(ShapeRulesTest, SamePadding) {
  // TensorFlow: out = ceil(in / s), the odd pixel of padding after.
  EXPECT_EQ(samePadding(28, 3, 1), std::make_pair(int64_t(1), int64_t(1)));
  EXPECT_EQ(samePadding(28, 4, 1), std::make_pair(int64_t(1), int64_t(2)));
  EXPECT_EQ(samePadding(7, 3, 2), std::make_pair(int64_t(1), int64_t(1)));
  EXPECT_EQ(samePadding(6, 1, 4), std::make_pair(int64_t(0), int64_t(0)));
  // With those pads the general formula gives ceil(in / s).
  auto [before, after] = samePadding(9, 4, 2);
  EXPECT_EQ(windowOutputSize(9, 4, 2, before, after), 5);
}

TEST(ShapeRulesTest, Conv2DAndPool2D) {
  EXPECT_EQ(conv2dShape({N, 28, 28, 1}, {3, 3, 1, 32}, {1, 1}, {0, 0, 0, 0}), Shape({N, 26, 26, 32}));
  EXPECT_EQ(conv2dShape({Q, 9, 9, 2}, {3, 3, 2, 4}, {2, 2}, {1, 1, 1, 1}), Shape({Q, 5, 5, 4}));
  // Different kernel and stride per axis: (10-3)/1+1 = 8, (12-5)/3+1 = 3.
  EXPECT_EQ(conv2dShape({2, 10, 12, 3}, {3, 5, 3, 8}, {1, 3}, {0, 0, 0, 0}), Shape({2, 8, 3, 8}));
  EXPECT_EQ(conv2dShape({N, 2, 2, 1}, {3, 3, 1, 1}, {1, 1}, {0, 0, 0, 0}), std::nullopt);
  EXPECT_EQ(pool2dShape({N, 26, 26, 32}, {2, 2}, {2, 2}), Shape({N, 13, 13, 32}));
  EXPECT_EQ(pool2dShape({N, 5, 5, 4}, {2, 2}, {1, 1}), Shape({N, 4, 4, 4}));
  EXPECT_EQ(pool2dShape({N, 1, 1, 4}, {2, 2}, {2, 2}), std::nullopt);
}

TEST(ShapeRulesTest, ReduceShape) {
  EXPECT_EQ(reduceShape({N, 10}, 1), Shape({N}));
  EXPECT_EQ(reduceShape({N, 10}, 0), Shape({10}));
  EXPECT_EQ(reduceShape({N, 10}, std::nullopt), Shape({}));
}

} // namespace
