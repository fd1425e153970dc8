// RUN: kiln-opt %s --kiln-copy-to-linalg -split-input-file | FileCheck %s

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
