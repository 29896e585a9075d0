// select_queue_server, started as a real process on the backend under test.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "tests/examples/client.hpp"
#include "tests/examples/process.hpp"

namespace iomux::test {

TEST_CASE("select_queue_server: greets each client and answers each message") {
    ServerProcess server(example_path("SELECT_QUEUE_SERVER"));
    // Several clients at once, each with its own queue of replies.
    std::vector<UniqueFd> clients;
    for (int i = 0; i < 20; ++i) {
        clients.push_back(connect_to(server.port()));
        CHECK(recv_exact(clients.back().get(), 17) == "Hello client-side");
    }
    for (int round = 0; round < 3; ++round) {
        // Everyone sends before anyone reads: the replies wait in the server's queues.
        for (std::size_t i = 0; i < clients.size(); ++i)
            send_all(clients[i].get(), fmt::format("message {} of client {}", round, i));
        for (std::size_t i = 0; i < clients.size(); ++i) {
            const std::string expected = fmt::format("response: message {} of client {}", round, i);
            CHECK(recv_exact(clients[i].get(), expected.size()) == expected);
        }
    }
    // A client that leaves is dropped; the others carry on.
    clients.front().reset();
    send_all(clients.back().get(), "still here");
    CHECK(recv_exact(clients.back().get(), 20) == "response: still here");
    clients.clear();
    CHECK(server.terminate());
}

}  // namespace iomux::test
