//===- Diagnostics.cpp - Source locations and error reporting -------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Implements `kiln::Diagnostics` on top of `llvm::SourceMgr::PrintMessage`.
//
//===----------------------------------------------------------------------===//

#include "frontend/Diagnostics.h"

using namespace kiln;

Location Location::span(Location first, Location last) {
  if (!first.isValid())
    return last;
  if (!last.isValid() || last.end() < first.begin())
    return first;
  const char *endPtr = std::max(first.end(), last.end());
  return Location(first.loc, static_cast<unsigned>(endPtr - first.begin()));
}

LineCol kiln::getLineCol(const llvm::SourceMgr &srcMgr, Location loc) {
  if (!loc.isValid())
    return {};
  unsigned bufferID = srcMgr.FindBufferContainingLoc(loc.loc);
  if (bufferID == 0)
    return {};
  auto [line, col] = srcMgr.getLineAndColumn(loc.loc, bufferID);
  return {line, col};
}

void Diagnostics::error(Location loc, const llvm::Twine &msg) {
  ++numErrors;
  report(Severity::Error, loc, msg);
}

void Diagnostics::warning(Location loc, const llvm::Twine &msg) {
  report(Severity::Warning, loc, msg);
}

void Diagnostics::note(Location loc, const llvm::Twine &msg) {
  report(Severity::Note, loc, msg);
}

void Diagnostics::report(Severity severity, Location loc,
                         const llvm::Twine &msg) {
  std::string text = msg.str();
  records.push_back({severity, getLineCol(loc), text});
  if (silent)
    return;
  llvm::SourceMgr::DiagKind kind = llvm::SourceMgr::DK_Error;
  if (severity == Severity::Warning)
    kind = llvm::SourceMgr::DK_Warning;
  else if (severity == Severity::Note)
    kind = llvm::SourceMgr::DK_Note;
  // A range is only meaningful inside one buffer; PrintMessage clips it to
  // the line of `loc`.
  if (loc.isValid() && srcMgr.FindBufferContainingLoc(loc.loc) != 0) {
    llvm::SmallVector<llvm::SMRange, 1> ranges;
    if (loc.length != 0)
      ranges.push_back(loc.range());
    srcMgr.PrintMessage(*os, loc.loc, kind, text, ranges);
  } else {
    srcMgr.PrintMessage(*os, llvm::SMLoc(), kind, text);
  }
}
