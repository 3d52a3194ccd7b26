/* Session recording: the desktop's framebuffer changes with timestamps,
 * as described in docs/recording-format.md. The file descriptor comes
 * open from setup, so nothing is opened once the seccomp filter is on. */
#include "session/hub/hub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/buf.h"
#include "lib/log.h"

#define REC_MAGIC      "TRLSREC1"
#define REC_VERSION    1
#define REC_KEYFRAME   1
#define REC_RECT       2
#define REC_END	       3
#define REC_ZLIB_LEVEL 1 /* fast: the hub records while serving */

struct hub_recording {
	int fd;
	int64_t start_wall_ms;
	int64_t start_mono_ms;
	int64_t last_keyframe_ms; /* monotonic */
	uint64_t bytes;
};

static int write_all(struct hub_recording *rec, const void *data, size_t len,
		     char *err, size_t err_size)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = write(rec->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, err_size, "writing the recording: %s",
				 n < 0 ? strerror(errno) : "no progress");
			return -1;
		}
		p += n;
		len -= (size_t)n;
		rec->bytes += (uint64_t)n;
	}
	return 0;
}

/* Writes one record: header, the fixed fields in HEAD, then PIXELS
 * compressed with zlib when PIXELS is not NULL. */
static int write_record(struct hub_recording *rec, uint8_t type,
			const uint8_t *head, size_t head_len,
			const uint8_t *pixels, size_t pixels_len, char *err,
			size_t err_size)
{
	uLongf packed_len = pixels ? compressBound(pixels_len) : 0;
	uint8_t *packed = NULL;
	uint8_t hdr[9];
	int rc = -1;

	if (pixels) {
		packed = malloc(packed_len);
		if (packed == NULL ||
		    compress2(packed, &packed_len, pixels, pixels_len,
			      REC_ZLIB_LEVEL) != Z_OK) {
			snprintf(err, err_size,
				 "compressing a recording record failed");
			goto out;
		}
	}

	uint64_t payload = head_len + packed_len;
	uint32_t offset_ms =
	    (uint32_t)(time_monotonic_ms() - rec->start_mono_ms);
	if (payload > UINT32_MAX) {
		snprintf(err, err_size, "recording record too large");
		goto out;
	}
	hdr[0] = type;
	for (int i = 0; i < 4; i++) {
		hdr[1 + i] = (uint8_t)(offset_ms >> (24 - 8 * i));
		hdr[5 + i] = (uint8_t)(payload >> (24 - 8 * i));
	}

	if (write_all(rec, hdr, sizeof(hdr), err, err_size) < 0 ||
	    write_all(rec, head, head_len, err, err_size) < 0 ||
	    (packed && write_all(rec, packed, packed_len, err, err_size) < 0))
		goto out;
	rc = 0;
out:
	free(packed);
	return rc;
}

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

int hub_recording_keyframe(struct hub_recording *rec, const uint8_t *fb,
			   uint16_t width, uint16_t height, char *err,
			   size_t err_size)
{
	uint8_t head[4];

	put_u16(head, width);
	put_u16(head + 2, height);
	rec->last_keyframe_ms = time_monotonic_ms();
	return write_record(rec, REC_KEYFRAME, head, sizeof(head), fb,
			    (size_t)width * height * HUB_BYTES_PER_PIXEL, err,
			    err_size);
}

int hub_recording_rect(struct hub_recording *rec, const uint8_t *fb,
		       uint16_t fb_width, int x, int y, int w, int h, char *err,
		       size_t err_size)
{
	uint8_t head[8];
	size_t row_len = (size_t)w * HUB_BYTES_PER_PIXEL;
	uint8_t *pixels = malloc(row_len * (size_t)h);
	int rc;

	if (pixels == NULL) {
		snprintf(err, err_size, "out of memory for a recording rect");
		return -1;
	}
	for (int row = 0; row < h; row++)
		memcpy(pixels + (size_t)row * row_len,
		       fb + ((size_t)(y + row) * fb_width + (size_t)x) *
				HUB_BYTES_PER_PIXEL,
		       row_len);

	put_u16(head, (uint16_t)x);
	put_u16(head + 2, (uint16_t)y);
	put_u16(head + 4, (uint16_t)w);
	put_u16(head + 6, (uint16_t)h);
	rc = write_record(rec, REC_RECT, head, sizeof(head), pixels,
			  row_len * (size_t)h, err, err_size);
	free(pixels);
	return rc;
}

struct hub_recording *hub_recording_start(int fd, const char *session,
					  const uint8_t *fb, uint16_t width,
					  uint16_t height, char *err,
					  size_t err_size)
{
	struct hub_recording *rec = calloc(1, sizeof(*rec));
	struct buf_writer w;

	if (rec == NULL) {
		close(fd);
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	rec->fd = fd;
	rec->start_wall_ms = time_wall_ms();
	rec->start_mono_ms = time_monotonic_ms();

	buf_writer_init(&w, 512);
	buf_put_bytes(&w, REC_MAGIC, 8);
	buf_put_u16be(&w, REC_VERSION);
	buf_put_u64be(&w, (uint64_t)rec->start_wall_ms);
	buf_put_u8(&w, HUB_BYTES_PER_PIXEL);
	buf_put_u8(&w, 0); /* red, green, blue shift in a little-endian u32 */
	buf_put_u8(&w, 8);
	buf_put_u8(&w, 16);
	buf_put_string8(&w, session, strlen(session));

	int rc = w.error ? -1 : write_all(rec, w.data, w.len, err, err_size);
	buf_writer_free(&w);
	if (rc == 0)
		rc = hub_recording_keyframe(rec, fb, width, height, err,
					    err_size);
	if (rc < 0) {
		close(rec->fd);
		free(rec);
		return NULL;
	}
	return rec;
}

int hub_recording_finish(struct hub_recording *rec, char *err, size_t err_size)
{
	int rc = write_record(rec, REC_END, NULL, 0, NULL, 0, err, err_size);

	if (rc == 0 && fsync(rec->fd) < 0 && errno != EINVAL) {
		snprintf(err, err_size, "syncing the recording: %s",
			 strerror(errno));
		rc = -1;
	}
	if (close(rec->fd) < 0 && rc == 0) {
		snprintf(err, err_size, "closing the recording: %s",
			 strerror(errno));
		rc = -1;
	}
	free(rec);
	return rc;
}

int64_t hub_recording_last_keyframe_ms(const struct hub_recording *rec)
{
	return rec->last_keyframe_ms;
}

uint64_t hub_recording_bytes(const struct hub_recording *rec)
{
	return rec->bytes;
}
