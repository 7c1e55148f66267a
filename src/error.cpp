// SPDX-License-Identifier: MIT
// The single place where an error kind becomes an exit status (docs/contract.md
// §4).
#include "snap/error.hpp"

namespace snap {

int exit_code(ErrorKind kind) {
  switch (kind) {
  case ErrorKind::usage:
  case ErrorKind::config:
    return 2;
  case ErrorKind::partial:
    return 3;
  case ErrorKind::connect:
  case ErrorKind::timeout:
    return 4;
  case ErrorKind::auth:
    return 5;
  case ErrorKind::not_found:
    return 6;
  case ErrorKind::archive:
    return 7;
  case ErrorKind::unsupported:
    return 8;
  case ErrorKind::interrupted:
    return 130;
  case ErrorKind::locked:
    return 9;
  case ErrorKind::not_ready:
    return 10;
  case ErrorKind::conflict:
  case ErrorKind::remote:
  case ErrorKind::internal:
    return 1;
  }
  return 1;
}

std::string_view kind_name(ErrorKind kind) {
  switch (kind) {
  case ErrorKind::usage:
    return "usage";
  case ErrorKind::config:
    return "config";
  case ErrorKind::connect:
    return "connect";
  case ErrorKind::timeout:
    return "timeout";
  case ErrorKind::auth:
    return "auth";
  case ErrorKind::not_found:
    return "not_found";
  case ErrorKind::conflict:
    return "conflict";
  case ErrorKind::remote:
    return "remote";
  case ErrorKind::archive:
    return "archive";
  case ErrorKind::unsupported:
    return "unsupported";
  case ErrorKind::partial:
    return "partial";
  case ErrorKind::interrupted:
    return "interrupted";
  case ErrorKind::locked:
    return "locked";
  case ErrorKind::not_ready:
    return "not_ready";
  case ErrorKind::internal:
    return "internal";
  }
  return "internal";
}

} // namespace snap
