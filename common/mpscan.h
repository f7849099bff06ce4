/* mpscan.h — msgpack header parsing shared by the scanner, the record decoder and getters. */
#ifndef LLADA_MPSCAN_H
#define LLADA_MPSCAN_H
#include <stddef.h>
#include <stdint.h>

#define MP_MAX_DEPTH 64

typedef enum { MP_NIL, MP_BOOL, MP_UINT, MP_INT, MP_FLOAT, MP_STR, MP_BIN, MP_EXT, MP_ARRAY, MP_MAP } mp_type_t;

typedef struct {
    mp_type_t type;
    size_t hlen;    /* header bytes (for scalars: the whole value) */
    uint64_t size;  /* STR/BIN/EXT payload bytes */
    uint64_t count; /* ARRAY items / MAP pairs */
    uint64_t u;     /* UINT, BOOL */
    int64_t i;      /* INT (negative or signed encodings) */
    double f;       /* FLOAT */
    int8_t ext_type;
} mp_hdr_t;

/* Parse the header at p[0..len): 1 ok, 0 need more bytes, -1 invalid byte. */
int mp_header(const uint8_t *p, size_t len, mp_hdr_t *h);
#endif
