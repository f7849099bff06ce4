#!/usr/bin/env bash
# pipelines.sh — error discipline of the pipelines (issue 11 defect 4): options checked once,
# before any input is read, in messages named after the pipeline the user typed, with a
# "did you mean" for near misses and option names (not struct fields); text piped into denoise
# named as such; --device cuda without a GPU said plainly; progress lines erased when done on a
# terminal and never over chat's prompt; generate --prompt; one shared pipelines/lib.sh.
# Uses the bundled model (short generations).
. "$(dirname "$0")/../lib.sh"
P=$LLADA_ROOT/pipelines
if [ ! -f "$LLADA_ROOT/models/default/config.json" ]; then echo "skip: no bundled model"; finish; exit; fi
unset LLADA_MODEL

check_exit 2 "generate --modle: usage error" "$P/generate" --modle x "Hi"
check_eq "... one error line named generate, with did-you-mean" \
    "generate: error: unknown option --modle (did you mean --model?)|Try 'generate --help' for more information." \
    "$(paste -sd'|' "$ERR_FILE")"
check_exit 2 "generate: a denoise option's near miss" "$P/generate" --temprature 0.5 "Hi"
check_stderr "... suggests --temperature" "^generate: error: unknown option --temprature \(did you mean --temperature\?\)$"
check_exit 2 "generate: options that do not fit" "$P/generate" --gen-length 10 --block-length 3 "Hi"
check_eq "... named after generate and the options" \
    "generate: error: --gen-length 10 is not a multiple of --block-length 3|Try 'generate --help' for more information." \
    "$(paste -sd'|' "$ERR_FILE")"
# checked before reading input: stdin that never ends (old: tok read it, denoise then failed)
check_exit 2 "generate: bad options fail before reading stdin" timeout 20 "$P/generate" --gen-length 10 --block-length 3 < /dev/zero
check_exit 2 "generate: a value missing" "$P/generate" --gen-length
check_stderr "... says which" "^generate: error: --gen-length needs a value$"
check_exit 2 "chat --modle" "$P/chat" --modle x
check_stderr "... named chat" "^chat: error: unknown option --modle \(did you mean --model\?\)$"
check_exit 2 "likelihood --mcc" "$P/likelihood" --mcc 3
check_stderr "... named likelihood" "^likelihood: error: unknown option --mcc \(did you mean --mc\?\)$"
check_exit 2 "eval-choice --mc x: before reading input" "$P/eval-choice" --mc x < /dev/zero
check_stderr "... names the option" "^eval-choice: error: --mc needs an integer >= 0, got 'x'$"
check_exit 2 "likelihood --cfg abc: before reading input" "$P/likelihood" --cfg abc < /dev/zero
check_stderr "... names the option" "^likelihood: error: --cfg needs a number >= 0, got 'abc'$"

# the tools themselves: getopt's own message is gone, near misses suggested
check_exit 2 "denoise --modle" denoise --modle x
check_eq "denoise --modle: one error line" \
    "denoise: error: unknown option --modle (did you mean --model?)|Try 'denoise --help' for more information." \
    "$(paste -sd'|' "$ERR_FILE")"
check_exit 2 "denoise --gen (a prefix) without a value" denoise --gen
check_stderr "... names the whole option" "^denoise: error: option --gen-length needs a value$"
check_exit 2 "tok --bogus" tok --bogus
check_stderr "... names it" "^tok: error: unknown option --bogus$"

# text straight into denoise
check_exit 1 "text into denoise: data error" sh -c "printf 'The capital of France\n' | denoise -q"
check_stderr "... says to pipe it through tok" '^denoise: error: input is text \("The capital of Franc\.\.\."\), expected token records .* pipe text through tok first$'

# --device cuda without a GPU, through generate
if [ ! -e /dev/nvidiactl ]; then
    "$P/generate" --device cuda --gen-length 4 "Hi" >/dev/null 2>"$TMP/dev.err"; rc=$?
    check "generate --device cuda without a GPU fails (exit 2 or 5)" test "$rc" -eq 5 -o "$rc" -eq 2
    check "... saying so plainly, named generate" grep -Eq '^generate: error: --device cuda: (this machine has no usable GPU|this build has no CUDA backend)' "$TMP/dev.err"
fi

# generate --prompt TEXT: the same as a PROMPT argument
a=$("$P/generate" -q --gen-length 4 --steps 4 --prompt "The sky is" --prompt "In the beginning")
b=$("$P/generate" -q --gen-length 4 --steps 4 "The sky is" "In the beginning")
check_eq "generate --prompt: one answer per prompt" 2 "$(wc -l <<<"$a")"
check_eq "generate --prompt = PROMPT arguments" "$b" "$a"

# progress: erased when done on a terminal (script gives stderr a pty), a plain line elsewhere
printf 'Hi\n' | tok -l > "$TMP/p.mp"
script -qec "denoise --gen-length 4 --steps 4 --progress -i '$TMP/p.mp' -o /dev/null" /dev/null > "$TMP/tty.out" 2>&1
check "on a terminal the progress line ends erased" grep -q $'step 4/4\r\e\\[K' "$TMP/tty.out"
denoise --gen-length 4 --steps 4 --progress -i "$TMP/p.mp" -o /dev/null 2>"$TMP/plain.err"
check "elsewhere it ends with a newline" grep -q 'step 4/4$' "$TMP/plain.err"

# chat on a terminal: the prompt "llada> " comes after the progress is gone, right before the answer
"$PYTHON" - "$P/chat" > "$TMP/chat.tty" <<'PY'
import os, pty, sys, time, select
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "--gen-length", "8", "--steps", "8", "--block-length", "8", "--progress"])
os.write(fd, b"Hello\n")
out, t0, sent = b"", time.time(), False
while time.time() - t0 < 60:
    r, _, _ = select.select([fd], [], [], 0.5)
    if r:
        try:
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
        out += d
    if b"llada> " in out and out.rstrip().endswith(b"you>") and not sent:
        os.write(fd, b"\n"); sent = True
os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
PY
check "chat on a terminal prints the prompt once per answer" test "$(grep -o 'llada> ' "$TMP/chat.tty" | wc -l)" -eq 1
check "chat: nothing writes over the prompt (no carriage return after it)" \
    "$PYTHON" -c "import sys; s = open(sys.argv[1], encoding='utf-8', errors='replace').read(); i = s.index('llada> '); j = s.find('you>', i); sys.exit('\r' in s[i:j].rstrip('\r\n'))" "$TMP/chat.tty"

# one shared library: no pipeline keeps its own json_str or bin-finding loop
check_eq "json_str is defined once, in pipelines/lib.sh" "lib.sh" "$(grep -l 'json_str()' "$P"/* | xargs -n1 basename)"
check_eq "every pipeline sources lib.sh" "" "$(for f in "$P"/*; do [ "$(basename "$f")" = lib.sh ] || grep -q '\. "$here/lib.sh"' "$f" || basename "$f"; done)"
finish
