//===- CHeader.cpp - The C header that goes with a model's object file ----===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Generates `<file>.h` for `kilnc --emit=obj|lib`: per model, its parameter
// table and one plain-C function per entry point (predict, loss and, for a
// model with an optimizer, train_step with its state table),
//
//   int <Model>_predict(int64_t n, const float *const params[],
//                       const float *image, float *probs);
//
// taking the batch size, the parameters in declaration order, the inputs and
// caller-allocated result buffers. The functions are `static inline` in the
// header: they build MLIR memref descriptors and call the object's
// `<Model>_<fn>_packed` entry (see ObjectEmitter.cpp), then copy the results
// out and free the buffers the compiled code allocated.
//
//===----------------------------------------------------------------------===//

#include "codegen/ObjectEmitter.h"
#include "codegen/OpenMPRuntime.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

#include <cstdio>
#include <cstring>
#include <sstream>

using namespace kiln;

namespace {
std::string cType(ElementType type) { return type == ElementType::F32 ? "float" : "int32_t"; }

std::string upper(const std::string &text) {
  std::string result = text;
  for (char &c : result)
    c = char(std::toupper(static_cast<unsigned char>(c)));
  return result;
}

std::string cIdentifier(const std::string &name) {
  std::string result = name;
  for (char &c : result)
    if (!std::isalnum(static_cast<unsigned char>(c)))
      c = '_';
  return result;
}

/// Whether `name` cannot be a parameter of the generated wrappers: a C or
/// C++ keyword, a name the wrapper itself declares or uses (n, params,
/// results, p0, in1, memcpy, ...), or one of the integer type names.
bool isReservedInWrapper(const std::string &name) {
  static const char *const reserved[] = {
      // C11 and C++ keywords (a header must compile as both).
      "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
      "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
      "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "_Alignas",
      "_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic", "_Imaginary", "_Noreturn", "_Static_assert",
      "_Thread_local", "alignas", "alignof", "and", "and_eq", "asm", "bitand", "bitor", "bool", "catch", "char8_t",
      "char16_t", "char32_t", "class", "compl", "concept", "consteval", "constexpr", "constinit", "const_cast",
      "co_await", "co_return", "co_yield", "decltype", "delete", "dynamic_cast", "explicit", "export", "false",
      "friend", "mutable", "namespace", "new", "noexcept", "not", "not_eq", "nullptr", "operator", "or", "or_eq",
      "private", "protected", "public", "reinterpret_cast", "requires", "static_assert", "static_cast", "template",
      "this", "thread_local", "throw", "true", "try", "typeid", "typename", "using", "virtual", "wchar_t", "xor",
      "xor_eq",
      // What the wrappers declare and call.
      "n", "params", "state", "lr", "step", "seed", "results", "args", "allocated", "owned", "hlr", "hstep", "hseed",
      "memcpy", "free", "size_t", "int32_t", "int64_t", "intptr_t", "NULL"};
  for (const char *word : reserved)
    if (name == word)
      return true;
  // The descriptors p<i>, s<i> and in<i>.
  for (const char *stem : {"p", "s", "in"}) {
    size_t length = std::strlen(stem);
    if (name.size() > length && name.compare(0, length, stem) == 0 &&
        name.find_first_not_of("0123456789", length) == std::string::npos)
      return true;
  }
  return false;
}

/// The C parameter names of `function`'s inputs, then of its results (with
/// `_out`): the Kiln names made C identifiers, with `_` appended while one
/// is reserved or already taken (`int` becomes `int_`).
std::vector<std::string> parameterNames(const FunctionInfo &function) {
  std::vector<std::string> names;
  auto add = [&](std::string name) {
    while (isReservedInWrapper(name) || llvm::is_contained(names, name))
      name += '_';
    names.push_back(name);
  };
  for (const TensorInfo &input : function.inputs)
    add(cIdentifier(input.name));
  for (const TensorInfo &result : function.results)
    add(cIdentifier(result.name) + "_out");
  return names;
}

/// A C float literal for `value` ("0.1f", "0.0f").
std::string floatLiteral(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.9g", value);
  std::string literal = text;
  if (literal.find_first_of(".eEn") == std::string::npos)
    literal += ".0";
  return literal + "f";
}

/// Emits `static const int64_t <name>[] = {...};`: the element count of each
/// shape (`{0}` for none: C has no empty arrays).
void emitSizeTable(std::ostringstream &os, const std::string &name, const std::vector<std::vector<int64_t>> &shapes) {
  os << "static const int64_t " << name << "[] = {";
  for (size_t i = 0; i < shapes.size(); ++i) {
    int64_t count = 1;
    for (int64_t dim : shapes[i])
      count *= dim;
    os << (i ? ", " : "") << count;
  }
  os << (shapes.empty() ? "0" : "") << "};\n";
}

/// C expression for one dimension: `n` for the batch dimension.
std::string dimExpr(int64_t dim) { return dim == kBatchDim ? "n" : std::to_string(dim); }

/// Emits `int64_t <var>[...] = {ptr, ptr, 0, sizes..., strides...};`.
void emitDescriptor(std::ostringstream &os, const std::string &var, const std::string &data,
                    const std::vector<int64_t> &shape) {
  os << "  int64_t " << var << "[" << 3 + 2 * shape.size() << "] = {(int64_t)(intptr_t)" << data
     << ", (int64_t)(intptr_t)" << data << ", 0";
  for (int64_t dim : shape)
    os << ", " << dimExpr(dim);
  for (size_t i = 0; i < shape.size(); ++i) {
    std::string stride = "1";
    for (size_t j = i + 1; j < shape.size(); ++j)
      stride += " * " + dimExpr(shape[j]);
    os << ", " << stride;
  }
  os << "};\n";
}

/// For --target=cuda: the packed entry point only, with what it takes; it is
/// called through the runtime (kiln_invoke_device), which moves the data.
void emitGpuFunction(std::ostringstream &os, const FunctionInfo &function, bool trainStep) {
  os << "/* " << function.symbol << "_packed: through kiln_invoke_device, with every parameter";
  if (trainStep)
    os << ", then every optimizer state slot, lr and step (f32[])";
  os << ", then the inputs";
  for (const TensorInfo &input : function.inputs)
    os << "\n *   " << input.name << ": " << elementTypeName(input.type) << formatShape(input.shape);
  os << "\n * Results (new host tensors):";
  for (const TensorInfo &result : function.results)
    os << "\n *   " << result.name << ": " << elementTypeName(result.type) << formatShape(result.shape);
  if (trainStep)
    os << "\n * Parameters and state with device copies are updated in place on the GPU.";
  os << " */\n";
  os << "void " << function.symbol << "_packed(void **args);\n\n";
}

/// Emits the plain-C wrapper of `function`. `train_step` also takes the
/// optimizer state, `lr` and the step count, and updates `params` and
/// `state` in place (so they are not const).
void emitFunction(std::ostringstream &os, const ModelInfo &model, const FunctionInfo &function,
                  bool trainStep = false) {
  const std::string &symbol = function.symbol;
  os << "/* Low-level entry: memref descriptors (see docs/artifacts.md). */\n";
  os << "void " << symbol << "_packed(void **args);\n\n";

  os << "/* " << symbol << ": every parameter of " << model.name << " (params[0.." << model.params.size() - 1
     << "], in the order of " << upper(model.name) << "_PARAM_NAMES), then the inputs";
  for (const TensorInfo &input : function.inputs)
    os << "\n *   " << input.name << ": " << elementTypeName(input.type) << formatShape(input.shape);
  os << "\n * Results, written to caller-allocated buffers:";
  for (const TensorInfo &result : function.results)
    os << "\n *   " << result.name << ": " << elementTypeName(result.type) << formatShape(result.shape);
  if (trainStep) {
    os << "\n * One training step: params[] and state[] (the optimizer state, in the order of " << upper(model.name)
       << "_STATE_NAMES, initialized to " << upper(model.name)
       << "_STATE_INIT) are updated in place; lr is the learning rate and step the 1-based step count.";
    if (model.trainStepSeeded)
      os << "\n * seed keys the dropout masks (the same seed and step give the same masks).";
    os << "\n * n is the batch size N. Returns 0, or -1 if n < 1. Not thread-safe for the same params/state. */\n";
    os << "static inline int " << symbol << "(int64_t n, float *const params[], float *const state[], float lr, "
       << "float step" << (model.trainStepSeeded ? ", int32_t seed" : "");
  } else {
    os << "\n * n is the batch size N. Returns 0, or -1 if n < 1. Thread-safe: it keeps no state. */\n";
    os << "static inline int " << symbol << "(int64_t n, const float *const params[]";
  }
  const std::vector<std::string> names = parameterNames(function);
  const size_t numInputs = function.inputs.size();
  for (size_t i = 0; i < numInputs; ++i)
    os << ", const " << cType(function.inputs[i].type) << " *" << names[i];
  for (size_t r = 0; r < function.results.size(); ++r)
    os << ", " << cType(function.results[r].type) << " *" << names[numInputs + r];
  os << ") {\n";
  os << "  if (n < 1)\n    return -1;\n";
  size_t resultWords = 0;
  for (const TensorInfo &result : function.results)
    resultWords += 3 + 2 * result.shape.size();
  os << "  int64_t results[" << resultWords << "] = {0};\n";
  size_t numState = trainStep ? model.state.size() : 0;
  bool seeded = trainStep && model.trainStepSeeded;
  size_t argCount =
      1 + model.params.size() + numState + (trainStep ? 2 : 0) + (seeded ? 1 : 0) + function.inputs.size();
  for (size_t i = 0; i < model.params.size(); ++i)
    emitDescriptor(os, "p" + std::to_string(i), "params[" + std::to_string(i) + "]", model.params[i].shape);
  for (size_t i = 0; i < numState; ++i)
    emitDescriptor(os, "s" + std::to_string(i), "state[" + std::to_string(i) + "]", model.state[i].shape);
  if (trainStep && numState == 0)
    os << "  (void)state; /* this optimizer keeps no state */\n";
  if (trainStep) {
    emitDescriptor(os, "hlr", "&lr", {});
    emitDescriptor(os, "hstep", "&step", {});
  }
  if (seeded)
    emitDescriptor(os, "hseed", "&seed", {});
  for (size_t i = 0; i < function.inputs.size(); ++i)
    emitDescriptor(os, "in" + std::to_string(i), names[i], function.inputs[i].shape);
  os << "  void *args[" << argCount << "] = {results";
  for (size_t i = 0; i < model.params.size(); ++i)
    os << ", p" << i;
  for (size_t i = 0; i < numState; ++i)
    os << ", s" << i;
  if (trainStep)
    os << ", hlr, hstep";
  if (seeded)
    os << ", hseed";
  for (size_t i = 0; i < function.inputs.size(); ++i)
    os << ", in" << i;
  os << "};\n";
  os << "  " << symbol << "_packed(args);\n";
  // Copy every result out before freeing anything: results may share a buffer.
  size_t word = 0;
  std::vector<size_t> offsets;
  for (size_t r = 0; r < function.results.size(); ++r) {
    const TensorInfo &result = function.results[r];
    std::string count = "1";
    for (int64_t dim : result.shape)
      count += " * " + dimExpr(dim);
    os << "  memcpy(" << names[numInputs + r] << ", (const char *)(intptr_t)results[" << word + 1 << "] + results["
       << word + 2 << "] * 4, (size_t)(" << count << ") * 4);\n";
    offsets.push_back(word);
    word += 3 + 2 * result.shape.size();
  }
  os << "  void *allocated[" << offsets.size() << "];\n";
  for (size_t i = 0; i < offsets.size(); ++i) {
    os << "  allocated[" << i << "] = (void *)(intptr_t)results[" << offsets[i] << "];\n";
    os << "  {\n    int owned = 1;\n";
    for (size_t j = 0; j < i; ++j)
      os << "    owned = owned && allocated[" << i << "] != allocated[" << j << "];\n";
    for (size_t k = 0; k < model.params.size(); ++k)
      os << "    owned = owned && allocated[" << i << "] != (const void *)params[" << k << "];\n";
    for (size_t k = 0; k < numState; ++k)
      os << "    owned = owned && allocated[" << i << "] != (const void *)state[" << k << "];\n";
    for (size_t k = 0; k < numInputs; ++k)
      os << "    owned = owned && allocated[" << i << "] != (const void *)" << names[k] << ";\n";
    os << "    if (owned)\n      free(allocated[" << i << "]);\n  }\n";
  }
  os << "  return 0;\n}\n\n";
}
} // namespace

llvm::Expected<std::string> kiln::generateCHeader(const std::vector<ModelInfo> &models, const std::string &sourceName,
                                                  bool gpu) {
  // The tables and macros are named in upper case (FASHIONCNN_NUM_PARAMS):
  // two models that differ only in case would define them twice.
  for (size_t i = 0; i < models.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (upper(models[i].name) == upper(models[j].name))
        return llvm::createStringError("models '" + models[j].name + "' and '" + models[i].name +
                                       "' would both define " + upper(models[i].name) +
                                       "_NUM_PARAMS and the other tables of the C header, which are named in "
                                       "upper case; rename one of them");
  std::ostringstream os;
  std::string guard = "KILN_MODEL_" + upper(cIdentifier(sourceName)) + "_H";
  if (gpu)
    os << "/* Generated by kilnc --target=cuda from " << sourceName << ": the models' entry points, compiled for\n"
       << " * NVIDIA GPUs. They take and return device memory: call them through the Kiln runtime\n"
       << " * (kiln/runtime.h; link libkiln_runtime.a, -lz -ldl -lm and the C++ library):\n"
       << " *   kiln_cuda_init() (a status saying why there is no GPU), kiln_tensor_to_device() for the\n"
       << " *   parameters (and optimizer state), kiln_invoke_device(<Model>_<fn>_packed, ...).\n"
       << " * Link with the object file kilnc wrote next to this header. */\n";
  else
    os << "/* Generated by kilnc from " << sourceName << ": the models' functions with plain C types.\n"
       << " * Link with the object file kilnc wrote next to this header, -lm and LLVM's OpenMP runtime\n"
       << " * (" << llvm::join(ompLinkArguments(), " ") << "). */\n";
  os << "#ifndef " << guard << "\n#define " << guard << "\n\n"
     << "#include <stdint.h>\n#include <stdlib.h>\n#include <string.h>\n\n"
     << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n";
  for (const ModelInfo &model : models) {
    std::string prefix = upper(model.name);
    os << "/*===== model " << model.name << " =====*/\n\n";
    os << "/* Parameters, in the order every function takes them:";
    for (size_t i = 0; i < model.params.size(); ++i)
      os << "\n *   [" << i << "] " << model.params[i].name << ": f32" << formatShape(model.params[i].shape) << " "
         << model.params[i].init << (model.params[i].trainable ? "" : ", non-trainable");
    os << " */\n";
    os << "#define " << prefix << "_NUM_PARAMS " << model.params.size() << "\n";
    os << "static const char *const " << prefix << "_PARAM_NAMES[] = {";
    for (size_t i = 0; i < model.params.size(); ++i)
      os << (i ? ", " : "") << '"' << model.params[i].name << '"';
    os << (model.params.empty() ? "0" : "") << "};\n";
    std::vector<std::vector<int64_t>> paramShapes;
    for (const ParamInfo &param : model.params)
      paramShapes.push_back(param.shape);
    emitSizeTable(os, prefix + "_PARAM_SIZES", paramShapes);
    // The initializers, for a host that sets up parameters itself: linked
    // with the runtime, kiln_init_param(tensor, kind, value, seed, name)
    // with these gives the values `train --seed` and kiln::TrainingSession
    // start from (kind: "zeros" KILN_INIT_ZEROS, "ones" KILN_INIT_ONES,
    // "glorot_uniform" KILN_INIT_GLOROT_UNIFORM, "constant"
    // KILN_INIT_CONSTANT with the value).
    os << "static const char *const " << prefix << "_PARAM_INITS[] = {";
    for (size_t i = 0; i < model.params.size(); ++i)
      os << (i ? ", " : "") << '"' << model.params[i].init << '"';
    os << (model.params.empty() ? "0" : "") << "};\n";
    os << "static const float " << prefix << "_PARAM_INIT_VALUES[] = {";
    for (size_t i = 0; i < model.params.size(); ++i)
      os << (i ? ", " : "") << floatLiteral(model.params[i].value);
    os << (model.params.empty() ? "0" : "") << "};\n";
    // 0 for a parameter the training step sets instead of the optimizer
    // (batch_norm's moving statistics): no gradient, no state slots.
    os << "static const int " << prefix << "_PARAM_TRAINABLE[] = {";
    for (size_t i = 0; i < model.params.size(); ++i)
      os << (i ? ", " : "") << (model.params[i].trainable ? 1 : 0);
    os << (model.params.empty() ? "0" : "") << "};\n\n";
    if (gpu) {
      if (model.predict)
        emitGpuFunction(os, *model.predict, false);
      if (model.loss)
        emitGpuFunction(os, *model.loss, false);
    } else {
      if (model.predict)
        emitFunction(os, model, *model.predict);
      if (model.loss)
        emitFunction(os, model, *model.loss);
    }
    if (model.trainStep) {
      os << "/* Optimizer state of " << model.name << " (" << model.optimizer
         << "), in the order train_step takes it. */\n";
      os << "#define " << prefix << "_NUM_STATE " << model.state.size() << "\n";
      os << "static const char *const " << prefix << "_STATE_NAMES[] = {";
      for (size_t i = 0; i < model.state.size(); ++i)
        os << (i ? ", " : "") << "\"" << model.state[i].param << "/" << model.state[i].slot << "\"";
      os << (model.state.empty() ? "0" : "") << "};\n";
      os << "static const float " << prefix << "_STATE_INIT[] = {";
      for (size_t i = 0; i < model.state.size(); ++i)
        os << (i ? ", " : "") << floatLiteral(model.state[i].init);
      os << (model.state.empty() ? "0" : "") << "};\n";
      // Element counts, so that a host can allocate the state.
      std::vector<std::vector<int64_t>> stateShapes;
      for (const StateInfo &slot : model.state)
        stateShapes.push_back(slot.shape);
      emitSizeTable(os, prefix + "_STATE_SIZES", stateShapes);
      // The learning rate the model file gives (the default of train --lr).
      auto lr = model.hyperParams.find("lr");
      if (lr != model.hyperParams.end())
        os << "#define " << prefix << "_LEARNING_RATE " << floatLiteral(lr->second) << "\n";
      os << "\n";
      if (gpu)
        emitGpuFunction(os, *model.trainStep, /*trainStep=*/true);
      else
        emitFunction(os, model, *model.trainStep, /*trainStep=*/true);
    }
  }
  os << "#ifdef __cplusplus\n} /* extern \"C\" */\n#endif\n\n#endif /* " << guard << " */\n";
  return os.str();
}
