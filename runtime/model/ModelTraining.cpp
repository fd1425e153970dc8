//===- ModelTraining.cpp - `train` and `eval` of the standalone binary ----===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
//   MODEL train --data PATH --epochs E --batch B [--lr X] [--seed S]
//               [--save W.safetensors] [--resume W.safetensors | --weights W.safetensors]
//               [--test-data PATH] [--mpi-timeout S]
//   MODEL eval  --data PATH --weights W.safetensors
//
// Data (docs/artifacts.md): a directory in the Fashion-MNIST layout
// (train-/t10k-images-idx3-ubyte[.gz] and -labels-idx1-ubyte[.gz], feeding
// the model's two training inputs in order, the t10k files being the test
// split); a directory of `<input name>.npy` files; or a CSV file whose
// columns `--columns input=a,b,c` name per input. Everything is checked
// before the first step.
//
// A step is one call of the compiled `<Model>_train_step`, which updates
// parameters and optimizer state in place. Shuffling is a seeded
// Fisher-Yates over SplitMix64, so the same seed gives the same weights.
// Checkpoints (safetensors) hold the parameters under their own names and
// the optimizer state as `optimizer/<param>/<slot>`, with the step count in
// the metadata; they are written atomically after every epoch.
//
// Started by mpirun with several processes, `train` is data-parallel
// (distributed/DataParallel.h, docs/distributed.md): --batch is the global
// batch, each rank computes its shard, and rank 0 alone reads --resume,
// prints, evaluates and saves.
//
//===----------------------------------------------------------------------===//

#include "ModelBinary.h"
#include "distributed/DataParallel.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace kiln_binary {
namespace {

bool isDirectory(const std::string &path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

bool exists(const std::string &path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

/// `dir/name` or `dir/name.gz`, whichever exists ("" if neither).
std::string findIdx(const std::string &dir, const std::string &name) {
  for (const std::string &candidate : {dir + "/" + name, dir + "/" + name + ".gz"})
    if (exists(candidate))
      return candidate;
  return "";
}

/// One split of a data set: a tensor per model input, same example count.
struct Split {
  std::vector<TensorPtr> inputs;
  int64_t count = 0;
};

void finishSplit(Split &split, const std::vector<std::string> &sources) {
  split.count = kiln_tensor_shape(split.inputs[0].get())[0];
  for (size_t i = 1; i < split.inputs.size(); ++i)
    if (kiln_tensor_shape(split.inputs[i].get())[0] != split.count)
      fail(sources[i] + ": has " + std::to_string(kiln_tensor_shape(split.inputs[i].get())[0]) + " examples, but " +
           sources[0] + " has " + std::to_string(split.count));
}

/// Loads `path` for `inputs`. `test` selects the test split of an IDX
/// directory. Returns a split with no inputs when `path` has no such split.
Split loadSplit(const std::string &path, const json &inputs, const std::vector<std::string> &columnSpecs, bool test) {
  Split split;
  std::vector<std::string> sources;
  if (isDirectory(path)) {
    std::string prefix = test ? "t10k" : "train";
    std::string images = findIdx(path, prefix + "-images-idx3-ubyte");
    std::string labels = findIdx(path, prefix + "-labels-idx1-ubyte");
    if (!images.empty() || !labels.empty()) {
      if (inputs.size() != 2)
        fail(path +
             ": an IDX data directory feeds a model with two inputs (images, labels); this model's training "
             "takes " +
             std::to_string(inputs.size()));
      if (images.empty() || labels.empty())
        fail(path + ": has " + (images.empty() ? labels : images) + " but not its " +
             (images.empty() ? "images" : "labels") + " file");
      sources = {images, labels};
    } else {
      if (test)
        return split; // npy directories have no implicit test split
      for (const json &input : inputs) {
        std::string file = path + "/" + input.at("name").get<std::string>() + ".npy";
        if (!exists(file))
          fail(path + ": no " + input.at("name").get<std::string>() + ".npy for input '" +
               input.at("name").get<std::string>() + "' (" + formatTensorType(input) + ")");
        sources.push_back(file);
      }
    }
    for (size_t i = 0; i < inputs.size(); ++i)
      split.inputs.push_back(readInput(sources[i], inputs[i], {}));
  } else if (endsWith(path, ".csv")) {
    if (test)
      return split;
    for (const json &input : inputs) {
      std::string name = input.at("name").get<std::string>();
      std::vector<std::string> columns;
      for (const std::string &spec : columnSpecs) {
        if (spec.rfind(name + "=", 0) != 0)
          continue;
        std::string list = spec.substr(name.size() + 1);
        for (size_t start = 0; start <= list.size();) {
          size_t comma = list.find(',', start);
          columns.push_back(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
          if (comma == std::string::npos)
            break;
          start = comma + 1;
        }
      }
      if (columns.empty())
        fail(path + ": say which CSV columns form input '" + name + "' with --columns " + name + "=col1,col2,...");
      split.inputs.push_back(readInput(path, input, columns));
      sources.push_back(path);
    }
  } else {
    fail(path + ": --data takes a directory (IDX files or <input>.npy files) or a .csv file");
  }
  finishSplit(split, sources);
  if (split.count == 0)
    fail(path + ": has no examples");
  return split;
}

/// Refuses --columns that cannot apply: given for data that is not a CSV
/// file, or naming no input of the model (a typo would otherwise be ignored).
void checkColumnSpecs(const std::string &data, const json &inputs, const std::vector<std::string> &specs) {
  if (specs.empty())
    return;
  if (!endsWith(data, ".csv"))
    fail("--columns applies to CSV data, and " + data + " is not a .csv file");
  std::string names;
  for (const json &input : inputs)
    names += (names.empty() ? "'" : ", '") + input.at("name").get<std::string>() + "'";
  for (const std::string &spec : specs) {
    size_t equals = spec.find('=');
    bool known = false;
    for (const json &input : inputs)
      known |= equals != std::string::npos && spec.compare(0, equals, input.at("name").get<std::string>()) == 0;
    if (!known)
      fail("--columns '" + spec + "' must be input=col1,col2,... for an input of the model (" + names + ")");
  }
}

/// Fails if any value of `tensors` is NaN or infinite: a diverged run must
/// not save (or keep training from) values that are no longer numbers.
void checkFinite(const std::vector<TensorPtr> &tensors, const std::vector<std::string> &names, const std::string &when,
                 const std::string &consequence) {
  for (size_t t = 0; t < tensors.size(); ++t) {
    check(kiln_tensor_to_host(tensors[t].get()));
    if (std::string bad = nonFiniteValues(tensors[t].get()); !bad.empty())
      fail("training diverged: '" + names[t] + "' holds " + bad + " " + when + " (try a smaller --lr); " + consequence);
  }
}

/// Checks, before any data is read, that `path` can take a checkpoint: a
/// training run must not end by failing to save what it computed.
void checkSavePath(const std::string &path) {
  struct stat info;
  if (stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode))
    fail(path + ": --save needs a file name, and this is " +
         (S_ISDIR(info.st_mode) ? "a directory" : "not a regular file"));
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (stat(dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode))
    fail(path + ": cannot save there: the directory " + dir + " does not exist");
  if (access(dir.c_str(), W_OK | X_OK) != 0)
    fail(path + ": cannot save there: the directory " + dir + " is not writable");
}

/// Checks integer label inputs against the number of classes the model
/// declares for them (`"classes"` in the metadata, from cross_entropy).
void checkLabels(const Split &split, const json &inputs, const std::string &path) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].contains("classes"))
      continue;
    int64_t classes = inputs[i]["classes"].get<int64_t>();
    const int32_t *labels = static_cast<const int32_t *>(kiln_tensor_const_data(split.inputs[i].get()));
    int64_t n = kiln_tensor_num_elements(split.inputs[i].get());
    for (int64_t k = 0; k < n; ++k)
      if (labels[k] < 0 || labels[k] >= classes)
        fail(path + ": label " + std::to_string(labels[k]) + " of example " + std::to_string(k) + " is outside [0, " +
             std::to_string(classes) + ") for input '" + inputs[i].at("name").get<std::string>() + "'");
  }
}

/// Rows `order[begin..end)` of `tensor`, gathered into `batch`, which is
/// (re)made only when it does not already have the right shape: a training
/// loop reuses one batch buffer instead of mapping fresh pages every step.
void gatherRows(const kiln_tensor_t *tensor, const std::vector<int64_t> &order, int64_t begin, int64_t end,
                TensorPtr &batch) {
  std::vector<int64_t> shape(kiln_tensor_shape(tensor), kiln_tensor_shape(tensor) + kiln_tensor_rank(tensor));
  size_t rowBytes = kiln_tensor_byte_size(tensor) / size_t(shape[0]);
  shape[0] = end - begin;
  if (!batch || kiln_tensor_dtype(batch.get()) != kiln_tensor_dtype(tensor) ||
      kiln_tensor_shape(batch.get())[0] != shape[0]) {
    kiln_tensor_t *made = nullptr;
    check(kiln_tensor_create(kiln_tensor_dtype(tensor), int32_t(shape.size()), shape.data(), &made));
    batch.reset(made);
  }
  const char *src = static_cast<const char *>(kiln_tensor_const_data(tensor));
  char *dst = static_cast<char *>(kiln_tensor_data(batch.get()));
  for (int64_t i = begin; i < end; ++i)
    std::memcpy(dst + (i - begin) * rowBytes, src + order[i] * rowBytes, rowBytes);
}

TensorPtr gatherRows(const kiln_tensor_t *tensor, const std::vector<int64_t> &order, int64_t begin, int64_t end) {
  TensorPtr batch;
  gatherRows(tensor, order, begin, end, batch);
  return batch;
}

/// Makes the batches of a split: for a GPU model, on the device from the
/// split uploaded once (the model's gather functions); otherwise on the host.
class BatchMaker {
public:
  BatchMaker(const json &model, const ModelDescriptor &descriptor, const json &inputs, Split &split)
      : split_(split), gather_(runsOnGpu(model) ? descriptor.gather : nullptr) {
    // The gather functions follow the loss's inputs: use them only if the
    // split's inputs are those, in that order.
    const json &gathers = model.contains("gather") ? model["gather"] : json::array();
    if (gather_ && gathers.size() != inputs.size())
      gather_ = nullptr;
    for (size_t i = 0; gather_ && i < inputs.size(); ++i)
      if (!endsWith(gathers[i].get<std::string>(), "_gather_" + inputs[i].at("name").get<std::string>()))
        gather_ = nullptr;
    if (gather_)
      for (TensorPtr &input : split.inputs)
        check(kiln_tensor_to_device(input.get()));
  }

  /// Rows order[begin, end) of every input. The tensors belong to the
  /// BatchMaker and are overwritten by the next call (on the host, in place).
  const std::vector<TensorPtr> &batch(const std::vector<int64_t> &order, int64_t begin, int64_t end) {
    std::vector<TensorPtr> &batch = batch_;
    if (!gather_) {
      batch.resize(split_.inputs.size());
      for (size_t i = 0; i < split_.inputs.size(); ++i)
        gatherRows(split_.inputs[i].get(), order, begin, end, batch[i]);
      return batch;
    }
    batch.clear();
    int64_t count = end - begin;
    kiln_tensor_t *rows = nullptr;
    check(kiln_tensor_create(KILN_I32, 1, &count, &rows));
    TensorPtr rowsOwner(rows);
    for (int64_t i = 0; i < count; ++i)
      static_cast<int32_t *>(kiln_tensor_data(rows))[i] = int32_t(order[begin + i]);
    for (size_t i = 0; i < split_.inputs.size(); ++i) {
      kiln_tensor_t *args[2] = {split_.inputs[i].get(), rows};
      kiln_dtype_t dtype = kiln_tensor_dtype(args[0]);
      int32_t rank = kiln_tensor_rank(args[0]);
      kiln_tensor_t *result = nullptr;
      check(kiln_invoke_device_resident(gather_[i], 2, args, 1, &dtype, &rank, &result));
      batch.emplace_back(result);
    }
    return batch;
  }

private:
  Split &split_;
  const kiln_packed_fn_t *gather_;
  std::vector<TensorPtr> batch_;
};

/// Runs `fn` on one batch; returns its scalar results (loss, metrics).
std::vector<double> runBatch(const json &model, kiln_packed_fn_t fn, const std::vector<kiln_tensor_t *> &args,
                             size_t numResults) {
  std::vector<kiln_dtype_t> dtypes(numResults, KILN_F32);
  std::vector<int32_t> ranks(numResults, 0);
  std::vector<kiln_tensor_t *> results;
  invokeModel(model, fn, args, dtypes, ranks, results);
  std::vector<double> values;
  for (kiln_tensor_t *result : results) {
    values.push_back(*static_cast<const float *>(kiln_tensor_const_data(result)));
    kiln_tensor_free(result);
  }
  return values;
}

/// Loss and metrics of `split`, averaged over examples (batch-size weighted).
std::vector<double> evaluate(const json &model, const ModelDescriptor &descriptor, const std::vector<TensorPtr> &params,
                             const Split &split, BatchMaker &batches, int64_t batch) {
  size_t numResults = model["loss"]["results"].size();
  std::vector<double> totals(numResults, 0.0);
  std::vector<int64_t> order(split.count);
  for (int64_t i = 0; i < split.count; ++i)
    order[i] = i;
  for (int64_t begin = 0; begin < split.count; begin += batch) {
    int64_t end = std::min(split.count, begin + batch);
    const std::vector<TensorPtr> &slices = batches.batch(order, begin, end);
    std::vector<kiln_tensor_t *> args;
    for (const TensorPtr &param : params)
      args.push_back(param.get());
    for (const TensorPtr &slice : slices)
      args.push_back(slice.get());
    std::vector<double> values = runBatch(model, descriptor.loss, args, numResults);
    for (size_t r = 0; r < numResults; ++r)
      totals[r] += values[r] * double(end - begin);
  }
  for (double &total : totals)
    total /= double(split.count);
  return totals;
}

std::string formatResults(const json &results, const std::vector<double> &values, const std::string &prefix) {
  std::string text;
  char buffer[64];
  for (size_t r = 0; r < values.size(); ++r) {
    std::snprintf(buffer, sizeof buffer, "%.4f", values[r]);
    text += " - " + prefix + results[r].at("name").get<std::string>() + ": " + buffer;
  }
  return text;
}

std::string stateName(const json &slot) {
  return optimizerStateName(slot.at("param").get<std::string>(), slot.at("slot").get<std::string>());
}

/// Writes the parameters, the optimizer state and, as metadata, the step
/// and `metrics` (the epoch, and train_/test_ loss and metrics, which the
/// server's model card shows; "metrics" lists their names).
void saveCheckpoint(const std::string &path, const json &model, const std::vector<TensorPtr> &params,
                    const std::vector<TensorPtr> &state, int64_t step,
                    const std::vector<std::pair<std::string, std::string>> &metrics) {
  // A GPU model's parameters and state were updated on the device.
  std::vector<NamedTensor> paramEntries, stateEntries;
  const json &paramInfo = model.at("params");
  for (size_t i = 0; i < params.size(); ++i) {
    check(kiln_tensor_to_host(params[i].get()));
    paramEntries.push_back({paramInfo[i].at("name").get<std::string>(), params[i].get()});
  }
  const json &slots = model["train_step"]["state"];
  for (size_t i = 0; i < state.size(); ++i) {
    check(kiln_tensor_to_host(state[i].get()));
    stateEntries.push_back({stateName(slots[i]), state[i].get()});
  }
  check(saveTrainingCheckpoint(path, model.at("name").get<std::string>(), paramEntries, stateEntries, step, metrics));
}
/// `train`; `mpi` is the job when started by mpirun with several ranks.
int trainOn(const json &model, const ModelDescriptor &descriptor, const TrainOptions &options,
            kiln_distributed::Mpi *mpi) {
  if (!model.contains("train_step") || !descriptor.trainStep)
    fail("the model cannot be trained: it has no loss and optimizer");
  if (options.epochs < 1 || options.batch < 1)
    fail("--epochs and --batch must be at least 1");
  if (options.lr && !(std::isfinite(*options.lr) && *options.lr > 0))
    fail("--lr must be a positive number, not " + std::to_string(*options.lr));
  if (!(options.mpiTimeoutSeconds > 0))
    fail("--mpi-timeout must be a positive number of seconds");
  if (!options.resume.empty() && !options.weights.empty())
    fail("give --resume (parameters, optimizer state and step) or --weights (parameters only), not both");
  if (options.limit && *options.limit < 1)
    fail("--limit must be at least 1 (it is the number of training examples to use)");
  // Rank 0 reads the checkpoint, prints, evaluates and saves.
  bool leader = !mpi || mpi->rank() == 0;
  if (!options.save.empty() && leader)
    checkSavePath(options.save);
  requireDevice(model);
  std::unique_ptr<kiln_distributed::DataParallelStep> parallel;
  if (mpi)
    parallel = std::make_unique<kiln_distributed::DataParallelStep>(model, descriptor, *mpi);
  const json &trainStep = model["train_step"];
  const json &inputs = trainStep.at("inputs");
  checkColumnSpecs(options.data, inputs, options.columns);
  Split train = loadSplit(options.data, inputs, options.columns, /*test=*/false);
  if (options.limit && *options.limit < train.count) {
    std::vector<int64_t> first(*options.limit);
    for (int64_t i = 0; i < *options.limit; ++i)
      first[i] = i;
    for (TensorPtr &input : train.inputs)
      input = gatherRows(input.get(), first, 0, *options.limit);
    train.count = *options.limit;
  }
  checkLabels(train, inputs, options.data);
  // --test-data naming an IDX directory means its test (t10k) files.
  Split test;
  if (leader)
    test = loadSplit(options.testData.empty() ? options.data : options.testData, inputs, options.columns,
                     /*test=*/true);
  if (leader && !options.testData.empty() && test.inputs.empty())
    test = loadSplit(options.testData, inputs, options.columns, /*test=*/false);
  if (!test.inputs.empty())
    checkLabels(test, inputs, options.testData.empty() ? options.data : options.testData);

  // Parameters and optimizer state: from --resume, else initialized (the
  // parameters from --weights if given); under mpirun, rank 0's, which it
  // sends to the others.
  std::string resume = leader ? options.resume : std::string();
  std::string weights = leader ? options.weights : std::string();
  std::vector<TensorPtr> params = loadParams(model, resume.empty() ? weights : resume, options.seed);
  const json &slots = trainStep.at("state");
  std::vector<TensorPtr> state = initialOptimizerState(model);
  kiln_checkpoint_t *resumed = nullptr;
  int64_t step = 0;
  // Each check frees the checkpoint first: fail() unwinds past here.
  auto checkResumed = [&](kiln_status_t status) {
    if (status)
      kiln_checkpoint_free(resumed);
    check(status);
  };
  if (!resume.empty()) {
    check(kiln_checkpoint_load(options.resume.c_str(), &resumed));
    checkResumed(checkCheckpointModel(resumed, options.resume, model.at("name").get<std::string>()));
    checkResumed(checkpointStep(resumed, options.resume, &step));
  }
  for (size_t i = 0; resumed && i < slots.size(); ++i)
    checkResumed(readCheckpointState(resumed, options.resume, stateName(slots[i]), state[i].get()));
  kiln_checkpoint_free(resumed);
  if (parallel)
    parallel->broadcastFromLeader(params, state, step);
  if (runsOnGpu(model))
    for (const TensorPtr &slot : state)
      check(kiln_tensor_to_device(slot.get()));

  // On the GPU, both splits go to the device once, here.
  BatchMaker trainBatches(model, descriptor, inputs, train);
  std::unique_ptr<BatchMaker> testBatches;
  if (!test.inputs.empty())
    testBatches = std::make_unique<BatchMaker>(model, descriptor, inputs, test);

  double lr = options.lr ? *options.lr : modelLearningRate(model);
  TensorPtr lrTensor = scalarTensor(float(lr));
  TensorPtr seedTensor = dropoutSeedTensor(model, options.seed);
  const json &results = trainStep.at("results");
  size_t numResults = results.size();
  // (count - 1) / batch + 1, not (count + batch - 1) / batch: a --batch
  // near 2^63 must give one step, not overflow to none.
  int64_t stepsPerEpoch = (train.count - 1) / options.batch + 1;
  // "img/s" for image inputs ([N, H, W, C]), "examples/s" for the rest.
  const char *rateUnit = shapeOf(inputs[0]).size() == 4 ? "img/s" : "examples/s";
  // Keras prints its bar only to a terminal (verbose=2 otherwise): a log
  // file gets one line per epoch, not every redraw.
  bool showBar = leader && !options.quiet && isatty(STDOUT_FILENO);
  std::vector<std::string> paramNames, stateNames;
  for (const json &param : model.at("params"))
    paramNames.push_back(param.at("name").get<std::string>());
  for (const json &slot : slots)
    stateNames.push_back(stateName(slot));
  double firstLoss = NAN;
  bool warnedGrowth = false;
  if (leader)
    std::printf("Training %s on %lld examples (%lld steps per epoch, batch %lld%s), %s, lr %g, seed %llu\n",
                model.at("name").get<std::string>().c_str(), (long long)train.count, (long long)stepsPerEpoch,
                (long long)options.batch, mpi ? (" over " + std::to_string(mpi->size()) + " MPI ranks").c_str() : "",
                model["optimizer"]["name"].get<std::string>().c_str(), lr, (unsigned long long)options.seed);

  std::vector<int64_t> order(train.count);
  uint64_t shuffleState = kiln_param_stream_seed(options.seed, "shuffle");
  for (int64_t epoch = 1; epoch <= options.epochs; ++epoch) {
    for (int64_t i = 0; i < train.count; ++i)
      order[i] = i;
    for (int64_t i = train.count - 1; i > 0; --i)
      std::swap(order[i], order[int64_t(kiln_splitmix64_next(&shuffleState) % uint64_t(i + 1))]);
    if (showBar)
      std::printf("Epoch %lld/%lld\n", (long long)epoch, (long long)options.epochs);
    auto start = std::chrono::steady_clock::now();
    auto lastPrint = start;
    std::vector<double> running(numResults, 0.0);
    int64_t seen = 0;
    for (int64_t s = 0; s < stepsPerEpoch; ++s) {
      int64_t begin = s * options.batch, end = std::min(train.count, begin + options.batch);
      ++step;
      TensorPtr stepTensor = scalarTensor(float(step));
      std::vector<double> values;
      if (parallel) {
        auto [first, last] = parallel->shard(begin, end);
        static const std::vector<TensorPtr> noRows;
        values = parallel->step(params, state, lrTensor.get(), stepTensor.get(), seedTensor.get(),
                                first < last ? trainBatches.batch(order, first, last) : noRows, last - first,
                                end - begin, step);
      } else {
        std::vector<kiln_tensor_t *> args;
        for (const TensorPtr &param : params)
          args.push_back(param.get());
        for (const TensorPtr &slot : state)
          args.push_back(slot.get());
        args.push_back(lrTensor.get());
        args.push_back(stepTensor.get());
        if (seedTensor)
          args.push_back(seedTensor.get());
        for (const TensorPtr &input : trainBatches.batch(order, begin, end))
          args.push_back(input.get());
        values = runBatch(model, descriptor.trainStep, args, numResults);
      }
      for (size_t r = 0; r < numResults; ++r)
        running[r] += values[r] * double(end - begin);
      seen += end - begin;
      if (!std::isfinite(values[0]))
        fail("training diverged: the loss became " + std::string(nonFiniteKind(values[0])) + " at step " +
             std::to_string(step) + " (try a smaller --lr)" +
             (options.save.empty() ? std::string() : "; " + options.save + " keeps its previous contents"));
      // Divergence shows long before a NaN: a loss a thousand times the
      // first one's is worth a word (Adam at lr 1e10 grows weights to 1e10
      // with finite losses).
      if (std::isnan(firstLoss))
        firstLoss = values[0];
      if (leader && !warnedGrowth && std::fabs(values[0]) > 1000.0 * std::max(std::fabs(firstLoss), 1e-3)) {
        warnedGrowth = true;
        std::fprintf(stderr,
                     "%s%s: warning: the loss grew from %g at the first step to %g at step %lld; training "
                     "may be diverging (try a smaller --lr)\n",
                     showBar ? "\n" : "", programName.c_str(), firstLoss, values[0], (long long)step);
      }
      auto now = std::chrono::steady_clock::now();
      bool last = s + 1 == stepsPerEpoch;
      // Print the first step at once (its time to arrive is the start-up
      // cost bench/train_vs_torch.py measures), then at most 4 times a second.
      if (showBar && (s == 0 || last || now - lastPrint > std::chrono::milliseconds(250))) {
        lastPrint = now;
        double seconds = std::chrono::duration<double>(now - start).count();
        int width = 30, filled = int(double(width) * double(s + 1) / double(stepsPerEpoch));
        std::string bar(size_t(filled), '=');
        if (filled < width)
          bar += '>' + std::string(size_t(width - filled - 1), '.');
        std::vector<double> means(running);
        for (double &mean : means)
          mean /= double(seen);
        std::printf("\r%6lld/%lld [%s] %.0f %s%s", (long long)(s + 1), (long long)stepsPerEpoch, bar.c_str(),
                    double(seen) / std::max(seconds, 1e-9), rateUnit, formatResults(results, means, "").c_str());
        std::fflush(stdout);
      }
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<double> means(running);
    for (double &mean : means)
      mean /= double(seen);
    std::string summary = formatResults(results, means, "");
    std::vector<std::pair<std::string, std::string>> metrics = {{"epoch", std::to_string(epoch)}};
    std::string names;
    for (size_t r = 0; r < results.size(); ++r) {
      std::string name = results[r].at("name").get<std::string>();
      names += (names.empty() ? "" : ",") + name;
      metrics.emplace_back("train_" + name, std::to_string(means[r]));
    }
    metrics.emplace_back("metrics", names);
    // The loss was checked before each update; the last update of the
    // epoch is checked here, before anything is evaluated or saved.
    std::string unsaved = options.save.empty() ? "nothing was saved" : options.save + " keeps its previous contents";
    std::string when = "after step " + std::to_string(step) + " (epoch " + std::to_string(epoch) + ")";
    checkFinite(params, paramNames, when, unsaved);
    checkFinite(state, stateNames, when, unsaved);
    if (!test.inputs.empty()) {
      std::vector<double> testValues = evaluate(model, descriptor, params, test, *testBatches, 256);
      for (size_t r = 0; r < testValues.size(); ++r) {
        std::string name = "test_" + model["loss"]["results"][r].at("name").get<std::string>();
        if (!std::isfinite(testValues[r]))
          fail(name + " is " + nonFiniteKind(testValues[r]) + " " + when +
               ", though every parameter is finite: the test data or the model's metric is at fault; " + unsaved);
        metrics.emplace_back(name, std::to_string(testValues[r]));
      }
      summary += formatResults(model["loss"]["results"], testValues, "test_");
    }
    if (parallel && parallel->steps() > 0) {
      char text[64];
      std::snprintf(text, sizeof text, " - allreduce %.2f ms/step",
                    1e3 * parallel->allreduceSeconds() / double(parallel->steps()));
      summary += text;
    }
    if (leader)
      std::printf("%sEpoch %lld/%lld - %.1fs - %.0f %s%s\n", showBar ? "\n" : "", (long long)epoch,
                  (long long)options.epochs, seconds, double(seen) / std::max(seconds, 1e-9), rateUnit,
                  summary.c_str());
    std::fflush(stdout);
    if (!options.save.empty() && leader)
      saveCheckpoint(options.save, model, params, state, step, metrics);
  }
  if (!options.save.empty() && leader)
    std::printf("saved %s (step %lld)\n", options.save.c_str(), (long long)step);
  return 0;
}
} // namespace

int runTrain(const json &model, const ModelDescriptor &descriptor, const TrainOptions &options) {
  std::unique_ptr<kiln_distributed::Mpi> mpi = kiln_distributed::Mpi::joinIfLaunched(options.mpiTimeoutSeconds);
  if (!mpi)
    return trainOn(model, descriptor, options, nullptr);
  // A rank's error ends the whole job, naming the rank, instead of leaving
  // the other ranks waiting for it at the next collective.
  try {
    return trainOn(model, descriptor, options, mpi.get());
  } catch (const Failure &failure) {
    mpi->abort(programName + ": error: rank " + std::to_string(mpi->rank()) + " of " + std::to_string(mpi->size()) +
               ": " + failure.what());
  }
}

int runEval(const json &model, const ModelDescriptor &descriptor, const TrainOptions &options) {
  if (!model.contains("loss") || !descriptor.loss)
    fail("the model has no loss to evaluate");
  if (options.batch < 1)
    fail("--batch must be at least 1");
  requireDevice(model);
  const json &inputs = model["loss"].at("inputs");
  checkColumnSpecs(options.data, inputs, options.columns);
  // An IDX directory is evaluated on its test split; anything else as given.
  Split split = loadSplit(options.data, inputs, options.columns, /*test=*/true);
  if (split.inputs.empty())
    split = loadSplit(options.data, inputs, options.columns, /*test=*/false);
  checkLabels(split, inputs, options.data);
  std::vector<TensorPtr> params = loadParams(model, options.weights, options.seed);
  BatchMaker batches(model, descriptor, inputs, split);
  std::vector<double> values = evaluate(model, descriptor, params, split, batches, options.batch);
  std::printf("%lld examples%s\n", (long long)split.count, formatResults(model["loss"]["results"], values, "").c_str());
  return 0;
}

int trainModel(const void *descriptor, const TrainOptions &options, const std::string &program) {
  programName = program;
  return reportFailures([&] {
    const auto &model = *static_cast<const ModelDescriptor *>(descriptor);
    return runTrain(modelMetadata(model), model, options);
  });
}

} // namespace kiln_binary
