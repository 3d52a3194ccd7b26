#include "lib/hex.h"

#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

void hex_encode(const void *bytes, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *in = bytes;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

int hex_random(char *out, size_t bytes)
{
	unsigned char random[64];

	if (bytes > sizeof(random) ||
	    getrandom(random, bytes, 0) != (ssize_t)bytes)
		return -1;
	hex_encode(random, bytes, out);
	explicit_bzero(random, bytes);
	return 0;
}
