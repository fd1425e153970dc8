// RUN: kiln-opt --split-input-file --kiln-emulate-gpu-on-cpu --canonicalize %s | FileCheck %s
//
// kiln-map-to-gpu's kernels as CPU loops (a test instrument: the GPU
// lowering checked numerically without a GPU). kiln-map-to-gpu.mlir runs it
// on that pass's output; here it starts from GPU IR.

// A kernel without barriers: each thread runs to completion in turn, one
// loop over the blocks of the grid and one over the threads of a block;
// gpu.alloc/gpu.dealloc become host allocations and the stream goes.
// CHECK-LABEL: func.func @kiln_impl_M_predict
// CHECK-SAME:    (%[[A:.*]]: memref<?x4xf32>)
// CHECK-NOT:     gpu.
// CHECK:         %[[N:.*]] = memref.dim %[[A]]
// CHECK:         %[[OUT:.*]] = memref.alloc(%[[N]]) : memref<?x4xf32>
// CHECK:         %[[COUNT:.*]] = arith.muli %[[N]], %c4
// CHECK:         %[[BLOCKS:.*]] = arith.ceildivui %[[COUNT]], %c256
// CHECK:         scf.for %[[B:.*]] = %c0 to %[[BLOCKS]] step %c1 {
// CHECK:           scf.for %[[T:.*]] = %c0 to %c256 step %c1 {
// CHECK:             %[[BASE:.*]] = arith.muli %[[B]], %c256
// CHECK:             %[[I:.*]] = arith.addi %[[BASE]], %{{.*}}
// CHECK:             arith.cmpi ult, %[[I]], %[[COUNT]]
// CHECK:             memref.load %[[A]]
// CHECK:             arith.maximumf
// CHECK:             memref.store %{{.*}}, %[[OUT]]
// CHECK:         memref.dealloc %[[OUT]]
// CHECK-NOT:     gpu.
// CHECK:         return %[[OUT]]
func.func @kiln_impl_M_predict(%a: memref<?x4xf32>) -> memref<?x4xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %c256 = arith.constant 256 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  %c0 = arith.constant 0 : index
  %stream = gpu.wait async
  %n = memref.dim %a, %c0 : memref<?x4xf32>
  %out, %t = gpu.alloc async [%stream] (%n) : memref<?x4xf32>
  %count = arith.muli %n, %c4 : index
  %blocks = arith.ceildivui %count, %c256 : index
  %done = gpu.launch async [%stream] blocks(%bx, %by, %bz) in (%gx = %blocks, %gy = %c1, %gz = %c1)
      threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1) {
    %base = arith.muli %bx, %c256 : index
    %i = arith.addi %base, %tx : index
    %inside = arith.cmpi ult, %i, %count : index
    scf.if %inside {
      %col = arith.remui %i, %c4 : index
      %row = arith.divui %i, %c4 : index
      %x = memref.load %a[%row, %col] : memref<?x4xf32>
      %r = arith.maximumf %x, %zero : f32
      memref.store %r, %out[%row, %col] : memref<?x4xf32>
    }
    gpu.terminator
  }
  %d = gpu.dealloc async [%stream] %out : memref<?x4xf32>
  return %out : memref<?x4xf32>
}

// -----

// A kernel with barriers in its top-level loop (as the tiled contraction's
// K loop): per block, the loop runs once, each stretch between barriers for
// all threads before the next; the loop-carried value lives in a per-thread
// buffer (initialized, updated, copied back each step) and the workgroup
// buffer becomes a stack buffer of the block.
// CHECK-LABEL: func.func @kiln_impl_M_shift
// CHECK-NOT:     gpu.
// CHECK:         scf.for %[[B:.*]] = %c0 to %c4 step %c1 {
// CHECK:           %[[TILE:.*]] = memref.alloca() : memref<256xf32>
// CHECK:           %[[ACC:.*]] = memref.alloc() : memref<256xf32>
// CHECK:           %[[NEXT:.*]] = memref.alloc() : memref<256xf32>
// CHECK:           scf.for %[[T0:.*]] = %c0 to %c256 step %c1 {
// CHECK:             memref.store %cst, %[[ACC]][%[[T0]]]
// CHECK:           scf.for %{{.*}} = %c0 to %c4 step %c1 {
// CHECK:             scf.for %{{.*}} = %c0 to %c256 step %c1 {
// CHECK:               memref.load %arg0
// CHECK:               memref.store %{{.*}}, %[[TILE]]
// CHECK:             }
// CHECK:             scf.for %[[T2:.*]] = %c0 to %c256 step %c1 {
// CHECK:               memref.load %[[ACC]][%[[T2]]]
// CHECK:               memref.load %[[TILE]]
// CHECK:               arith.addf
// CHECK:               memref.store %{{.*}}, %[[NEXT]][%[[T2]]]
// CHECK:             }
// CHECK:             scf.for %[[T3:.*]] = %c0 to %c256 step %c1 {
// CHECK:               memref.load %[[NEXT]][%[[T3]]]
// CHECK:               memref.store %{{.*}}, %[[ACC]][%[[T3]]]
// CHECK:           scf.for %[[T4:.*]] = %c0 to %c256 step %c1 {
// CHECK:             memref.load %[[ACC]][%[[T4]]]
// CHECK:             memref.store %{{.*}}, %arg1
// CHECK:           memref.dealloc %[[ACC]]
// CHECK:           memref.dealloc %[[NEXT]]
// CHECK-NOT:     gpu.
func.func @kiln_impl_M_shift(%a: memref<1024xf32>, %out: memref<1024xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c256 = arith.constant 256 : index
  %c255 = arith.constant 255 : index
  %zero = arith.constant 0.000000e+00 : f32
  %stream = gpu.wait async
  %done = gpu.launch async [%stream] blocks(%bx, %by, %bz) in (%gx = %c4, %gy = %c1, %gz = %c1)
      threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1)
      workgroup(%tile : memref<256xf32, #gpu.address_space<workgroup>>) {
    %base = arith.muli %bx, %c256 : index
    %i = arith.addi %base, %tx : index
    %sum = scf.for %step = %c0 to %c4 step %c1 iter_args(%acc = %zero) -> (f32) {
      %x = memref.load %a[%i] : memref<1024xf32>
      memref.store %x, %tile[%tx] : memref<256xf32, #gpu.address_space<workgroup>>
      gpu.barrier
      %next = arith.addi %tx, %c1 : index
      %j = arith.minui %next, %c255 : index
      %y = memref.load %tile[%j] : memref<256xf32, #gpu.address_space<workgroup>>
      %s = arith.addf %acc, %y : f32
      gpu.barrier
      scf.yield %s : f32
    }
    memref.store %sum, %out[%i] : memref<1024xf32>
    gpu.terminator
  }
  return
}
