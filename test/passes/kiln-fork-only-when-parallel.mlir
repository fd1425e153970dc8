// RUN: kiln-opt %s --convert-scf-to-openmp --kiln-fork-only-when-parallel | FileCheck %s
//
// Each omp.parallel that convert-scf-to-openmp makes gets an `if` clause:
// its loop nest has more than one iteration (the product of the trip
// counts, computed before the region). libomp runs a loop of one iteration
// on the calling thread, without a fork and a join.

// CHECK-LABEL: func.func @rows
// CHECK-SAME:    (%[[BUF:.*]]: memref<?x64xf32>, %[[N:.*]]: index)
// CHECK-DAG:     %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG:     %[[C16:.*]] = arith.constant 16 : index
// CHECK:         %[[SPAN:.*]] = arith.subi %[[N]], %[[C0]] : index
// CHECK:         %[[COUNT:.*]] = arith.ceildivsi %[[SPAN]], %[[C16]] : index
// CHECK:         %[[ONE:.*]] = arith.constant 1 : index
// CHECK:         %[[SEVERAL:.*]] = arith.cmpi sgt, %[[COUNT]], %[[ONE]] : index
// CHECK:         omp.parallel if(%[[SEVERAL]])
// CHECK:           omp.wsloop
// CHECK:             omp.loop_nest
func.func @rows(%buf: memref<?x64xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %zero = arith.constant 0.0 : f32
  scf.parallel (%i) = (%c0) to (%n) step (%c16) {
    memref.store %zero, %buf[%i, %c0] : memref<?x64xf32>
    scf.reduce
  }
  return
}

// Two loops: the count is the product of both trip counts.
// CHECK-LABEL: func.func @tiles
// CHECK:         %[[ROWS:.*]] = arith.ceildivsi
// CHECK:         %[[COLUMNS:.*]] = arith.ceildivsi
// CHECK:         %[[COUNT:.*]] = arith.muli %[[ROWS]], %[[COLUMNS]] : index
// CHECK:         %[[SEVERAL:.*]] = arith.cmpi sgt, %[[COUNT]]
// CHECK:         omp.parallel if(%[[SEVERAL]])
func.func @tiles(%buf: memref<?x64xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c32 = arith.constant 32 : index
  %c64 = arith.constant 64 : index
  %zero = arith.constant 0.0 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c64) step (%c4, %c32) {
    memref.store %zero, %buf[%i, %j] : memref<?x64xf32>
    scf.reduce
  }
  return
}
