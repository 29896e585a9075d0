// SocketAddress: a TCP endpoint as text and number, and the conversions to and from the
// kernel's sockaddr. IPv4 and IPv6.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace iomux {

// Numeric: "127.0.0.1" and 8000, or "::1" and 8000.
struct SocketAddress {
    std::string host;
    std::uint16_t port = 0;

    // "127.0.0.1:8000", "[::1]:8000"
    std::string to_string() const;
    bool operator==(const SocketAddress&) const = default;
};

// What resolve() makes: one sockaddr, ready for bind() or connect().
struct ResolvedAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;
    int family() const noexcept { return storage.ss_family; }
    const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
};

// The first TCP address of host: a numeric IPv4 or IPv6 address, or a name ("localhost"),
// which getaddrinfo looks up synchronously (from /etc/hosts or DNS: it blocks the caller
// for that long). An empty host is the IPv4 wildcard. std::system_error with
// resolve_category() for a name that does not resolve (socket.gaierror's analogue).
ResolvedAddress resolve(std::string_view host, std::uint16_t port);
const std::error_category& resolve_category() noexcept;

SocketAddress to_socket_address(const sockaddr* addr);
// getsockname / getpeername; std::system_error when the kernel refuses (ENOTCONN...).
SocketAddress local_address(int fd);
SocketAddress peer_address(int fd);

}  // namespace iomux
