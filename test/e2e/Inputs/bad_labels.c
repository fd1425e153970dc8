/* End-to-end test program, built with AddressSanitizer: calls the compiled
 * Tiny_loss and Tiny_train_step (test/e2e/Inputs/tiny_classifier.kiln)
 * through the generated C header with labels outside [0, 3). Such labels
 * used to index the logits unchecked (a segfault for 100000000, a silent
 * out-of-bounds read for -5); now the loss is NaN and nothing is read out of
 * bounds. A valid label still gives the exact cross-entropy, computed here
 * in double precision. */
#include "tiny.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define N 2

int main(void) {
  float *params[TINY_NUM_PARAMS], *state[TINY_NUM_STATE];
  for (int p = 0; p < TINY_NUM_PARAMS; ++p) {
    params[p] = malloc(sizeof(float) * (size_t)TINY_PARAM_SIZES[p]);
    for (int64_t i = 0; i < TINY_PARAM_SIZES[p]; ++i)
      params[p][i] = 0.01f * (float)((i * 37 + p) % 17) - 0.08f;
  }
  /* Adam: two slots (m, v) per parameter, in parameter order. */
  for (int s = 0; s < TINY_NUM_STATE; ++s)
    state[s] = calloc((size_t)TINY_PARAM_SIZES[s / 2], sizeof(float));
  float x[N * 4] = {0.5f, -1.0f, 2.0f, 0.25f, -0.5f, 1.5f, 0.0f, 1.0f};
  const int32_t cases[] = {100000000, -100000, -5, 3, 2147483647, -2147483647 - 1};
  int failures = 0;
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
    int32_t labels[N] = {1, cases[k]};
    float loss = 0, accuracy = 0;
    if (Tiny_loss(N, (const float *const *)params, x, labels, &loss, &accuracy) != 0)
      return 1;
    float trainLoss = 0;
    if (Tiny_train_step(N, params, state, 0.001f, 1.0f, x, labels, &trainLoss, &accuracy) != 0)
      return 1;
    printf("label %d: loss %s, train_step loss %s\n", cases[k], isnan(loss) ? "NaN" : "a number",
           isnan(trainLoss) ? "NaN" : "a number");
    failures += !isnan(loss) || !isnan(trainLoss);
  }
  /* A valid label: the loss is the cross-entropy of the softmax of the logits
   * Tiny_predict's probabilities give (the mean of -log p[label]). */
  int32_t labels[N] = {1, 2};
  float probs[N * 3], loss = 0, accuracy = 0;
  if (Tiny_predict(N, (const float *const *)params, x, probs) != 0 ||
      Tiny_loss(N, (const float *const *)params, x, labels, &loss, &accuracy) != 0)
    return 1;
  double expected = -(log((double)probs[0 * 3 + 1]) + log((double)probs[1 * 3 + 2])) / N;
  printf("valid labels: loss %.6f, expected %.6f %s\n", loss, expected,
         fabs(loss - expected) < 1e-5 * fmax(1.0, fabs(expected)) ? "OK" : "MISMATCH");
  printf("%d out-of-range labels gave a number\n", failures);
  for (int p = 0; p < TINY_NUM_PARAMS; ++p)
    free(params[p]);
  for (int s = 0; s < TINY_NUM_STATE; ++s)
    free(state[s]);
  return 0;
}
