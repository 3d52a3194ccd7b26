/* Reading session recordings (docs/recording-format.md) and writing their
 * frames as PNG, for `trellis-admin recordings`.
 *
 * A recording is untrusted: its pixels come from the researcher's desktop
 * and the file may be truncated or damaged. Every field is read through
 * lib/buf.h, sizes are checked before allocating, and a damaged record
 * stops the reader with the byte offset and the reason, leaving the frame
 * as the records before it drew it. */
#ifndef TRELLIS_ADMIN_RECORDING_RENDER_H
#define TRELLIS_ADMIN_RECORDING_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define RECORDING_MAGIC	      "TRLSREC1"
#define RECORDING_VERSION     1
#define RECORDING_MAX_SIDE    16384 /* pixels, the hub's own limit */
#define RECORDING_SESSION_MAX 255

enum recording_record_type {
	RECORDING_KEYFRAME = 1,
	RECORDING_RECTANGLE = 2,
	RECORDING_END = 3,
};

struct recording_reader {
	struct buf_reader in;
	int64_t start_wall_ms;
	char session[RECORDING_SESSION_MAX + 1];

	/* The frame as drawn so far, 4 bytes a pixel (red, green, blue,
	 * unused); NULL before the first keyframe. */
	uint8_t *pixels;
	uint32_t width, height;

	uint32_t time_ms;   /* of the last record applied */
	uint64_t records;   /* applied so far */
	bool ended;	    /* the end record was read */
	bool damaged;	    /* reading stopped at a bad record */
	size_t stop_offset; /* where the bad record starts */
	char error[160];    /* why reading stopped */
};

/* Starts reading the LEN bytes at DATA, which must outlive R. Returns 0, or
 * -1 with R->error when the header is invalid. */
int recording_reader_init(struct recording_reader *r, const uint8_t *data,
			  size_t len);
void recording_reader_free(struct recording_reader *r);

/* Returns the time of the next record without applying it: 1 with
 * *TIME_MS, 0 at the end of the data or after the end record, -1 when the
 * next record's header is cut short (R->damaged is then set). */
int recording_peek_time(struct recording_reader *r, uint32_t *time_ms);

/* Applies the next record to the frame. Returns 1 when applied, 0 at the
 * end, -1 when the record is damaged: R->damaged is set, R->stop_offset
 * and R->error contain the offset and the reason, and the frame is
 * unchanged. */
int recording_next(struct recording_reader *r);

/* Moves to the last keyframe at or before AT_MS without applying the
 * records before it, because a keyframe replaces the whole frame. Reads
 * only record headers. Returns whether such a keyframe exists. */
bool recording_skip_to_keyframe(struct recording_reader *r, uint32_t at_ms);

/* Encodes the current frame as an 8-bit RGB PNG into OUT, which the
 * caller frees with buf_writer_free. Returns 0, or -1 with R->error. */
int recording_frame_png(struct recording_reader *r, struct buf_writer *out);

#endif
