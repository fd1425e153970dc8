//===- FileIO.cpp - Whole-file reads and atomic writes --------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The POSIX layer under the readers and writers: positioned reads that
// report short reads instead of failing, and atomic replacement of a file
// (write `path.tmp.<pid>.<n>`, fsync, rename, fsync the directory) so that a
// process killed while saving a checkpoint leaves the previous one intact;
// the next save removes the temporary files such processes left.
// Also the UTF-8 validator used for safetensors names.
//
//===----------------------------------------------------------------------===//

#include "core/Internal.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace kiln::runtime {

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmpPath_.c_str());
  }
}

namespace {
/// Makes a failed write() report EFBIG instead of the process dying: under
/// `ulimit -f`, SIGXFSZ's default action kills the process and leaves the
/// temporary file behind. A disposition someone else chose is kept.
void ignoreFileSizeSignal() {
  struct sigaction current;
  if (::sigaction(SIGXFSZ, nullptr, &current) == 0 && current.sa_handler == SIG_DFL && !(current.sa_flags & SA_SIGINFO))
    ::signal(SIGXFSZ, SIG_IGN);
}

/// The directory part of `path` ("." for a bare name).
std::string directoryOf(const std::string &path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}
} // namespace

kiln_status_t AtomicFileWriter::open(const char *path) {
  ignoreFileSizeSignal();
  path_ = path;
  if (path_.empty())
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "cannot save to an empty path");
  // Saving through a symbolic link writes the file it points to: the new file
  // is renamed over the link's target, so the link survives.
  target_ = path_;
  struct stat info;
  if (::lstat(path, &info) == 0 && S_ISLNK(info.st_mode)) {
    char *resolved = ::realpath(path, nullptr);
    if (!resolved)
      return errnoStatus(path_, "is a symbolic link that cannot be followed", errno);
    target_ = resolved;
    std::free(resolved);
  }
  // An existing file keeps its permissions; a new one gets 0666 less umask,
  // as any file a program creates.
  mode_t mode = 0;
  bool keepMode = false;
  if (::stat(target_.c_str(), &info) == 0) {
    if (S_ISDIR(info.st_mode))
      return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "%s: is a directory, not a file", path);
    if (!S_ISREG(info.st_mode))
      return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "%s: is not a regular file", path);
    mode = info.st_mode & 07777;
    keepMode = true;
  }
  // The temporary name is new (O_EXCL) and never a link (O_NOFOLLOW): a file
  // or link planted at a predictable name is neither followed nor reused.
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    tmpPath_ =
        target_ + ".tmp." + std::to_string(static_cast<long>(::getpid())) + "." + std::to_string(counter.fetch_add(1));
    fd_ = ::open(tmpPath_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, keepMode ? 0600 : 0666);
    if (fd_ >= 0 || errno != EEXIST)
      break;
  }
  if (fd_ < 0)
    return errnoStatus(path_, ("cannot create " + tmpPath_).c_str(), errno);
  if (keepMode && ::fchmod(fd_, mode) != 0)
    return errnoStatus(path_, "cannot set the permissions of the new file", errno);
  return nullptr;
}

kiln_status_t AtomicFileWriter::write(const void *data, size_t size) {
  const char *bytes = static_cast<const char *>(data);
  while (size > 0) {
    ssize_t n = ::write(fd_, bytes, size);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errnoStatus(
          path_, errno == EFBIG ? "write failed (the file size limit, ulimit -f, was reached)" : "write failed", errno);
    }
    bytes += n;
    size -= static_cast<size_t>(n);
  }
  return nullptr;
}

kiln_status_t AtomicFileWriter::commit() {
  if (::fsync(fd_) != 0)
    return errnoStatus(path_, "fsync failed", errno);
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmpPath_.c_str());
    return errnoStatus(path_, "close failed", err);
  }
  if (::rename(tmpPath_.c_str(), target_.c_str()) != 0) {
    int err = errno;
    ::unlink(tmpPath_.c_str());
    return errnoStatus(path_, ("cannot rename " + tmpPath_ + " to it").c_str(), err);
  }
  // Make the rename itself durable. A failure here is not reported: the new
  // file is complete and in place either way.
  int dirFd = ::open(directoryOf(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd >= 0) {
    ::fsync(dirFd);
    removeStaleTemporaries(dirFd);
  }
  return nullptr;
}

void AtomicFileWriter::removeStaleTemporaries(int dirFd) const {
  // A writer killed mid-save (SIGKILL, power loss) leaves its
  // `<target>.tmp.<pid>.<n>`; nothing can run at that moment to remove it.
  // The next successful save of the same file removes those whose process
  // is gone. A live process's file is never touched (kill(pid, 0) succeeds,
  // or fails with EPERM for another user's), not even this process's own:
  // another thread may be saving the same file.
  std::string prefix = target_.substr(target_.find_last_of('/') + 1) + ".tmp.";
  DIR *dir = ::fdopendir(dirFd); // owns dirFd from here
  if (!dir) {
    ::close(dirFd);
    return;
  }
  while (const struct dirent *entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0)
      continue;
    // The rest must be `<pid>.<n>`, both decimal.
    const char *rest = name.c_str() + prefix.size();
    char *end = nullptr;
    errno = 0;
    long pid = std::strtol(rest, &end, 10);
    if (errno != 0 || end == rest || *end != '.' || pid <= 0 || pid == static_cast<long>(::getpid()))
      continue;
    const char *counter = end + 1;
    if (*counter == '\0' || std::strspn(counter, "0123456789") != std::strlen(counter))
      continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH)
      continue;
    ::unlinkat(::dirfd(dir), name.c_str(), 0);
  }
  ::closedir(dir);
}

InputFile::~InputFile() {
  if (fd_ >= 0)
    ::close(fd_);
}

kiln_status_t InputFile::open(const char *path) {
  path_ = path;
  fd_ = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd_ < 0)
    return errnoStatus(path_, "cannot open", errno);
  struct stat info;
  if (::fstat(fd_, &info) != 0)
    return errnoStatus(path_, "cannot stat", errno);
  if (S_ISDIR(info.st_mode))
    return makeStatus(KILN_STATUS_INVALID_ARGUMENT, "%s: is a directory, not a file", path);
  size_ = static_cast<uint64_t>(info.st_size);
  return nullptr;
}

kiln_status_t InputFile::readAt(uint64_t offset, void *data, size_t size, size_t *got) {
  char *bytes = static_cast<char *>(data);
  size_t total = 0;
  while (total < size) {
    ssize_t n = ::pread(fd_, bytes + total, size - total, static_cast<off_t>(offset + total));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errnoStatus(path_, "read failed", errno);
    }
    if (n == 0)
      break;
    total += static_cast<size_t>(n);
  }
  *got = total;
  return nullptr;
}

bool isValidUtf8(const char *text, size_t size) {
  const auto *s = reinterpret_cast<const unsigned char *>(text);
  size_t i = 0;
  while (i < size) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length;
    uint32_t codePoint, minimum;
    if ((c & 0xE0) == 0xC0) {
      length = 2, codePoint = c & 0x1F, minimum = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3, codePoint = c & 0x0F, minimum = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4, codePoint = c & 0x07, minimum = 0x10000;
    } else {
      return false;
    }
    if (size - i < length)
      return false;
    for (size_t k = 1; k < length; ++k) {
      if ((s[i + k] & 0xC0) != 0x80)
        return false;
      codePoint = (codePoint << 6) | (s[i + k] & 0x3F);
    }
    if (codePoint < minimum || codePoint > 0x10FFFF || (codePoint >= 0xD800 && codePoint <= 0xDFFF))
      return false;
    i += length;
  }
  return true;
}

} // namespace kiln::runtime
