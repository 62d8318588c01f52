#!/usr/bin/env bash
# Runs every command of the README as written, in the repository's root, on a tree that
# scripts/setup.sh has built (models/*.gguf, ../shared/data/models/*.gguf, build/). The
# README is the single source: nothing here names a command or a model.
#   scripts/readme_commands.sh [README]      (ctest: readme_commands; about 2 minutes)
#
# What runs:
#   ```sh   each command of the block (comment lines skipped; a command goes on over lines
#           ending in `\` and over quotes left open), alone in `bash -c`, stdin empty,
#           with a time limit (COOLFUSION_README_TIMEOUT, 120 s). A `coolfusion serve`
#           command starts in the background, is waited for (/health 200) and runs until
#           the end, so that the commands after it (curl, the client) talk to it. curl
#           gets --fail-with-body, so that an HTTP error fails the command.
#   ```js   an ES module run by node, with tests/e2e/node_modules (the `openai` client
#           that scripts/deps.sh installs) as its node_modules
#   ```cpp  a whole program, compiled against include/ (-fsyntax-only: linking it would
#           need a CMake project of its own; tests/fusion run the same API)
#   other blocks (```text: output shown) are not commands.
# Not run: a block right after the line `<!-- readme: not run (WHY) -->`. Keep these few:
# setup.sh and test.sh themselves (this script runs after the first and inside the
# second), what needs a terminal (interactive chat), a GPU (the CUDA build) or other hosts
# (RPC workers). Each is listed with its reason at the end of the run.
#
# Environment: COOLFUSION_README_BUILD_DIR=DIR replaces the README's build/ (build/bin,
# build/models, ctest --test-dir build) with DIR. A port the README names that is in use
# is replaced, in that command and every later one, with a free port.
# Exit status 1 if a command fails, a model or file the README names is missing, or a
# server does not come up; every failed command is named with its output's tail.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
readme=$(realpath "${1:-$root/README.md}")
cd "$root"
limit=${COOLFUSION_README_TIMEOUT:-120}
builddir=${COOLFUSION_README_BUILD_DIR:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/readme_commands.XXXXXX")
ln -s "$root/tests/e2e/node_modules" "$work/node_modules"

servers=()       # pids of the serve commands started
declare -A port_map=()
failed=()
skipped=()
n_run=0
start_all=$SECONDS

stop_servers() {
  local pid
  for pid in "${servers[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${servers[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  servers=()
}
trap 'stop_servers; rm -rf "$work"' EXIT

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for p in $(seq 18080 18999); do
    port_in_use "$p" || { echo "$p"; return; }
  done
  return 1
}

# The README's text of a command as it runs here: build dir and ports replaced, curl told
# to fail on HTTP errors.
adapt() {
  local s=$1 from
  if [ -n "$builddir" ]; then
    s=$(printf '%s' "$s" | sed -E "s#(^|[[:space:]'\"=])build/#\\1$builddir/#g; s#--test-dir build([[:space:]]|\$)#--test-dir $builddir\\1#g")
  fi
  for from in "${!port_map[@]}"; do
    s=$(printf '%s' "$s" | sed -E "s#127\\.0\\.0\\.1:$from([^0-9]|\$)#127.0.0.1:${port_map[$from]}\\1#g; s#--port $from([^0-9]|\$)#--port ${port_map[$from]}\\1#g")
  done
  s=$(printf '%s' "$s" | sed -E 's#(^|[|;&[:space:]])curl #\1curl --fail-with-body #g')
  printf '%s' "$s"
}

first_line() { printf '%s' "$1" | head -1 | cut -c1-110; }

fail() {  # WHAT LOG
  failed+=("$1")
  echo "FAILED: $1"
  [ -f "$2" ] && tail -15 "$2" | awk '{print "    | " $0}'
}

run_command() {  # the README's text of one shell command
  local readme_cmd=$1 cmd log t0 rc
  n_run=$((n_run + 1))
  if [[ $readme_cmd =~ coolfusion[[:space:]]+serve([[:space:]]|$) ]]; then
    local port=8080
    [[ $readme_cmd =~ --port[[:space:]]+([0-9]+) ]] && port=${BASH_REMATCH[1]}
    if [ -z "${port_map[$port]:-}" ] && port_in_use "$port"; then
      port_map[$port]=$(free_port) || { fail "no free port for: $(first_line "$readme_cmd")" /dev/null; return; }
      echo "   (port $port is in use here: $port -> ${port_map[$port]} from now on)"
    fi
    cmd=$(adapt "$readme_cmd")
    port=${port_map[$port]:-$port}
    log=$work/cmd$n_run.log
    t0=$SECONDS
    bash -c "exec $cmd" </dev/null >"$log" 2>&1 &
    local pid=$!
    servers+=("$pid")
    for _ in $(seq $((limit * 4))); do
      curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
      echo "ok  $((SECONDS - t0))s  (serving on $port until the end) $(first_line "$readme_cmd")"
    else
      fail "the server did not come up: $(first_line "$readme_cmd")" "$log"
    fi
    return
  fi
  cmd=$(adapt "$readme_cmd")
  log=$work/cmd$n_run.log
  t0=$SECONDS
  timeout -k 5 "$limit" bash -o pipefail -c "$cmd" </dev/null >"$log" 2>&1
  rc=$?
  if [ $rc = 0 ]; then
    echo "ok  $((SECONDS - t0))s  $(first_line "$readme_cmd")"
  elif [ $rc = 124 ] || [ $rc = 137 ]; then
    fail "timed out after ${limit}s: $readme_cmd" "$log"
  else
    fail "exit status $rc: $readme_cmd" "$log"
  fi
}

run_sh_block() {  # the block's text
  local buf="" line
  while IFS= read -r line || [ -n "$line" ]; do
    if [ -z "$buf" ]; then
      [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
      buf=$line
    else
      buf+=$'\n'"$line"
    fi
    [[ $line == *\\ ]] && continue
    bash -n <<<"$buf" 2>/dev/null || continue   # a quote left open: the command goes on
    run_command "$buf"
    buf=""
  done <<<"$1"
  [ -z "$buf" ] || fail "a command that never ends (an open quote?): $(first_line "$buf")" /dev/null
}

run_js_block() {
  local f=$work/snippet$((n_run + 1)).mjs log t0 rc
  n_run=$((n_run + 1))
  adapt "$1" >"$f"
  log=$f.log
  t0=$SECONDS
  (cd "$work" && timeout -k 5 "$limit" node "$f") </dev/null >"$log" 2>&1
  rc=$?
  if [ $rc = 0 ]; then
    echo "ok  $((SECONDS - t0))s  (node) $(first_line "$1")"
  else
    fail "exit status $rc: the JavaScript block that starts with: $(first_line "$1")" "$log"
  fi
}

run_cpp_block() {
  local f=$work/snippet$((n_run + 1)).cc log t0
  n_run=$((n_run + 1))
  printf '%s\n' "$1" >"$f"
  log=$f.log
  t0=$SECONDS
  if timeout "$limit" "${CXX:-c++}" -std=c++20 -fsyntax-only -I "$root/include" "$f" >"$log" 2>&1; then
    echo "ok  $((SECONDS - t0))s  (c++ -fsyntax-only) $(first_line "$1")"
  else
    fail "the C++ block does not compile against include/: $(first_line "$1")" "$log"
  fi
}

# Read the README into blocks: lang, whether it runs, its text.
langs=() texts=() reasons=()
lang="" text="" reason="" pending=""
while IFS= read -r line || [ -n "$line" ]; do
  if [ -z "$lang" ]; then
    if [[ $line =~ ^\<!--\ readme:\ not\ run\ \((.*)\)\ --\>$ ]]; then
      pending=${BASH_REMATCH[1]}
    elif [[ $line =~ ^\`\`\`([a-z+]*) ]]; then
      lang=${BASH_REMATCH[1]:-none} text="" reason=$pending pending=""
    elif [[ -n $line ]]; then
      pending=""
    fi
  elif [[ $line =~ ^\`\`\` ]]; then
    langs+=("$lang") texts+=("$text") reasons+=("$reason")
    lang=""
  else
    text+=$line$'\n'
  fi
done <"$readme"
[ -z "$lang" ] || { echo "error: $readme: a code block is never closed" >&2; exit 1; }

# What the README names must exist before anything runs: the binary and every model,
# dataset and prompt file its commands use.
missing=()
bin=${builddir:-build}/bin/coolfusion
[ -x "$bin" ] || missing+=("$bin (run scripts/setup.sh)")
for i in "${!langs[@]}"; do
  [ -z "${reasons[$i]}" ] && [[ ${langs[$i]} =~ ^(sh|js|cpp)$ ]] || continue
  for f in $(grep -oE '(\.\./|build/|models/|data/|third_party/)[A-Za-z0-9_./+-]+\.(gguf|jsonl|txt)' <<<"${texts[$i]}" | sort -u); do
    [ -n "$builddir" ] && f=${f/#build\//$builddir/}
    [ -f "$f" ] || missing+=("$f")
  done
done
if [ ${#missing[@]} -gt 0 ]; then
  printf 'error: the README names files that are not here:\n' >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi

echo "readme_commands: $readme (each command at most ${limit}s)"
for i in "${!langs[@]}"; do
  if [ -n "${reasons[$i]}" ]; then
    skipped+=("$(first_line "${texts[$i]}")  [${reasons[$i]}]")
    continue
  fi
  case ${langs[$i]} in
    sh) run_sh_block "${texts[$i]}" ;;
    js) run_js_block "${texts[$i]}" ;;
    cpp) run_cpp_block "${texts[$i]}" ;;
  esac
done
stop_servers

echo
echo "not run (${#skipped[@]} blocks, marked in the README):"
printf '  %s\n' "${skipped[@]}"
echo "readme_commands: $n_run commands, ${#failed[@]} failed, $((SECONDS - start_all)) s"
if [ ${#failed[@]} -gt 0 ]; then
  printf '  FAILED: %s\n' "${failed[@]}"
  exit 1
fi
