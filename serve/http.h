/* http.h — the HTTP front of serve (libmicrohttpd, thread per connection; see http.c). */
#ifndef LLADA_SERVE_HTTP_H
#define LLADA_SERVE_HTTP_H
#include "serve.h"
struct MHD_Daemon;
/* Listen on HOST:PORT (port 0: any; *port gets the bound port) with at most max_conn
 * connections; *quiet silences libmicrohttpd's messages. NULL with `e` on failure. */
struct MHD_Daemon *serve_http_start(serve_t *sv, const char *listen, int max_conn, const bool *quiet, int *port,
                                    lerr_t *e);
#endif
