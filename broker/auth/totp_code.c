/* RFC 6238 code verification with liboath. */
#include <liboath/oath.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <string.h>

#include "broker/auth/totp.h"
#include "lib/log.h"

static pthread_once_t oath_once = PTHREAD_ONCE_INIT;
static int oath_init_result;

static void init_oath(void)
{
	oath_init_result = oath_init();
}

static bool is_code_format(const char *code)
{
	if (!code || strlen(code) != AUTH_TOTP_DIGITS)
		return false;
	for (size_t i = 0; i < AUTH_TOTP_DIGITS; i++) {
		if (code[i] < '0' || code[i] > '9')
			return false;
	}
	return true;
}

/* Compares in constant time so the response time does not reveal how many
 * leading digits of a guess are right. liboath expects 0 for a match. */
static int compare_code(void *expected, const char *candidate)
{
	return CRYPTO_memcmp(expected, candidate, AUTH_TOTP_DIGITS) != 0;
}

enum auth_result auth_totp_verify(const uint8_t *secret, size_t secret_len,
				  const char *code, int64_t now_ms,
				  int64_t *step)
{
	if (!is_code_format(code) || now_ms < 0)
		return AUTH_BAD_CODE;

	pthread_once(&oath_once, init_oath);
	if (oath_init_result != OATH_OK) {
		log_error("totp_init_failed", "error=%s",
			  oath_strerror(oath_init_result));
		return AUTH_INTERNAL_ERROR;
	}

	int position = 0;
	uint64_t counter = 0;
	int rc = oath_totp_validate4_callback(
	    (const char *)secret, secret_len, (time_t)(now_ms / 1000),
	    AUTH_TOTP_STEP_SECONDS, 0, AUTH_TOTP_DIGITS, AUTH_TOTP_WINDOW_STEPS,
	    &position, &counter, 0, compare_code, (void *)code);
	if (rc < 0) {
		if (rc != OATH_INVALID_OTP)
			log_error("totp_verify_failed", "error=%s",
				  oath_strerror(rc));
		return rc == OATH_INVALID_OTP ? AUTH_BAD_CODE
					      : AUTH_INTERNAL_ERROR;
	}
	*step = (int64_t)counter;
	return AUTH_OK;
}
