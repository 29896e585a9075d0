// LoadEngine: N TCP connections to one server on an iomux::Reactor, each carrying a stream
// of requests whose replies are checked as they arrive, by a Protocol (protocol.hpp): echo,
// request/expected reply, or HTTP.
//
// The engine owns the mechanics: non-blocking connects with a bounded window in flight (so
// the server's listen backlog never overflows and drops SYNs, which would cost a 1 s SYN
// retransmit), refused connects retried with exponential backoff, optional source
// addresses and connect rate, writing what the driver queued, reading every reply byte and
// handing it to the protocol, reconnecting where the protocol allows (a server ending an
// HTTP keep-alive connection), classifying each failure, and the global deadline. The Driver decides what to send and
// when: the material's three-message scenario (scenario.hpp) or sustained load
// (sustained.hpp).
//
//   Scenario driver(loop, config, progress);   // owns a LoadEngine
//   driver.run();                              // returns when done, failed or out of time
//
// Per connection the engine keeps 40 bytes (and 8 for its connect time); replies are read
// into one shared 64 KiB buffer and checked by the protocol, so nothing is buffered per
// connection.
// Single-threaded: everything runs in the reactor's thread (--threads runs one engine per
// thread, each on its own reactor).
//
// Readiness is asked of the reactor only when it saves work. With `read_on_demand` an
// open connection is not watched until the driver's receive() finds nothing to read
// (EAGAIN); from then on it stays watched (one epoll_ctl in its life, no add/remove per
// message). Against a local server most replies are there by the time they are read, so
// most connections cost exactly what a blocking client's do: socket, connect, send, recv.
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "error_kind.hpp"
#include "histogram.hpp"
#include "poller/unique_fd.hpp"
#include "reactor/reactor.hpp"
#include "protocol.hpp"

namespace stress {

using Clock = std::chrono::steady_clock;

struct EngineConfig {
    sockaddr_in server{};
    std::uint32_t conns = 1;
    // The number of this engine's connection 0 in the whole run (--threads and --workers
    // split the connections): names connections in messages and picks source addresses.
    std::uint32_t first_conn = 0;
    // 0: the kernel picks the source address. K > 0: connection i (counted from first_conn)
    // binds to 127.0.0.(1 + i % K)
    // first, so more connections than one address has ephemeral ports can be made.
    std::uint32_t source_addrs = 0;
    std::uint32_t connect_window = 512;   // connects in flight at once
    std::uint32_t connect_attempts = 8;   // per connection, for refused / reset connects
    double connect_rate = 0;              // new connections a second at most; 0: no limit
    bool nodelay = false;                 // TCP_NODELAY: for pipelined small messages
    // Ask the socket (a second connect()) whether the handshake completed at once, as it
    // does on loopback, before waiting for writability in the reactor.
    bool check_connect_at_once = true;
    // Watch an open connection for replies only once receive() found none (see above);
    // false: watched from the moment it opens, and replies come only through the reactor.
    bool read_on_demand = false;
    // End with RST instead of FIN (SO_LINGER 0): no TIME_WAIT left behind, whose sockets
    // would make the next run's connect() to the same server port search past them for a
    // free port (README.md has the cost); the server sees ECONNRESET instead of EOF.
    bool abortive_close = false;
    Clock::time_point deadline;           // everything unfinished then fails as a timeout
    ProtocolSpec protocol;
};

class LoadEngine {
public:
    // What the workload implements. The engine calls these from reactor callbacks; they may
    // call send() (on any connection), finish(), and the const accessors.
    class Driver {
    public:
        virtual ~Driver() = default;
        // Every connection is open or has failed to open (also when none opened).
        virtual void connect_done() = 0;
        // `replies` more replies of the connection arrived whole and checked.
        virtual void replied(std::uint32_t conn, std::uint32_t replies) = 0;
        // An open connection failed; it is closed now and counted in errors(). Once per
        // connection. (Connections that never opened are reported through errors() only.)
        virtual void failed(std::uint32_t conn) = 0;
    };

    LoadEngine(iomux::Reactor& loop, const EngineConfig& config, Protocol& protocol, Driver& driver);
    // Removes every callback from the reactor, then closes the sockets (see abortive_close).
    ~LoadEngine();
    LoadEngine(const LoadEngine&) = delete;
    LoadEngine& operator=(const LoadEngine&) = delete;

    // Arms the deadline and starts connecting. Run the reactor afterwards.
    void start();
    // Queues `requests` more requests on conn and writes as much as the socket takes now;
    // the rest goes out as the socket drains. Ignored for a connection that is not open.
    void send(std::uint32_t conn, std::uint32_t requests);
    // Reads conn's replies now, until every request is answered (checked and passed to
    // the driver) or nothing more has arrived; in that case the connection is watched
    // from now on and the rest comes through the reactor. A no-op for a connection that is
    // not open or already watched. Returns true when it left conn waiting in the reactor.
    bool receive(std::uint32_t conn);
    // The workload is complete: stops the reactor.
    void finish();
    // A signal asked us to stop: everything unfinished fails as `interrupted`.
    void interrupt();

    bool stopping() const noexcept { return stopping_; }
    bool expired() const noexcept { return expired_; }
    // Open, or being made again after the server ended it between replies: requests sent
    // to it now go out once it is open (a round of the scenario must not skip it).
    bool is_open(std::uint32_t conn) const noexcept {
        return conns_[conn].state == State::open || conns_[conn].reopening;
    }
    std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(conns_.size()); }

    // Connections that opened (and may have failed later), and that gave up opening.
    std::uint32_t connected() const noexcept { return connected_; }
    std::uint32_t connect_failed() const noexcept { return settled_ - connected_; }
    std::uint64_t connect_attempts() const noexcept { return connect_attempts_; }
    bool connecting_done() const noexcept { return connect_done_; }
    Clock::time_point started_at() const noexcept { return started_at_; }
    Clock::time_point connect_done_at() const noexcept { return connect_done_at_; }
    std::uint64_t bytes_sent() const noexcept { return bytes_sent_; }
    std::uint64_t bytes_verified() const noexcept { return bytes_verified_; }
    // Connections the server ended between replies, made again (HTTP keep-alive).
    std::uint64_t reconnects() const noexcept { return reconnects_; }
    // From socket() to established, per connection made (the last attempt's).
    const LatencyHistogram& connect_latency() const noexcept { return connect_latency_; }
    const Protocol& protocol() const noexcept { return protocol_; }
    const ErrorLog& errors() const noexcept { return errors_; }
    // Why the run was cut short as a whole ("nothing accepts connections at ..."), or empty.
    const std::string& abort_reason() const noexcept { return abort_reason_; }

private:
    // ended: the server ended it between replies with nothing outstanding; it is made
    // again when a request is sent to it (reopening), not before.
    enum class State : std::uint8_t { idle, connecting, backoff, open, failed, ended };
    struct Conn {
        iomux::UniqueFd fd;
        State state = State::idle;
        std::uint8_t attempts = 0;
        bool writing = false;        // a writer callback is registered (connecting or backlog)
        bool reading = false;        // a reader callback is registered
        std::uint16_t last_errno = 0;
        bool reopening = false;      // made again after the server ended it (reconnect)
        ConnStream stream;
    };
    static_assert(sizeof(Conn) <= 40, "tens of thousands of these: keep a connection's state small");

    void pump();
    void begin_connect(std::uint32_t c);
    void connect_ready(std::uint32_t c);
    void opened(std::uint32_t c);
    void connect_failed(std::uint32_t c, int err);
    void retry(std::uint32_t c);
    void unreachable(int err);
    void settle();
    void watch_reads(std::uint32_t c);
    enum class Read : std::uint8_t { data, full, nothing, ended };
    Read read_once(std::uint32_t c);
    bool ended_between_replies(std::uint32_t c, int err);
    void reopen(std::uint32_t c);
    bool rate_limited();
    void schedule_pump();
    bool unanswered(const Conn& k) const noexcept { return k.stream.answered < k.stream.asked; }
    void flush(std::uint32_t c);
    void expire();
    void fail(std::uint32_t c, ErrorKind kind, std::string_view detail);
    bool first(ErrorKind kind) const noexcept { return errors_.count(kind) == 0; }
    std::string describe_conn(std::uint32_t c) const;
    void release(Conn& k) noexcept;

    iomux::Reactor& loop_;
    const EngineConfig config_;
    Protocol& protocol_;
    Driver& driver_;
    std::vector<Conn> conns_;
    std::vector<char> buf_;  // every read lands here, for every connection

    std::uint32_t next_ = 0;       // next connection never attempted
    std::deque<std::uint32_t> retry_queue_;
    std::uint32_t in_flight_ = 0;  // connects awaiting the handshake
    std::uint32_t connected_ = 0, settled_ = 0;
    std::uint64_t connect_attempts_ = 0, reconnects_ = 0, fresh_started_ = 0;
    std::vector<std::int64_t> connect_began_;  // ns on the steady clock, per connection
    LatencyHistogram connect_latency_;
    bool pumping_ = false, pump_scheduled_ = false, rate_wait_ = false, connect_done_ = false, stopping_ = false, expired_ = false;
    Clock::time_point started_at_, connect_done_at_;
    std::uint64_t bytes_sent_ = 0, bytes_verified_ = 0;
    ErrorLog errors_;
    std::string abort_reason_;
    iomux::TimerHandle deadline_, rate_timer_;
    // Timers and call_soon callbacks hold a weak_ptr to this: one that outlives the engine
    // (the reactor is not ours) finds it expired and does nothing.
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

// Parses an IPv4 address ("127.0.0.1"; "localhost" too) and port; throws
// std::invalid_argument for anything else.
sockaddr_in make_address(std::string_view host, std::uint16_t port);

}  // namespace stress
