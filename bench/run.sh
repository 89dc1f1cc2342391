#!/usr/bin/env bash
# Dijk performance benchmark: one command on a fresh Debian machine, as root.
#
#   bench/run.sh            full run (3 repetitions, 5 s runs; about 13 minutes),
#                           writes bench/RESULTS.md and bench/results.svg
#   QUICK=1 bench/run.sh    smoke run (1 repetition, 2 s runs; about 2 minutes),
#                           writes $WORKDIR/RESULTS.md and $WORKDIR/results.svg
#
# Environment (all optional):
#   QUICK=1            smoke mode, as above
#   OUT=DIR            where RESULTS.md and results.svg go
#   WORKDIR=DIR        generated workloads, configs, binaries and logs (default /tmp/dijk-bench)
#   RESOLVERS=LIST     comma-separated subset of dijk,unbound,dnsmasq (default all three)
#   REPS=N             repetitions of every measurement (full 3, QUICK 1)
#   SECONDS_PER_RUN=N  dnsperf -l of every run (full 5, QUICK 2)
#   FIXED_QPS=N        offered load of the CPU-per-query runs (default 25000)
#   LIST_SIZE=N        synthetic block list size (default 1000000; 0 skips it)
#   LOGGED=0           skip the blocked workload with each resolver logging its blocks
#   BENCH_DIJK_EXTRA_YAML=.. YAML appended to Dijk's config
#   BENCH_DIJK_SRC=DIR       build Dijk from DIR instead of this checkout (e.g. a `git archive HEAD` snapshot);
#   BENCH_DIJK_REV=TEXT      then name its revision for the report
#   LIMIT=DURATION     hard limit for the whole script (default 15m, QUICK 5m)
#   NO_INSTALL=1       never call apt-get
#   NICE=N             run the servers and dnsperf at nice N (e.g. -10 on a machine other work shares)
#   WAIT_QUIET=N       first wait up to N seconds for the 1-minute load average to fall below 1
#
# Everything runs on loopback: the fake upstream on 127.0.0.2:5390, Dijk on
# 127.0.0.1:5300 (HTTP 5380), Unbound on :5301, dnsmasq on :5302.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
QUICK=${QUICK:-0}
WORKDIR=${WORKDIR:-/tmp/dijk-bench}
if [[ $QUICK == 1 ]]; then
	OUT=${OUT:-$WORKDIR}
	LIMIT=${LIMIT:-5m}
	BUDGET=3m
else
	OUT=${OUT:-$HERE}
	LIMIT=${LIMIT:-17m}
	BUDGET=14m
fi
START=$(date +%s)
say() { printf '[run.sh %4ss] %s\n' "$(($(date +%s) - START))" "$*" >&2; }

# 1. Tools. dnsmasq-base is dnsmasq without the system service.
missing=()
command -v dnsperf >/dev/null || missing+=(dnsperf)
command -v unbound >/dev/null || missing+=(unbound)
command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
command -v taskset >/dev/null || missing+=(util-linux)
command -v timeout >/dev/null || missing+=(coreutils)
if ((${#missing[@]})); then
	if [[ ${NO_INSTALL:-0} == 1 || $(id -u) != 0 ]]; then
		echo "run.sh: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
		exit 1
	fi
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for tool in dnsperf unbound dnsmasq taskset go; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 1; }
done
if (($(nproc) < 2)); then
	echo "run.sh: needs 2 cores (resolver on core 0, load on core 1); this machine has $(nproc)" >&2
	exit 1
fi

# 2. Build Dijk (as released: static, trimmed), the fake upstream and the runner.
mkdir -p "$WORKDIR/bin" "$OUT"
say "building dijk, the fake upstream and the runner"
(cd "${BENCH_DIJK_SRC:-$ROOT}" && CGO_ENABLED=0 go build -trimpath -o "$WORKDIR/bin/dijk" ./cmd/dijk)
(cd "$HERE" && CGO_ENABLED=0 go build -trimpath -o "$WORKDIR/bin/upstream" ./upstream)
(cd "$HERE" && CGO_ENABLED=0 go build -trimpath -o "$WORKDIR/bin/runner" ./runner)
if [[ -n ${BENCH_DIJK_REV:-} ]]; then
	REV=$BENCH_DIJK_REV
elif [[ -n ${BENCH_DIJK_SRC:-} ]]; then
	REV="built from $BENCH_DIJK_SRC"
else
	REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no -- . ':!bench' 2>/dev/null) ]]; then
		REV="$REV + uncommitted changes"
	fi
fi

# 3. A busy machine inflates every figure: wait for quiet if asked, warn if not quiet.
if [[ -n ${WAIT_QUIET:-} ]]; then
	end=$(($(date +%s) + WAIT_QUIET))
	while (($(date +%s) < end)) && awk '{exit !($1 >= 1.0)}' /proc/loadavg; do
		sleep 10
	done
fi
if awk '{exit !($1 >= 1.0)}' /proc/loadavg; then
	say "warning: load average $(cut -d' ' -f1-3 /proc/loadavg): other work is running, figures will run high"
fi

# 4. Run, bounded. The runner stops starting measurements after BUDGET and
# always stops the servers it started; timeout is the backstop.
args=(-workdir "$WORKDIR" -out "$OUT" -dijk "$WORKDIR/bin/dijk" -upstream "$WORKDIR/bin/upstream"
	-dijk-rev "$REV" -budget "$BUDGET" -resolvers "${RESOLVERS:-dijk,unbound,dnsmasq}")
[[ $QUICK == 1 ]] && args+=(-quick)
[[ -n ${REPS:-} ]] && args+=(-reps "$REPS")
[[ -n ${SECONDS_PER_RUN:-} ]] && args+=(-seconds "$SECONDS_PER_RUN")
[[ -n ${FIXED_QPS:-} ]] && args+=(-fixed-qps "$FIXED_QPS")
[[ -n ${LIST_SIZE:-} ]] && args+=(-list-size "$LIST_SIZE")
[[ ${LOGGED:-1} == 0 ]] && args+=(-logged=false)
[[ -n ${NICE:-} ]] && args+=(-nice "$NICE")
[[ -n ${BENCH_DIJK_EXTRA_YAML:-} ]] && args+=(-dijk-extra-yaml "$BENCH_DIJK_EXTRA_YAML")
say "running (limit $LIMIT)"
timeout --signal=TERM --kill-after=30s "$LIMIT" "$WORKDIR/bin/runner" "${args[@]}"
say "done"
