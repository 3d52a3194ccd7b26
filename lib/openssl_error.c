#include "lib/openssl_error.h"

#include <openssl/err.h>

const char *openssl_error_text(void)
{
	static char text[256];
	unsigned long code = ERR_peek_last_error();

	if (code == 0)
		return "unknown OpenSSL error";
	ERR_error_string_n(code, text, sizeof(text));
	ERR_clear_error();
	return text;
}
