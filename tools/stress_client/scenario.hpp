// Scenario: the material's client. Connect every connection; then, for each message in
// turn, send it on every connection and wait until every connection has its full echo
// back (a barrier per message, as the material's send-all / recv-all loops), verified byte
// for byte, however many pieces it arrives in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "histogram.hpp"
#include "load_engine.hpp"
#include "progress.hpp"
#include "stage_clock.hpp"
#include "stream_content.hpp"
#include "workload.hpp"

namespace stress {

class Scenario final : public Workload, private LoadEngine::Driver {
public:
    Scenario(iomux::Reactor& loop, const EngineConfig& config, Progress& progress, StageClock::Probe server_cpu = {},
             std::vector<std::string> messages = kMaterialMessages);

    RunResult run() override;
    void interrupt() override { engine_.interrupt(); }

private:
    void connect_done() override;
    void received(std::uint32_t conn, std::uint64_t before, std::uint64_t after) override;
    void failed(std::uint32_t conn) override;
    bool partial_reply(std::uint32_t conn) const override;

    void start_phase(std::size_t k);
    void reply_settled();
    void phase_done();
    bool any_open() const;

    iomux::Reactor& loop_;
    Progress& progress_;
    MessageSequence content_;
    LoadEngine engine_;
    RunResult result_;
    StageClock clock_;

    static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
    std::size_t phase_ = kNone;
    bool starting_ = false;     // start_phase() is still sending: no phase end yet
    bool stage_open_ = false;   // a progress stage awaits its end()
    std::uint64_t pending_ = 0; // replies of this phase not yet settled (verified or failed)
    std::uint64_t in_phase_ = 0, verified_in_phase_ = 0;
    Clock::time_point phase_started_, finished_at_;
    // Per connection: is its reply to the current message outstanding, and when was the
    // message sent (ns on the steady clock). 9 bytes per connection.
    std::vector<std::uint8_t> waiting_;
    std::vector<std::int64_t> sent_at_;
};

}  // namespace stress
