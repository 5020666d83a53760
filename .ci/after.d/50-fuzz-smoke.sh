#!/usr/bin/env bash
# Fuzz smoke run: every target in fuzz/ for a few seconds, starting from its committed
# seeds (fuzz/seeds/TARGET). A crash, a failed assertion, or one input that takes longer
# than the per-input timeout fails the stage. Long runs are done by hand:
#   cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O TARGET corpus/TARGET seeds/TARGET
# (-O: the debug assertions come from fuzz/Cargo.toml's profile, which keeps ticketgate's
# and leaves out one of the MIME parser's; see there).
set -euo pipefail
cd "$(dirname "$0")/../.."

# cargo-fuzz passes nightly -Z flags; RUSTC_BOOTSTRAP lets the stable toolchain take them.
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

per_target=${FUZZ_SMOKE_SECONDS:-8}
cd fuzz
# No sanitizer: ticketgate forbids unsafe code, and an uninstrumented build is quicker to
# build and to run, which keeps the stage within a few minutes on two cores.
cargo fuzz build -O --sanitizer none
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  echo "fuzz smoke: $target (${per_target}s)"
  cargo fuzz run -O --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$per_target" -timeout=5 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 2>&1 | grep -E "stat::number_of_executed_units|ERROR|SUMMARY|Done" || true
  # A crash leaves an artifact; grep above hides nothing of it, the exit status is checked here.
  if compgen -G "artifacts/$target/*" >/dev/null; then
    echo "fuzz smoke: $target found a failing input:" artifacts/"$target"/* >&2
    exit 1
  fi
done
