//===- EventLoop.cpp - The server's connections on one thread -------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// One round of a loop: wait (epoll_wait, level-triggered), read every
// socket that is ready and parse its requests, run the batches that are
// due, write the answers. With --max-delay-us 0 a batch is due at the end
// of the round in which its first request arrived, so the batch is what
// the loop's connections sent while the previous batch computed; in the
// auto mode (Batcher.h) the loop also tells each batcher how many of its
// connections are expected to send soon (expectSenders), and waits for
// them, to the microsecond (epoll_pwait2).
//
// Connections end when the client closes, after an answer that says
// Connection: close, or after a timeout (--timeout): idle keep-alive
// connections, clients that stall while sending a request (answered 408)
// and clients that do not read their answers. A connection that is refused
// (413, 411, ...) is shut down for writing after its answer and read to
// its end before it is closed, so that the client gets the answer instead
// of a reset.
//
//===----------------------------------------------------------------------===//

#include "EventLoop.h"

#include "core/LibOmp.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <thread>

using namespace kiln_server;

namespace {
constexpr uint64_t kListenId = 0, kWakeId = 1;
constexpr size_t kReadBytes = 64 * 1024;
/// Reads per socket per round: a fast sender cannot starve the others.
constexpr int kReadsPerRound = 8;
/// How long a refused or finished connection is read to its end.
constexpr auto kLinger = std::chrono::seconds(2);
/// How often timeouts are checked, at most.
constexpr auto kSweepEvery = std::chrono::milliseconds(100);
/// An answer buffer this large is given back once sent.
constexpr size_t kKeepOutputCapacity = 1 << 20;
/// A connection answered this recently that has not sent again is expected
/// to (Batcher.h, auto mode): a closed-loop client's next request follows
/// its answer within a round trip through the kernel.
constexpr auto kExpectedWithin = std::chrono::milliseconds(1);

void fail(const char *what) { throw std::system_error(errno, std::generic_category(), what); }

/// epoll_wait with a timeout finer than its milliseconds (a batch may wait
/// 500 us): epoll_pwait2, Linux 5.11 on; on older kernels, whole
/// milliseconds, rounded up.
int waitForEvents(int epoll, std::vector<epoll_event> &events, std::chrono::nanoseconds timeout) {
  static std::atomic<bool> noPwait2{false};
  if (!noPwait2) {
    timespec wait{time_t(timeout.count() / 1'000'000'000), long(timeout.count() % 1'000'000'000)};
    int ready = epoll_pwait2(epoll, events.data(), int(events.size()), &wait, nullptr);
    if (ready >= 0 || errno != ENOSYS)
      return ready;
    noPwait2 = true;
  }
  return epoll_wait(epoll, events.data(), int(events.size()),
                    int(std::chrono::ceil<std::chrono::milliseconds>(timeout).count()));
}
} // namespace

void LoopGroup::stop() {
  if (stopping.exchange(true))
    return;
  // New connections are refused from now on; the loops stop watching the
  // socket.
  ::shutdown(listenSocket, SHUT_RD);
  for (const std::unique_ptr<EventLoop> &loop : loops)
    loop->wake();
}

EventLoop::EventLoop(LoopGroup &group) : group_(group), readBuffer_(kReadBytes) {
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0)
    fail("epoll_create1");
  wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd_ < 0)
    fail("eventfd");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kWakeId;
  if (epoll_ctl(epoll_, EPOLL_CTL_ADD, wakeFd_, &event) != 0)
    fail("epoll_ctl");
  // Every loop accepts; EPOLLEXCLUSIVE wakes one of them per connection.
  event.events = EPOLLIN | EPOLLEXCLUSIVE;
  event.data.u64 = kListenId;
  if (epoll_ctl(epoll_, EPOLL_CTL_ADD, group_.listenSocket, &event) != 0)
    fail("epoll_ctl");
}

EventLoop::~EventLoop() {
  for (auto &[id, connection] : connections_)
    ::close(connection->socket);
  for (int socket : inbox_)
    ::close(socket);
  ::close(wakeFd_);
  ::close(epoll_);
}

void EventLoop::wake() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t written = ::write(wakeFd_, &one, sizeof one);
}

void EventLoop::assign(int socket) {
  ++connectionCount_;
  {
    std::lock_guard<std::mutex> lock(inboxMutex_);
    inbox_.push_back(socket);
  }
  wake();
}

void EventLoop::run() {
  // The loop computes its batches on its own thread; the other cores run
  // the other loops. When a large batch takes every core (Batcher.cpp), its
  // OpenMP workers spin only 1 ms after each parallel region instead of
  // libomp's 200, so that they give the other loops' cores back at once.
  omp_set_num_threads(1);
  kmp_set_blocktime(1);
  std::vector<epoll_event> events(256);
  lastSweep_ = Clock::now();
  while (true) {
    if (group_.stopping && !stopped_)
      beginStopping();
    if (stopped_ && connections_.empty())
      break;
    Clock::time_point beforeWait = Clock::now();
    expectSenders(beforeWait);
    int ready = waitForEvents(epoll_, events, timeToWait(beforeWait));
    if (ready < 0 && errno != EINTR)
      fail("epoll_wait");
    for (int i = 0; i < ready; ++i) {
      uint64_t id = events[size_t(i)].data.u64;
      if (id == kListenId) {
        acceptConnections();
      } else if (id == kWakeId) {
        uint64_t count = 0;
        [[maybe_unused]] ssize_t got = ::read(wakeFd_, &count, sizeof count);
        takeInbox();
      } else if (auto found = connections_.find(id); found != connections_.end()) {
        Connection &connection = *found->second;
        uint32_t happened = events[size_t(i)].events;
        if ((happened & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !readFrom(connection))
          continue; // closed
        if (happened & EPOLLOUT)
          touch(connection);
      }
    }
    runBatches(stopped_);
    // flush() may resume a connection's parsing, which can add to touched_.
    for (size_t i = 0; i < touched_.size(); ++i)
      if (auto found = connections_.find(touched_[i]); found != connections_.end()) {
        found->second->listed = false;
        flush(*found->second);
      }
    touched_.clear();
    Clock::time_point now = Clock::now();
    if (now - lastSweep_ >= kSweepEvery) {
      lastSweep_ = now;
      sweepTimeouts(now);
    }
  }
}

std::chrono::nanoseconds EventLoop::timeToWait(Clock::time_point now) const {
  std::chrono::nanoseconds wait = kSweepEvery;
  for (const auto &[model, batcher] : batchers_)
    if (std::optional<Clock::time_point> due = batcher->due())
      wait = std::min(wait, std::max(std::chrono::nanoseconds(0), *due - now));
  return wait;
}

void EventLoop::expectSenders(Clock::time_point now) {
  for (const auto &[model, batcher] : batchers_) {
    if (!batcher->waitsForSenders())
      continue;
    size_t expected = 0;
    for (const auto &[id, connection] : connections_)
      if (connection->model == model && connection->inferencesQueued == 0 &&
          now - connection->lastAnswered < kExpectedWithin)
        ++expected;
    batcher->expectSenders(expected);
  }
}

void EventLoop::acceptConnections() {
  while (true) {
    int socket = ::accept4(group_.listenSocket, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (socket < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      // Out of file descriptors: the connection waits in the backlog; pause
      // rather than spin on a socket that stays readable.
      if (errno == EMFILE || errno == ENFILE)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return; // EAGAIN: none left; EINVAL: stopping
    }
    int yes = 1;
    setsockopt(socket, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    if (group_.connections.fetch_add(1) >= group_.maxConnections) {
      // Over the limit: answered 503 here, and closed as a refused request
      // is (see flush), so that the client reads the answer, not a reset.
      --group_.connections;
      ++connectionCount_;
      Connection &refused = addConnection(socket, /*counted=*/false);
      refused.out = refused.http.refusal(503, "the server has " + std::to_string(group_.maxConnections) +
                                                  " connections open, its limit (--connections); try again");
      touch(refused);
      continue;
    }
    // To the loop with the fewest connections (this one when even).
    EventLoop *target = this;
    for (const std::unique_ptr<EventLoop> &loop : group_.loops)
      if (loop->connectionCount() < target->connectionCount())
        target = loop.get();
    if (target == this) {
      ++connectionCount_;
      addConnection(socket);
    } else {
      target->assign(socket);
    }
  }
}

void EventLoop::takeInbox() {
  std::vector<int> sockets;
  {
    std::lock_guard<std::mutex> lock(inboxMutex_);
    sockets.swap(inbox_);
  }
  for (int socket : sockets)
    addConnection(socket);
}

EventLoop::Connection &EventLoop::addConnection(int socket, bool counted) {
  auto connection = std::make_unique<Connection>(group_.limits);
  connection->socket = socket;
  connection->counted = counted;
  connection->id = nextId_++;
  connection->lastActivity = connection->requestStart = Clock::now();
  Connection &added = *connection;
  connections_.emplace(added.id, std::move(connection));
  watch(added, EPOLLIN);
  if (stopped_) {
    added.http.stop();
    touch(added);
  }
  return added;
}

void EventLoop::watch(Connection &connection, uint32_t events) {
  if (connection.registered && events == connection.events)
    return;
  epoll_event event{};
  event.events = events;
  event.data.u64 = connection.id;
  epoll_ctl(epoll_, connection.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, connection.socket, &event);
  connection.registered = true;
  connection.events = events;
}

void EventLoop::touch(Connection &connection) {
  if (!connection.listed) {
    connection.listed = true;
    touched_.push_back(connection.id);
  }
}

bool EventLoop::readFrom(Connection &connection) {
  char *buffer = readBuffer_.data();
  for (int reads = 0; reads < kReadsPerRound; ++reads) {
    ssize_t got = ::read(connection.socket, buffer, readBuffer_.size());
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return true;
    if (got <= 0) {
      // The client has closed (or reset) its side. Answers it still
      // waits for are sent if it can take them; otherwise it is done.
      if (got == 0 && connection.http.awaitingAnswers() && !connection.lingering) {
        connection.peerClosed = true;
        watch(connection, connection.events & ~uint32_t(EPOLLIN));
        return true;
      }
      close(connection);
      return false;
    }
    Clock::time_point now = Clock::now();
    connection.lastActivity = now;
    if (connection.lingering || connection.http.closing())
      continue; // read to the end, not parsed
    if (!connection.http.midRequest())
      connection.requestStart = now;
    current_ = &connection;
    connection.http.receive(buffer, size_t(got), *this);
    current_ = nullptr;
    touch(connection);
    if (connection.http.hasBacklog()) {
      // The pipeline is full: read more once answers have gone out.
      watch(connection, connection.events & ~uint32_t(EPOLLIN));
      return true;
    }
    if (size_t(got) < readBuffer_.size())
      return true; // nothing more for now
  }
  return true;
}

void EventLoop::onRequest(HttpConnection &http, uint64_t slot, HttpRequest &request) {
  HttpResponse response;
  std::optional<Inference> inference = group_.routes->dispatch(request, response);
  if (!inference) {
    http.answer(slot, std::move(response));
    return;
  }
  std::unique_ptr<Batcher> &batcher = batchers_[inference->model];
  if (!batcher)
    batcher = inference->model->makeBatcher();
  uint64_t tag = nextTag_++;
  int64_t rows = inference->request.rows;
  if (!batcher->submit(tag, std::move(inference->request.inputs), rows)) {
    http.answer(slot, group_.routes->busy(*inference));
    return;
  }
  current_->model = inference->model;
  ++current_->inferencesQueued;
  waiting_.emplace(tag, Waiting{current_->id, slot, std::move(*inference)});
}

void EventLoop::runBatches(bool flush) {
  Clock::time_point now = Clock::now();
  expectSenders(now);
  for (auto &[model, batcher] : batchers_) {
    std::vector<Batcher::Answer> answers = batcher->runDue(now, flush);
    Clock::time_point answered = Clock::now();
    for (Batcher::Answer &answer : answers) {
      auto found = waiting_.find(answer.tag);
      if (found == waiting_.end())
        continue;
      Waiting waiting = std::move(found->second);
      waiting_.erase(found);
      HttpResponse response = group_.routes->finish(waiting.inference, answer.slice, answer.failure);
      if (auto connection = connections_.find(waiting.connection); connection != connections_.end()) {
        connection->second->http.answer(waiting.slot, std::move(response));
        --connection->second->inferencesQueued;
        connection->second->lastAnswered = answered;
        touch(*connection->second);
      }
    }
  }
}

void EventLoop::flush(Connection &connection) {
  connection.http.takeOutput(connection.out);
  while (connection.written < connection.out.size()) {
    ssize_t sent = ::send(connection.socket, connection.out.data() + connection.written,
                          connection.out.size() - connection.written, MSG_NOSIGNAL);
    if (sent > 0) {
      connection.written += size_t(sent);
      connection.lastActivity = Clock::now();
    } else if (sent < 0 && errno == EINTR) {
      continue;
    } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      watch(connection, connection.events | EPOLLOUT);
      return;
    } else {
      close(connection);
      return;
    }
  }
  connection.out.clear();
  connection.written = 0;
  if (connection.out.capacity() > kKeepOutputCapacity)
    std::string().swap(connection.out);
  uint32_t events = connection.events & ~uint32_t(EPOLLOUT);
  if (connection.http.awaitingAnswers()) {
    watch(connection, events);
    return;
  }
  if (connection.peerClosed) {
    close(connection);
    return;
  }
  if (connection.http.closing()) {
    if (!connection.lingering) {
      // Answered for the last time: say so with a FIN, and read what the
      // client still sends until it closes too.
      ::shutdown(connection.socket, SHUT_WR);
      connection.lingering = true;
      connection.lastActivity = Clock::now();
    }
    watch(connection, EPOLLIN);
    return;
  }
  if (connection.http.hasBacklog()) {
    current_ = &connection;
    connection.http.resume(*this);
    current_ = nullptr;
    touch(connection);
  }
  watch(connection, connection.http.hasBacklog() ? events & ~uint32_t(EPOLLIN) : events | EPOLLIN);
}

void EventLoop::close(Connection &connection) {
  ::close(connection.socket); // also leaves the epoll set
  --connectionCount_;
  if (connection.counted)
    --group_.connections;
  connections_.erase(connection.id);
}

void EventLoop::sweepTimeouts(Clock::time_point now) {
  auto timeout = std::chrono::seconds(group_.timeoutSeconds);
  std::vector<Connection *> expired, stalled;
  for (auto &[id, owned] : connections_) {
    Connection &connection = *owned;
    auto quiet = now - connection.lastActivity;
    if (connection.lingering) {
      if (quiet > kLinger)
        expired.push_back(&connection);
    } else if (connection.written < connection.out.size()) {
      if (quiet > timeout) // the client does not read its answers
        expired.push_back(&connection);
    } else if (connection.http.awaitingAnswers()) {
      // waiting for its batch: the server's time, not the client's
    } else if (connection.http.midRequest()) {
      // A client that stalls while sending, or sends a byte at a time.
      if (quiet > timeout || now - connection.requestStart > timeout * 12)
        stalled.push_back(&connection);
    } else if (quiet > timeout) {
      expired.push_back(&connection); // an idle keep-alive connection
    }
  }
  for (Connection *connection : expired)
    close(*connection);
  for (Connection *connection : stalled) {
    connection->http.timeOut();
    touch(*connection);
  }
}

void EventLoop::beginStopping() {
  stopped_ = true;
  epoll_ctl(epoll_, EPOLL_CTL_DEL, group_.listenSocket, nullptr);
  takeInbox();
  std::vector<uint64_t> ids;
  for (const auto &[id, connection] : connections_)
    ids.push_back(id);
  for (uint64_t id : ids) {
    auto found = connections_.find(id);
    Connection &connection = *found->second;
    // What has arrived is in flight: parse it first.
    if (!connection.lingering && !readFrom(connection))
      continue;
    connection.http.stop();
    if (!connection.http.midRequest() && !connection.http.awaitingAnswers() && connection.out.empty() &&
        !connection.lingering)
      close(connection); // idle
    else
      touch(connection);
  }
}
