#!/usr/bin/env bash
# e2e/layout.sh — the module boundaries of docs/architecture.md, checked on the sources
# (#include lines) and on the built objects (which library defines each symbol an object
# uses), so a shortcut across a boundary fails here rather than in review:
#   train/      uses model/, kernels/, common/ only (not denoise/, mask/, eval/, dist/, ...)
#   denoise/    (sampler, records, main; not the CUDA backend) reaches model/ only through
#               model/model.h and model/gencfg.h: no family file, no weights (m->w)
#   dist/broker is no model user: no symbol of model/ or denoise/
#   remask/     one ranking comparator, no policy chosen by name outside the registry
#   kernels/    OpenBLAS prototypes come from <cblas.h>, none written by hand
. "$(dirname "$0")/../lib.sh"
cd "$LLADA_ROOT" || exit 1
OBJ=$(cd "${LLADA_UNIT:-$LLADA_ROOT/build/rel/tests}/.." 2>/dev/null && pwd)
SRCS=$(find . \( -path ./build -o -path ./tests -o -path ./.git \) -prune -o \( -name '*.[ch]' -o -name '*.cu' \) -print)

# includes MODULE ALLOWED_DIR... : every #include "dir/x.h" of MODULE/*.[ch] names an allowed
# dir (or MODULE itself); a bare "x.h" must be MODULE's own, common's or kernels' header.
includes() {
    local mod=$1 bad="" f inc dir; shift
    for f in "$mod"/*.[ch]; do
        while read -r inc; do
            case "$inc" in
            */*) dir=${inc%%/*}
                 case " $mod $* " in *" $dir "*) ;; *) bad+=" $f:$inc" ;; esac ;;
            *) [ -e "$mod/$inc" ] || [ -e "common/$inc" ] || [ -e "kernels/$inc" ] || bad+=" $f:$inc" ;;
            esac
        done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
    done
    check_eq "$mod/ includes only from: $mod $*" "" "${bad# }"
}
includes train model kernels common
includes model model kernels common
includes kernels kernels common
includes common common
includes remask remask common kernels
includes dist dist common kernels model denoise remask

# The sampler side of denoise never sees a family's internals.
bad=$(grep -nE '#include "model/(family|llada|source|config|safetensors)\.h"|->w\.|llada_(layer|weights)_t' denoise/*.c denoise/*.h)
check_eq "denoise/*.[ch] use no family file and no weights" "" "$bad"

# Objects: symbols an object uses that a forbidden library defines.
defined_in() { for l in "$@"; do nm -g --defined-only "$OBJ/lib$l.a" 2>/dev/null; done | awk 'NF==3{print $3}' | sort -u; }
undefined_in() { nm -u "$@" 2>/dev/null | awk '{print $NF}' | sort -u; }
if [ -f "$OBJ/libmodel.a" ] && [ -f "$OBJ/train/main.o" ] && [ -f "$OBJ/dist/broker.o" ] && [ -f "$OBJ/denoise/sampler.o" ]; then
    check_eq "train objects use no symbol of denoise/mask/eval/dist/remask/tok/detok" "" \
        "$(comm -12 <(undefined_in "$OBJ"/train/*.o) <(defined_in denoise mask eval dist remask tok detok) | tr '\n' ' ')"
    check_eq "dist/broker.o uses no symbol of model/ or denoise/" "" \
        "$(comm -12 <(undefined_in "$OBJ/dist/broker.o") <(defined_in model denoise) | tr '\n' ' ')"
    # every model/ symbol a denoise object (not the CUDA backend) uses is declared in model.h/gencfg.h
    used=$(comm -12 <(undefined_in "$OBJ"/denoise/*.o) <(defined_in model))
    bad=""
    for s in $used; do grep -qw "$s" model/model.h model/gencfg.h || bad+="$s "; done
    check_eq "denoise objects use model/ only through model.h and gencfg.h" "" "$bad"
    check "the sampler calls the forward and the head" sh -c "echo '$used' | grep -qw model_forward_hidden && echo '$used' | grep -qw model_head"
else
    fail "built objects under $OBJ (run make first)"
fi

# remask: one comparator (rank.c), and no policy chosen by comparing its name.
check_eq "one qsort comparator in remask/ (rank.c)" "remask/rank.c" "$(grep -l 'qsort' remask/*.c | tr '\n' ' ' | sed 's/ $//')"
names='low_confidence|random|threshold|factor|topk_margin|entropy|eb'
bad=$(grep -nE "str(n|case)?cmp\([^;]*\"($names)\"" $SRCS)
check_eq "no code compares a policy name" "" "$bad"

# kernels: BLAS prototypes from the header.
check_eq "no hand-written OpenBLAS prototypes" "" \
    "$(grep -nE '^(extern[[:space:]]+)?(const[[:space:]]+)?(void|int|char)[[:space:]*]+openblas_[a-z_]+\(' $SRCS)"
finish
