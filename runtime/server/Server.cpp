//===- Server.cpp - The inference server of a model binary ----------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// serve(): the listening socket, one event loop per compute thread
// (EventLoop.cpp), and the stop signals. The first loop runs on the calling
// thread; SIGINT and SIGTERM are taken by a thread of their own (sigwait),
// which stops the loops.
//
//===----------------------------------------------------------------------===//

#include "Server.h"

#include "EventLoop.h"

#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <thread>

using namespace kiln_server;

namespace {

sigset_t stopSignalSet() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}

/// A non-blocking socket listening on host:port (port 0: any free port,
/// written back), or -1 after saying why not.
int listenOn(const std::string &host, int &port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo *addresses = nullptr;
  std::string service = std::to_string(port);
  int resolved = getaddrinfo(host.c_str(), service.c_str(), &hints, &addresses);
  if (resolved != 0) {
    std::fprintf(stderr, "%s: error: cannot listen on '%s': %s\n", kiln_binary::programName.c_str(), host.c_str(),
                 gai_strerror(resolved));
    return -1;
  }
  int listening = -1, error = 0;
  for (addrinfo *address = addresses; address && listening < 0; address = address->ai_next) {
    int candidate = ::socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (candidate < 0) {
      error = errno;
      continue;
    }
    int yes = 1;
    setsockopt(candidate, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(candidate, address->ai_addr, address->ai_addrlen) == 0 && ::listen(candidate, SOMAXCONN) == 0) {
      listening = candidate;
    } else {
      error = errno;
      ::close(candidate);
    }
  }
  freeaddrinfo(addresses);
  if (listening < 0) {
    std::fprintf(stderr, "%s: error: cannot listen on %s port %d: %s\n", kiln_binary::programName.c_str(), host.c_str(),
                 port, std::strerror(error));
    return -1;
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  getsockname(listening, reinterpret_cast<sockaddr *>(&bound), &length);
  port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6 *>(&bound)->sin6_port
                                           : reinterpret_cast<sockaddr_in *>(&bound)->sin_port);
  return listening;
}

/// Each connection is a file descriptor: allow as many as the hard limit.
void raiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}
} // namespace

void kiln_server::blockStopSignals() {
  sigset_t signals = stopSignalSet();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

int kiln_server::serve(std::vector<std::unique_ptr<ServedModel>> models, const ServeOptions &options) {
  blockStopSignals();
  sigset_t stopSignals = stopSignalSet();
  signal(SIGPIPE, SIG_IGN); // a client that hangs up is an error on its socket
  raiseOpenFileLimit();

  int port = options.port;
  int listening = listenOn(options.host, port);
  if (listening < 0)
    return 1;

  Routes routes(models);
  LoopGroup group;
  group.listenSocket = listening;
  group.routes = &routes;
  group.limits.maxBodyBytes = uint64_t(options.maxBodyMb) << 20;
  group.timeoutSeconds = options.timeoutSeconds;
  group.maxConnections = options.connections;
  // One loop per compute thread; compiled code on a GPU is called from one.
  int loops = kiln_get_num_threads();
  for (const std::unique_ptr<ServedModel> &model : models)
    if (model->onGpu())
      loops = 1;
  for (int i = 0; i < std::max(1, loops); ++i)
    group.loops.push_back(std::make_unique<EventLoop>(group));

  std::string url = "http://" +
                    (options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host) + ":" +
                    std::to_string(port) + "/";
  for (const std::unique_ptr<ServedModel> &model : models)
    std::printf("Serving %s at %s (weights: %s)\n", model->name().c_str(), url.c_str(),
                model->weights().empty() ? "seeded initializers, untrained" : model->weights().c_str());
  std::fflush(stdout);

  std::thread signalWaiter([&group, stopSignals] {
    int signal = 0;
    sigwait(&stopSignals, &signal);
    group.stop();
  });
  std::vector<std::thread> threads;
  for (size_t i = 1; i < group.loops.size(); ++i)
    threads.emplace_back([&group, i] { group.loops[i]->run(); });
  group.loops[0]->run();
  for (std::thread &thread : threads)
    thread.join();
  // The loops end only after stop(), which the signal thread calls.
  signalWaiter.join();
  ::close(listening);
  group.loops.clear();
  models.clear();
  std::printf("Stopped\n");
  return 0;
}
