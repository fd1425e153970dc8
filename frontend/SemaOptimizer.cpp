//===- SemaOptimizer.cpp - Sema: the optimizer statement ------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// `optimizer NAME(key = value, ...)`: the optimizers and their
// hyper-parameters (defaults and valid ranges) come from Builtins.def; the
// result is `Model::optimizer` with every hyper-parameter filled in, in the
// table's order.
//
//===----------------------------------------------------------------------===//

#include "frontend/SemaInternal.h"

using namespace kiln;
using namespace kiln::sema;

namespace {

enum class HyperRange { Positive, UnitInterval, NonNegative, Bool };

struct HyperParamSpec {
  const char *name;
  double defaultValue;
  HyperRange range;
};

struct OptimizerSpec {
  const char *name;
  std::vector<HyperParamSpec> params;
};

const std::vector<OptimizerSpec> &getOptimizers() {
  static const std::vector<OptimizerSpec> optimizers = [] {
    std::vector<OptimizerSpec> result;
    enum Id {
#define OPTIMIZER(Id, Name) Id,
#include "frontend/Builtins.def"
    };
#define OPTIMIZER(Id, Name) result.push_back({Name, {}});
#include "frontend/Builtins.def"
#define HYPER_PARAM(Optimizer, Name, Default, Range)                                                                   \
  result[Optimizer].params.push_back({Name, Default, HyperRange::Range});
#include "frontend/Builtins.def"
    return result;
  }();
  return optimizers;
}

} // namespace

/// Evaluates the value of hyper-parameter `hp` (written as `key`), checking
/// its range; reports and returns nullopt if it is not valid.
static std::optional<double> evalHyperParam(const HyperParamSpec &hp, llvm::StringRef key, const Expr &value,
                                            Diagnostics &diags) {
  if (hp.range == HyperRange::Bool) {
    auto *name = llvm::dyn_cast<NameExpr>(&value);
    if (!name || (name->getName() != "true" && name->getName() != "false")) {
      diags.error(value.getLoc(), "'" + key + "' must be true or false");
      return std::nullopt;
    }
    return name->getName() == "true" ? 1.0 : 0.0;
  }
  std::optional<double> constant = getConstantValue(value);
  if (!constant) {
    diags.error(value.getLoc(), "'" + key + "' must be a number literal");
    return std::nullopt;
  }
  double v = *constant;
  const char *requirement = nullptr;
  switch (hp.range) {
  case HyperRange::Positive:
    if (!(v > 0))
      requirement = "greater than 0";
    break;
  case HyperRange::UnitInterval:
    if (!(v >= 0 && v < 1))
      requirement = "in [0, 1)";
    break;
  case HyperRange::NonNegative:
    if (!(v >= 0))
      requirement = "at least 0";
    break;
  case HyperRange::Bool:
    break;
  }
  if (requirement) {
    diags.error(value.getLoc(), "'" + key + "' must be " + requirement + ", got " + formatNumber(v));
    return std::nullopt;
  }
  return v;
}

/// 'optimizer' IDENT '(' kwargs ')': known name, known hyper-parameters,
/// values in range; defaults filled in.
LogicalResult ModelChecker::checkOptimizer(OptimizerStmt &opt) {
  if (optimizer) {
    diags.error(opt.getLoc(), "a model has at most one optimizer");
    diags.note(optimizer->getLoc(), "the first optimizer is here");
    return failure();
  }
  optimizer = &opt;
  const OptimizerSpec *spec = nullptr;
  for (const OptimizerSpec &candidate : getOptimizers())
    if (opt.getName() == candidate.name)
      spec = &candidate;
  if (!spec) {
    diags.error(opt.getNameLoc(), "unknown optimizer '" + opt.getName() + "'; expected " + getOptimizerNameList());
    return failure();
  }
  OptimizerInfo info;
  info.name = spec->name;
  for (const HyperParamSpec &hp : spec->params)
    info.hyperParams.push_back({hp.name, hp.defaultValue});
  std::vector<Location> givenAt(spec->params.size());

  for (const CallArg &arg : opt.getArgs()) {
    llvm::StringRef key = arg.keyword;
    if (key == "learning_rate")
      key = "lr";
    size_t index = spec->params.size();
    for (size_t i = 0; i < spec->params.size(); ++i)
      if (key == spec->params[i].name)
        index = i;
    if (index == spec->params.size()) {
      std::string expected;
      for (size_t i = 0; i < spec->params.size(); ++i) {
        if (i)
          expected += i + 1 == spec->params.size() ? " or " : ", ";
        expected += spec->params[i].name;
      }
      diags.error(arg.keywordLoc,
                  "unknown hyper-parameter '" + arg.keyword + "' for " + spec->name + "; expected " + expected);
      return failure();
    }
    if (givenAt[index].isValid()) {
      diags.error(arg.keywordLoc, "hyper-parameter '" + key + "' is given more than once");
      diags.note(givenAt[index], "first given here");
      return failure();
    }
    givenAt[index] = arg.keywordLoc;

    std::optional<double> v = evalHyperParam(spec->params[index], key, *arg.value, diags);
    if (!v)
      return failure();
    info.hyperParams[index].second = *v;
  }
  model.optimizer = std::move(info);
  return success();
}
