/* registry.c — the one table of remasking policy names: "name[:PARAM]" -> constructor
 * (policies.h). rm_policy_new and rm_policy_list (remask.h) both read it, so a policy
 * added here is accepted by denoise --remasking, remask --serve/--policy and listed by
 * remask --list and the help texts at once. The table is written once (RM_POLICIES) and
 * expanded twice: into the lookup table and into the NULL-terminated name list. */
#include <string.h>
#include "policies.h"

// clang-format off
#define RM_POLICIES(X) \
    X("low_confidence", rm_low_confidence_new) \
    X("random", rm_random_new) \
    X("threshold", rm_threshold_new) \
    X("factor", rm_factor_new) \
    X("topk_margin", rm_margin_new) \
    X("entropy", rm_entropy_new) \
    X("eb", rm_eb_new) \
    X("origin", rm_origin_new) \
    X("dynamic", rm_dynamic_new)
// clang-format on

typedef struct {
    const char *name;
    rm_policy_t *(*make)(const char *param, lerr_t *e);
} entry_t;

#define AS_ENTRY(nm, fn) {nm, fn},
#define AS_NAME(nm, fn) nm,
static const entry_t TABLE[] = {RM_POLICIES(AS_ENTRY)};
static const char *const NAMES[] = {RM_POLICIES(AS_NAME) NULL};
#undef AS_ENTRY
#undef AS_NAME

const char *const *rm_policy_list(void) { return NAMES; }

rm_policy_t *rm_policy_new(const char *name, lerr_t *e) {
    const char *colon = strchr(name, ':');
    size_t len = colon ? (size_t)(colon - name) : strlen(name);
    for (size_t i = 0; i < sizeof TABLE / sizeof TABLE[0]; i++)
        if (strlen(TABLE[i].name) == len && !strncmp(TABLE[i].name, name, len))
            return TABLE[i].make(colon ? colon + 1 : NULL, e);
    lerr_set(e, EXIT_USAGE, "unknown remasking policy '%s' (see remask --list)", name);
    return NULL;
}
