# Root Makefile: builds every tool into bin/, the unit tests, the fuzzer, and runs the suites.
#
#   make              CPU build (+ CUDA backend when nvcc exists)     V=1 shows commands
#   make test         unit + end-to-end tests; ends with "N passed, N failed"
#   make test SAN=1   the same under ASan + UBSan (objects in build/san, tools in build/san/bin)
#   make bench        benchmarks (ratios against in-run references)
#   make fuzz         libFuzzer targets: record decoder, serve request, GGUF reader (clang)
#   make deps         install build + test dependencies on Debian 12 (apt-get, npm)
#   make install PREFIX=/usr/local    tools as llada-<name>, man pages; make uninstall PREFIX=…
#
# Layout: each of DIRS holds library sources (*.c) and optionally main.c; bin/X is X/main.c
# linked against every library (a --start-group link pulls only what is used).

DIRS    := common kernels model tok detok mask eval denoise dist remask train serve
TOOLS   := rec tok detok mask denoise remask train serve
PREFIX  ?= /usr/local
CC      ?= cc
CLANG   ?= clang
PYTHON  ?= /usr/bin/python3

ifeq ($(SAN),1)
  VARIANT := san
  OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  BIN     := build/san/bin
else
  VARIANT := rel
  OPT     := -O2 -g
  BIN     := bin
endif
OBJ := build/$(VARIANT)

PKGS := libzmq liblz4 jansson libpcre2-8 libmicrohttpd
MSGPACK_PC := $(shell pkg-config --exists msgpack && echo msgpack || echo msgpack-c)
DEPCFLAGS := $(shell pkg-config --cflags $(PKGS) $(MSGPACK_PC) 2>/dev/null)
# OpenBLAS is not linked: kernels/blas_env.c loads it on the first GEMM (after setting
# OPENBLAS_CORETYPE), so tools that run none never load it.
# libzmq is not linked either: common/zmq_lazy.c loads it on the first zmq_* call, so a process
# that opens no ZeroMQ socket (most `tok`, `detok`, `denoise` runs) does not pay its ~10 ms start.
DEPLIBS   := $(shell pkg-config --libs $(filter-out libzmq,$(PKGS)) $(MSGPACK_PC) 2>/dev/null) -lm -lpthread
# OpenBLAS's own <cblas.h> (declares openblas_*), whichever cblas.h the system alternative picks
DEPCFLAGS += $(shell pkg-config --cflags openblas 2>/dev/null)
# oneDNN (libdnnl-dev) for denoise --precision bf16/int8 (kernels/gemm_dnnl.c): only its
# header at build time; kernels/dnnl_env.c loads libdnnl.so.2 with dlopen when a precision
# mode is asked for, so no other run loads it. Without the header (or DNNL=0) those modes
# are refused at run time.
ifneq ($(DNNL),0)
  ifneq ($(wildcard /usr/include/oneapi/dnnl/dnnl.h),)
    DEPCFLAGS += -DLLADA_DNNL
    # SAN=1 only: load it at start-up. LeakSanitizer crashes at exit ("Tracer caught signal
    # 11") scanning the TLS of a libdnnl/libgomp that was dlopened; linked, dlopen finds it.
    ifeq ($(SAN),1)
      DEPLIBS += -Wl,--no-as-needed -ldnnl -Wl,--as-needed
    endif
  endif
endif
# SAN=1: libzmq linked as well, for the same reason (its I/O threads); zmq_lazy.c's dlopen finds it.
ifeq ($(SAN),1)
  DEPLIBS += -Wl,--no-as-needed $(shell pkg-config --libs libzmq 2>/dev/null) -Wl,--as-needed
endif

CFLAGS  ?= $(OPT)
CFLAGS  += -std=gnu11 -Wall -Wextra -Wno-missing-field-initializers -pthread -march=x86-64-v2 \
           -MMD -MP -I. -Icommon -Ikernels $(DEPCFLAGS) -DLLADA_HAVE_OPENBLAS
LDFLAGS += $(filter -fsanitize=%,$(OPT)) -pthread -Wl,--as-needed

# CUDA backend: built whenever nvcc exists (CUDA=0 disables). nvcc may be a wrapper script
# elsewhere on PATH (e.g. /usr/local/bin/nvcc exec'ing the real one), so the toolkit root comes
# from nvcc itself (its --dryrun prints TOP=<root>/bin/..), unless CUDA_HOME is given. A toolkit
# without its headers or runtime library gives a CPU-only build and a warning, never a failed link.
NVCC ?= $(shell command -v nvcc 2>/dev/null || (test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc))
CUDA_ARCH ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
ifneq ($(CUDA),0)
ifneq ($(NVCC),)
  ifeq ($(origin CUDA_HOME),undefined)
  CUDA_HOME := $(realpath $(shell $(NVCC) --dryrun -x cu -c /dev/null -o /dev/null 2>&1 | sed -n 's/^.*[ ]TOP=//p' | head -n 1))
  endif
  ifeq ($(wildcard $(CUDA_HOME)/include/cuda_runtime.h),)
    $(warning nvcc at $(NVCC) but no CUDA headers under '$(CUDA_HOME)': CPU-only build)
  else ifeq ($(wildcard $(CUDA_HOME)/lib64/libcudart.so),)
    $(warning nvcc at $(NVCC) but no libcudart.so under '$(CUDA_HOME)/lib64': CPU-only build)
  else
    CU_SRCS := $(wildcard kernels/cuda/*.cu denoise/cuda/*.cu)
  endif
  ifneq ($(CU_SRCS),)
    CFLAGS   += -DLLADA_CUDA -I$(CUDA_HOME)/include
    CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart -lstdc++
    CU_OBJS  := $(CU_SRCS:%.cu=$(OBJ)/%.o)
  endif
endif
endif
NVCCFLAGS ?= -O2 -std=c++17 $(CUDA_ARCH) -Xcompiler -Wall,-fPIC -I. -Icommon -Ikernels

ifneq ($(V),1)
  Q := @
  say = @printf '  %-6s %s\n' $(1) $(2);
endif

lib_srcs = $(filter-out $(1)/main.c,$(wildcard $(1)/*.c))
LIBS := $(foreach d,$(DIRS),$(if $(call lib_srcs,$(d)),$(OBJ)/lib$(d).a))
# The tools do not link the CUDA backend: denoise/device.c loads it with dlopen, only when a
# GPU is asked for or `--device auto` sees an NVIDIA driver, from the plugin
# BIN/../lib/llada/libllada-cuda.so (the CUDA objects + cuBLAS/cudart). Test programs link
# libcuda.a and the CUDA libraries directly (TEST_LIBS).
TEST_LIBS := $(LIBS)
ifneq ($(CU_OBJS),)
  TEST_LIBS += $(OBJ)/libcuda.a
  CUDA_PLUGIN := $(BIN)/../lib/llada/libllada-cuda.so
endif
BINS := $(foreach t,$(TOOLS),$(if $(wildcard $(t)/main.c),$(BIN)/$(t)))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(OBJ)/tests/%)
LINK = $(CC) $(LDFLAGS) -o $@ $(1) -Wl,--start-group $(LIBS) -Wl,--end-group $(DEPLIBS)
LINK_TEST = $(CC) $(LDFLAGS) -o $@ $(1) -Wl,--start-group $(TEST_LIBS) -Wl,--end-group $(DEPLIBS) $(CUDA_LIBS)

.PHONY: all test unit bench fuzz deps install uninstall clean
.SECONDARY:
all: $(BINS) $(UNIT_BINS) $(CUDA_PLUGIN)

# Objects depend on the flags they were built with: $(OBJ)/.flags is rewritten whenever the
# flags change (CUDA=0 then a CUDA build, DNNL=0, CFLAGS=...), so no object of one set is
# linked with another's (a CUDA=0 denoise/device.o once made a CUDA build say "no CUDA backend").
FLAGS_STAMP := $(OBJ)/.flags
FLAGS_NOW   := $(CC) $(CFLAGS) | $(NVCC) $(NVCCFLAGS) | $(CU_SRCS)
$(shell mkdir -p $(OBJ) && { [ -f $(FLAGS_STAMP) ] && [ "$$(cat $(FLAGS_STAMP))" = '$(FLAGS_NOW)' ] || echo '$(FLAGS_NOW)' > $(FLAGS_STAMP); })
$(OBJ)/%.o: %.c $(FLAGS_STAMP)
	$(call say,CC,$<)mkdir -p $(@D) && $(CC) $(CFLAGS) -c -o $@ $<
$(OBJ)/%.o: %.cu $(FLAGS_STAMP)
	$(call say,NVCC,$<)mkdir -p $(@D) && $(NVCC) $(NVCCFLAGS) -c -o $@ $<

define LIB_RULE
$(OBJ)/lib$(1).a: $(patsubst %.c,$(OBJ)/%.o,$(call lib_srcs,$(1)))
	$$(call say,AR,$$@)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach d,$(DIRS),$(eval $(call LIB_RULE,$(d))))
$(OBJ)/libcuda.a: $(CU_OBJS)
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^
# the plugin: the CUDA objects (built -fPIC) with cuBLAS and cudart; the few C functions they
# call (lerr_set, rope_tables, wconvert_f32, f32_to_bf16) come from the tool that loads it,
# which exports its symbols (-rdynamic); dlopen(RTLD_NOW) names any that are missing.
$(CUDA_PLUGIN): $(CU_OBJS)
	$(call say,LINK,$@)mkdir -p $(@D) && $(CC) -shared -o $@ $^ $(CUDA_LIBS) -lm
$(BIN)/denoise $(BIN)/serve: LDFLAGS += -rdynamic

$(BIN)/%: $(OBJ)/%/main.o $(LIBS)
	$(call say,LINK,$@)mkdir -p $(@D) && $(call LINK,$<)
$(OBJ)/tests/%: $(OBJ)/tests/unit/%.o $(TEST_LIBS)
	$(call say,LINK,$@)mkdir -p $(@D) && $(call LINK_TEST,$<)

test: all
	$(Q)LLADA_BIN=$(abspath $(BIN)) LLADA_UNIT=$(abspath $(OBJ)/tests) SAN=$(SAN) PYTHON=$(PYTHON) bash tests/run.sh

# CUDA backend (issue 8): header dependencies for nvcc objects, and the GPU checks
# tests/gpu/*.c linked against every library (`make gpu-tests`; tests/gpu/run.sh runs them on a
# GPU machine, tests/e2e/gpu_build.sh builds them on machines with nvcc but no GPU).
NVCCFLAGS += -MMD -MP
GPU_TEST_BINS := $(patsubst tests/gpu/%.c,$(OBJ)/tests/gpu/%,$(wildcard tests/gpu/*.c))
.PHONY: gpu-tests
gpu-tests: $(GPU_TEST_BINS)
$(OBJ)/tests/gpu/%: $(OBJ)/tests/gpu/%.o $(TEST_LIBS)
	$(call say,LINK,$@)mkdir -p $(@D) && $(call LINK_TEST,$<)
# C++ unit tests (tests/unit/test_*.cpp: host emulation of CUDA kernels, no GPU needed; they
# need the CUDA headers, so only when nvcc exists). Run by `make test` like the C ones.
ifneq ($(CU_OBJS),)
CPP_UNIT_BINS := $(patsubst tests/unit/%.cpp,$(OBJ)/tests/%,$(wildcard tests/unit/test_*.cpp))
all: $(CPP_UNIT_BINS)
$(OBJ)/tests/test_%: tests/unit/test_%.cpp $(TEST_LIBS)
	$(call say,CXX,$@)mkdir -p $(@D) && $(CXX) -std=c++20 $(OPT) -Wall -Wextra -pthread -MMD -MP \
	    -I. -Icommon -Ikernels -Itests/unit -I$(CUDA_HOME)/include -o $@ $< \
	    -Wl,--start-group $(TEST_LIBS) -Wl,--end-group $(DEPLIBS) $(CUDA_LIBS)
endif

bench: all
	$(Q)LLADA_BIN=$(abspath $(BIN)) PYTHON=$(PYTHON) bash bench/run.sh

# FUZZ_FAST=1 builds the same targets into build/fuzz-fast/ at -O2 with UBSan but without ASan
# (several times the executions per second, for long runs; tests/fuzz/README.md): the corpora
# those runs grow are replayed under the ASan+UBSan build (tests/fuzz/run.sh, e2e/fuzz*.sh)
ifeq ($(FUZZ_FAST),1)
  FUZZ_DIR    := build/fuzz-fast
  FUZZ_CFLAGS := -O2 -g -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -fsanitize=fuzzer,undefined -fno-sanitize-recover=undefined \
                 -fsanitize-coverage-ignorelist=tests/fuzz/coverage_ignore.txt -std=gnu11 -I. -Icommon $(DEPCFLAGS)
else
  FUZZ_DIR    := build/fuzz
  FUZZ_CFLAGS := -O1 -g -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=gnu11 -I. -Icommon $(DEPCFLAGS)
endif
fuzz: $(FUZZ_DIR)/fuzz_record $(FUZZ_DIR)/fuzz_serve_request $(FUZZ_DIR)/fuzz_model_files \
      $(FUZZ_DIR)/fuzz_tokenizer $(FUZZ_DIR)/fuzz_remask_wire $(FUZZ_DIR)/fuzz_chat_template
# the readers are compiled here (instrumented); the rest of the model (forward passes it
# references) comes from the regular libraries, uninstrumented
$(FUZZ_DIR)/fuzz_model_files: tests/fuzz/fuzz_model_files.c model/safetensors.c model/llada.c model/config.c $(call lib_srcs,common) | $(LIBS)
	$(call say,CLANG,$@)mkdir -p $(@D) && $(CLANG) $(FUZZ_CFLAGS) -Ikernels -o $@ $^ -Wl,--start-group $(LIBS) -Wl,--end-group $(DEPLIBS)
$(FUZZ_DIR)/fuzz_tokenizer: tests/fuzz/fuzz_tokenizer.c $(call lib_srcs,tok) $(call lib_srcs,common) | $(LIBS)
	$(call say,CLANG,$@)mkdir -p $(@D) && $(CLANG) $(FUZZ_CFLAGS) -o $@ $^ -Wl,--start-group $(LIBS) -Wl,--end-group $(DEPLIBS)
$(FUZZ_DIR)/fuzz_chat_template: tests/fuzz/fuzz_chat_template.c $(call lib_srcs,tok) $(call lib_srcs,common) | $(LIBS)
	$(call say,CLANG,$@)mkdir -p $(@D) && $(CLANG) $(FUZZ_CFLAGS) -o $@ $^ -Wl,--start-group $(LIBS) -Wl,--end-group $(DEPLIBS)
$(FUZZ_DIR)/fuzz_remask_wire: tests/fuzz/fuzz_remask_wire.c remask/wire.c $(call lib_srcs,common)
	$(call say,CLANG,$@)mkdir -p $(@D) && $(CLANG) $(FUZZ_CFLAGS) -o $@ $^ $(DEPLIBS)
$(FUZZ_DIR)/fuzz_serve_request: tests/fuzz/fuzz_serve_request.c serve/request.c
	$(call say,CLANG,$@)mkdir -p $(@D) && $(CLANG) $(FUZZ_CFLAGS) -o $@ $^ $(DEPLIBS)
$(FUZZ_DIR)/fuzz_record: tests/fuzz/fuzz_record.c $(call lib_srcs,common)
	$(call say,CLANG,$@)mkdir -p $(@D) && $(CLANG) $(FUZZ_CFLAGS) -o $@ $^ $(DEPLIBS)
# GGUF reader (issue 13): model/ instrumented; the kernels (gcc-built: clang may lack the AMX
# feature names) and common/ as built for the tools
fuzz: $(FUZZ_DIR)/fuzz_gguf
$(FUZZ_DIR)/fuzz_gguf: tests/fuzz/fuzz_gguf.c $(call lib_srcs,model) $(OBJ)/libkernels.a $(OBJ)/libcommon.a
	$(call say,CLANG,$@)mkdir -p $(@D) && $(CLANG) $(FUZZ_CFLAGS) -Ikernels -DLLADA_HAVE_OPENBLAS -o $@ $^ $(DEPLIBS)

deps:
	$(Q)bash scripts/deps.sh

# .clang-format: `make format-check` lists the sources that differ from it (exit 1 if any);
# `make format` rewrites them (scripts/format.sh; generated tables are skipped).
.PHONY: format format-check
format:
	$(Q)sh scripts/format.sh
format-check:
	$(Q)sh scripts/format.sh --check

# Installed layout: the tools keep their short names in a private folder, PREFIX/lib/llada/bin
# (beside lib/llada/pipelines and lib/llada/models, so the pipelines' "../bin" and the tools'
# "../models/default" lookups work as in the tree); PATH gets only llada-<name> links, since
# short names like rec and tok clash with other packages. Man pages llada-<name>.1 are made from
# each --help at build time (scripts/help2man.sh).
LLADA_LIB := $(PREFIX)/lib/llada
MANDIR    ?= $(PREFIX)/share/man
PIPES     := $(notdir $(shell find pipelines -maxdepth 1 -type f -perm -u+x | sort))
TOOL_MANS := $(patsubst $(BIN)/%,build/man/llada-%.1,$(BINS))
PIPE_MANS := $(PIPES:%=build/man/llada-%.1)
all: $(TOOL_MANS) $(PIPE_MANS)
$(TOOL_MANS): build/man/llada-%.1: $(BIN)/% scripts/help2man.sh
	$(call say,MAN,$@)mkdir -p $(@D) && sh scripts/help2man.sh llada-$* $< > $@.tmp$$$$ && mv $@.tmp$$$$ $@
$(PIPE_MANS): build/man/llada-%.1: pipelines/% scripts/help2man.sh $(BINS)
	$(call say,MAN,$@)mkdir -p $(@D) && sh scripts/help2man.sh -v "llada-tools $$($(BIN)/tok --version | sed 's/^tok //')" llada-$* $< > $@.tmp$$$$ && mv $@.tmp$$$$ $@

install: all
	$(Q)mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LLADA_LIB)/bin $(DESTDIR)$(MANDIR)/man1
	$(Q)cp $(BINS) $(DESTDIR)$(LLADA_LIB)/bin/
	$(Q)if [ -n "$(CUDA_PLUGIN)" ]; then cp $(CUDA_PLUGIN) $(DESTDIR)$(LLADA_LIB)/; fi
	$(Q)rm -rf $(DESTDIR)$(LLADA_LIB)/pipelines && cp -r pipelines $(DESTDIR)$(LLADA_LIB)/
	$(Q)rm -rf $(DESTDIR)$(LLADA_LIB)/models && mkdir -p $(DESTDIR)$(LLADA_LIB)/models && cp -r models/default $(DESTDIR)$(LLADA_LIB)/models/
	$(Q)for t in $(notdir $(BINS)); do ln -sf ../lib/llada/bin/$$t $(DESTDIR)$(PREFIX)/bin/llada-$$t; done
	$(Q)for p in $(PIPES); do ln -sf ../lib/llada/pipelines/$$p $(DESTDIR)$(PREFIX)/bin/llada-$$p; done
	$(Q)cp $(TOOL_MANS) $(PIPE_MANS) $(DESTDIR)$(MANDIR)/man1/
	@echo "installed into $(DESTDIR)$(PREFIX): llada-<tool> and llada-<pipeline> in bin/, man pages llada-<name>(1)"

# Removes exactly what install puts there (the llada-* names of this build's tools and pipelines,
# their man pages, PREFIX/lib/llada); the folders bin/ and share/man/man1 stay.
uninstall:
	$(Q)for n in $(notdir $(BINS)) $(PIPES); do rm -f $(DESTDIR)$(PREFIX)/bin/llada-$$n $(DESTDIR)$(MANDIR)/man1/llada-$$n.1; done
	$(Q)rm -rf $(DESTDIR)$(LLADA_LIB)
	@echo "removed llada-tools from $(DESTDIR)$(PREFIX)"

clean:
	rm -rf build bin lib

-include $(shell find build -name '*.d' 2>/dev/null)
