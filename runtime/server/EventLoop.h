//===- EventLoop.h - The server's connections on one thread -----*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The server runs one event loop per compute thread (--threads). Each loop
// owns a share of the connections and does everything for them on its
// thread: it waits on its sockets with epoll, reads what has arrived,
// parses the requests (HttpConnection), answers most of them at once
// (Routes), queues inference requests in its own Batcher per model, runs
// the batches that are due with the compiled code on this same thread, and
// writes the answers. Nothing is handed between threads per request: on a
// machine with few cores the thread switches, futex wake-ups and system
// calls of a thread per connection cost more than the model's compute.
//
// New connections go to the loop with the fewest. A loop that accepts a
// connection for another hands it over through that loop's inbox and
// eventfd.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_SERVER_EVENTLOOP_H
#define KILN_RUNTIME_SERVER_EVENTLOOP_H

#include "HttpConnection.h"
#include "Routes.h"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace kiln_server {

class EventLoop;

/// What the loops of one server share.
struct LoopGroup {
  int listenSocket = -1;
  const Routes *routes = nullptr;
  const std::vector<std::unique_ptr<ServedModel>> *models = nullptr;
  HttpLimits limits;
  int timeoutSeconds = 5;
  int maxConnections = 1024;
  std::atomic<int> connections{0};   ///< open, over every loop
  std::atomic<bool> stopping{false}; ///< set by stop(); the loops end once their connections have
  std::vector<std::unique_ptr<EventLoop>> loops;

  /// Stops accepting connections and wakes every loop, which answers the
  /// requests it has received and ends. Any thread may call it.
  void stop();
};

class EventLoop : private RequestSink {
public:
  explicit EventLoop(LoopGroup &group);
  ~EventLoop() override;
  EventLoop(const EventLoop &) = delete;
  EventLoop &operator=(const EventLoop &) = delete;

  /// Serves connections until the group stops and this loop's connections
  /// have ended.
  void run();
  /// From any thread: serve this accepted socket (counted at once, so that
  /// the next connection of a burst goes elsewhere).
  void assign(int socket);
  /// From any thread: wake the loop to look at its inbox and the group.
  void wake();
  int connectionCount() const { return connectionCount_; }

private:
  using Clock = std::chrono::steady_clock;
  struct Connection {
    explicit Connection(const HttpLimits &limits) : http(limits) {}
    int socket = -1;
    uint64_t id = 0;
    HttpConnection http;
    std::string out;    ///< bytes to send
    size_t written = 0; ///< of `out`
    Clock::time_point lastActivity, requestStart;
    /// For the batchers' auto mode: the model of its last inference request,
    /// how many of its inference requests are queued, and when the last one
    /// was answered.
    const ServedModel *model = nullptr;
    int inferencesQueued = 0;
    Clock::time_point lastAnswered;
    uint32_t events = 0;     ///< the epoll events asked for
    bool registered = false; ///< in the epoll set
    bool counted = true;     ///< in LoopGroup::connections
    bool peerClosed = false; ///< the client has closed its side; answer, then close
    bool lingering = false;  ///< answered and shut down for writing; reading what is left
    bool listed = false;     ///< in touched_
  };

  void onRequest(HttpConnection &connection, uint64_t slot, HttpRequest &request) override;
  void acceptConnections();
  /// `counted`: in the group's count of open connections (not a refused one).
  Connection &addConnection(int socket, bool counted = true);
  void takeInbox();
  /// Reads and parses what has arrived; false when the connection ended.
  bool readFrom(Connection &connection);
  void touch(Connection &connection);
  /// Sends what is ready; ends the connection when it is done.
  void flush(Connection &connection);
  void watch(Connection &connection, uint32_t events);
  void close(Connection &connection);
  void runBatches(bool flush);
  void sweepTimeouts(Clock::time_point now);
  void beginStopping();
  /// Tells the batchers that wait for senders (auto mode) how many of this
  /// loop's connections they wait for.
  void expectSenders(Clock::time_point now);
  /// Until the first batch is due, at most until the next sweep.
  std::chrono::nanoseconds timeToWait(Clock::time_point now) const;

  LoopGroup &group_;
  int epoll_ = -1;
  int wakeFd_ = -1;
  std::atomic<int> connectionCount_{0};
  std::vector<char> readBuffer_;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  uint64_t nextId_ = 2;           ///< 0 and 1 are the listening socket and the eventfd
  Connection *current_ = nullptr; ///< whose requests onRequest is given
  std::vector<uint64_t> touched_; ///< connections with answers to send
  std::map<const ServedModel *, std::unique_ptr<Batcher>> batchers_;
  struct Waiting {
    uint64_t connection, slot;
    Inference inference;
  };
  std::unordered_map<uint64_t, Waiting> waiting_; ///< by Batcher tag
  uint64_t nextTag_ = 0;
  bool stopped_ = false; ///< beginStopping has run
  Clock::time_point lastSweep_;
  std::mutex inboxMutex_;
  std::vector<int> inbox_;
};

} // namespace kiln_server

#endif // KILN_RUNTIME_SERVER_EVENTLOOP_H
