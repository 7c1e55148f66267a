// SPDX-License-Identifier: MIT
// Error values returned across every boundary where failure is ordinary, and
// the one mapping from an error's kind to the process exit code
// (docs/contract.md §4).
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <fmt/format.h>
#include <tl/expected.hpp>

namespace snap {

enum class ErrorKind {
  usage,
  config,
  connect,
  timeout,
  auth,
  not_found,
  conflict,
  remote,
  archive,
  unsupported,
  partial,
  interrupted,
  locked,    // another snap holds the target's lock
  not_ready, // status: not ready for a backup, or the backup not complete
  internal,
};

struct Error {
  ErrorKind kind;
  std::string message;
};

template <class T> using Expected = tl::expected<T, Error>;

// Builds the unexpected value for `kind` with `message`.
inline tl::unexpected<Error> fail(ErrorKind kind, std::string message) {
  return tl::unexpected<Error>(Error{kind, std::move(message)});
}

// The exit status for `kind`, as the table in docs/contract.md §4 and
// man/snap.1 list it.
int exit_code(ErrorKind kind);

// The stable lowercase name of `kind` used in `--json` error documents.
std::string_view kind_name(ErrorKind kind);

namespace detail {
// Moves the value out of a checked Expected (nothing for Expected<void>).
template <class E> auto take_value(E&& e) {
  using T = typename std::remove_cvref_t<E>::value_type;
  if constexpr (!std::is_void_v<T>) {
    return T(std::move(*e));
  }
}
} // namespace detail

} // namespace snap

// Evaluates an Expected; on failure returns its error from the enclosing
// function, otherwise yields its value (void for Expected<void>).
#define SNAP_TRY(expr)                                                         \
  ({                                                                           \
    auto&& snap_try_result_ = (expr);                                          \
    if (!snap_try_result_) {                                                   \
      return tl::unexpected<::snap::Error>(                                    \
          std::move(snap_try_result_).error());                                \
    }                                                                          \
    ::snap::detail::take_value(snap_try_result_);                              \
  })

template <> struct fmt::formatter<snap::ErrorKind> : formatter<string_view> {
  template <class Ctx> auto format(snap::ErrorKind kind, Ctx& ctx) const {
    return formatter<string_view>::format(snap::kind_name(kind), ctx);
  }
};
