//===- TrainingSessionTest.cpp - Training from host code through the JIT --===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// kiln::TrainingSession against independent references, on the real
// pipeline: a linear regression trained step by step converges to the
// least-squares solution of the normal equations (solved here in double);
// N session steps give bit for bit the weights of the model binaries'
// training loop (kiln_binary::trainModel, what `train` and `kilnc train`
// run) with the same seed, batches and order, and each side resumes from
// the other's checkpoint; save/load restores identical training; setting a
// parameter and predicting with a copied parameter set give the values
// computed here by hand; and every misuse is an error that names it.
//
//===----------------------------------------------------------------------===//

#include "ModelCommands.h"
#include "kiln/Jit.h"
#include "kiln/runtime.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numeric>
#include <string>
#include <unistd.h>

namespace {

using kiln::ElementType;
using kiln::Tensor;

std::unique_ptr<kiln::Jit> compile(const std::string &source) {
  auto jit = kiln::Jit::compileString(source, "test.kiln");
  EXPECT_TRUE(bool(jit)) << llvm::toString(jit.takeError());
  return jit ? std::move(*jit) : nullptr;
}

std::unique_ptr<kiln::Jit> compileExample(const std::string &name) {
  auto jit = kiln::Jit::compileFile(std::string(KILN_EXAMPLES_DIR) + "/" + name);
  EXPECT_TRUE(bool(jit)) << llvm::toString(jit.takeError());
  return jit ? std::move(*jit) : nullptr;
}

std::unique_ptr<kiln::TrainingSession> session(const kiln::Jit &jit, const std::string &model,
                                               const kiln::TrainingOptions &options = {}) {
  auto created = kiln::TrainingSession::create(jit, model, options);
  EXPECT_TRUE(bool(created)) << llvm::toString(created.takeError());
  return created ? std::move(*created) : nullptr;
}

/// The message of an error that must have happened.
template <typename T> std::string errorOf(llvm::Expected<T> result) {
  if (result)
    return "(no error)";
  return llvm::toString(result.takeError());
}
std::string errorOf(llvm::Error error) { return error ? llvm::toString(std::move(error)) : "(no error)"; }

/// Deterministic values in [-1, 1) (a 64-bit LCG).
struct Lcg {
  uint64_t state;
  double next() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return double(state >> 11) * 0x1.0p-52 - 1.0;
  }
};

/// Rows [begin, end) of `order` picked from `tensor`.
Tensor rows(const Tensor &tensor, const std::vector<int64_t> &order, int64_t begin, int64_t end) {
  std::vector<int64_t> shape = tensor.getShape();
  int64_t rowElements = tensor.getNumElements() / shape[0];
  shape[0] = end - begin;
  Tensor out(tensor.getElementType(), shape);
  for (int64_t i = begin; i < end; ++i)
    std::memcpy(static_cast<char *>(out.data()) + (i - begin) * rowElements * 4,
                static_cast<const char *>(tensor.data()) + order[i] * rowElements * 4, size_t(rowElements) * 4);
  return out;
}

/// Solves the square system a x = b (row-major n x n) by Gaussian
/// elimination with partial pivoting, in double.
std::vector<double> solve(std::vector<double> a, std::vector<double> b) {
  size_t n = b.size();
  for (size_t col = 0; col < n; ++col) {
    size_t pivot = col;
    for (size_t r = col + 1; r < n; ++r)
      if (std::fabs(a[r * n + col]) > std::fabs(a[pivot * n + col]))
        pivot = r;
    for (size_t c = 0; c < n; ++c)
      std::swap(a[col * n + c], a[pivot * n + c]);
    std::swap(b[col], b[pivot]);
    for (size_t r = col + 1; r < n; ++r) {
      double factor = a[r * n + col] / a[col * n + col];
      for (size_t c = col; c < n; ++c)
        a[r * n + c] -= factor * a[col * n + c];
      b[r] -= factor * b[col];
    }
  }
  std::vector<double> x(n);
  for (size_t r = n; r-- > 0;) {
    double sum = b[r];
    for (size_t c = r + 1; c < n; ++c)
      sum -= a[r * n + c] * x[c];
    x[r] = sum / a[r * n + r];
  }
  return x;
}

/// A regression set like scikit-learn's make_regression: 200 examples of
/// 10 features, y = x.w + 3 + noise.
void regressionData(Tensor &x, Tensor &y) {
  const int64_t n = 200, d = 10;
  x = Tensor(ElementType::F32, {n, d});
  y = Tensor(ElementType::F32, {n});
  Lcg lcg{42};
  for (int64_t i = 0; i < n * d; ++i)
    x.f32()[i] = float(lcg.next());
  for (int64_t i = 0; i < n; ++i) {
    double target = 3.0 + 0.3 * lcg.next();
    for (int64_t j = 0; j < d; ++j)
      target += double(j - 4) * 0.5 * x.f32()[i * d + j];
    y.f32()[i] = float(target);
  }
}

TEST(TrainingSession, LinearRegressionConvergesToTheLeastSquaresSolution) {
  auto jit = compileExample("linear_regression.kiln");
  ASSERT_TRUE(jit);
  auto trainer = session(*jit, "LinearRegression");
  ASSERT_TRUE(trainer);
  EXPECT_DOUBLE_EQ(trainer->getLearningRate(), 0.1); // the model file's
  Tensor x, y;
  regressionData(x, y);

  // The reference: normal equations [X 1]^T [X 1] beta = [X 1]^T y in double.
  const int64_t n = 200, d = 10;
  std::vector<double> ata((d + 1) * (d + 1), 0.0), aty(d + 1, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t r = 0; r <= d; ++r) {
      double xr = r < d ? x.f32()[i * d + r] : 1.0;
      aty[r] += xr * y.f32()[i];
      for (int64_t c = 0; c <= d; ++c)
        ata[r * (d + 1) + c] += xr * (c < d ? x.f32()[i * d + c] : 1.0);
    }
  }
  std::vector<double> beta = solve(ata, aty);

  // Full-batch gradient descent: the loss falls and the weights reach beta.
  float firstLoss = 0, lastLoss = 0;
  for (int s = 0; s < 1500; ++s) {
    auto result = trainer->step({&x, &y});
    ASSERT_TRUE(bool(result)) << llvm::toString(result.takeError());
    if (s == 0)
      firstLoss = result->loss;
    lastLoss = result->loss;
    ASSERT_EQ(result->metrics.size(), 1u);
    EXPECT_EQ(result->metrics[0].first, "mse");
  }
  EXPECT_EQ(trainer->getStep(), 1500);
  EXPECT_LT(lastLoss, firstLoss / 50);
  auto w = trainer->getParam("w");
  auto b = trainer->getParam("b");
  ASSERT_TRUE(bool(w) && bool(b));
  for (int64_t j = 0; j < d; ++j)
    EXPECT_NEAR(w->f32()[j], beta[j], 1e-4) << "w[" << j << "]";
  EXPECT_NEAR(b->f32()[0], beta[d], 1e-4);
  // The least-squares residual is the minimum: the trained loss matches it.
  double residual = 0;
  for (int64_t i = 0; i < n; ++i) {
    double pred = beta[d];
    for (int64_t j = 0; j < d; ++j)
      pred += beta[j] * x.f32()[i * d + j];
    residual += (pred - y.f32()[i]) * (pred - y.f32()[i]) / n;
  }
  EXPECT_NEAR(lastLoss, residual, 1e-4 * residual);
}

/// A small classifier with everything a session must reproduce: glorot
/// initializers, Adam's state slots, batch_norm's moving statistics (set by
/// the step, no optimizer state) and dropout masks.
const char *const kClassifier = R"(
model Tiny {
  input x: f32[N, 6]
  input label: i32[N]
  logits = x |> dense(8) |> batch_norm(momentum = 0.9) |> relu |> dropout(0.25) |> dense(3)
  loss      cross_entropy(logits, label)
  optimizer adam(lr = 0.01)
  output    probs = softmax(logits)
}
)";

void classifierData(Tensor &x, Tensor &label, int64_t n) {
  x = Tensor(ElementType::F32, {n, 6});
  label = Tensor(ElementType::I32, {n});
  Lcg lcg{7};
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < 6; ++j)
      sum += (x.f32()[i * 6 + j] = float(lcg.next())) * double(j % 3 - 1);
    label.i32()[i] = sum < -0.3 ? 0 : sum < 0.3 ? 1 : 2;
  }
}

/// The binaries' epoch order for `seed` (docs/training.md: a seeded
/// Fisher-Yates over the runtime's SplitMix64, stream "shuffle").
std::vector<std::vector<int64_t>> epochOrders(uint64_t seed, int64_t n, int epochs) {
  uint64_t state = kiln_param_stream_seed(seed, "shuffle");
  std::vector<std::vector<int64_t>> orders;
  for (int e = 0; e < epochs; ++e) {
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    for (int64_t i = n - 1; i > 0; --i)
      std::swap(order[i], order[int64_t(kiln_splitmix64_next(&state) % uint64_t(i + 1))]);
    orders.push_back(order);
  }
  return orders;
}

/// Writes `tensor` as `path` (.npy).
void writeNpy(const std::string &path, const Tensor &tensor) {
  kiln_tensor_t *out = nullptr;
  ASSERT_EQ(kiln_tensor_create(tensor.getElementType() == ElementType::F32 ? KILN_F32 : KILN_I32,
                               int32_t(tensor.getShape().size()), tensor.getShape().data(), &out),
            nullptr);
  std::memcpy(kiln_tensor_data(out), tensor.data(), size_t(tensor.getNumElements()) * 4);
  ASSERT_EQ(kiln_write_npy(path.c_str(), out), nullptr);
  kiln_tensor_free(out);
}

/// Every parameter of `session` equals the same-named tensor of the
/// checkpoint at `path`, bit for bit.
void expectParamsEqualCheckpoint(const kiln::TrainingSession &trainer, const std::string &path) {
  kiln_checkpoint_t *checkpoint = nullptr;
  ASSERT_EQ(kiln_checkpoint_load(path.c_str(), &checkpoint), nullptr);
  for (const kiln::ParamInfo &param : trainer.getModel().params) {
    const kiln_tensor_t *saved = kiln_checkpoint_find(checkpoint, param.name.c_str());
    ASSERT_NE(saved, nullptr) << param.name;
    auto ours = trainer.getParam(param.name);
    ASSERT_TRUE(bool(ours));
    EXPECT_EQ(std::memcmp(kiln_tensor_const_data(saved), ours->data(), size_t(ours->getNumElements()) * 4), 0)
        << "parameter " << param.name << " differs from " << path;
  }
  kiln_checkpoint_free(checkpoint);
}

TEST(TrainingSession, StepsMatchTheModelBinariesTrainingBitForBit) {
  auto jit = compile(kClassifier);
  ASSERT_TRUE(jit);
  const int64_t n = 50, batch = 16;
  const uint64_t seed = 5;
  Tensor x, label;
  classifierData(x, label, n);
  std::string dir = ::testing::TempDir() + "kiln-session-" + std::to_string(getpid());
  ASSERT_EQ(std::system(("mkdir -p " + dir + "/data").c_str()), 0);
  writeNpy(dir + "/data/x.npy", x);
  writeNpy(dir + "/data/label.npy", label);

  // The binaries' loop: 2 epochs of 4 steps, saved.
  kiln_binary::TrainOptions options;
  options.data = dir + "/data";
  options.epochs = 2;
  options.batch = batch;
  options.seed = seed;
  options.quiet = true;
  options.save = dir + "/binary.safetensors";
  ::testing::internal::CaptureStdout();
  int status = kiln_binary::trainModel((*jit).getModelDescriptor("Tiny"), options, "test");
  ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(status, 0);

  // The same batches through a session with the same seed.
  kiln::TrainingOptions sessionOptions;
  sessionOptions.seed = seed;
  auto trainer = session(*jit, "Tiny", sessionOptions);
  ASSERT_TRUE(trainer);
  auto orders = epochOrders(seed, n, 3);
  auto runEpoch = [&](kiln::TrainingSession &s, const std::vector<int64_t> &order) {
    for (int64_t begin = 0; begin < n; begin += batch) {
      Tensor xb = rows(x, order, begin, std::min(n, begin + batch));
      Tensor lb = rows(label, order, begin, std::min(n, begin + batch));
      auto result = s.step({&xb, &lb});
      ASSERT_TRUE(bool(result)) << llvm::toString(result.takeError());
    }
  };
  runEpoch(*trainer, orders[0]);
  runEpoch(*trainer, orders[1]);
  EXPECT_EQ(trainer->getStep(), 8);
  expectParamsEqualCheckpoint(*trainer, options.save);

  // The binary resumes from the session's checkpoint and the session from
  // the binary's: one more epoch each, and all three agree.
  std::string sessionSave = dir + "/session.safetensors";
  ASSERT_FALSE(bool(trainer->save(sessionSave)));
  options.epochs = 1;
  options.resume = sessionSave;
  options.save = dir + "/resumed.safetensors";
  // The binary's third epoch shuffles as its first did (a fresh run).
  ::testing::internal::CaptureStdout();
  status = kiln_binary::trainModel((*jit).getModelDescriptor("Tiny"), options, "test");
  ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(status, 0);
  auto resumed = session(*jit, "Tiny", sessionOptions);
  ASSERT_TRUE(resumed);
  ASSERT_FALSE(bool(resumed->load(dir + "/binary.safetensors")));
  EXPECT_EQ(resumed->getStep(), 8);
  runEpoch(*resumed, orders[0]);
  expectParamsEqualCheckpoint(*resumed, options.save);
  std::system(("rm -rf " + dir).c_str());
}

TEST(TrainingSession, SaveAndLoadRestoreIdenticalTraining) {
  auto jit = compile(kClassifier);
  ASSERT_TRUE(jit);
  Tensor x, label;
  classifierData(x, label, 32);
  auto first = session(*jit, "Tiny");
  ASSERT_TRUE(first);
  for (int s = 0; s < 3; ++s)
    ASSERT_TRUE(bool(first->step({&x, &label})));
  std::string path = ::testing::TempDir() + "kiln-session-roundtrip-" + std::to_string(getpid()) + ".safetensors";
  ASSERT_FALSE(bool(first->save(path)));

  // A session that has trained elsewhere (5 steps: other weights, moments
  // and step count) goes on after load exactly as the first: the Adam
  // moments and the step (which keys the dropout masks and Adam's bias
  // correction) came back too. It has the same seed: the dropout masks'
  // seed is the session's, not the checkpoint's, as `train --resume` takes
  // it from --seed.
  auto second = session(*jit, "Tiny");
  ASSERT_TRUE(second);
  for (int s = 0; s < 5; ++s)
    ASSERT_TRUE(bool(second->step({&x, &label})));
  ASSERT_FALSE(bool(second->load(path)));
  EXPECT_EQ(second->getStep(), 3);
  for (int s = 0; s < 3; ++s) {
    auto a = first->step({&x, &label});
    auto b = second->step({&x, &label});
    ASSERT_TRUE(bool(a) && bool(b));
    EXPECT_EQ(a->loss, b->loss);
  }
  std::vector<Tensor> pa = first->getParams(), pb = second->getParams();
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_EQ(std::memcmp(pa[i].data(), pb[i].data(), size_t(pa[i].getNumElements()) * 4), 0) << i;
  std::remove(path.c_str());
}

TEST(TrainingSession, SetParamAndParameterSetsPredictAsComputedByHand) {
  auto jit = compileExample("linear_regression.kiln");
  ASSERT_TRUE(jit);
  auto trainer = session(*jit, "LinearRegression");
  ASSERT_TRUE(trainer);
  Tensor x, y;
  regressionData(x, y);
  // w = (0, 2, 0, ..., 0), b = 1: pred = 2 x1 + 1.
  Tensor w(ElementType::F32, {10}), b(ElementType::F32, {});
  w.f32()[1] = 2.0f;
  b.f32()[0] = 1.0f;
  ASSERT_FALSE(bool(trainer->setParam("w", w)));
  ASSERT_FALSE(bool(trainer->setParam("b", b)));
  auto pred = trainer->predict({&x});
  ASSERT_TRUE(bool(pred)) << llvm::toString(pred.takeError());
  for (int64_t i = 0; i < 200; ++i)
    EXPECT_FLOAT_EQ((*pred)[0].f32()[i], 2.0f * x.f32()[i * 10 + 1] + 1.0f);

  // A kept copy (a target network) predicts with the old values while the
  // session trains on, and copying it back restores them.
  std::vector<Tensor> target = trainer->getParams();
  ASSERT_TRUE(bool(trainer->step({&x, &y})));
  auto moved = trainer->predict({&x});
  auto kept = trainer->predictWith(target, {&x});
  ASSERT_TRUE(bool(moved) && bool(kept));
  EXPECT_NE((*moved)[0].f32()[0], (*pred)[0].f32()[0]);
  for (int64_t i = 0; i < 200; ++i)
    EXPECT_EQ((*kept)[0].f32()[i], (*pred)[0].f32()[i]);
  ASSERT_FALSE(bool(trainer->setParams(target)));
  auto back = trainer->predict({&x});
  ASSERT_TRUE(bool(back));
  EXPECT_EQ(std::memcmp((*back)[0].data(), (*pred)[0].data(), 200 * 4), 0);
  EXPECT_EQ(trainer->getStep(), 1); // the step count is the session's, not the parameters'
}

TEST(TrainingSession, MisuseIsAnErrorThatNamesIt) {
  auto jit = compileExample("linear_regression.kiln");
  ASSERT_TRUE(jit);
  EXPECT_EQ(errorOf(kiln::TrainingSession::create(*jit, "Nope")),
            "no model named 'Nope' (the module has 'LinearRegression')");
  auto trainer = session(*jit, "LinearRegression");
  ASSERT_TRUE(trainer);
  Tensor x(ElementType::F32, {4, 10}), y(ElementType::F32, {4}), wrong(ElementType::F32, {4, 9});
  EXPECT_EQ(errorOf(trainer->getParam("weights")),
            "model 'LinearRegression' has no parameter 'weights' (its parameters: 'w', 'b')");
  EXPECT_EQ(errorOf(trainer->setParam("w", Tensor(ElementType::F32, {3}))),
            "setParam: parameter 'w' of LinearRegression must be f32[10], got f32[3]");
  Tensor nan(ElementType::F32, {});
  nan.f32()[0] = NAN;
  EXPECT_EQ(errorOf(trainer->setParam("b", nan)),
            "setParam: parameter 'b' of LinearRegression: the value is NaN (value 0); parameters must be finite");
  EXPECT_EQ(errorOf(trainer->step({&x})), "step (train_step) of LinearRegression takes 2 inputs (x, y), got 1");
  EXPECT_NE(errorOf(trainer->step({&wrong, &y})).find("argument 'x' of LinearRegression_train_step must be f32[N, 10]"),
            std::string::npos);
  EXPECT_EQ(errorOf(trainer->predictWith({}, {&x})), "a parameter set of LinearRegression has 2 parameters, got 0");
  EXPECT_EQ(errorOf(trainer->setLearningRate(-1)), "the learning rate must be a positive number, not -1.000000");
  EXPECT_EQ(trainer->getStep(), 0); // nothing above took a step
  EXPECT_NE(errorOf(trainer->load("/nonexistent/w.safetensors")).find("/nonexistent/w.safetensors"), std::string::npos);

  // A checkpoint of another model.
  auto classifier = compile(kClassifier);
  ASSERT_TRUE(classifier);
  auto other = session(*classifier, "Tiny");
  ASSERT_TRUE(other);
  std::string path = ::testing::TempDir() + "kiln-session-other-" + std::to_string(getpid()) + ".safetensors";
  ASSERT_FALSE(bool(other->save(path)));
  EXPECT_EQ(errorOf(trainer->load(path)),
            path + ": this checkpoint was saved by model 'Tiny', not by 'LinearRegression'");
  // Labels outside the classes.
  Tensor cx(ElementType::F32, {2, 6}), labels(ElementType::I32, {2});
  labels.i32()[1] = 3;
  EXPECT_EQ(errorOf(other->step({&cx, &labels})),
            "input 'label' of Tiny: example 1 has label 3, but the model has 3 classes (labels 0 to 2)");
  std::remove(path.c_str());

  // A model with no loss cannot be trained.
  auto scorer = compile("model Scorer {\n  input x: f32[N, 4]\n  param w: f32[4, 2] = glorot_uniform\n"
                        "  output scores = softmax(x @ w)\n}\n");
  ASSERT_TRUE(scorer);
  EXPECT_EQ(errorOf(kiln::TrainingSession::create(*scorer, "Scorer")),
            "model 'Scorer' cannot be trained: it has no loss and optimizer");
}

} // namespace
