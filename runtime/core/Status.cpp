//===- Status.cpp - Error statuses of the Kiln runtime --------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// A status is one malloc'ed block: the code followed by the NUL-terminated
// message. When that allocation fails, `kiln_status_create` hands out a
// static "out of memory" status, which `kiln_status_free` leaves alone, so
// that reporting an error can never itself fail.
//
//===----------------------------------------------------------------------===//

#include "core/Internal.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

struct kiln_status_s {
  kiln_status_code_t code;
  const char *message; // Points just past the struct (or at static text).
};

namespace {
kiln_status_s outOfMemoryStatus = {KILN_STATUS_RESOURCE_EXHAUSTED, "out of memory while reporting an error"};

kiln_status_t vcreate(kiln_status_code_t code, const char *format, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int length = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (length < 0)
    length = 0;
  size_t bytes = sizeof(kiln_status_s) + static_cast<size_t>(length) + 1;
  auto *status = static_cast<kiln_status_s *>(std::malloc(bytes));
  if (!status)
    return &outOfMemoryStatus;
  char *text = reinterpret_cast<char *>(status + 1);
  std::vsnprintf(text, static_cast<size_t>(length) + 1, format, args);
  status->code = code == KILN_STATUS_OK ? KILN_STATUS_INVALID_ARGUMENT : code;
  status->message = text;
  return status;
}
} // namespace

extern "C" kiln_status_t kiln_status_create(kiln_status_code_t code, const char *format, ...) {
  va_list args;
  va_start(args, format);
  kiln_status_t status = vcreate(code, format, args);
  va_end(args);
  return status;
}

extern "C" const char *kiln_status_message(kiln_status_t status) { return status ? status->message : ""; }

extern "C" kiln_status_code_t kiln_status_code(kiln_status_t status) { return status ? status->code : KILN_STATUS_OK; }

extern "C" void kiln_status_free(kiln_status_t status) {
  if (status && status != &outOfMemoryStatus)
    std::free(status);
}

namespace kiln::runtime {

kiln_status_t makeStatus(kiln_status_code_t code, const char *format, ...) {
  va_list args;
  va_start(args, format);
  kiln_status_t status = vcreate(code, format, args);
  va_end(args);
  return status;
}

kiln_status_t errnoStatus(const std::string &path, const char *what, int err) {
  return makeStatus(err == ENOENT ? KILN_STATUS_NOT_FOUND : KILN_STATUS_IO_ERROR, "%s: %s: %s", path.c_str(), what,
                    std::strerror(err));
}

std::string formatShape(const int64_t *shape, int32_t rank) {
  std::string text = "[";
  for (int32_t i = 0; i < rank; ++i) {
    if (i)
      text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

} // namespace kiln::runtime
