/* Bounds-checked reading and writing of untrusted bytes.
 *
 * Every network, file and IPC parser reads through struct buf_reader. Each
 * getter either returns 0 and advances, or returns a negative BUF_ERR_* code
 * and leaves the position unchanged; nothing reads past the end. */
#ifndef TRELLIS_BUF_H
#define TRELLIS_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum buf_error {
	BUF_OK = 0,
	BUF_ERR_SHORT = -1,    /* fewer bytes left than the field needs */
	BUF_ERR_TOO_LONG = -2, /* a length prefix above the caller's maximum */
	BUF_ERR_NO_MEMORY = -3,
	BUF_ERR_LIMIT = -4, /* the writer would grow past its maximum size */
};

const char *buf_strerror(int err);

struct buf_reader {
	const uint8_t *data;
	size_t len;
	size_t pos;
};

void buf_reader_init(struct buf_reader *r, const void *data, size_t len);
size_t buf_remaining(const struct buf_reader *r);

int buf_get_u8(struct buf_reader *r, uint8_t *out);
int buf_get_u16be(struct buf_reader *r, uint16_t *out);
int buf_get_u16le(struct buf_reader *r, uint16_t *out);
int buf_get_u32be(struct buf_reader *r, uint32_t *out);
int buf_get_u32le(struct buf_reader *r, uint32_t *out);
int buf_get_u64be(struct buf_reader *r, uint64_t *out);
int buf_get_u64le(struct buf_reader *r, uint64_t *out);
int buf_get_s32be(struct buf_reader *r, int32_t *out);
/* Copies exactly LEN bytes into OUT. */
int buf_get_bytes(struct buf_reader *r, void *out, size_t len);
/* Points OUT at the next LEN bytes without copying. */
int buf_get_view(struct buf_reader *r, size_t len, const uint8_t **out);
int buf_skip(struct buf_reader *r, size_t len);
/* Reads a length-prefixed byte string (u8, u16be or u32be prefix). A length
 * above MAX_LEN fails with BUF_ERR_TOO_LONG before anything is consumed. */
int buf_get_string8(struct buf_reader *r, size_t max_len, const uint8_t **out,
		    size_t *out_len);
int buf_get_string16be(struct buf_reader *r, size_t max_len,
		       const uint8_t **out, size_t *out_len);
int buf_get_string32be(struct buf_reader *r, size_t max_len,
		       const uint8_t **out, size_t *out_len);

/* A growable output buffer with a hard maximum size. After the first failed
 * put the writer stays failed, so a caller may check once at the end. */
struct buf_writer {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max_len;
	int error;
};

void buf_writer_init(struct buf_writer *w, size_t max_len);
void buf_writer_free(struct buf_writer *w);
/* Hands the bytes to the caller, who frees them; the writer is left empty. */
uint8_t *buf_writer_steal(struct buf_writer *w, size_t *len);

int buf_put_u8(struct buf_writer *w, uint8_t v);
int buf_put_u16be(struct buf_writer *w, uint16_t v);
int buf_put_u16le(struct buf_writer *w, uint16_t v);
int buf_put_u32be(struct buf_writer *w, uint32_t v);
int buf_put_u32le(struct buf_writer *w, uint32_t v);
int buf_put_u64be(struct buf_writer *w, uint64_t v);
int buf_put_u64le(struct buf_writer *w, uint64_t v);
int buf_put_bytes(struct buf_writer *w, const void *data, size_t len);
/* Writes LEN with a u8, u16be or u32be prefix, failing with
 * BUF_ERR_TOO_LONG when LEN does not fit the prefix. */
int buf_put_string8(struct buf_writer *w, const void *data, size_t len);
int buf_put_string16be(struct buf_writer *w, const void *data, size_t len);
int buf_put_string32be(struct buf_writer *w, const void *data, size_t len);

#endif
