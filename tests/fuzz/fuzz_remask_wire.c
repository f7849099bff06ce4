/* fuzz_remask_wire.c — libFuzzer target for the remask service's wire format (remask/wire.c,
 * docs/protocol.md "remask"): arbitrary bytes as one message body, decoded as a record and
 * parsed as a select request and as a reply. A parsed request must have n >= 0 candidates and
 * survive re-encoding (rmw_select_new) and re-parsing unchanged; a reply never yields more
 * positions than the cap. Never a crash, leak or out-of-bounds read (ASan + UBSan).
 * Build: make fuzz; run: tests/fuzz/run.sh.
 */
#include <stdlib.h>
#include <string.h>
#include "record.h"
#include "remask/wire.h"

static const rec_limits_t LIM = {1 << 20, 4096, 32, 4096};

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    lerr_t e = {0};
    rec_t *r = rec_decode(d, n, &LIM, 0, &e);
    if (!r) return 0;
    rm_state_t st;
    rm_cand_t *c = NULL;
    int nc = -1;
    memset(&st, 0, sizeof st);
    if (rmw_select_parse(r, &st, &c, &nc, &e) == 0) {
        if (nc < 0 || (nc > 0 && !c)) abort();
        lerr_t e2 = {0};
        rec_t *again = rmw_select_new(7, NULL, &st, c, nc, &e2);
        if (!again) abort();
        rm_state_t st2;
        rm_cand_t *c2 = NULL;
        int nc2 = -1;
        memset(&st2, 0, sizeof st2);
        if (rmw_select_parse(again, &st2, &c2, &nc2, &e2) || nc2 != nc || memcmp(&st, &st2, sizeof st)) abort();
        for (int i = 0; i < nc; i++)
            if (c[i].pos != c2[i].pos || c[i].token != c2[i].token || memcmp(&c[i].conf, &c2[i].conf, sizeof c[i].conf))
                abort(); /* bitwise: a NaN confidence round-trips too */
        free(c2);
        rec_destroy(&again);
    } else if (!e.msg[0]) abort();
    free(c);
    int32_t out[16];
    lerr_t e3 = {0};
    int k = rmw_chosen_parse(r, out, 16, &e3);
    if (k > 16 || (k < 0 && !e3.msg[0])) abort();
    rec_t *er = rmw_error_new(1, 1, "x");
    rec_destroy(&er);
    rec_destroy(&r);
    return 0;
}
