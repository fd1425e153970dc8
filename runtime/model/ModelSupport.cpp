//===- ModelSupport.cpp - Shared pieces of the standalone model binary ----===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Errors, metadata helpers, parameter loading and input reading shared by
// the model binary's commands (ModelMain.cpp: info and predict;
// ModelTraining.cpp: train and eval). See ModelBinary.h.
//
//===----------------------------------------------------------------------===//

#include "ModelBinary.h"

#include <cmath>
#include <cstdio>
#include <cstring>

namespace kiln_binary {
std::string programName = "model";

[[noreturn]] void fail(const std::string &message) { throw Failure(message); }

json modelMetadata(const ModelDescriptor &descriptor) {
  json metadata = json::parse(descriptor.json, nullptr, /*allow_exceptions=*/false);
  if (metadata.is_discarded())
    fail("internal error: the model's metadata is not valid JSON");
  return metadata;
}

int reportFailures(const std::function<int()> &command) {
  try {
    return command();
  } catch (const Failure &failure) {
    std::fprintf(stderr, "%s: error: %s\n", programName.c_str(), failure.what());
    return 1;
  }
}

void check(kiln_status_t status) {
  if (!status)
    return;
  std::string message = kiln_status_message(status);
  kiln_status_free(status);
  fail(message);
}

std::vector<int64_t> shapeOf(const json &tensor) { return tensor.at("shape").get<std::vector<int64_t>>(); }

kiln_dtype_t dtypeOf(const json &tensor) {
  return tensor.at("dtype").get<std::string>() == "f32" ? KILN_F32 : KILN_I32;
}

std::string formatTensorType(const json &tensor) {
  std::string type = tensor.at("dtype").get<std::string>();
  std::vector<int64_t> shape = shapeOf(tensor);
  return shape.empty() ? type : type + formatShape(shape);
}

/// The model's parameters: from a safetensors file, or seeded initializers.
std::vector<TensorPtr> loadParams(const json &model, const std::string &weights, uint64_t seed) {
  kiln_checkpoint_t *checkpoint = nullptr;
  if (!weights.empty())
    check(kiln_checkpoint_load(weights.c_str(), &checkpoint));
  std::vector<TensorPtr> params;
  for (const json &param : model.at("params")) {
    std::vector<int64_t> shape = shapeOf(param);
    std::string name = param.at("name").get<std::string>();
    kiln_tensor_t *tensor = nullptr;
    check(kiln_tensor_create(KILN_F32, int32_t(shape.size()), shape.data(), &tensor));
    params.emplace_back(tensor);
    if (checkpoint) {
      if (kiln_status_t status = readCheckpointParam(checkpoint, weights, name, tensor)) {
        kiln_checkpoint_free(checkpoint);
        check(status);
      }
    } else {
      check(kiln_init_param(tensor, initKind(param.at("init").get<std::string>()), param.value("value", 0.0), seed,
                            name.c_str()));
    }
  }
  kiln_checkpoint_free(checkpoint);
  if (runsOnGpu(model))
    for (const TensorPtr &param : params)
      check(kiln_tensor_to_device(param.get()));
  return params;
}

bool runsOnGpu(const json &model) { return model.value("device", std::string("cpu")) == "cuda"; }

void requireDevice(const json &model) {
  if (!runsOnGpu(model))
    return;
  if (kiln_status_t status = kiln_cuda_init()) {
    std::string message = kiln_status_message(status);
    kiln_status_free(status);
    fail("this binary was compiled for an NVIDIA GPU (kilnc --target=cuda), but there is " + message);
  }
}

void invokeModel(const json &model, kiln_packed_fn_t fn, const std::vector<kiln_tensor_t *> &args,
                 const std::vector<kiln_dtype_t> &dtypes, const std::vector<int32_t> &ranks,
                 std::vector<kiln_tensor_t *> &results) {
  results.assign(dtypes.size(), nullptr);
  if (runsOnGpu(model)) {
    check(
        kiln_invoke_device(fn, args.size(), args.data(), results.size(), dtypes.data(), ranks.data(), results.data()));
    return;
  }
  std::vector<const kiln_tensor_t *> constArgs(args.begin(), args.end());
  check(
      kiln_invoke(fn, constArgs.size(), constArgs.data(), results.size(), dtypes.data(), ranks.data(), results.data()));
}

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Reads one input file and converts it to what the model input expects:
/// dtype `f32` or `i32`, [n, per-example shape].
TensorPtr readInput(const std::string &path, const json &input, const std::vector<std::string> &columns) {
  kiln_tensor_t *raw = nullptr;
  if (endsWith(path, ".npy")) {
    check(kiln_read_npy(path.c_str(), &raw));
  } else if (endsWith(path, ".csv")) {
    if (columns.empty())
      fail(path + ": a CSV input needs --columns naming, in order, the columns that form input '" +
           input.at("name").get<std::string>() + "'");
    std::vector<const char *> names;
    for (const std::string &column : columns)
      names.push_back(column.c_str());
    check(kiln_read_csv(path.c_str(), names.data(), names.size(), &raw));
  } else {
    check(kiln_read_idx(path.c_str(), &raw));
  }
  return convertInput(TensorPtr(raw), path, input);
}

namespace {
/// `shape` without its trailing 1s: [N, 28, 28, 1] and [N, 28, 28] match.
std::vector<int64_t> withoutTrailingOnes(std::vector<int64_t> shape) {
  while (shape.size() > 1 && shape.back() == 1)
    shape.pop_back();
  return shape;
}

/// "example 3" or "example 3 (value 17 of it)", for messages.
std::string whereInFile(int64_t index, int64_t perExample) {
  std::string text = "example " + std::to_string(index / perExample);
  if (perExample > 1)
    text += " (value " + std::to_string(index % perExample) + " of it)";
  return text;
}
} // namespace

TensorPtr convertInput(TensorPtr file, const std::string &path, const json &input) {
  kiln_tensor_t *raw = file.get();
  std::vector<int64_t> want = shapeOf(input);
  std::string name = input.at("name").get<std::string>();
  int64_t perExample = 1;
  for (size_t d = 1; d < want.size(); ++d)
    perExample *= want[d];
  int32_t rank = kiln_tensor_rank(raw);
  const int64_t *shape = kiln_tensor_shape(raw);
  int64_t count = rank ? shape[0] : 1;
  // The per-example shape must be the input's, up to trailing 1s (IDX
  // images are [N, 28, 28] for an input [N, 28, 28, 1]; a CSV label column
  // is [N, 1] for [N]). Matching counts are not enough: a channel-first
  // [N, 1, 28, 28] array from PyTorch has the same count and other meaning.
  std::vector<int64_t> got(shape, shape + rank);
  std::vector<int64_t> gotExample(got.begin() + (rank ? 1 : 0), got.end());
  std::vector<int64_t> wantExample(want.begin() + 1, want.end());
  gotExample.insert(gotExample.begin(), 0);
  wantExample.insert(wantExample.begin(), 0);
  if (rank == 0 || withoutTrailingOnes(gotExample) != withoutTrailingOnes(wantExample))
    fail(path + ": has shape " + formatShape(got) + ", but input '" + name + "' needs " + formatTensorType(input) +
         " (the same shape per example, up to trailing 1s)");
  want[0] = count;
  bool wantF32 = dtypeOf(input) == KILN_F32;
  kiln_tensor_t *converted = nullptr;
  check(kiln_tensor_create(wantF32 ? KILN_F32 : KILN_I32, int32_t(want.size()), want.data(), &converted));
  TensorPtr result(converted);
  int64_t total = kiln_tensor_num_elements(raw);
  const void *src = kiln_tensor_const_data(raw);
  kiln_dtype_t dtype = kiln_tensor_dtype(raw);
  if (wantF32) {
    float *dst = static_cast<float *>(kiln_tensor_data(converted));
    for (int64_t i = 0; i < total; ++i) {
      switch (dtype) {
      case KILN_F32:
        dst[i] = static_cast<const float *>(src)[i];
        break;
      case KILN_F64:
        dst[i] = float(static_cast<const double *>(src)[i]);
        break;
      case KILN_U8:
        dst[i] = float(static_cast<const uint8_t *>(src)[i]) / 255.0f;
        break;
      case KILN_I32:
        dst[i] = float(static_cast<const int32_t *>(src)[i]);
        break;
      case KILN_I64:
        dst[i] = float(static_cast<const int64_t *>(src)[i]);
        break;
      default:
        fail(path + ": unsupported element type for input '" + name + "'");
      }
      // A NaN in the data would surface only as "the loss became NaN".
      if (!std::isfinite(dst[i]))
        fail(path + ": " + whereInFile(i, perExample) + " is " +
             (std::isnan(dst[i]) ? "NaN" : "infinite or beyond f32") + "; input '" + name +
             "' takes finite numbers only");
    }
  } else {
    int32_t *dst = static_cast<int32_t *>(kiln_tensor_data(converted));
    for (int64_t i = 0; i < total; ++i) {
      // Integers convert only when exact: an int64 label 2^33 + 2 must not
      // train as class 2, nor a float label 2.5 as class 2.
      double value;
      switch (dtype) {
      case KILN_I32:
        value = static_cast<const int32_t *>(src)[i];
        break;
      case KILN_U8:
        value = static_cast<const uint8_t *>(src)[i];
        break;
      case KILN_I64:
        value = double(static_cast<const int64_t *>(src)[i]);
        break;
      case KILN_F32:
        value = static_cast<const float *>(src)[i];
        break;
      case KILN_F64:
        value = static_cast<const double *>(src)[i];
        break;
      default:
        fail(path + ": input '" + name + "' holds integer labels (i32), but the file has " + kiln_dtype_name(dtype) +
             " values");
      }
      if (!(value >= -2147483648.0 && value <= 2147483647.0) || value != std::trunc(value) ||
          (dtype == KILN_I64 && static_cast<const int64_t *>(src)[i] != int64_t(value)))
        fail(path + ": " + whereInFile(i, perExample) + " is " +
             (dtype == KILN_I64 ? std::to_string(static_cast<const int64_t *>(src)[i]) : std::to_string(value)) +
             ", but input '" + name + "' takes whole numbers that fit in i32");
      dst[i] = int32_t(value);
    }
  }
  return result;
}

/// Rows [begin, end) of `tensor` as a new tensor.
TensorPtr sliceRows(const kiln_tensor_t *tensor, int64_t begin, int64_t end) {
  std::vector<int64_t> shape(kiln_tensor_shape(tensor), kiln_tensor_shape(tensor) + kiln_tensor_rank(tensor));
  size_t rowBytes = kiln_tensor_byte_size(tensor) / size_t(shape[0]);
  shape[0] = end - begin;
  kiln_tensor_t *slice = nullptr;
  check(kiln_tensor_create(kiln_tensor_dtype(tensor), int32_t(shape.size()), shape.data(), &slice));
  std::memcpy(kiln_tensor_data(slice), static_cast<const char *>(kiln_tensor_const_data(tensor)) + begin * rowBytes,
              size_t(end - begin) * rowBytes);
  return TensorPtr(slice);
}

TensorPtr scalarTensor(float value) {
  kiln_tensor_t *tensor = nullptr;
  check(kiln_tensor_create(KILN_F32, 0, nullptr, &tensor));
  *static_cast<float *>(kiln_tensor_data(tensor)) = value;
  return TensorPtr(tensor);
}

TensorPtr dropoutSeedTensor(const json &model, uint64_t seed) {
  if (!model.contains("train_step") || !model["train_step"].value("seeded", false))
    return nullptr;
  kiln_tensor_t *tensor = nullptr;
  check(kiln_tensor_create(KILN_I32, 0, nullptr, &tensor));
  *static_cast<int32_t *>(kiln_tensor_data(tensor)) = dropoutSeed(seed);
  return TensorPtr(tensor);
}

std::vector<TensorPtr> initialOptimizerState(const json &model) {
  std::vector<TensorPtr> state;
  for (const json &slot : model.at("train_step").at("state")) {
    std::vector<int64_t> shape = shapeOf(slot);
    kiln_tensor_t *tensor = nullptr;
    check(kiln_tensor_create(KILN_F32, int32_t(shape.size()), shape.data(), &tensor));
    state.emplace_back(tensor);
    check(kiln_init_param(tensor, KILN_INIT_CONSTANT, slot.at("init").get<double>(), 0, "state"));
  }
  return state;
}

double modelLearningRate(const json &model) { return model.at("optimizer").at("hyperparameters").value("lr", 0.001); }

} // namespace kiln_binary
