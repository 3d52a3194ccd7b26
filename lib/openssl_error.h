/* OpenSSL's error queue as text for log lines. */
#ifndef TRELLIS_OPENSSL_ERROR_H
#define TRELLIS_OPENSSL_ERROR_H

/* Returns the reason of the newest error in this thread's OpenSSL error
 * queue, or "unknown OpenSSL error", and clears the queue. The text lives
 * in a static buffer until the next call. */
const char *openssl_error_text(void);

#endif
