//===- Passes.td - Kiln pass declarations -----------------*- tablegen -*-===//
//
// Every Kiln pass is declared here, prefixed `kiln-`, with its options and
// dependent dialects; each is implemented with GEN_PASS_DEF_<NAME> and
// `impl::<Name>Base`, registered by the generated registerKilnPasses()
// (called from registerKilnPassesAndPipelines in Pipelines.cpp), and has a
// lit test named after its flag under test/passes/.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_TD
#define KILN_PASSES_TD

include "mlir/Pass/PassBase.td"

def KilnTrainingMode : Pass<"kiln-training-mode", "::mlir::ModuleOp"> {
  let summary = "Add <Model>_loss_training, the loss as the training step computes it";
  let description = [{
    For every model whose `<Model>_loss` has a `kiln.dropout` or a
    `kiln.batch_norm`, adds `<Model>_loss_training`: a copy in which

    - every dropout takes the key `(seed, step)`, two new trailing
      arguments tagged `kiln.hyper = "seed"` and `kiln.hyper = "step"`;
    - every batch_norm normalises with the batch's mean and (biased)
      variance over every axis but the last, and the new moving statistics,
      `momentum * moving + (1 - momentum) * batch`, are appended to the
      results, each tagged `kiln.assign = @<moving parameter>`.

    kiln-autodiff differentiates it into `<Model>_grad_training` (the
    gradient train_step and data-parallel training compute) and then erases
    it. `<Model>_loss` and `<Model>_grad` keep the inference form, which
    `eval` and gradcheck use.
  }];
  let dependentDialects = ["::kiln::KilnDialect"];
}

def KilnAutodiff : Pass<"kiln-autodiff", "::mlir::ModuleOp"> {
  let summary = "Generate <Model>_grad, the reverse-mode gradient of <Model>_loss";
  let description = [{
    For every model module (`kiln.model`) with a `<Model>_loss` function,
    adds `<Model>_grad`: the same arguments; results the loss, then the
    metrics, then one cotangent per trainable parameter (the parameter's
    type, in parameter order, tagged `{kiln.grad = @param}`; a
    `non_trainable` parameter is a constant to it). Likewise
    `<Model>_loss_training` (kiln-training-mode) becomes
    `<Model>_grad_training`, and the training loss, which has no other use,
    is erased. It is the loss function
    followed by its reverse sweep, built from each op's
    `DifferentiableOpInterface` rule (the pass names no op):

    1. activity analysis: an op is active if it depends on a parameter and
       the loss depends on it; non-differentiable ops (`NonDifferentiable`:
       comparisons, argmax, argmin, stop_gradient, constants) and non-float
       operands stop it;
    2. the loss is seeded with a rank-0 1.0 and the block is walked in
       reverse; each active op's rule turns its result cotangents into
       operand cotangents; a value used more than once gets its
       contributions added (one `kiln.add` per extra use);
    3. parameters the loss does not reach get zeros; dead ops are erased.

    An active op without a rule is an error at its location (a .kiln
    line). Every backward op carries the location of the forward op it
    differentiates. The forward values the backward needs are SSA values
    of the same function (no tape).

    Before:
    ```mlir
    func.func @M_loss(%w: tensor<3xf32> {kiln.param = @w}, %x: tensor<?x3xf32> {kiln.input = "x"})
        -> (tensor<f32> {kiln.output = "loss"}) {
      %0 = kiln.mul %x, %w : tensor<?x3xf32>, tensor<3xf32> -> tensor<?x3xf32>
      %1 = kiln.reduce_sum %0 : tensor<?x3xf32> -> tensor<f32>
      return %1 : tensor<f32>
    }
    ```
    After (added):
    ```mlir
    func.func @M_grad(%w: tensor<3xf32> {kiln.param = @w}, %x: tensor<?x3xf32> {kiln.input = "x"})
        -> (tensor<f32> {kiln.output = "loss"}, tensor<3xf32> {kiln.grad = @w}) {
      %0 = kiln.mul %x, %w : tensor<?x3xf32>, tensor<3xf32> -> tensor<?x3xf32>
      %1 = kiln.reduce_sum %0 : tensor<?x3xf32> -> tensor<f32>
      %seed = kiln.constant dense<1.000000e+00> : tensor<f32>
      %2 = kiln.broadcast_to %seed like %0 : tensor<f32>, tensor<?x3xf32> -> tensor<?x3xf32>
      %3 = kiln.mul %2, %x : tensor<?x3xf32>, tensor<?x3xf32> -> tensor<?x3xf32>
      %4 = kiln.sum_to %3 : tensor<?x3xf32> -> tensor<3xf32>
      return %1, %4 : tensor<f32>, tensor<3xf32>
    }
    ```
  }];
  let dependentDialects = ["::kiln::KilnDialect"];
}

def KilnLowerToLinalg : Pass<"kiln-lower-to-linalg", "::mlir::ModuleOp"> {
  let summary = "Lower kiln tensor ops to linalg, tensor, arith and math";
  let description = [{
    Rewrites every kiln op inside functions (in every nested model module)
    into ops on tensors of upstream dialects: named linalg ops where they
    exist (`linalg.matmul`/`matvec`/`vecmat`/`dot`,
    `linalg.conv_2d_nhwc_hwcf`, `linalg.pooling_nhwc_max`/`sum`, `linalg.fill`)
    and `linalg.generic` for elementwise ops with NumPy broadcasting,
    reductions, argmax, softmax and the losses. The batch dimension stays
    dynamic: result tensors take their `?` sizes from `tensor.dim` of the
    operand that carries them. `kiln.param` declarations (model metadata)
    are left in place. Inference semantics: `kiln.dropout` becomes the
    identity. The lowering is target-neutral: a convolution's filter
    gradient is one contraction over (kh, kw, c, f | n, y, x), which the
    GPU runs as one implicit GEMM and the CPU pipeline splits per window
    offset (kiln-split-filter-gradients). The patterns are grouped by op
    family, one file and one populate function each (LoweringPatterns.h).

    Before:
    ```mlir
    %0 = kiln.relu %x : tensor<?x64xf32>
    ```
    After:
    ```mlir
    %c0 = arith.constant 0 : index
    %d = tensor.dim %x, %c0 : tensor<?x64xf32>
    %e = tensor.empty(%d) : tensor<?x64xf32>
    %0 = linalg.generic {...} ins(%x : tensor<?x64xf32>) outs(%e : tensor<?x64xf32>) {
      ^bb0(%in: f32, %out: f32):
        %z = arith.constant 0.0 : f32
        %m = arith.maximumf %in, %z : f32
        linalg.yield %m : f32
    } -> tensor<?x64xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def KilnSplitFilterGradients : Pass<"kiln-split-filter-gradients", "::mlir::ModuleOp"> {
  let summary = "Split each convolution filter gradient into per-example contractions per window offset (CPU)";
  let description = [{
    The CPU pipeline's first step (buildLinalgToLLVMPipeline), on linalg on
    tensors as kiln-lower-to-linalg leaves it. That lowering is
    target-neutral and makes a convolution's filter gradient one
    contraction with loops (i, j, c, f | n, y, x) reading the padded input
    at (n, y*sh + i, x*sw + j, c) (the GPU's implicit GEMM). Its input map
    is not a projected permutation, so the CPU's register blocks cannot
    take it; this pass rewrites it as per-example partials computed in one
    `scf.forall` over the batch: for each example n and window offset
    (i, j), a strided slice of the example's padded input and one
    contraction over (c, f | y, x) whose maps are all projected
    permutations (blocked like a matmul by kiln-tile-and-vectorize),
    written to partials[n, i, j]. The partials are then summed over the
    batch, in order, into the op's zeros. Other ops are left alone.

    With one input channel (an image's first convolution), each offset's
    block would be one row of f accumulators (a few dependent FMA chains),
    so per example the offsets' windows are instead copied into planes
    [taps, y, x] and one contraction over (t, f | y, x) makes all taps'
    rows at once, blocked like a matmul; the partials are [N, taps, f], and
    their sum is viewed as [kh, kw, 1, f].

    Why per example: an example's input and output gradient stay in L2
    while every window offset and channel block reads them (160 KB for
    FashionCnn's second convolution). One contraction per offset over the
    whole batch streamed the batch from memory once per (offset, channel
    block), 36 times a step for FashionCnn. The order of the sum over the
    batch depends on nothing but the batch, so the results are the same for
    any number of threads.

    Before:
    ```mlir
    %g = linalg.generic {indexing_maps = [(i, j, c, f, n, y, x) -> (n, y * 2 + i, x * 2 + j, c),
                                          (...) -> (n, y, x, f), (...) -> (i, j, c, f)], ...}
        ins(%padded, %dy : tensor<?x8x8x3xf32>, tensor<?x4x4x4xf32>) outs(%zeros : tensor<2x2x3x4xf32>)
    ```
    After:
    ```mlir
    %p = scf.forall (%n) in (%batch) shared_outs(%o = %empty) -> (tensor<?x2x2x3x4xf32>) {
      %d = tensor.extract_slice %dy[%n, 0, 0, 0] [1, 4, 4, 4] [1, 1, 1, 1] : ... to tensor<4x4x4xf32>
      // for each of the 2 x 2 offsets (i, j):
      %s = tensor.extract_slice %padded[%n, i, j, 0] [1, 4, 4, 3] [1, 2, 2, 1] : ... to tensor<4x4x3xf32>
      %b = linalg.generic {indexing_maps = [(c, f, y, x) -> (y, x, c), (...) -> (y, x, f), (...) -> (c, f)], ...}
          ins(%s, %d : ...) outs(%zeros3x4 : tensor<3x4xf32>)
      scf.forall.in_parallel { tensor.parallel_insert_slice %b into %o[%n, i, j, 0, 0] [1, 1, 1, 3, 4] ... }
    }
    %g = linalg.generic {(n, i, j, c, f) -> (n, i, j, c, f), (...) -> (i, j, c, f); a sum over n}
        ins(%p) outs(%zeros : tensor<2x2x3x4xf32>)
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect"];
}

def KilnSplitInputGradients : Pass<"kiln-split-input-gradients", "::mlir::ModuleOp"> {
  let summary = "Compute each convolution input gradient per example, one contraction per window offset (CPU)";
  let description = [{
    A CPU-pipeline step after kiln-split-filter-gradients, on linalg on
    tensors as kiln-lower-to-linalg leaves it. That lowering makes a
    convolution's input gradient, for every target, a stride-1 convolution
    of the output gradient (dilated by the strides inside a zero frame of
    kh-1 / kw-1) with the flipped filter. This pass recognizes that form
    and computes the same sums as the forward pass spreads them: one
    `scf.forall` over the examples zeroes each example's slice of the
    result and adds into it, for each window offset (i, j), a contraction
    over (y, x, c | f) of the example's output gradient with the filter's
    [f, c] at (i, j) (a slice of the flipped filter), written to the
    strided view at rows y*sh + i and columns x*sw + j. With unit strides,
    offset (0, 0) covers rows [0, H) x columns [0, W) and starts from a fill
    of its own view, which kiln-tile-and-vectorize fuses into its register
    blocks (zeroed accumulators): only the strips beyond are zeroed in
    memory.

    Why: the frame costs a zeroing and a copy per call, and a convolution
    over it multiplies by the frame's zeros (15% of the products for
    FashionCnn's second convolution, 24 x 24 -> 26 x 26). Each example's
    gradient and output gradient stay in L2 while the offsets add into it,
    and its additions run in the same order for any thread count.

    Before:
    ```mlir
    %frame = tensor.insert_slice %dy into %zeros[0, 2, 2, 0] [%n, 24, 24, 32] [1, 1, 1, 1]
    %flipped = linalg.generic {(i, j, f, c) -> (2 - i, 2 - j, c, f), identity} ins(%k) ...
    %dx = linalg.conv_2d_nhwc_hwcf ins(%frame, %flipped) outs(%zeros26 : tensor<?x26x26x32xf32>)
    ```
    After:
    ```mlir
    %dx = scf.forall (%e) in (%n) shared_outs(%o = %empty) -> (tensor<?x26x26x32xf32>) {
      %mine = tensor.extract_slice %o[%e, 0, 0, 0] [1, 26, 26, 32] [1, 1, 1, 1]
      %sum0 = linalg.fill ins(%zero) outs(%mine)
      // for each offset (i, j):
      %view = tensor.extract_slice %sum[i, j, 0] [24, 24, 32] [1, 1, 1]
      %add = linalg.generic {(y, x, c, f) -> (y, x, f), (...) -> (f, c), (...) -> (y, x, c)}
          ins(%dy_e, %tap) outs(%view)   // out + dy * k
      %sum' = tensor.insert_slice %add into %sum[i, j, 0] [24, 24, 32] [1, 1, 1]
      scf.forall.in_parallel { tensor.parallel_insert_slice %sum9 into %o[%e, 0, 0, 0] ... }
    }
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect"];
}

def KilnFuseExampleLoops : Pass<"kiln-fuse-example-loops", "::mlir::func::FuncOp"> {
  let summary = "Make the loops over the examples that read the same slices one loop (CPU)";
  let description = [{
    A CPU-pipeline step after kiln-split-batch-reductions, on the
    per-example `scf.forall` loops of kiln-split-filter-gradients and
    kiln-split-input-gradients (one induction variable from 0 by 1 over the
    batch, every result written by `tensor.parallel_insert_slice`). In a
    function's top-level block:

    1. Two such loops over the same batch size, where the later uses nothing
       the earlier computes, become one loop at the earlier's place (the pure
       ops that compute what the later one uses, such as its `tensor.empty`
       outputs, move above it): the earlier body, then the later body.
    2. A result that each iteration writes as its example's whole slice (at
       (e, 0, ...), of size (1, the rest of the shape)) and whose one use is
       an all-parallel `linalg.generic` of the same type that reads no
       indices and not its init (the relu mask of the layer before: dX * (Y >
       0)) gets that generic inside the loop, applied in place to the
       example's slice; its other inputs are sliced at the example (when
       indexed like the result) or taken whole (when they do not depend on
       the batch dimension).
    3. A later loop over the same batch size that reads a result of the loop
       only as the same example's whole slice (`tensor.extract_slice %r[%e,
       0, ...] [1, ...]`) joins it, and reads the value the iteration has just
       written instead.
    4. A `linalg.generic` that is parallel over the batch (its first loop,
       indexing its result's first dimension), not a contraction, reading
       batch-indexed tensors and small batch-free ones (at most 1024
       elements), joins the loop as a new result computed per example, when
       it reads one of the loop's results (after the loop: the per-example
       partial sums of a bias gradient), or reads what the loop reads and
       what uses it can move below the loop (before the loop: the partial
       sums of the other bias gradient), or the loop reads it only as its
       examples' slices (before the loop: the relu mask of the output
       gradient). Those slices are then the value computed in the iteration.

    Why: each loop streamed an example's slices of the same large tensors
    from memory. For FashionCnn's training step at batch 128 the second
    convolution's input (11 MB) and output gradient (9.4 MB) were read by
    both its filter and its input gradient, and the input gradient was
    written, read back by the first convolution's relu mask, written again
    and read by that convolution's filter gradient and bias gradient. In one
    loop each example's slices come from memory once and then from L2, and
    the masked gradients are never written to memory (their outputs, unused
    after the loop, are dropped by canonicalization). Every element gets the
    same operations in the same order: results do not change.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect", "::mlir::scf::SCFDialect"];
}

def KilnForkOnlyWhenParallel : Pass<"kiln-fork-only-when-parallel", "::mlir::func::FuncOp"> {
  let summary = "Run a one-iteration OpenMP loop on the calling thread, without a fork/join";
  let description = [{
    A CPU-pipeline step right after convert-scf-to-openmp. Each
    `omp.parallel` that conversion makes runs one worksharing loop; this
    pass gives it an `if` clause, "the loop has more than one iteration"
    (the product of its loop nest's trip counts, computed before the
    region), unless it has one already. libomp then runs a loop of one
    iteration (the batch loop, or a dense layer's row chunks, at batch 1)
    on the calling thread instead of waking the thread pool to leave all
    but one thread idle: a fork and a join saved, 2-2.5 us each in a VM,
    10 of them per FashionCnn predict at batch 1. Loops with more
    iterations run as before, so results do not change.

    Before:
    ```mlir
    omp.parallel {
      omp.wsloop { omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) { ... } }
      omp.terminator
    }
    ```
    After:
    ```mlir
    %span = arith.subi %n, %c0 : index
    %count = arith.ceildivsi %span, %c1 : index
    %several = arith.cmpi sgt, %count, %c1_0 : index
    omp.parallel if(%several) { ... }
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::omp::OpenMPDialect"];
}

def KilnFlattenModels : Pass<"kiln-flatten-models", "::mlir::ModuleOp"> {
  let summary = "Move each model's functions to the top-level module for code generation";
  let description = [{
    MLIRGen puts each model in a nested `builtin.module @<Model>` holding its
    `kiln.param` declarations and functions. Code generation wants one flat
    module: this pass moves the functions (already prefixed with the model
    name) to the top level, renames `<Model>_<fn>` to
    `kiln_impl_<Model>_<fn>` (the public name belongs to the generated C
    header's wrapper), marks them `llvm.emit_c_interface` so that C callers
    get `_mlir_ciface_kiln_impl_<Model>_<fn>` entry points taking memref
    descriptors, and erases the nested modules with their parameter
    declarations. A private function (kiln-share-forward's
    `<Model>_forward`) gets `llvm.linkage = #llvm.linkage<internal>` instead
    of a C interface. Drivers read the model metadata (parameter names,
    shapes, initializers; optimizer) before running it.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def KilnCopyToLinalg : Pass<"kiln-copy-to-linalg", "::mlir::func::FuncOp"> {
  let summary = "Rewrite memref.copy as linalg.copy, so copies become loops";
  let description = [{
    Bufferization emits `memref.copy` (e.g. for `tensor.pad` into a strided
    subview), which the LLVM lowering turns into a call to `memrefCopy` from
    MLIR's C runner utilities. Kiln's binaries must not depend on that
    library, so this pass rewrites every copy as `linalg.copy`, which
    `convert-linalg-to-loops` turns into plain loops (vectorized later).

    Before: `memref.copy %a, %b : memref<?x4xf32> to memref<?x4xf32, strided<...>>`
    After:  `linalg.copy ins(%a : ...) outs(%b : ...)`

    With `parallel` (the CPU pipeline), a copy of at least 65536 elements
    (a dynamic batch counted as 8) at the top of a function becomes an
    `scf.parallel` over its outermost dimension with one `linalg.copy` of a
    subview per index, which the pipeline runs on the OpenMP thread pool: a
    training step's padded gradient buffers would otherwise be copied on
    one core while the others wait.
  }];
  let options = [
    Option<"parallel", "parallel", "bool", /*default=*/"false",
           "Run large top-level copies as an scf.parallel over the outermost dimension">
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect"];
}

def KilnWinogradConvolutions : Pass<"kiln-winograd-convolutions", "::mlir::func::FuncOp"> {
  let summary = "3x3 stride-1 convolutions as Winograd F(4x4, 3x3) or F(2x2, 3x3) (CPU)";
  let description = [{
    A `linalg.conv_2d_nhwc_hwcf` with a static 3 x 3 filter, stride and
    dilation 1, at least 16 input and 16 output channels, a static output
    height and width that 4 (or else 2) divides and a zero-filled init
    computes each m x m block of output pixels (m = 4, or 2) from an
    n x n block of input pixels (n = m + 2) with n x n products per channel
    pair instead of 9 m x m (Lavin & Gray, 2015): F(4x4, 3x3) needs 36
    products for 16 pixels, 4x fewer multiplications than the direct
    convolution; F(2x2, 3x3) 16 for 4, 2.25x fewer. It becomes: a filter
    transform (9 slices [C, F] in, n x n out), an input transform (n x n
    strided views of the input, one per pixel of the overlapping blocks,
    in; n x n [1, tiles, tiles, C] out), n x n `linalg.matmul`s
    [tiles, C] x [C, F], and an output transform whose m x m results are
    the pixels (a, b) of every block, written in place into disjoint slices
    of the result viewed as [1, tiles, m, tiles, m, F]. The transforms are
    elementwise generics whose bodies apply the scheme's matrices (additions
    for +-1, an FMA for other coefficients), vectorized over the channels
    by the CPU tiling; the matmuls are tiled like dense layers. Results
    differ from the direct convolution by float32 rounding (F(4,3)'s
    coefficients up to 8 make it ~1e-6 relative instead of ~1e-7).

    The transform and the matmuls run per (image, half of its rows of
    tiles) in one `scf.forall`, so that a piece's transformed tiles stay in
    L2 (83 KB for FashionCnn) and one image still splits over two cores;
    kiln-tile-and-vectorize tiles the ops inside it with `scf.for`. An
    elementwise epilogue that is the convolution's only user (bias +
    activation: a generic that reads the result and other same-shaped
    inputs element for element, and the rest, such as the bias, without
    the batch, row or column) runs in that loop too, on each piece in place
    right after the output transform, instead of in a pass of its own over
    the whole result. The producers of the input (the previous layer's
    bias + activation, a convolution or pooling that does not become
    Winograd itself, their fills), each with no other user, compute each
    piece's rows inside the loop (`scf::tileAndFuseProducerOfSlice`; two
    rows of overlap computed twice) instead of the whole batch before it:
    FashionCnn's first convolution writes 86 KB per image that the second
    one read back from memory, and now writes 46 KB per piece that it reads
    from L1/L2.
    Functions marked `kiln.training` (kiln-flatten-models: `_grad`,
    `train_step`, `apply`) keep the direct convolution: training
    trajectories keep the rounding they were established with, and the
    training functions, which hold three convolutions each, compile no
    slower.

    Before: `linalg.conv_2d_nhwc_hwcf ins(%x, %k : tensor<?x26x26x32xf32>, tensor<3x3x32x32xf32>) outs(%zeros)`
    After:  `linalg.generic` (filter) ; `scf.forall` (image, half) { `linalg.generic` (input) ; 36 x `linalg.matmul` ; `linalg.generic` (output) }
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"];
}

def KilnShareForward : Pass<"kiln-share-forward", "::mlir::ModuleOp"> {
  let summary = "Move the forward pass predict and loss share into one function both call (CPU)";
  let description = [{
    In each model module, the ops that `<Model>_predict` and `<Model>_loss`
    start with in common (equivalent ops on the arguments with the same
    kiln.param or kiln.input attribute: the forward pass up to the logits)
    move into a new private function `<Model>_forward`, which both call; its
    results are the common values either function uses afterwards. The
    pipeline then tiles, vectorizes and lowers the forward pass once instead
    of twice (for FashionCnn, a quarter of kilnc's time). Nothing is shared
    unless the common ops include a contraction or convolution. Runs before
    kiln-flatten-models, which removes the attributes it matches by.

    Before: `func.func @M_predict(%w {kiln.param = @dense.kernel}, %x {kiln.input = "x"}) { %y = linalg.matmul ins(%x, %w) ...; softmax(%y) }`
            and `func.func @M_loss(...)` starting with the same matmul
    After:  `func.func private @M_forward(%w, %x) -> tensor<?x10xf32>` holding the matmul, and both functions
            starting with `%y = call @M_forward(%w, %x)`
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def KilnSplitDenseReductions : Pass<"kiln-split-dense-reductions", "::mlir::func::FuncOp"> {
  let summary = "Split a dense layer's long reduction into two halves that run in parallel (CPU)";
  let description = [{
    A `linalg.matmul` whose rows are dynamic (the batch) and whose static
    reduction is at least 4096 long (a dense layer on a flattened feature
    map) runs in parallel only by chunks of 16 rows: at batch <= 16 one core
    streams all its weights. It becomes an `scf.forall` over (half of the
    reduction, chunk of 64 rows), each task a matmul of its rows by its half
    of the weights into a `[2, N, columns]` tensor of partials, then a sum of
    the two partials, in order, into the original accumulator. The split
    depends on neither the batch nor the thread count: every row gets the
    same value in any batch, on any number of threads.

    Before: `linalg.matmul ins(%x, %w : tensor<?x18432xf32>, tensor<18432x64xf32>) outs(%zeros : tensor<?x64xf32>)`
    After:  `scf.forall (%part, %chunk) in (2, ceildiv(N, 64))` of `linalg.matmul ins(tensor<?x9216xf32>, tensor<9216x64xf32>)`
            into `tensor<2x?x64xf32>`, then `linalg.generic {iterator_types = ["reduction", "parallel", "parallel"]}` into `%zeros`
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
                           "::mlir::scf::SCFDialect", "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect"];
}

def KilnPackTransposedWeights : Pass<"kiln-pack-transposed-weights", "::mlir::func::FuncOp"> {
  let summary = "Multiply by a large transposed weight matrix a transposed panel at a time (CPU)";
  let description = [{
    A dense layer's input gradient, `linalg.matmul` of the output gradient
    `[N, K]` by `linalg.transpose` of a static `[C, K]` weight matrix with C
    at least 4096 (a multiple of 64) and K at most 128, transposed all of W
    and then read its K rows 73 KB apart for every register block. It
    becomes an `scf.forall` over panels of 64 columns: each task transposes
    its 64 contiguous rows of W into a `[K, 64]` panel (in L1) and
    multiplies the whole batch by it into its columns of the accumulator.
    Each element's sum over K is unchanged, for any batch and thread count.

    Before: `linalg.matmul ins(%dy, %wt : tensor<?x64xf32>, tensor<64x18432xf32>)` with `%wt = linalg.transpose ins(%w : tensor<18432x64xf32>)`
    After:  `scf.forall (%p) in (288)` of `linalg.transpose ins(tensor<64x64xf32>)` and
            `linalg.matmul ins(%dy, %panel : tensor<?x64xf32>, tensor<64x64xf32>) outs(tensor<?x64xf32>)`
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
                           "::mlir::scf::SCFDialect", "::mlir::affine::AffineDialect"];
}

def KilnSplitBatchReductions : Pass<"kiln-split-batch-reductions", "::mlir::func::FuncOp"> {
  let summary = "Split a sum over the batch into one register block into per-example partial sums (CPU)";
  let description = [{
    A `linalg.generic` that sums over a dynamic batch loop (dimension 0 of
    an input) into a result of at most 64 elements, with at least 64
    iterations per example in its other reduction loops (a convolution's
    bias gradient; the filter gradient of a one-channel input, per window
    offset), is one register block: the CPU tiling ran it on one core over
    the whole batch. It becomes two ops: the same loops with the batch
    parallel, summing each example into its row of a zero-filled
    `[N, result]` tensor (the tiling then runs the examples on every core),
    and a sum of those rows in batch order, added into the original
    accumulator. The additions' order depends on the batch only, not on the
    thread count.

    Before: `linalg.generic {iterator_types = ["reduction", "reduction", "reduction", "parallel"]} ins(%dy : tensor<?x24x24x32xf32>) outs(%zeros : tensor<32xf32>)`
    After:  the same body with `["parallel", "reduction", "reduction", "parallel"]` into `tensor<?x32xf32>`, then
            `linalg.generic {iterator_types = ["reduction", "parallel"]} ins(%partials : tensor<?x32xf32>) outs(%zeros : tensor<32xf32>)`
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect"];
}

def KilnNormalizeContractions : Pass<"kiln-normalize-contractions", "::mlir::func::FuncOp"> {
  let summary = "Bring the gradients' contractions into shapes the CPU's register blocks fit";
  let description = [{
    The first step of the CPU recipe, on linalg on tensors, before
    kiln-choose-tile-sizes looks at the ops:

    1. A `linalg.matmul` whose A operand is a 2-D `linalg.transpose` and
       whose result is static (a weight gradient: activations^T @ dY)
       becomes a contraction `linalg.generic` reading the untransposed A
       with a transposed map: each reduction step then reads a contiguous
       row of A, and the transpose (a scalar copy) is gone.
    2. A contraction `linalg.generic` whose output has more than two
       dimensions and whose trailing output dimensions run together in every
       operand (the dense input gradient after reshape fusion) is collapsed
       back to 2-D and, where it then is one, rewritten as `linalg.matmul`.

    Then everything is canonicalized.

    Before: `linalg.matmul ins(%xT, %dy : ...)` with `%xT = linalg.transpose ins(%x ...) permutation = [1, 0]`
    After:  `linalg.generic {indexing_maps = [(m, n, k) -> (k, m), (m, n, k) -> (k, n), (m, n, k) -> (m, n)]} ins(%x, %dy ...)`
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def KilnChooseTileSizes : Pass<"kiln-choose-tile-sizes", "::mlir::func::FuncOp"> {
  let summary = "Record the CPU's tile sizes on each linalg op as kiln.tile_sizes";
  let description = [{
    The policy of the CPU recipe: it only adds attributes;
    kiln-tile-and-vectorize (the mechanism) then tiles by them. For each
    tiling unit (an op on tensors, or a contraction, convolution or pooling
    whose only user is an elementwise epilogue, tiled together), the
    compute op gets `kiln.tile_sizes = array<i64: ...>`, one size per loop:

    - parallel loops: the register block, a row segment of up to 8 output
      pixels (14 when the best divisor under 8 is narrow) x 32 channels for
      convolutions and pooling, 4 x 64 or 8 x 32 for matmuls and
      matmul-shaped contraction generics, up to 64 for matvec/vecmat, 1 x
      <=64 (innermost) for other ops;
    - reduction loops, the steps inside the block: convolution windows
      1 x 1 and input channels by up to 4, pooling rows by 1, matmul k by up
      to 8, every reduction of a matmul-shaped generic by 1, generic
      reductions longer than 64 by up to 64 (and by 1 while the block is
      still over 16384 elements); 0 keeps a loop whole.

    Sizes are the largest divisors of static dimensions under those caps;
    dynamic dimensions (the batch `N`) get 1, except a matmul's rows, which
    kiln-tile-and-vectorize peels into full blocks and a remainder. Static
    transposes of more than 1024 elements get cache blocks of up to
    64 x 64 (their innermost input and output dimensions).

    Before: `%m = linalg.matmul ins(%a, %b : tensor<?x256xf32>, tensor<256x64xf32>) outs(%f : tensor<?x64xf32>)`
    After:  the same op with `{kiln.tile_sizes = array<i64: 4, 64, 8>}` (rows, columns, k).
  }];
  let dependentDialects = ["::kiln::KilnDialect"];
}

def KilnTileAndVectorize : Pass<"kiln-tile-and-vectorize", "::mlir::func::FuncOp"> {
  let summary = "Tile linalg ops on tensors into register-sized blocks and vectorize them";
  let description = [{
    The CPU code generation recipe, on tensors, before
    bufferization, tiling by the sizes kiln-choose-tile-sizes recorded
    (`kiln.tile_sizes`; an op without them is not tiled). For every
    contraction (`linalg.matmul`, `matvec`, `vecmat`, `dot`), convolution
    (`linalg.conv_2d_nhwc_hwcf`), pooling (`linalg.pooling_nhwc_max`/`sum`)
    and `linalg.generic`:

    1. Tiles the parallel dimensions into its register block. When the op's
       only user is an elementwise `linalg.generic` (bias + activation), that
       consumer is tiled instead and the op and its `linalg.fill` are fused
       into the tile, so that the epilogue runs on registers. The blocks
       form one `scf.forall` (the CPU pipeline runs it on OpenMP threads),
       except for a matmul with a dynamic row count tiled by more than one
       row, whose row loop is an `scf.for` peeled into full blocks and a
       remainder.
    2. Tiles the reduction dimensions inside the block by their recorded
       steps.
    3. Decomposes the 2-D convolutions and poolings (now with a unit window
       row) into 1-D ones, vectorizes every statically shaped linalg op with
       `linalg::vectorize`, and hoists the accumulators out of the reduction
       loops as loop-carried vectors (on tensors, before bufferization).

    Large transposes are tiled into their recorded cache blocks, one
    `scf.forall` of scalar copies (independent blocks, run on the thread
    pool like the register blocks).

    Tile sizes always divide the static dimensions. Dynamic dimensions (the
    batch `N`) are tiled by 1, except a matmul's rows: that loop is peeled
    into full blocks and a remainder tiled by rows of 1. So every vectorized
    tile has a static shape and nothing needs masking. The attributes are
    removed at the end. Ops that cannot be vectorized (argmax's select-reduction,
    `tensor.extract` in a body, rank 0) are left for the scalar lowering.

    Before:
    ```mlir
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x64xf32>) -> tensor<?x64xf32>
    %m = linalg.matmul ins(%a, %b : tensor<?x256xf32>, tensor<256x64xf32>)
                       outs(%f : tensor<?x64xf32>) -> tensor<?x64xf32>
    ```
    After (sketch):
    ```mlir
    scf.for %i = %c0 to %n step %c1 iter_args(%out = %e) {
      %acc = scf.for %k = %c0 to %c256 step %c8 iter_args(%v = %zeros) {
        %a8 = vector.transfer_read ... : vector<8xf32>
        %b8 = vector.transfer_read ... : vector<8x64xf32>
        %r = vector.contract ... %a8, %b8, %v : ... into vector<64xf32>
        scf.yield %r : vector<64xf32>
      }
      %w = vector.transfer_write %acc, ...
      ...
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def KilnLowerVectors : Pass<"kiln-lower-vectors", "::mlir::func::FuncOp"> {
  let summary = "Lower vectorized tiles (after bufferization) to FMAs and 1-D loads and stores";
  let description = [{
    The second half of the recipe, on memrefs: hoists the remaining
    redundant transfers out of loops, lowers `vector.contract` to outer
    products and those to `vector.fma` (one broadcast and one FMA per
    register), multi-reductions to `vector.reduction`s, then lowers every
    transfer to fully unrolled 1-D loads and stores (in a pattern set of its
    own: partial unrolling put `memref.alloca`s inside loops), then
    transposes and shape casts. Each pattern set runs separately; the
    broadcast lowering is left to `convert-vector-to-llvm` (together with
    canonicalization it never terminates on convolution IR).

    Before: `%r = vector.contract {...} %a, %b, %acc : vector<8xf32>, vector<8x64xf32> into vector<64xf32>`
    After:  eight `vector.broadcast` + `vector.fma` on `vector<64xf32>`.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def KilnOptimizer : Pass<"kiln-optimizer", "::mlir::ModuleOp"> {
  let summary = "Build <Model>_train_step: gradients plus the optimizer update";
  let description = [{
    For every model module with a `kiln.optimizer` attribute and a
    `<Model>_grad` function (made by kiln-autodiff), adds
    `<Model>_train_step(params..., state..., lr, step, [seed,] inputs...)
      -> (loss, metrics..., new params..., new state...)`.
    It calls `<Model>_grad_training` where the model has one (dropout,
    batch_norm: kiln-training-mode), else `<Model>_grad` (inlined later);
    stores the new values of non-trainable parameters it returns
    (`kiln.assign`), and applies Keras's update rule to the trainable ones
    (docs/language.md, Optimizers) per parameter in kiln elementwise ops: sgd (momentum,
    nesterov), adagrad, rmsprop (momentum), adam. `lr` and `step` (the
    1-based step count, for Adam's bias correction) are rank-0 f32
    arguments so that the runtime can change them; every other
    hyper-parameter is a constant from the model. State arguments carry
    `kiln.state = {param = @w, slot = "m", init = 0.0}` (what the runtime
    allocates and checkpoints); each new parameter or state result carries
    `kiln.update = <argument index>`, which kiln-update-in-place turns into
    an in-place write before bufferization.

    Also adds `<Model>_apply(params..., state..., lr, step, grads...)
      -> (new params..., new state...)`: the same update from gradients the
    caller passes (inputs named `grad_<param>`), for data-parallel training,
    which averages the ranks' `_grad` results before applying them.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def KilnUpdateInPlace : Pass<"kiln-update-in-place", "::mlir::ModuleOp"> {
  let summary = "Write results tagged kiln.update into their arguments' buffers";
  let description = [{
    Runs right before one-shot bufferization. Every function result tagged
    `kiln.update = i` is written into argument `i` with
    `bufferization.materialize_in_destination` and dropped from the
    function's results; argument `i` is marked `bufferization.writable`.
    Bufferization then computes the update directly into the caller's
    buffer: parameters and optimizer state are updated in place.

    Before: `func.func @f(%w: tensor<4xf32>) -> (tensor<4xf32> {kiln.update = 0 : i64})`
    After:  `func.func @f(%w: tensor<4xf32> {bufferization.writable = true})`
            with `%r = bufferization.materialize_in_destination %new in %w`.
  }];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect"];
}

def KilnFuseOptimizerUpdates : Pass<"kiln-fuse-optimizer-updates", "::mlir::func::FuncOp"> {
  let summary = "Fuse each parameter's optimizer update into one multi-result loop";
  let description = [{
    In functions that update their arguments (results tagged `kiln.update`:
    `<Model>_train_step` and `<Model>_apply`; only there), fuses elementwise linalg
    ops even when the producer has several uses: Adam's new `m` feeds the
    new weight and is also a result of its own, and plain elementwise fusion
    (which fuses single-use producers) leaves one loop each for `m`, `v` and
    `w`. Fusing a multi-use producer keeps its value as an extra result of
    the fused op, so nothing is computed twice, and each parameter's update
    becomes one loop that reads `w`, `g` and the state once and writes the
    new values: one pass over memory. The loop's inits are the arguments it
    replaces (it reads their old values there), so that one-shot
    bufferization, after kiln-update-in-place, writes the new values into
    the arguments' buffers: no new buffers and no copies back.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}


def KilnMapToGpu : Pass<"kiln-map-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Run every linalg op of the model functions as a GPU kernel";
  let description = [{
    The GPU half of the lowering, on bufferized model functions
    (`kiln_impl_*`; helpers such as the deallocation helper stay on the
    host). After it, host code only allocates, frees, launches and calls:

    1. Contractions whose body is a multiply-add (matmul, matvec,
       convolution, the convolution filter gradient) become shared-memory
       tiled kernels: 64x64 output tiles (128x32 when N <= 32) per block
       of 256 threads, each thread 4x4 outputs in registers, K in steps of
       16 staged through workgroup memory, loads coalesced along the
       operand's innermost dimension. The operands are addressed through the op's indexing
       maps, so a convolution is an implicit GEMM (no im2col buffer). When
       the output has few tiles and K is long (filter gradients), K is split
       across blocks that add their partial sums atomically.
    2. Sums into few outputs (at most 16384, known at compile time, e.g. a
       bias gradient or a scalar mean) are split: thread `s * P + p` adds
       every S-th value of output p's reduction in a register, then
       atomically into the output, with S chosen at run time for about
       270k threads.
    3. Every other linalg op becomes `scf.parallel` loops whose iteration
       space is linearized onto a 1-D grid (256 threads per block), one
       thread per output element, reductions as loops in the thread.
       Elementwise chains are one kernel because fusion ran on tensors.
    4. Whatever still touches memory at the top level runs in a one-thread
       kernel.
    5. Buffers used by kernels, returned or passed to model functions are
       allocated with `gpu.alloc`; all GPU ops of a function are async on
       the one stream `gpu.wait async` gives at its entry (the runtime's
       stream: one synchronization per call, in the runtime).
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::scf::SCFDialect",
                           "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect"];
}


def KilnMergeGpuModules : Pass<"kiln-merge-gpu-modules", "::mlir::ModuleOp"> {
  let summary = "Put every outlined kernel into one gpu.module";
  let description = [{
    `gpu-kernel-outlining` makes one `gpu.module` per kernel; each becomes
    its own binary, compiled by its own ptxas run and loaded by its own
    `cuModuleLoadData`. This pass moves every `gpu.func` into the first
    module (kernel names are already unique) and points each
    `gpu.launch_func` at it: one cubin per model file.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}


def KilnEmulateGpuOnCpu : Pass<"kiln-emulate-gpu-on-cpu", "::mlir::ModuleOp"> {
  let summary = "Run kiln-map-to-gpu's kernels as CPU loops (testing without a GPU)";
  let description = [{
    A test instrument: each `gpu.launch` becomes loops over its blocks and
    threads, so that the GPU lowering (tiling, bounds checks, split-K,
    linearized launches, buffer placement) can be checked numerically by
    the JIT on any machine (`kiln-run --emulate-gpu`, `kilnc train
    --emulate-gpu`). Barriers are supported where kiln-map-to-gpu puts
    them: directly in one top-level loop of the kernel, which then runs
    stretch by stretch for all threads (loop fission; per-thread loop
    state in a buffer). `gpu.alloc`/`gpu.dealloc` become host allocations
    and the stream disappears.
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}


def KilnAddBatchGather : Pass<"kiln-add-batch-gather", "::mlir::ModuleOp"> {
  let summary = "Add <Model>_gather_<input>: rows of a dataset by index";
  let description = [{
    For every data input of `<Model>_loss` (what training and evaluation
    feed), adds `<Model>_gather_<input>(%data, %rows: tensor<?xi32>)`
    returning `data[rows[i], ...]`, tagged `kiln.gather = "<input>"`. GPU
    training keeps each dataset on the device and makes every shuffled
    batch with it there; the model binary finds these functions through
    the model descriptor.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect", "::mlir::func::FuncDialect"];
}

#endif // KILN_PASSES_TD
