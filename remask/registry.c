/* registry.c — the table of policies defined outside policy.c: maps "name[:PARAM]" to
 * its constructor (policies.h) and lists every policy name for --help and `remask --list`. */
#include <string.h>
#include "policies.h"

typedef struct {
    const char *name;
    rm_policy_t *(*make)(const char *param, lerr_t *e);
} ext_entry_t;

static const ext_entry_t EXT[] = {
    {"threshold", rm_threshold_new}, {"factor", rm_factor_new}, {"topk_margin", rm_margin_new},
    {"entropy", rm_entropy_new}, {"eb", rm_eb_new},
};

static const char *const ALL_NAMES[] = {"low_confidence", "random", "threshold", "factor",
                                        "topk_margin", "entropy", "eb", NULL};

const char *const *rm_all_names(void) { return ALL_NAMES; }

rm_policy_t *rm_ext_new(const char *name, lerr_t *e) {
    const char *colon = strchr(name, ':');
    size_t len = colon ? (size_t)(colon - name) : strlen(name);
    for (size_t i = 0; i < sizeof EXT / sizeof EXT[0]; i++)
        if (strlen(EXT[i].name) == len && !strncmp(EXT[i].name, name, len))
            return EXT[i].make(colon ? colon + 1 : NULL, e);
    return NULL;
}
