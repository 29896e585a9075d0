// Protocol: what a connection sends and how its replies are checked, for the LoadEngine.
//
// The engine owns the sockets; a Protocol owns the bytes. Requests are one stream per
// connection (a function of the offset, so nothing is buffered per connection for what was
// sent); replies are handed over as they arrive, in pieces of any size, and the protocol
// says how many whole replies they completed, or what is wrong with them. One file per
// protocol: proto_echo.cpp (every reply equals what was sent: the material's),
// proto_expect.cpp (a fixed request, a fixed expected reply: line and binary protocols),
// proto_http.cpp (HTTP/1.1, keep-alive and pipelining).
//
// One Protocol per engine (per thread): per-connection state is indexed by the engine's
// connection number and touched only from that engine's reactor thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "error_kind.hpp"
#include "stream_content.hpp"

namespace stress {

// The command line's choice, copied into every thread's and worker's share of the run.
struct ProtocolSpec {
    enum class Kind : std::uint8_t { echo, expect, http };
    Kind kind = Kind::echo;
    std::string request;  // expect: the request; http: the request head, made by the options
    std::string expect;   // expect: the whole reply; http: the body, when checked
    int status_min = 200, status_max = 299;  // http: the statuses that pass
    bool head = false;    // http: HEAD, whose responses have no body
    // What a merge compares to refuse results of different runs ("echo", "http GET /x"...).
    std::string describe() const;
};

// Where a connection stands, as the engine counts it.
struct ConnStream {
    std::uint64_t sent = 0;      // request bytes written
    std::uint64_t received = 0;  // reply bytes read before the ones being checked
    std::uint32_t asked = 0;     // requests queued
    std::uint32_t answered = 0;  // replies complete
};

// A reply that is wrong: its kind (mismatch, bad_status, bad_reply) and, for the first of
// its kind only, what was wrong, with the offset where it went wrong.
struct ReplyError {
    ErrorKind kind = ErrorKind::mismatch;
    std::string detail;
};

class Protocol {
public:
    virtual ~Protocol() = default;
    virtual std::string_view name() const noexcept = 0;  // "echo", "expect", "http"

    // The request bytes conn sends from stream offset `offset` on, as one contiguous run
    // (at least one byte while offset < requests_end of what was asked).
    virtual std::span<const char> request(std::uint32_t conn, std::uint64_t offset) const noexcept = 0;
    // The stream offset where the first n requests end.
    virtual std::uint64_t requests_end(std::uint64_t n) const noexcept = 0;
    // Checks reply bytes that arrived on conn; returns how many replies they completed, or
    // -1 with *error filled (`first`: detail wanted, else leave it empty: the hot path
    // formats nothing).
    virtual std::int64_t check(std::uint32_t conn, const ConnStream& at, std::span<const char> data, bool first,
                               ReplyError* error) = 0;
    // conn holds part of a reply: a stall or an end of stream now is a short reply.
    virtual bool mid_reply(std::uint32_t conn, const ConnStream& at) const noexcept = 0;
    // The server ended conn between replies, as HTTP servers end keep-alive connections:
    // the engine reconnects it and sends the unanswered requests again.
    virtual bool may_reconnect(std::uint32_t conn, const ConnStream& at) const noexcept {
        (void)conn, (void)at;
        return false;
    }
    // conn is a new connection: its reply state starts over.
    virtual void restart(std::uint32_t conn) noexcept { (void)conn; }
    // Replies by HTTP status ("200" -> count); empty for other protocols.
    virtual std::map<std::string, std::uint64_t> statuses() const { return {}; }
};

// The protocol of spec for `conns` connections. Echo checks replies against `echo_content`
// (whose messages are the requests); the others ignore it.
std::unique_ptr<Protocol> make_protocol(const ProtocolSpec& spec, std::uint32_t conns,
                                        std::unique_ptr<StreamContent> echo_content);

std::unique_ptr<Protocol> make_echo(std::unique_ptr<StreamContent> content);
std::unique_ptr<Protocol> make_expect(const ProtocolSpec& spec);
std::unique_ptr<Protocol> make_http(const ProtocolSpec& spec, std::uint32_t conns);

// "0x0a" or "'a'": one reply byte for a mismatch message.
std::string show_byte(char c);

}  // namespace stress
