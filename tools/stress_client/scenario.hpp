// Scenario: the material's client. Connect every connection; then, for each message in
// turn, send it on every connection and wait until every connection has its full echo
// back (a barrier per message, as the material's send-all / recv-all loops), verified byte
// for byte, however many pieces it arrives in. With another protocol (--request, --protocol
// http) each of the three rounds sends one request per connection and awaits its reply.
//
// Each message is two passes, as in the material: a send pass over every connection, then
// a read pass that reads each reply directly (LoadEngine::receive) instead of waiting to be
// told it is there. When a reply has not arrived yet the pass stops on that connection and
// waits for it in the reactor, which gives the server time to get ahead, and then goes on:
// against a local server most connections are never registered with the poller at all.
// With --threads, one Scenario per thread, each with its share of the connections, all
// meeting at the same StageBarrier.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "histogram.hpp"
#include "load_engine.hpp"
#include "stage_barrier.hpp"
#include "stream_content.hpp"
#include "workload.hpp"

namespace stress {

class Scenario final : public Workload, private LoadEngine::Driver {
public:
    // config.read_on_demand is set here: the read pass relies on it.
    Scenario(iomux::Reactor& loop, EngineConfig config, StageBarrier& stages,
             std::vector<std::string> messages = kMaterialMessages);
    // Leaves the barrier if run() did not (an exception): the other threads go on.
    ~Scenario() override;

    // Returns this party's figures; the stages are the barrier's.
    RunResult run() override;
    void interrupt() override { engine_.interrupt(); }

private:
    void connect_done() override;
    void replied(std::uint32_t conn, std::uint32_t replies) override;
    void failed(std::uint32_t conn) override;

    void start_phase(std::size_t k);
    void read_pass();
    void settled(std::uint32_t conn);
    void phase_done();
    void leave_barrier();
    bool any_open() const;
    std::pair<std::uint64_t, std::uint64_t> progress() const;

    iomux::Reactor& loop_;
    StageBarrier& stages_;
    const std::size_t rounds_;
    std::unique_ptr<Protocol> protocol_;
    LoadEngine engine_;
    RunResult result_;

    static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
    static constexpr std::uint32_t kNoConn = UINT32_MAX;
    std::size_t phase_ = kNone;
    bool passing_ = false;       // the send or read pass is not through yet: no phase end
    bool in_barrier_ = true;     // the barrier counts on us (until we finish or stop)
    bool starting_ = false;      // a stage ended, the next one's start_phase() is yet to run
    std::uint32_t read_next_ = 0;          // where the read pass goes on
    std::uint32_t stalled_on_ = kNoConn;   // the connection the read pass waits for
    std::uint64_t pending_ = 0;  // replies of this phase not yet settled (verified or failed)
    std::uint64_t in_phase_ = 0, verified_in_phase_ = 0;
    Clock::time_point finished_at_;
    // Per connection: is its reply to the current message outstanding, and when was the
    // message sent (ns on the steady clock). 9 bytes per connection.
    std::vector<std::uint8_t> waiting_;
    std::vector<std::int64_t> sent_at_;
};

}  // namespace stress
