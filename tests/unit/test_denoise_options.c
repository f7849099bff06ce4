/* test_denoise_options.c — so_resolve's precedence (command line > canvas record >
 * generation_config.json > official defaults), the fallback of a block length that does not
 * divide the generation length, errors that name options and sources, the notice and the
 * --help defaults. Expected values are written out from the precedence rule in options.h. */
#include <stdio.h>
#include <string.h>
#include "testlib.h"
#include "denoise/options.h"

static so_resolved_t res(const so_spec_t *s, int record_gen, int *rc, lerr_t *e) {
    so_resolved_t r;
    memset(e, 0, sizeof *e);
    *rc = so_resolve(s, record_gen, &r, e);
    return r;
}

int main(void) {
    so_spec_t s;
    lerr_t e;
    int rc;
    char buf[1024];

    so_spec_init(&s); /* official defaults */
    so_resolved_t r = res(&s, 0, &rc, &e);
    CHECK(rc == 0 && r.so.gen_length == 128 && r.so.steps == 128 && r.so.block_length == 128 && r.so.temperature == 0,
          "no options, no generation_config.json: 128/128/128, T 0");
    so_gencfg_note(&r, buf, sizeof buf);
    CHECK(!strcmp(buf, ""), "no notice without generation_config.json values");

    s.gc = (gencfg_t){4, 0.8}; /* the bundled model's generation_config.json */
    r = res(&s, 0, &rc, &e);
    CHECK(rc == 0 && r.so.block_length == 4 && r.so.temperature == 0.8 && r.so.steps == 128 &&
              r.src[SO_BLOCK] == SO_SRC_GENCFG && r.src[SO_TEMP] == SO_SRC_GENCFG && r.src[SO_GEN] == SO_SRC_DEFAULT,
          "generation_config.json above the defaults");
    so_gencfg_note(&r, buf, sizeof buf);
    CHECK(!strcmp(buf, "block 4, T 0.8 (generation_config.json)"), "notice: %s", buf);

    r = res(&s, 10, &rc, &e); /* a canvas record of 10 to generate: 4 does not divide it */
    CHECK(rc == 0 && r.so.gen_length == 10 && r.so.block_length == 10 && r.so.steps == 10 &&
              r.src[SO_GEN] == SO_SRC_RECORD && r.src[SO_BLOCK] == SO_SRC_DEFAULT,
          "canvas record length above the defaults; a block length that does not divide it is not used");

    s.cli.gen_length = 16;
    s.set[SO_GEN] = true;
    s.cli.temperature = 0;
    s.set[SO_TEMP] = true;
    r = res(&s, 0, &rc, &e);
    CHECK(rc == 0 && r.so.gen_length == 16 && r.so.block_length == 4 && r.so.temperature == 0 &&
              r.src[SO_TEMP] == SO_SRC_CLI,
          "command line above generation_config.json (T 0 given wins over 0.8)");
    so_gencfg_note(&r, buf, sizeof buf);
    CHECK(!strcmp(buf, "block 4 (generation_config.json)"), "notice names only what the file supplied: %s", buf);
    r = res(&s, 8, &rc, &e);
    CHECK(rc == 0 && r.so.gen_length == 8 && r.so.block_length == 4,
          "canvas record length above --gen-length (tokens records only)");

    s.cli.block_length = 3;
    s.set[SO_BLOCK] = true;
    r = res(&s, 0, &rc, &e);
    CHECK(rc == -1 && e.code == EXIT_USAGE && !strcmp(e.msg, "--gen-length 16 is not a multiple of --block-length 3"),
          "error names options: %s", e.msg);
    r = res(&s, 10, &rc, &e);
    CHECK(rc == -1 && !strcmp(e.msg, "the canvas record's generation length 10 is not a multiple of --block-length 3"),
          "error names the record: %s", e.msg);
    s.set[SO_BLOCK] = false;
    s.cli.steps = 6;
    s.set[SO_STEPS] = true;
    r = res(&s, 0, &rc, &e);
    CHECK(rc == -1 && !strcmp(e.msg, "--steps 6 is not a multiple of the number of blocks 4 "
                                     "(--gen-length 16 / --block-length 4 (generation_config.json))"),
          "steps error names where the block length came from: %s", e.msg);

    /* Dream's keys: steps (when a multiple of the blocks), top_p, top_k, alg_temp; flags win */
    so_spec_init(&s);
    s.gc = (gencfg_t){4, 0.8};
    s.gc.steps = 8;
    s.gc.top_p = 0.9;
    s.gc.top_k = 5;
    s.gc.alg_temp = 0.25;
    s.cli.gen_length = 16;
    s.set[SO_GEN] = true;
    r = res(&s, 0, &rc, &e);
    CHECK(rc == 0 && r.so.steps == 8 && r.src[SO_STEPS] == SO_SRC_GENCFG && r.so.top_p == 0.9 && r.so.top_k == 5 &&
              r.so.alg_temp == 0.25 && r.src[SO_TOPK] == SO_SRC_GENCFG,
          "generation_config.json steps / top_p / top_k / alg_temp become the defaults");
    so_gencfg_note(&r, buf, sizeof buf);
    CHECK(!strcmp(buf, "steps 8, block 4, T 0.8, top_p 0.9, top_k 5, alg_temp 0.25 (generation_config.json)"),
          "notice: %s", buf);
    s.cli.gen_length = 12; /* 3 blocks of 4: 8 steps do not fit, the generation length stands */
    r = res(&s, 0, &rc, &e);
    CHECK(rc == 0 && r.so.steps == 12 && r.src[SO_STEPS] == SO_SRC_DEFAULT,
          "steps that are not a multiple of the blocks are not used");
    s.cli.top_p = 1;
    s.cli.top_k = 0;
    s.cli.alg_temp = 0;
    s.cli.steps = 3;
    s.set[SO_TOPP] = s.set[SO_TOPK] = s.set[SO_ALGTEMP] = s.set[SO_STEPS] = true;
    r = res(&s, 0, &rc, &e);
    CHECK(rc == 0 && r.so.top_p == 1 && r.so.top_k == 0 && r.so.alg_temp == 0 && r.so.steps == 3 &&
              r.src[SO_TOPP] == SO_SRC_CLI,
          "--top-p 1 --top-k 0 --alg-temp 0 --steps override generation_config.json");

    so_spec_init(&s);
    s.gc = (gencfg_t){4, 0.8};
    so_help_defaults(&s, "  ", buf, sizeof buf);
    CHECK(strstr(buf, "  --block-length   4 (generation_config.json") &&
              strstr(buf, "  --temperature    0.8 (generation_config.json)") &&
              strstr(buf, "  --gen-length     128 (official default)"),
          "--help defaults for the model:\n%s", buf);
    so_spec_init(&s);
    so_help_defaults(&s, "", buf, sizeof buf);
    CHECK(strstr(buf, "--temperature    0 (argmax) (official default)") != NULL, "--help defaults without a file:\n%s",
          buf);
    return TEST_SUMMARY();
}
