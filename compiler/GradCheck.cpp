//===- GradCheck.cpp - Finite-difference check of a model's gradients -----===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// See include/kiln/GradCheck.h. Everything runs through kiln::Jit: `_grad`
// for the analytic gradient, `_loss` for the finite differences. The loss is
// float32, so the step is large-ish and directions are normalized; the
// check catches wrong rules (errors of order 1), not rounding.
//
//===----------------------------------------------------------------------===//

#include "kiln/GradCheck.h"

#include "llvm/Support/Format.h"

#include <algorithm>
#include <cmath>
#include <random>

using namespace kiln;

namespace {
/// Random tensors for every argument of `function` (parameters first).
llvm::Expected<std::vector<Tensor>> randomArguments(const ModelInfo &model, const FunctionInfo &function,
                                                    const GradCheckOptions &options, std::mt19937_64 &rng) {
  std::normal_distribution<float> normal(0.0f, 0.5f);
  std::vector<Tensor> args;
  for (const ParamInfo &param : model.params) {
    // A non-trainable parameter has no gradient to check and may have to
    // keep its meaning (a moving variance stays positive): its initial value.
    if (!param.trainable) {
      auto initial = initialParameter(param, options.seed);
      if (!initial)
        return initial.takeError();
      args.push_back(std::move(*initial));
      continue;
    }
    // Scaled by 1/sqrt(fan-in), as initializers do, so that activations and
    // the float32 loss stay of order 1 and the differences stay accurate.
    int64_t fanIn = 1;
    for (size_t d = 0; d + 1 < param.shape.size(); ++d)
      fanIn *= param.shape[d];
    std::normal_distribution<float> scaled(0.0f, float(1.0 / std::sqrt(double(std::max<int64_t>(fanIn, 1)))));
    Tensor tensor(ElementType::F32, param.shape);
    for (int64_t i = 0; i < tensor.getNumElements(); ++i)
      tensor.f32()[i] = scaled(rng);
    args.push_back(std::move(tensor));
  }
  for (const TensorInfo &input : function.inputs) {
    std::vector<int64_t> shape = input.shape;
    for (int64_t &dim : shape)
      if (dim == kBatchDim)
        dim = options.batch;
    Tensor tensor(input.type, shape);
    int64_t classes = input.classes > 0 ? input.classes : 2;
    std::uniform_int_distribution<int32_t> label(0, int32_t(classes - 1));
    for (int64_t i = 0; i < tensor.getNumElements(); ++i) {
      if (input.type == ElementType::F32)
        tensor.f32()[i] = normal(rng);
      else
        tensor.i32()[i] = label(rng);
    }
    args.push_back(std::move(tensor));
  }
  return args;
}

std::vector<const Tensor *> pointers(const std::vector<Tensor> &tensors) {
  std::vector<const Tensor *> result;
  for (const Tensor &tensor : tensors)
    result.push_back(&tensor);
  return result;
}
} // namespace

llvm::Expected<bool> kiln::checkGradients(const Jit &jit, const GradCheckOptions &options, llvm::raw_ostream &os) {
  std::mt19937_64 rng(options.seed);
  bool allOk = true;
  int checked = 0;
  for (const ModelInfo &model : jit.getModels()) {
    if (!model.loss || !model.grad)
      continue;
    ++checked;
    os << "model " << model.name << ": central differences of the loss, batch " << options.batch << ", "
       << options.directions << " random directions per parameter (median error)\n";
    auto arguments = randomArguments(model, *model.grad, options, rng);
    if (!arguments)
      return arguments.takeError();
    std::vector<Tensor> &args = *arguments;
    auto grads = jit.call(model.name, "grad", pointers(args));
    if (!grads)
      return grads.takeError();
    std::string worstName;
    double worst = -1;
    for (size_t p = 0; p < model.params.size(); ++p) {
      // Each trainable parameter's gradient is the result named after it; a
      // non-trainable one (batch_norm's moving statistics) has none.
      if (!model.params[p].trainable)
        continue;
      auto named = llvm::find_if(
          model.grad->results, [&](const TensorInfo &result) { return result.name == "grad_" + model.params[p].name; });
      if (named == model.grad->results.end())
        return llvm::createStringError("internal error: no gradient result for " + model.params[p].name);
      const Tensor &gradient = (*grads)[size_t(named - model.grad->results.begin())];
      Tensor &param = args[p];
      int64_t count = param.getNumElements();
      std::vector<double> errors;
      for (int d = 0; d < options.directions; ++d) {
        std::vector<float> direction(static_cast<size_t>(count));
        double norm = 0;
        std::normal_distribution<float> normal(0.0f, 1.0f);
        for (float &value : direction) {
          value = normal(rng);
          norm += double(value) * value;
        }
        norm = std::sqrt(norm);
        double analytic = 0;
        for (int64_t i = 0; i < count; ++i) {
          direction[i] = float(direction[i] / norm);
          analytic += double(gradient.f32()[i]) * direction[i];
        }
        std::vector<float> saved(param.f32(), param.f32() + count);
        double losses[2];
        for (int side = 0; side < 2; ++side) {
          double sign = side == 0 ? 1.0 : -1.0;
          for (int64_t i = 0; i < count; ++i)
            param.f32()[i] = float(saved[i] + sign * options.epsilon * direction[i]);
          auto loss = jit.call(model.name, "loss", pointers(args));
          if (!loss)
            return loss.takeError();
          losses[side] = (*loss)[0].f32()[0];
        }
        std::copy(saved.begin(), saved.end(), param.f32());
        double numeric = (losses[0] - losses[1]) / (2 * options.epsilon);
        // The floor keeps float32 rounding of tiny directional derivatives
        // from counting as an error; a wrong rule is off by order 1.
        double error = std::fabs(analytic - numeric) / std::max({std::fabs(analytic), std::fabs(numeric), 1e-2});
        errors.push_back(error);
      }
      // The median over directions: a direction whose step crosses a relu
      // kink gives one outlier; a wrong rule is wrong in every direction.
      std::nth_element(errors.begin(), errors.begin() + errors.size() / 2, errors.end());
      double worstHere = errors[errors.size() / 2];
      bool ok = worstHere <= options.tolerance;
      allOk = allOk && ok;
      os << "  " << (ok ? "ok   " : "FAIL ") << llvm::left_justify(model.params[p].name, 20) << " relative error "
         << llvm::format("%.2e", worstHere) << "\n";
      if (worstHere > worst) {
        worst = worstHere;
        worstName = model.params[p].name;
      }
    }
    if (worst >= 0)
      os << "  worst parameter: " << worstName << " (relative error " << llvm::format("%.2e", worst) << ")\n";
  }
  // Saying "match" about nothing would be a silent wrong result.
  if (checked == 0)
    return llvm::createStringError("no model in the file has a loss, so there is no gradient to check");
  return allOk;
}
