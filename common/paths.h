/* paths.h — where tools find the bundled default model when none is named.
 *
 * Order: $LLADA_MODEL; <dir of the executable>/../models/default (source tree and
 * `make install` layout: PREFIX/bin + PREFIX/share/llada/models/default via ../share/llada);
 * returns a malloc'd path owned by the caller, or NULL when none exists.
 */
#ifndef LLADA_PATHS_H
#define LLADA_PATHS_H
char *default_model_dir(void);
/* Directory of the running executable (malloc'd), NULL on failure. */
char *exe_dir(void);
#endif
