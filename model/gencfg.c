/* gencfg.c — sampling defaults from a model folder's generation_config.json (HF convention).
 *
 * A model can ship the sampler settings it works best with; they apply only to options the
 * user did not give. Keys read: "block_length" (int > 0), "temperature" (number >= 0); other
 * keys are ignored (HF generation configs carry many). A missing file is not an error.
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include "gencfg.h"

int gencfg_read(const char *dir, gencfg_t *g, lerr_t *e)
{
    char path[PATH_MAX + 32];
    struct stat st;
    g->block_length = 0;
    g->temperature = -1;
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    if (stat(path, &st) != 0) return 0;
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return lerr_set(e, EXIT_DATA, "%s: not a JSON object (%s)", path, root ? "" : je.text);
    }
    json_t *b = json_object_get(root, "block_length"), *t = json_object_get(root, "temperature");
    int rc = 0;
    if (b && (!json_is_integer(b) || json_integer_value(b) <= 0 || json_integer_value(b) > INT_MAX))
        rc = lerr_set(e, EXIT_DATA, "%s: \"block_length\" must be a positive integer", path);
    else if (t && (!json_is_number(t) || json_number_value(t) < 0))
        rc = lerr_set(e, EXIT_DATA, "%s: \"temperature\" must be a number >= 0", path);
    else {
        if (b) g->block_length = (int)json_integer_value(b);
        if (t) g->temperature = json_number_value(t);
    }
    json_decref(root);
    return rc;
}
