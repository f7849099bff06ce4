/* tmpreg.h — process-wide registry of temporary output files to remove on abnormal exit.
 *
 * Writers that produce PATH.tmp-PID and rename it on success register the temp path while it
 * exists. Every exit path that does not get as far as the rename removes it: exit() (cli_die and
 * friends, through an atexit handler) and SIGTERM, SIGINT, SIGHUP, SIGPIPE (a handler that
 * unlinks with async-signal-safe calls and re-raises the signal with its default action, so the
 * exit status still says which signal ended the process). SIGKILL cannot be caught.
 * The signal handlers are installed on the first registration, and only for signals whose
 * disposition is still the default: a tool with its own handler (train, remask --serve, the
 * broker) keeps it and is expected to exit through its normal, cleaning path.
 * Fixed capacity (TMPREG_SLOTS paths of < TMPREG_PATH_MAX bytes): a path that does not fit is
 * not registered and tmpreg_add reports it; the caller still removes it on its own paths.
 */
#ifndef LLADA_TMPREG_H
#define LLADA_TMPREG_H

#define TMPREG_SLOTS 32
#define TMPREG_PATH_MAX 4096

/* Register `path` (copied). Returns a slot id >= 0, or -1 when full or the path is too long.
 * Thread-safe. */
int tmpreg_add(const char *path);
/* Forget slot `id` (the file was renamed or removed by its owner); ignores id < 0. */
void tmpreg_remove(int id);
/* Unlink every registered path now (async-signal-safe; used before dying on a signal). */
void tmpreg_unlink_all(void);

#endif
