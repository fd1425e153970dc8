// RUN: kiln-opt %s --kiln-copy-to-linalg -split-input-file | FileCheck %s
// RUN: kiln-opt %s --kiln-copy-to-linalg=parallel=true -split-input-file | FileCheck %s --check-prefix=PAR

// A memref.copy between two buffers of the same type becomes a linalg.copy
// with the source as input and the target as output.

// CHECK-LABEL: func.func @copy
// CHECK-SAME:    (%[[A:.*]]: memref<?x4xf32>, %[[B:.*]]: memref<?x4xf32>)
// CHECK-NOT:     memref.copy
// CHECK:         linalg.copy ins(%[[A]] : memref<?x4xf32>) outs(%[[B]] : memref<?x4xf32>)
// CHECK-NOT:     memref.copy
// CHECK:         return
func.func @copy(%a: memref<?x4xf32>, %b: memref<?x4xf32>) {
  memref.copy %a, %b : memref<?x4xf32> to memref<?x4xf32>
  return
}

// -----

// The copy bufferization emits for a tensor.pad: into a strided subview of
// the padded buffer. The linalg.copy writes through the subview.

// CHECK-LABEL: func.func @copy_into_subview
// CHECK-SAME:    (%[[SRC:.*]]: memref<?x28x28x1xf32>, %[[DST:.*]]: memref<?x30x30x1xf32>)
// CHECK:         %[[VIEW:.*]] = memref.subview %[[DST]][0, 1, 1, 0] [%{{.*}}, 28, 28, 1] [1, 1, 1, 1]
// CHECK-NOT:     memref.copy
// CHECK:         linalg.copy ins(%[[SRC]] : memref<?x28x28x1xf32>) outs(%[[VIEW]] : memref<?x28x28x1xf32, strided<[900, 30, 1, 1], offset: 31>>)
// CHECK-NOT:     memref.copy
func.func @copy_into_subview(%src: memref<?x28x28x1xf32>, %dst: memref<?x30x30x1xf32>) {
  %c0 = arith.constant 0 : index
  %n = memref.dim %src, %c0 : memref<?x28x28x1xf32>
  %view = memref.subview %dst[0, 1, 1, 0] [%n, 28, 28, 1] [1, 1, 1, 1]
      : memref<?x30x30x1xf32> to memref<?x28x28x1xf32, strided<[900, 30, 1, 1], offset: 31>>
  memref.copy %src, %view : memref<?x28x28x1xf32> to memref<?x28x28x1xf32, strided<[900, 30, 1, 1], offset: 31>>
  return
}

// -----

// Every copy of a function is rewritten, including ones nested in loops and
// from a strided source.

// CHECK-LABEL: func.func @copies_in_loop
// CHECK:         scf.for
// CHECK:           %[[ROW:.*]] = memref.subview
// CHECK:           linalg.copy ins(%[[ROW]] : memref<8xf32, strided<[1], offset: ?>>) outs(%{{.*}} : memref<8xf32>)
// CHECK:           linalg.copy ins(%{{.*}} : memref<8xf32>) outs(%{{.*}} : memref<8xf32>)
// CHECK-NOT:     memref.copy
func.func @copies_in_loop(%m: memref<4x8xf32>, %tmp: memref<8xf32>, %out: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %c4 step %c1 {
    %row = memref.subview %m[%i, 0] [1, 8] [1, 1] : memref<4x8xf32> to memref<8xf32, strided<[1], offset: ?>>
    memref.copy %row, %tmp : memref<8xf32, strided<[1], offset: ?>> to memref<8xf32>
    memref.copy %tmp, %out : memref<8xf32> to memref<8xf32>
  }
  return
}

// -----

// With parallel=true (the CPU pipeline), a large copy at the top of a
// function (a training step's padded gradient buffer: 24 x 24 x 32 floats
// per image, the batch dynamic) becomes an scf.parallel over the batch, one
// linalg.copy of a one-image subview per index; without it, one linalg.copy.
// The small copy stays one linalg.copy either way.

// CHECK-LABEL: func.func @large_copy
// CHECK-NOT:     scf.parallel
// CHECK:         linalg.copy ins(%{{.*}} : memref<?x24x24x32xf32>)
// PAR-LABEL:   func.func @large_copy
// PAR-SAME:      (%[[SRC:.*]]: memref<?x24x24x32xf32>, %[[DST:.*]]: memref<?x28x28x32xf32>, %{{.*}}: memref<4x8xf32>, %{{.*}}: memref<4x8xf32>)
// PAR:           memref.subview %[[DST]][0, 2, 2, 0]
// PAR-NEXT:      %[[N:.*]] = memref.dim %[[SRC]], %c0
// PAR-NEXT:      scf.parallel (%[[I:.*]]) = (%c0) to (%[[N]]) step (%c1)
// PAR:             %[[FROM:.*]] = memref.subview %[[SRC]][%[[I]], 0, 0, 0] [1, 24, 24, 32] [1, 1, 1, 1]
// PAR:             %[[TO:.*]] = memref.subview %{{.*}}[%[[I]], 0, 0, 0] [1, 24, 24, 32] [1, 1, 1, 1]
// PAR:             linalg.copy ins(%[[FROM]] : {{.*}}) outs(%[[TO]] : {{.*}})
// PAR:           linalg.copy ins(%{{.*}} : memref<4x8xf32>) outs(%{{.*}} : memref<4x8xf32>)
// PAR-NOT:       memref.copy
func.func @large_copy(%src: memref<?x24x24x32xf32>, %dst: memref<?x28x28x32xf32>, %a: memref<4x8xf32>, %b: memref<4x8xf32>) {
  %c0 = arith.constant 0 : index
  %n = memref.dim %src, %c0 : memref<?x24x24x32xf32>
  %view = memref.subview %dst[0, 2, 2, 0] [%n, 24, 24, 32] [1, 1, 1, 1]
      : memref<?x28x28x32xf32> to memref<?x24x24x32xf32, strided<[25088, 896, 32, 1], offset: 1856>>
  memref.copy %src, %view : memref<?x24x24x32xf32> to memref<?x24x24x32xf32, strided<[25088, 896, 32, 1], offset: 1856>>
  memref.copy %a, %b : memref<4x8xf32> to memref<4x8xf32>
  return
}

// -----

// A large copy inside a loop stays one linalg.copy: the loop around it may
// itself run in parallel.

// PAR-LABEL: func.func @large_copy_in_loop
// PAR:         scf.for
// PAR-NOT:       scf.parallel
// PAR:           linalg.copy
func.func @large_copy_in_loop(%src: memref<512x256xf32>, %dst: memref<512x256xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  scf.for %i = %c0 to %c2 step %c1 {
    memref.copy %src, %dst : memref<512x256xf32> to memref<512x256xf32>
  }
  return
}
