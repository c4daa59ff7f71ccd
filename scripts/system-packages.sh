#!/usr/bin/env bash
# Installs the Debian packages the tests (or the benchmarks) need, where they are missing:
#   test:  openssl (certificates for the TLS suite), python3 (the Python clients), haproxy (the proxy
#          and cluster suites), redis-server (the cluster suite's broker)
#   bench: gcc and libssl-dev (the C load generator, plaintext and TLS), redis-server (bench:fanout)
# As root with apt-get: `apt-get update` once, then `apt-get install -y`. Otherwise it says
# what to install and fails, rather than letting a suite fail later for want of a program.
# For the tests it also sets net.ipv4.tcp_migrate_req=1 where it may (see below).
set -euo pipefail

purpose="${1:-test}"
missing=()
need_command() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_package() { dpkg -s "$1" >/dev/null 2>&1 || missing+=("$1"); }

case "$purpose" in
  test)
    need_command openssl openssl
    need_command python3 python3
    need_command haproxy haproxy
    need_command redis-server redis-server
    ;;
  bench)
    need_command gcc gcc
    need_package libssl-dev
    need_command redis-server redis-server
    ;;
  *)
    echo "usage: $0 [test|bench]" >&2
    exit 2
    ;;
esac

# Threads mode replaces its reactors on reload without resetting a connection only where the
# kernel moves connections queued on a closing SO_REUSEPORT listener to another one (Linux >= 5.14).
migrate=/proc/sys/net/ipv4/tcp_migrate_req
if [ "$purpose" = test ] && [ -w "$migrate" ] && [ "$(cat "$migrate")" != 1 ]; then
  echo "setting net.ipv4.tcp_migrate_req=1 (the reload tests replace SO_REUSEPORT listeners)" >&2
  echo 1 > "$migrate"
fi

[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} (needed to $purpose)" >&2
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
else
  echo "reactor-server: to $purpose, install: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
