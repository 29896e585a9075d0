// UringAcceptor: a Server's multishot accept on the completion path (io_uring): one
// request accepts every connection, each a completion of the loop's next wait, with no
// accept(2) of our own. The Server owns it; when the Server closes, the loop does, until the
// kernel has completed its last request. Internal.
#pragma once

#include "poller/unique_fd.hpp"
#include "reactor/completion_io.hpp"
#include "reactor/owned.hpp"

namespace iomux {

class Reactor;
class Server;

class UringAcceptor final : public Owned, public CompletionTarget {
public:
    // Hands the server each connection (Server::serve) and each failure (Server::accept_failed).
    UringAcceptor(Reactor& loop, CompletionIo& io, Server& server, int listener) noexcept;

    // Starts accepting (idempotent); stop() cancels.
    void start();
    void stop();
    // The server is going, and will close the listener: cancels now, so that the listener
    // really closes. Give it to the loop (Reactor::owned) next: it ends itself there, once
    // the kernel has completed its request.
    void detach() noexcept;
    void end_when_idle() noexcept;

    void complete(unsigned op, const Completion& c) noexcept override;

private:

    Reactor& loop_;
    CompletionIo& io_;
    Server* server_;
    int listener_;
    bool armed_ = false;       // the multishot accept is in the kernel
    bool cancelling_ = false;  // and a cancel of it was submitted
    bool ending_ = false;      // its destruction is queued
};

}  // namespace iomux
