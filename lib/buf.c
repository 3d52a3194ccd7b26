#include "lib/buf.h"

#include <stdlib.h>
#include <string.h>

const char *buf_strerror(int err)
{
	switch (err) {
	case BUF_OK:
		return "no error";
	case BUF_ERR_SHORT:
		return "input ends inside a field";
	case BUF_ERR_TOO_LONG:
		return "length field above the allowed maximum";
	case BUF_ERR_NO_MEMORY:
		return "out of memory";
	case BUF_ERR_LIMIT:
		return "output above its maximum size";
	default:
		return "unknown buffer error";
	}
}

void buf_reader_init(struct buf_reader *r, const void *data, size_t len)
{
	r->data = data;
	r->len = data ? len : 0;
	r->pos = 0;
}

size_t buf_remaining(const struct buf_reader *r)
{
	return r->len - r->pos;
}

int buf_get_view(struct buf_reader *r, size_t len, const uint8_t **out)
{
	if (len > buf_remaining(r))
		return BUF_ERR_SHORT;
	*out = r->data + r->pos;
	r->pos += len;
	return BUF_OK;
}

int buf_get_bytes(struct buf_reader *r, void *out, size_t len)
{
	const uint8_t *p;
	int err = buf_get_view(r, len, &p);

	if (err == BUF_OK && len > 0)
		memcpy(out, p, len);
	return err;
}

int buf_skip(struct buf_reader *r, size_t len)
{
	const uint8_t *p;
	return buf_get_view(r, len, &p);
}

int buf_get_u8(struct buf_reader *r, uint8_t *out)
{
	return buf_get_bytes(r, out, 1);
}

/* Reads WIDTH bytes as an unsigned integer in the given byte order. */
static int get_uint(struct buf_reader *r, size_t width, bool big_endian,
		    uint64_t *out)
{
	const uint8_t *p;
	uint64_t v = 0;
	int err = buf_get_view(r, width, &p);

	if (err != BUF_OK)
		return err;
	for (size_t i = 0; i < width; i++) {
		size_t index = big_endian ? i : width - 1 - i;
		v = (v << 8) | p[index];
	}
	*out = v;
	return BUF_OK;
}

#define DEFINE_GET(name, type, width, big)                                     \
	int name(struct buf_reader *r, type *out)                              \
	{                                                                      \
		uint64_t v;                                                    \
		int err = get_uint(r, width, big, &v);                         \
		if (err == BUF_OK)                                             \
			*out = (type)v;                                        \
		return err;                                                    \
	}

DEFINE_GET(buf_get_u16be, uint16_t, 2, true)
DEFINE_GET(buf_get_u16le, uint16_t, 2, false)
DEFINE_GET(buf_get_u32be, uint32_t, 4, true)
DEFINE_GET(buf_get_u32le, uint32_t, 4, false)
DEFINE_GET(buf_get_u64be, uint64_t, 8, true)
DEFINE_GET(buf_get_u64le, uint64_t, 8, false)

int buf_get_s32be(struct buf_reader *r, int32_t *out)
{
	uint32_t v;
	int err = buf_get_u32be(r, &v);

	if (err == BUF_OK)
		memcpy(out, &v, sizeof(v));
	return err;
}

/* Reads a PREFIX_WIDTH-byte big-endian length, then that many bytes. The
 * position moves only when the whole string is present and allowed. */
static int get_string(struct buf_reader *r, size_t prefix_width, size_t max_len,
		      const uint8_t **out, size_t *out_len)
{
	size_t start = r->pos;
	uint64_t len;
	int err = get_uint(r, prefix_width, true, &len);

	if (err != BUF_OK)
		return err;
	if (len > max_len) {
		r->pos = start;
		return BUF_ERR_TOO_LONG;
	}
	err = buf_get_view(r, (size_t)len, out);
	if (err != BUF_OK) {
		r->pos = start;
		return err;
	}
	*out_len = (size_t)len;
	return BUF_OK;
}

int buf_get_string8(struct buf_reader *r, size_t max_len, const uint8_t **out,
		    size_t *out_len)
{
	return get_string(r, 1, max_len, out, out_len);
}

int buf_get_string16be(struct buf_reader *r, size_t max_len,
		       const uint8_t **out, size_t *out_len)
{
	return get_string(r, 2, max_len, out, out_len);
}

int buf_get_string32be(struct buf_reader *r, size_t max_len,
		       const uint8_t **out, size_t *out_len)
{
	return get_string(r, 4, max_len, out, out_len);
}

void buf_writer_init(struct buf_writer *w, size_t max_len)
{
	memset(w, 0, sizeof(*w));
	w->max_len = max_len;
}

void buf_writer_free(struct buf_writer *w)
{
	free(w->data);
	w->data = NULL;
	w->len = w->cap = 0;
}

uint8_t *buf_writer_steal(struct buf_writer *w, size_t *len)
{
	uint8_t *data = w->data;

	*len = w->len;
	w->data = NULL;
	w->len = w->cap = 0;
	return data;
}

static int reserve(struct buf_writer *w, size_t extra)
{
	if (w->error)
		return w->error;
	if (extra > w->max_len - w->len) {
		w->error = BUF_ERR_LIMIT;
		return w->error;
	}
	if (w->len + extra <= w->cap)
		return BUF_OK;

	size_t cap = w->cap ? w->cap : 64;
	while (cap < w->len + extra)
		cap = cap > w->max_len / 2 ? w->max_len : cap * 2;
	uint8_t *data = realloc(w->data, cap);
	if (data == NULL) {
		w->error = BUF_ERR_NO_MEMORY;
		return w->error;
	}
	w->data = data;
	w->cap = cap;
	return BUF_OK;
}

int buf_put_bytes(struct buf_writer *w, const void *data, size_t len)
{
	int err = reserve(w, len);

	if (err != BUF_OK)
		return err;
	if (len > 0)
		memcpy(w->data + w->len, data, len);
	w->len += len;
	return BUF_OK;
}

static int put_uint(struct buf_writer *w, uint64_t v, size_t width,
		    bool big_endian)
{
	uint8_t bytes[8];

	for (size_t i = 0; i < width; i++) {
		size_t shift = 8 * (big_endian ? width - 1 - i : i);
		bytes[i] = (uint8_t)(v >> shift);
	}
	return buf_put_bytes(w, bytes, width);
}

int buf_put_u8(struct buf_writer *w, uint8_t v)
{
	return put_uint(w, v, 1, true);
}

int buf_put_u16be(struct buf_writer *w, uint16_t v)
{
	return put_uint(w, v, 2, true);
}

int buf_put_u16le(struct buf_writer *w, uint16_t v)
{
	return put_uint(w, v, 2, false);
}

int buf_put_u32be(struct buf_writer *w, uint32_t v)
{
	return put_uint(w, v, 4, true);
}

int buf_put_u32le(struct buf_writer *w, uint32_t v)
{
	return put_uint(w, v, 4, false);
}

int buf_put_u64be(struct buf_writer *w, uint64_t v)
{
	return put_uint(w, v, 8, true);
}

int buf_put_u64le(struct buf_writer *w, uint64_t v)
{
	return put_uint(w, v, 8, false);
}

static int put_string(struct buf_writer *w, size_t prefix_width,
		      const void *data, size_t len)
{
	uint64_t max = prefix_width == 8
			   ? UINT64_MAX
			   : (UINT64_C(1) << (8 * prefix_width)) - 1;
	int err;

	if (w->error)
		return w->error;
	if ((uint64_t)len > max) {
		w->error = BUF_ERR_TOO_LONG;
		return w->error;
	}
	err = put_uint(w, len, prefix_width, true);
	if (err != BUF_OK)
		return err;
	return buf_put_bytes(w, data, len);
}

int buf_put_string8(struct buf_writer *w, const void *data, size_t len)
{
	return put_string(w, 1, data, len);
}

int buf_put_string16be(struct buf_writer *w, const void *data, size_t len)
{
	return put_string(w, 2, data, len);
}

int buf_put_string32be(struct buf_writer *w, const void *data, size_t len)
{
	return put_string(w, 4, data, len);
}
