// Folding test: kiln.constant folds to its value, so canonicalization
// deduplicates equal constants and drops dead (Pure) kiln ops, and leaves
// everything else as it was.
// RUN: kiln-opt %s --canonicalize | FileCheck %s

// CHECK-LABEL: func.func @dedup_constants
func.func @dedup_constants() -> tensor<2xf32> {
  // CHECK: %[[C:.*]] = kiln.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
  // CHECK-NOT: kiln.constant
  %a = kiln.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %b = kiln.constant dense<[1.0, 2.0]> : tensor<2xf32>
  // CHECK: %[[S:.*]] = kiln.add %[[C]], %[[C]] : tensor<2xf32>, tensor<2xf32> -> tensor<2xf32>
  %c = kiln.add %a, %b : tensor<2xf32>, tensor<2xf32> -> tensor<2xf32>
  // CHECK-NOT: kiln.exp
  %dead = kiln.exp %c : tensor<2xf32>
  // CHECK: %[[R:.*]] = kiln.relu %[[S]] : tensor<2xf32>
  %d = kiln.relu %c : tensor<2xf32>
  // CHECK: return %[[R]]
  return %d : tensor<2xf32>
}
