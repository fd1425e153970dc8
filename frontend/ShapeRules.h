//===- ShapeRules.h - Shape rules shared by Sema and the dialect -*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The shape rules that both the front end (Sema) and the kiln dialect (its
// verifiers and result-type inference) apply, written once: NumPy
// broadcasting, the matmul result shape, the output size of a convolution or
// pooling window, and axis removal. Plain C++ over `llvm::ArrayRef<int64_t>`
// and header-only, so that the front end stays free of MLIR (it is fuzzed on
// its own) and the dialect needs no extra library.
//
// Dynamic dimensions: any negative extent is dynamic. The front end writes
// its batch dimension `N` as -1 (ast::kDynamic), MLIR writes `?` as
// ShapedType::kDynamic (INT64_MIN); a rule that passes a dynamic extent to
// its result passes the operand's value through unchanged, so each caller
// gets its own sentinel back. The two callers read a dynamic extent
// differently, which `DynamicDims` selects where it matters.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_SHAPERULES_H
#define KILN_FRONTEND_SHAPERULES_H

#include "llvm/ADT/ArrayRef.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

namespace kiln {
namespace shape {

/// Returns true if `extent` stands for a dynamic dimension.
inline bool isDynamic(int64_t extent) { return extent < 0; }

/// What a dynamic extent means.
enum class DynamicDims {
  /// The front end's `N`: one symbolic size, equal to itself only. `N`
  /// broadcasts with 1 (giving `N`) and with `N`, not with a static size.
  Symbolic,
  /// MLIR's `?`: an extent known only at run time. It broadcasts with
  /// anything; against a static size the static size is the result (a
  /// mismatch is left to run time).
  Unknown,
};

/// NumPy broadcasting of one pair of aligned extents, or nullopt if they do
/// not broadcast.
inline std::optional<int64_t> broadcastDim(int64_t a, int64_t b, DynamicDims mode) {
  if (a == b)
    return a;
  if (a == 1)
    return b;
  if (b == 1)
    return a;
  if (mode == DynamicDims::Unknown && (isDynamic(a) || isDynamic(b)))
    return isDynamic(a) ? b : a;
  return std::nullopt;
}

/// NumPy broadcasting of two shapes: aligned on the right, a missing
/// dimension acting as 1. Returns nullopt if some pair does not broadcast.
inline std::optional<std::vector<int64_t>> broadcastShapes(llvm::ArrayRef<int64_t> lhs, llvm::ArrayRef<int64_t> rhs,
                                                           DynamicDims mode) {
  size_t rank = std::max(lhs.size(), rhs.size());
  std::vector<int64_t> result(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Counting from the right; the shorter shape is padded with 1s.
    int64_t l = i < lhs.size() ? lhs[lhs.size() - 1 - i] : 1;
    int64_t r = i < rhs.size() ? rhs[rhs.size() - 1 - i] : 1;
    std::optional<int64_t> dim = broadcastDim(l, r, mode);
    if (!dim)
      return std::nullopt;
    result[rank - 1 - i] = *dim;
  }
  return result;
}

/// Returns true if `result` may be declared as the broadcast of `lhs` and
/// `rhs` under DynamicDims::Unknown: each extent is the inferred one, or
/// dynamic where an operand's aligned extent is dynamic (the inferred
/// static size is then only checked at run time).
inline bool isBroadcastResult(llvm::ArrayRef<int64_t> lhs, llvm::ArrayRef<int64_t> rhs,
                              llvm::ArrayRef<int64_t> result) {
  std::optional<std::vector<int64_t>> expected = broadcastShapes(lhs, rhs, DynamicDims::Unknown);
  if (!expected || expected->size() != result.size())
    return false;
  size_t rank = result.size();
  for (size_t i = 0; i < rank; ++i) {
    size_t fromRight = rank - 1 - i;
    bool operandDynamic = (fromRight < lhs.size() && isDynamic(lhs[lhs.size() - 1 - fromRight])) ||
                          (fromRight < rhs.size() && isDynamic(rhs[rhs.size() - 1 - fromRight]));
    if (result[i] != (*expected)[i] && !(operandDynamic && isDynamic(result[i])))
      return false;
  }
  return true;
}

/// Returns true if `small` broadcasts to `large` under DynamicDims::Unknown
/// (NumPy rules, aligned on the right; the broadcast_to/sum_to pair): each
/// extent of `small` equals the aligned one of `large`, is 1, or one of the
/// two is dynamic.
inline bool broadcastsTo(llvm::ArrayRef<int64_t> small, llvm::ArrayRef<int64_t> large) {
  if (small.size() > large.size())
    return false;
  size_t offset = large.size() - small.size();
  for (size_t j = 0; j < small.size(); ++j) {
    int64_t s = small[j], l = large[j + offset];
    if (s != l && s != 1 && !isDynamic(s) && !isDynamic(l))
      return false;
  }
  return true;
}

/// Returns true if `numpy.matmul` restricted to ranks 1 and 2 accepts
/// operands of these ranks.
inline bool isMatmulRank(size_t rank) { return rank == 1 || rank == 2; }

/// Returns true if the contraction extents (the last of `lhs`, the first of
/// `rhs`; both of rank 1 or 2) agree. Under DynamicDims::Unknown a dynamic
/// extent agrees with anything.
inline bool matmulContractionMatches(llvm::ArrayRef<int64_t> lhs, llvm::ArrayRef<int64_t> rhs, DynamicDims mode) {
  int64_t l = lhs.back(), r = rhs.front();
  if (mode == DynamicDims::Unknown && (isDynamic(l) || isDynamic(r)))
    return true;
  return l == r;
}

/// The result shape of `lhs @ rhs` (ranks 1 or 2, as numpy.matmul):
/// [a,k]@[k,b] -> [a,b]; [a,k]@[k] -> [a]; [k]@[k,b] -> [b]; [k]@[k] -> [].
inline std::vector<int64_t> matmulShape(llvm::ArrayRef<int64_t> lhs, llvm::ArrayRef<int64_t> rhs) {
  std::vector<int64_t> result;
  if (lhs.size() == 2)
    result.push_back(lhs[0]);
  if (rhs.size() == 2)
    result.push_back(rhs[1]);
  return result;
}

/// The output extent of a sliding window (convolution or pooling) along one
/// dimension, as PyTorch's Conv2d documents it:
///   floor((in + padBefore + padAfter - dilation * (window - 1) - 1) / stride) + 1
/// A dynamic `in` gives `in` back (dynamic). Returns nullopt if the (dilated)
/// window does not fit in the padded input. `window`, `stride` and
/// `dilation` must be positive, the pads non-negative.
inline std::optional<int64_t> windowOutputSize(int64_t in, int64_t window, int64_t stride, int64_t padBefore = 0,
                                               int64_t padAfter = 0, int64_t dilation = 1) {
  if (isDynamic(in))
    return in;
  int64_t span = in + padBefore + padAfter - dilation * (window - 1) - 1;
  if (span < 0)
    return std::nullopt;
  return span / stride + 1;
}

/// TensorFlow's `padding="same"` along one dimension of static extent `in`:
/// the output extent is ceil(in / stride), and the total zero padding
/// needed, split with the smaller half before. Returns {before, after}.
inline std::pair<int64_t, int64_t> samePadding(int64_t in, int64_t window, int64_t stride) {
  int64_t out = (in + stride - 1) / stride;
  int64_t total = std::max<int64_t>((out - 1) * stride + window - in, 0);
  return {total / 2, total - total / 2};
}

/// The result shape of a 2-D convolution of an NHWC `input` with an HWCF
/// `filter` ([kh, kw, cin, cout]), `strides` [sh, sw] and zero `pads` [top,
/// bottom, left, right]: [N, outH, outW, cout]. Both shapes must have rank
/// 4. Returns nullopt if the window does not fit in the padded input.
inline std::optional<std::vector<int64_t>> conv2dShape(llvm::ArrayRef<int64_t> input, llvm::ArrayRef<int64_t> filter,
                                                       llvm::ArrayRef<int64_t> strides, llvm::ArrayRef<int64_t> pads) {
  std::optional<int64_t> h = windowOutputSize(input[1], filter[0], strides[0], pads[0], pads[1]);
  std::optional<int64_t> w = windowOutputSize(input[2], filter[1], strides[1], pads[2], pads[3]);
  if (!h || !w)
    return std::nullopt;
  return std::vector<int64_t>{input[0], *h, *w, filter[3]};
}

/// The result shape of a 2-D pooling of an NHWC `input` with `window` [kh,
/// kw], `strides` [sh, sw] and `pads` [top, bottom, left, right] (none if
/// empty): [N, outH, outW, C]. Returns nullopt if the window does not fit.
inline std::optional<std::vector<int64_t>> pool2dShape(llvm::ArrayRef<int64_t> input, llvm::ArrayRef<int64_t> window,
                                                       llvm::ArrayRef<int64_t> strides,
                                                       llvm::ArrayRef<int64_t> pads = {}) {
  int64_t p[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < pads.size() && i < 4; ++i)
    p[i] = pads[i];
  std::optional<int64_t> h = windowOutputSize(input[1], window[0], strides[0], p[0], p[1]);
  std::optional<int64_t> w = windowOutputSize(input[2], window[1], strides[1], p[2], p[3]);
  if (!h || !w)
    return std::nullopt;
  return std::vector<int64_t>{input[0], *h, *w, input[3]};
}

/// `shape` without dimension `axis` (in [0, rank)): the result of reducing
/// along `axis`; without an axis everything is reduced, to rank 0.
inline std::vector<int64_t> reduceShape(llvm::ArrayRef<int64_t> shape, std::optional<int64_t> axis) {
  if (!axis)
    return {};
  std::vector<int64_t> result(shape.begin(), shape.end());
  result.erase(result.begin() + *axis);
  return result;
}

} // namespace shape
} // namespace kiln

#endif // KILN_FRONTEND_SHAPERULES_H
