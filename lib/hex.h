/* Lower-case hexadecimal text for hashes and random ids. */
#ifndef TRELLIS_HEX_H
#define TRELLIS_HEX_H

#include <stddef.h>

/* Writes the LEN bytes at BYTES as 2 * LEN lower-case hex digits and a
 * NUL into OUT. */
void hex_encode(const void *bytes, size_t len, char *out);

/* Writes BYTES random bytes from the kernel's pool as hex into OUT, which
 * has room for 2 * BYTES + 1 characters. Returns 0, or -1 when the pool
 * gives fewer bytes. */
int hex_random(char *out, size_t bytes);

#endif
