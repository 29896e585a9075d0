// Protocol: what a connection does with its bytes (asyncio's Protocol and BufferedProtocol).
//
// You implement a Protocol; a Transport (transport.hpp) calls it. The calls, in order:
//   connection_made(transport)         once, first
//   data_received(bytes) ...           any number, while reading is not paused
//   eof_received()                     at most once: the peer will send no more
//   connection_lost(error)             exactly once, last; the protocol is destroyed after it
// and, at any time between the first and the last, pause_writing() / resume_writing() when
// the transport's write buffer crosses its high / low water mark (each pause is followed by
// at most one resume).
//
// Every callback may call any Transport method: write, close and abort included. The
// Transport& stays valid until connection_lost() returns; the protocol is destroyed with
// its transport in the loop's next iteration (the socket closes then, once the loop has
// forgotten it). connection_lost() comes from the loop, never from inside close(),
// abort() or another callback, and nothing comes after it. pause_writing() and
// resume_writing() may run inside the call that crossed a mark (a write(), or
// set_write_buffer_limits()), as in asyncio.
//
// Exceptions. An exception that escapes data_received, buffer_updated, get_buffer or
// eof_received aborts the connection (connection_lost gets ECONNABORTED) and then goes to the
// loop's exception handler (reactor.hpp). One from connection_lost goes to the handler too.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>

namespace iomux {

class Transport;

class Protocol {
public:
    virtual ~Protocol() = default;

    virtual void connection_made(Transport& transport) { (void)transport; }
    // The bytes are valid during the call only.
    virtual void data_received(std::string_view data) { (void)data; }
    // The peer shut down its sending side. Return false to have the transport close (after
    // flushing what is buffered), true to keep writing (half-close): then the protocol
    // closes the transport when it is done.
    virtual bool eof_received() { return false; }
    // No error after close() or abort(), or when the peer closed cleanly after eof_received;
    // otherwise the errno: ECONNRESET, EPIPE, ETIMEDOUT..., ECONNABORTED after a protocol
    // callback threw, ECANCELED when the loop is destroyed with the connection open.
    virtual void connection_lost(std::error_code error) { (void)error; }
    // The write buffer grew past the high water mark: stop writing until resume_writing()
    // (writing on is allowed; the transport buffers without bound, so memory is yours).
    virtual void pause_writing() {}
    virtual void resume_writing() {}
};

// A protocol that supplies its own receive buffer, so bytes are read straight into it
// (asyncio's BufferedProtocol; libuv's alloc_cb): get_buffer() instead of data_received().
class BufferedProtocol : public Protocol {
public:
    // Where the transport may read up to buffer.size() bytes next (size_hint is what it
    // would like; any non-empty size works). An empty buffer aborts the connection.
    virtual std::span<char> get_buffer(std::size_t size_hint) = 0;
    // nbytes were read into the start of the last buffer get_buffer() returned.
    virtual void buffer_updated(std::size_t nbytes) = 0;

private:
    void data_received(std::string_view) final {}
};

// Makes one protocol per connection. A null result refuses the connection (it is closed).
using ProtocolFactory = std::function<std::unique_ptr<Protocol>()>;

}  // namespace iomux
