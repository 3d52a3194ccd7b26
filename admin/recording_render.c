#include "admin/recording_render.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define PIXEL_BYTES 4

static void set_error(struct recording_reader *r, size_t offset,
		      const char *reason)
{
	r->damaged = true;
	r->stop_offset = offset;
	snprintf(r->error, sizeof(r->error), "%s", reason);
}

int recording_reader_init(struct recording_reader *r, const uint8_t *data,
			  size_t len)
{
	uint8_t magic[8];
	uint16_t version;
	uint64_t start_ms;
	uint8_t bytes_per_pixel, shifts[3];
	const uint8_t *session;
	size_t session_len;

	memset(r, 0, sizeof(*r));
	buf_reader_init(&r->in, data, len);
	if (buf_get_bytes(&r->in, magic, sizeof(magic)) < 0 ||
	    memcmp(magic, RECORDING_MAGIC, sizeof(magic)) != 0) {
		set_error(r, 0,
			  "not a Trellis recording (magic TRLSREC1 "
			  "missing)");
		return -1;
	}
	if (buf_get_u16be(&r->in, &version) < 0 ||
	    buf_get_u64be(&r->in, &start_ms) < 0 ||
	    buf_get_u8(&r->in, &bytes_per_pixel) < 0 ||
	    buf_get_bytes(&r->in, shifts, sizeof(shifts)) < 0 ||
	    buf_get_string8(&r->in, RECORDING_SESSION_MAX, &session,
			    &session_len) < 0) {
		set_error(r, r->in.pos, "the header is cut short");
		return -1;
	}
	if (version != RECORDING_VERSION) {
		snprintf(r->error, sizeof(r->error),
			 "format version %u is unknown; this trellis-admin "
			 "reads version %d",
			 version, RECORDING_VERSION);
		r->damaged = true;
		return -1;
	}
	if (bytes_per_pixel != PIXEL_BYTES || shifts[0] != 0 ||
	    shifts[1] != 8 || shifts[2] != 16) {
		set_error(r, 18, "unsupported pixel format in the header");
		return -1;
	}
	r->start_wall_ms = (int64_t)start_ms;
	memcpy(r->session, session, session_len);
	r->session[session_len] = '\0';
	return 0;
}

void recording_reader_free(struct recording_reader *r)
{
	free(r->pixels);
	r->pixels = NULL;
}

int recording_peek_time(struct recording_reader *r, uint32_t *time_ms)
{
	struct buf_reader peek = r->in;
	uint8_t type;

	if (r->ended || r->damaged || buf_remaining(&r->in) == 0)
		return r->damaged ? -1 : 0;
	if (buf_get_u8(&peek, &type) < 0 || buf_get_u32be(&peek, time_ms) < 0) {
		set_error(r, r->in.pos, "the file ends inside a record header");
		return -1;
	}
	return 1;
}

/* Inflates exactly OUT_LEN bytes from the zlib stream IN into OUT. Returns
 * NULL or the reason the stream is invalid. */
static const char *inflate_exact(const uint8_t *in, size_t in_len, uint8_t *out,
				 size_t out_len)
{
	z_stream z = {0};
	const char *problem = NULL;

	if (in_len > UINT32_MAX || out_len > UINT32_MAX)
		return "the compressed pixels are too large";
	if (inflateInit(&z) != Z_OK)
		return "zlib could not start";
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)in_len;
	z.next_out = out;
	z.avail_out = (uInt)out_len;

	int rc = inflate(&z, Z_FINISH);
	if (rc == Z_BUF_ERROR && z.avail_out == 0)
		problem = "the compressed pixels hold more than the "
			  "rectangle";
	else if (rc != Z_STREAM_END)
		problem = "the compressed pixels are invalid or cut short";
	else if (z.avail_out != 0)
		problem = "the compressed pixels hold less than the rectangle";
	else if (z.avail_in != 0)
		problem = "bytes follow the compressed pixels";
	inflateEnd(&z);
	return problem;
}

static int apply_keyframe(struct recording_reader *r, struct buf_reader *p,
			  size_t offset)
{
	uint16_t width, height;

	if (buf_get_u16be(p, &width) < 0 || buf_get_u16be(p, &height) < 0) {
		set_error(r, offset, "a keyframe is cut short");
		return -1;
	}
	if (width == 0 || height == 0 || width > RECORDING_MAX_SIDE ||
	    height > RECORDING_MAX_SIDE) {
		set_error(r, offset,
			  "a keyframe's size is 0 or above "
			  "16384 x 16384");
		return -1;
	}

	size_t len = (size_t)width * height * PIXEL_BYTES;
	uint8_t *pixels = malloc(len);
	if (pixels == NULL) {
		set_error(r, offset, "out of memory for a keyframe");
		return -1;
	}
	const char *problem =
	    inflate_exact(p->data + p->pos, buf_remaining(p), pixels, len);
	if (problem) {
		free(pixels);
		set_error(r, offset, problem);
		return -1;
	}
	free(r->pixels);
	r->pixels = pixels;
	r->width = width;
	r->height = height;
	return 0;
}

static int apply_rectangle(struct recording_reader *r, struct buf_reader *p,
			   size_t offset)
{
	uint16_t x, y, w, h;

	if (buf_get_u16be(p, &x) < 0 || buf_get_u16be(p, &y) < 0 ||
	    buf_get_u16be(p, &w) < 0 || buf_get_u16be(p, &h) < 0) {
		set_error(r, offset, "a rectangle is cut short");
		return -1;
	}
	if (r->pixels == NULL) {
		set_error(r, offset, "a rectangle comes before any keyframe");
		return -1;
	}
	if (w == 0 || h == 0 || (uint32_t)x + w > r->width ||
	    (uint32_t)y + h > r->height) {
		set_error(r, offset, "a rectangle lies outside the frame");
		return -1;
	}

	size_t row_len = (size_t)w * PIXEL_BYTES;
	uint8_t *rect = malloc(row_len * h);
	if (rect == NULL) {
		set_error(r, offset, "out of memory for a rectangle");
		return -1;
	}
	const char *problem = inflate_exact(p->data + p->pos, buf_remaining(p),
					    rect, row_len * h);
	if (problem) {
		free(rect);
		set_error(r, offset, problem);
		return -1;
	}
	for (uint32_t row = 0; row < h; row++)
		memcpy(r->pixels +
			   (((size_t)y + row) * r->width + x) * PIXEL_BYTES,
		       rect + row * row_len, row_len);
	free(rect);
	return 0;
}

int recording_next(struct recording_reader *r)
{
	size_t offset = r->in.pos;
	uint8_t type;
	uint32_t time_ms;
	const uint8_t *payload;
	uint32_t payload_len;

	if (r->ended || r->damaged || buf_remaining(&r->in) == 0)
		return r->damaged ? -1 : 0;
	if (buf_get_u8(&r->in, &type) < 0 ||
	    buf_get_u32be(&r->in, &time_ms) < 0 ||
	    buf_get_u32be(&r->in, &payload_len) < 0) {
		r->in.pos = offset;
		set_error(r, offset, "the file ends inside a record header");
		return -1;
	}
	if (buf_get_view(&r->in, payload_len, &payload) < 0) {
		r->in.pos = offset;
		set_error(r, offset, "the file ends inside a record");
		return -1;
	}
	if (r->records > 0 && time_ms < r->time_ms) {
		r->in.pos = offset;
		set_error(r, offset, "a record's time goes backwards");
		return -1;
	}

	struct buf_reader p;
	buf_reader_init(&p, payload, payload_len);
	int rc = 0;
	switch (type) {
	case RECORDING_KEYFRAME:
		rc = apply_keyframe(r, &p, offset);
		break;
	case RECORDING_RECTANGLE:
		rc = apply_rectangle(r, &p, offset);
		break;
	case RECORDING_END:
		r->ended = true;
		break;
	default:
		/* Later versions may add record types; skip them. */
		break;
	}
	if (rc < 0) {
		r->in.pos = offset;
		return -1;
	}
	r->time_ms = time_ms;
	r->records++;
	return 1;
}

bool recording_skip_to_keyframe(struct recording_reader *r, uint32_t at_ms)
{
	struct buf_reader walk = r->in;
	size_t keyframe_at = 0;
	bool found = false;
	uint32_t last_ms = r->time_ms;

	if (r->ended || r->damaged)
		return false;

	/* Reads record headers only; a damaged header ends the walk, and
	 * recording_next then reports it. */
	while (buf_remaining(&walk) > 0) {
		size_t offset = walk.pos;
		uint8_t type;
		uint32_t time_ms, len;
		if (buf_get_u8(&walk, &type) < 0 ||
		    buf_get_u32be(&walk, &time_ms) < 0 ||
		    buf_get_u32be(&walk, &len) < 0 || time_ms > at_ms ||
		    time_ms < last_ms || buf_skip(&walk, len) < 0)
			break;
		last_ms = time_ms;
		if (type == RECORDING_KEYFRAME) {
			keyframe_at = offset;
			found = true;
		}
		if (type == RECORDING_END)
			break;
	}
	if (found && keyframe_at > r->in.pos)
		r->in.pos = keyframe_at;
	return found;
}

static void png_write_to_buf(png_structp png, png_bytep data, size_t len)
{
	struct buf_writer *out = png_get_io_ptr(png);

	if (buf_put_bytes(out, data, len) < 0)
		png_error(png, "the PNG exceeds its maximum size");
}

static void png_flush_nothing(png_structp png)
{
}

int recording_frame_png(struct recording_reader *r, struct buf_writer *out)
{
	png_structp png = NULL;
	png_infop info = NULL;
	uint8_t *volatile row = NULL;

	if (r->pixels == NULL) {
		snprintf(r->error, sizeof(r->error),
			 "no frame yet: the recording has no keyframe before "
			 "this time");
		return -1;
	}
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	info = png ? png_create_info_struct(png) : NULL;
	row = malloc((size_t)r->width * 3);
	if (png == NULL || info == NULL || row == NULL) {
		snprintf(r->error, sizeof(r->error),
			 "out of memory for the PNG");
		goto fail;
	}
	if (setjmp(png_jmpbuf(png))) {
		snprintf(r->error, sizeof(r->error),
			 "encoding the PNG failed (out of memory or too "
			 "large)");
		goto fail;
	}

	png_set_write_fn(png, out, png_write_to_buf, png_flush_nothing);
	png_set_IHDR(png, info, r->width, r->height, 8, PNG_COLOR_TYPE_RGB,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
		     PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (uint32_t y = 0; y < r->height; y++) {
		const uint8_t *src =
		    r->pixels + (size_t)y * r->width * PIXEL_BYTES;
		for (uint32_t x = 0; x < r->width; x++)
			memcpy(row + (size_t)x * 3, src + (size_t)x * 4, 3);
		png_write_row(png, row);
	}
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	free(row);
	return 0;

fail:
	png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
	free(row);
	return -1;
}
