/* shuffle.h — the byte-shuffle filter for typed arrays (HDF5's and Blosc's "shuffle").
 *
 * n elements of `size` bytes are stored as `size` planes of n bytes: all first (low) bytes,
 * then all second bytes, and so on. Token ids below 2^24 have a constant high byte and a
 * nearly constant third byte, so LZ4 compresses the planes faster and smaller than the
 * interleaved ids (bench/mask.sh). A record writer applies it on request (`--shuffle`); the
 * tensor then carries "filter": "shuffle" (docs/protocol.md) and readers undo it on decode.
 */
#ifndef LLADA_SHUFFLE_H
#define LLADA_SHUFFLE_H

#include <stddef.h>
#include <stdint.h>

/* dst[k·n + i] = src[i·size + k]. dst and src do not overlap; both hold n·size bytes. */
void shuffle_bytes(uint8_t *dst, const uint8_t *src, size_t n, size_t size);
/* The inverse: dst[i·size + k] = src[k·n + i]. */
void unshuffle_bytes(uint8_t *dst, const uint8_t *src, size_t n, size_t size);

/* Plain loops: the reference the fast paths are tested against. */
void shuffle_bytes_ref(uint8_t *dst, const uint8_t *src, size_t n, size_t size);
void unshuffle_bytes_ref(uint8_t *dst, const uint8_t *src, size_t n, size_t size);

#endif
