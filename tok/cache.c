/* cache.c — the binary cache of a parsed tokenizer.json (see cache.h).
 *
 * One file per distinct tokenizer.json content, named by the content's hash and size
 * (tok-v1-<hash>-<size>.bin in the cache folder), so a changed file never meets an old entry and
 * copies of one file share an entry. Layout: a 256-byte header (magic, format version, a
 * fingerprint of this build's table layout and hash functions, the source's hash and size, the
 * file size, a hash of everything after the header, section offsets), then 64-byte aligned
 * sections: the tokenizer.json skeleton (everything but model.vocab and model.merges, as JSON),
 * the vocabulary hash map (slots, entries, key bytes), the merge hash map's slots, and the
 * vocabulary's id strings (offsets, lengths, bytes).
 *
 * A load maps the file and trusts nothing: the whole body is hashed, and every offset and index
 * the tables hold is range-checked, so a damaged, truncated or foreign file is ignored (and then
 * replaced) instead of giving wrong ids or reading out of bounds. Writes go to a temporary file
 * that is renamed into place, so readers never see a partial entry; concurrent writers each
 * rename a complete file.
 */
#define _GNU_SOURCE
#include "cache.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bump when the layout or the meaning of any cached table changes. The fingerprint below also
 * catches changes of struct sizes and hash functions, and the loader's `build` fingerprint
 * changes of the tables it builds from a fixed tokenizer.json (load.c). */
#define TC_VERSION 1
#define TC_MAGIC "LLTOKC\r\n"
#define BODY 256 /* the header, padded; sections start here */

enum { S_SKEL, S_VSLOTS, S_VENTS, S_VARENA, S_MSLOTS, S_IDOFF, S_IDLEN, S_STRS, S_N };
typedef struct {
    char magic[8];
    uint32_t version, hdr_size;
    uint64_t fingerprint, src_size, src_hash, file_size, body_hash;
    uint64_t vmask, vn, mmask, mn; /* vocabulary map: slots - 1, entries; merge map: slots - 1, entries */
    int32_t n_vocab, n_vocab_ids;
    uint64_t off[S_N], len[S_N];
} tc_hdr_t;
_Static_assert(sizeof(tc_hdr_t) <= BODY, "header fits its slot");

/* ---- hashing ---- */
#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t lane(uint64_t acc, uint64_t w) { return rotl(acc + w * P2, 31) * P1; }
static inline uint64_t rd64(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

void tc_hash_init(tc_hash_t *h, uint64_t seed) {
    memset(h, 0, sizeof *h);
    h->v[0] = seed + P1 + P2;
    h->v[1] = seed + P2;
    h->v[2] = seed;
    h->v[3] = seed - P1;
}
static void blocks(tc_hash_t *h, const uint8_t *p, size_t nblk) {
    uint64_t a = h->v[0], b = h->v[1], c = h->v[2], d = h->v[3];
    for (size_t i = 0; i < nblk; i++, p += 32) {
        a = lane(a, rd64(p));
        b = lane(b, rd64(p + 8));
        c = lane(c, rd64(p + 16));
        d = lane(d, rd64(p + 24));
    }
    h->v[0] = a;
    h->v[1] = b;
    h->v[2] = c;
    h->v[3] = d;
}
void tc_hash_update(tc_hash_t *h, const void *data, size_t n) {
    const uint8_t *p = data;
    h->total += n;
    if (h->nbuf) {
        size_t k = 32 - h->nbuf < n ? 32 - h->nbuf : n;
        memcpy(h->buf + h->nbuf, p, k);
        h->nbuf += k;
        p += k;
        n -= k;
        if (h->nbuf < 32) return;
        blocks(h, h->buf, 1);
        h->nbuf = 0;
    }
    blocks(h, p, n / 32);
    p += n / 32 * 32;
    n %= 32;
    memcpy(h->buf, p, n);
    h->nbuf = n;
}
uint64_t tc_hash_final(const tc_hash_t *h) {
    uint64_t r = rotl(h->v[0], 1) + rotl(h->v[1], 7) + rotl(h->v[2], 12) + rotl(h->v[3], 18);
    for (int i = 0; i < 4; i++) r = (r ^ lane(0, h->v[i])) * P1 + P3;
    r += h->total;
    size_t i = 0;
    for (; i + 8 <= h->nbuf; i += 8) r = rotl(r ^ lane(0, rd64(h->buf + i)), 27) * P1 + P3;
    for (; i < h->nbuf; i++) r = rotl(r ^ (h->buf[i] * P3), 11) * P1;
    return hm_mix(r);
}
uint64_t tc_hash(const void *p, size_t n) {
    tc_hash_t h;
    tc_hash_init(&h, 0);
    tc_hash_update(&h, p, n);
    return tc_hash_final(&h);
}

int tc_hash_fd(int fd, uint64_t *hash, uint64_t *size) {
    uint8_t buf[1 << 16];
    tc_hash_t h;
    tc_hash_init(&h, 0);
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        tc_hash_update(&h, buf, (size_t)r);
    }
    *hash = tc_hash_final(&h);
    *size = h.total;
    return 0;
}

/* What this build's tables look like: an entry written by a build with other struct sizes,
 * hash functions or table contents (`build`, from the loader) is not this build's entry. */
static uint64_t fingerprint(uint64_t build) {
    uint64_t f[9] = {TC_VERSION,
                     sizeof(smap_slot_t),
                     sizeof(struct smap_ent),
                     sizeof(umap_slot_t),
                     hm_hash("llada-tools tok cache", 21),
                     hm_mix(0x0123456789ABCDEFULL),
                     0x0102030405060708ULL /* byte order */,
                     sizeof(tc_hdr_t),
                     build};
    return tc_hash(f, sizeof f);
}

/* ---- locations ---- */
char *tc_dir(void) {
    const char *v = getenv("LLADA_TOK_CACHE");
    char *d = NULL;
    if (v) return (!*v || !strcmp(v, "0") || !strcmp(v, "off")) ? NULL : strdup(v);
    const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    if (x && x[0] == '/') {
        if (asprintf(&d, "%s/llada-tools", x) < 0) d = NULL;
    } else if (h && h[0] == '/') {
        if (asprintf(&d, "%s/.cache/llada-tools", h) < 0) d = NULL;
    }
    return d;
}
static int entry_path(char *out, size_t cap, const char *dir, uint64_t src_hash, uint64_t src_size) {
    int n = snprintf(out, cap, "%s/tok-v%d-%016llx-%llu.bin", dir, TC_VERSION, (unsigned long long)src_hash,
                     (unsigned long long)src_size);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* ---- reading ---- */
static bool section_ok(const tc_hdr_t *h, int s, uint64_t want_len) {
    return h->off[s] % 64 == 0 && h->off[s] >= BODY && h->len[s] <= h->file_size &&
           h->off[s] <= h->file_size - h->len[s] && (want_len == UINT64_MAX || h->len[s] == want_len);
}
static bool pow2(uint64_t x) { return x && !(x & (x - 1)); }

/* Every index and offset in the tables in range, and both maps with a free slot (so probing
 * ends). Corruption that a hash collision let through still cannot read out of bounds. */
static bool tables_ok(const tc_view_t *v, uint64_t arena_len) {
    uint64_t nid = (uint64_t)v->n_vocab_ids, empty = 0;
    for (uint64_t i = 0; i <= v->vocab.mask; i++) {
        uint32_t e = v->vocab.slots[i].e;
        if (!e) empty++;
        else if (e > v->vocab.n) return false;
    }
    if (!empty) return false;
    for (uint32_t i = 0; i < v->vocab.n; i++) {
        const struct smap_ent *x = &v->vocab.ent[i];
        if ((uint64_t)x->koff + x->klen > arena_len || x->val < 0 || (uint64_t)x->val >= nid) return false;
    }
    empty = 0;
    for (uint64_t i = 0; i <= v->merges.mask; i++) {
        const umap_slot_t *s = &v->merges.s[i];
        if (!s->k) {
            empty++;
            continue;
        }
        uint64_t key = s->k - 1;
        if ((key >> 32) >= nid || (uint32_t)key >= nid || (uint32_t)s->v >= nid) return false;
    }
    if (!empty) return false;
    for (uint64_t i = 0; i < nid; i++)
        if (v->id_off[i] != TC_NONE &&
            ((uint64_t)v->id_off[i] + v->id_len[i] >= v->strs_len || v->strs[v->id_off[i] + v->id_len[i]]))
            return false;
    return true;
}

bool tc_open(const char *dir, uint64_t src_hash, uint64_t src_size, uint64_t build, tc_view_t *v) {
    memset(v, 0, sizeof *v);
    char path[PATH_MAX];
    if (entry_path(path, sizeof path, dir, src_hash, src_size)) return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size < BODY) {
        close(fd);
        return false;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return false;
    v->map = map;
    v->map_len = (size_t)st.st_size;
    const tc_hdr_t *h = map;
    const uint8_t *base = map;
    if (memcmp(h->magic, TC_MAGIC, 8) || h->version != TC_VERSION || h->hdr_size != sizeof *h ||
        h->fingerprint != fingerprint(build) || h->src_size != src_size || h->src_hash != src_hash ||
        h->file_size != (uint64_t)st.st_size)
        goto bad;
    if (h->vmask >= (1ULL << 40) || !pow2(h->vmask + 1) || h->vn > h->vmask || h->vn >= UINT32_MAX ||
        h->mmask >= (1ULL << 40) || !pow2(h->mmask + 1) || h->mn > h->mmask || h->n_vocab_ids < 0 || h->n_vocab < 0 ||
        (uint64_t)h->n_vocab > src_size)
        goto bad;
    uint64_t nid4 = (uint64_t)h->n_vocab_ids * 4;
    if (!section_ok(h, S_SKEL, UINT64_MAX) || !section_ok(h, S_VSLOTS, (h->vmask + 1) * sizeof(smap_slot_t)) ||
        !section_ok(h, S_VENTS, h->vn * sizeof(struct smap_ent)) || !section_ok(h, S_VARENA, UINT64_MAX) ||
        !section_ok(h, S_MSLOTS, (h->mmask + 1) * sizeof(umap_slot_t)) || !section_ok(h, S_IDOFF, nid4) ||
        !section_ok(h, S_IDLEN, nid4) || !section_ok(h, S_STRS, UINT64_MAX))
        goto bad;
    if (tc_hash(base + BODY, h->file_size - BODY) != h->body_hash) goto bad;
    v->skel = (const char *)base + h->off[S_SKEL];
    v->skel_len = h->len[S_SKEL];
    v->vocab = (smap_t){.slots = (smap_slot_t *)(base + h->off[S_VSLOTS]),
                        .mask = h->vmask,
                        .ent = (struct smap_ent *)(base + h->off[S_VENTS]),
                        .n = (uint32_t)h->vn,
                        .cap_e = (uint32_t)h->vn,
                        .arena = (uint8_t *)(base + h->off[S_VARENA]),
                        .alen = h->len[S_VARENA],
                        .acap = h->len[S_VARENA],
                        .borrowed = true};
    v->merges = (umap_t){.s = (umap_slot_t *)(base + h->off[S_MSLOTS]), .mask = h->mmask, .n = h->mn, .borrowed = true};
    v->id_off = (const uint32_t *)(base + h->off[S_IDOFF]);
    v->id_len = (const uint32_t *)(base + h->off[S_IDLEN]);
    v->strs = (const char *)base + h->off[S_STRS];
    v->strs_len = h->len[S_STRS];
    v->n_vocab = h->n_vocab;
    v->n_vocab_ids = h->n_vocab_ids;
    if (!tables_ok(v, h->len[S_VARENA])) goto bad;
    return true;
bad:
    tc_close(v);
    return false;
}

void tc_close(tc_view_t *v) {
    if (v->map) munmap(v->map, v->map_len);
    memset(v, 0, sizeof *v);
}

/* ---- writing ---- */
static int mkdirs(const char *dir) {
    char p[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p) return -1;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++)
        if (p[i] == '/' || p[i] == 0) {
            char c = p[i];
            p[i] = 0;
            if (mkdir(p, 0777) && errno != EEXIST) return -1;
            p[i] = c;
        }
    return 0;
}
static int write_all(int fd, const void *p, size_t n, tc_hash_t *h) {
    const char *c = p;
    if (n) tc_hash_update(h, p, n);
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

void tc_write(const char *dir, uint64_t src_hash, uint64_t src_size, uint64_t build, const smap_t *vocab,
              const umap_t *merges, int32_t n_vocab, const tc_snap_t *snap, const char *strs, const char *skel,
              size_t skel_len) {
    char path[PATH_MAX], tmp[PATH_MAX + 64];
    static unsigned counter;
    if (mkdirs(dir) || entry_path(path, sizeof path, dir, src_hash, src_size)) return;
    snprintf(tmp, sizeof tmp, "%s.%ld.%u.tmp", path, (long)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    const void *data[S_N] = {skel, vocab->slots, vocab->ent, vocab->arena, merges->s, snap->off, snap->len, strs};
    tc_hdr_t h = {.version = TC_VERSION,
                  .hdr_size = sizeof h,
                  .fingerprint = fingerprint(build),
                  .src_size = src_size,
                  .src_hash = src_hash,
                  .vmask = vocab->mask,
                  .vn = vocab->n,
                  .mmask = merges->mask,
                  .mn = merges->n,
                  .n_vocab = n_vocab,
                  .n_vocab_ids = snap->n_ids};
    memcpy(h.magic, TC_MAGIC, 8);
    h.len[S_SKEL] = skel_len;
    h.len[S_VSLOTS] = (vocab->mask + 1) * sizeof(smap_slot_t);
    h.len[S_VENTS] = (uint64_t)vocab->n * sizeof(struct smap_ent);
    h.len[S_VARENA] = vocab->alen;
    h.len[S_MSLOTS] = (merges->mask + 1) * sizeof(umap_slot_t);
    h.len[S_IDOFF] = h.len[S_IDLEN] = (uint64_t)snap->n_ids * 4;
    h.len[S_STRS] = snap->strs_len;
    uint64_t off = BODY;
    for (int s = 0; s < S_N; s++) {
        off = (off + 63) & ~63ULL;
        h.off[s] = off;
        off += h.len[s];
    }
    h.file_size = off;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return;
    static const char zeros[BODY];
    tc_hash_t bh;
    tc_hash_init(&bh, 0);
    bool ok = lseek(fd, BODY, SEEK_SET) == BODY;
    uint64_t at = BODY;
    for (int s = 0; s < S_N && ok; s++) {
        ok = write_all(fd, zeros, h.off[s] - at, &bh) == 0 && write_all(fd, data[s], h.len[s], &bh) == 0;
        at = h.off[s] + h.len[s];
    }
    h.body_hash = tc_hash_final(&bh);
    ok = ok && pwrite(fd, &h, sizeof h, 0) == (ssize_t)sizeof h;
    if (close(fd)) ok = false;
    if (!ok || rename(tmp, path)) unlink(tmp);
}
