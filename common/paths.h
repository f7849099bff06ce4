/* paths.h — where tools find the bundled default model when none is named.
 *
 * Order: $LLADA_MODEL; <dir of the executable>/../models/default (the source tree's bin/, and
 * `make install`'s PREFIX/lib/llada/bin beside PREFIX/lib/llada/models; the executable's path is
 * resolved, so the PATH links PREFIX/bin/llada-<tool> lead there); ../../../models/default
 * (build/san/bin); ../share/llada/models/default (installs older than the llada-<tool> layout).
 * Returns a malloc'd path owned by the caller, or NULL when none exists.
 */
#ifndef LLADA_PATHS_H
#define LLADA_PATHS_H
char *default_model_dir(void);
/* Directory of the running executable (malloc'd), NULL on failure. */
char *exe_dir(void);
#endif
