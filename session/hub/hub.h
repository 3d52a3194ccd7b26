/* trellis-hub: the desktop hub of one session.
 *
 * The hub is the only process that reads the bytes of a session's desktop
 * server (the backend). It keeps the backend framebuffer in memory through
 * its own restricted RFB client (backend.c), serves viewers with
 * libvncserver (viewer.c), applies the clipboard policy, counts user input
 * for the idle limit, and writes the recording (recording.c). main.c talks
 * to the master over framed IPC on fd 3. */
#ifndef TRELLIS_HUB_H
#define TRELLIS_HUB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rfb/rfb.h>

#include "lib/event.h"
#include "lib/ipc.h"

/* Cut text longer than this ends a viewer's connection instead of being
 * skipped, because skipping gigabytes would stall the hub. */
#define HUB_CUT_TEXT_HARD_MAX (1u << 20)
/* Bytes per pixel of the backend and the served framebuffer: 32-bit true
 * colour, red in the lowest byte. */
#define HUB_BYTES_PER_PIXEL 4

enum hub_clip_mode {
	HUB_CLIP_OFF,
	HUB_CLIP_TEXT,
};

struct hub_clip_rule {
	enum hub_clip_mode mode;
	size_t max_bytes;
};

struct hub_config {
	char session[128];
	uint16_t max_width;
	uint16_t max_height;
	struct hub_clip_rule to_session;   /* viewer -> desktop */
	struct hub_clip_rule from_session; /* desktop -> viewers */
	int64_t idle_timeout_ms;	   /* 0: no idle limit */
	int64_t backend_timeout_ms; /* per read or write, and handshake */
	bool recording_required;
	char recording_path[4096];
};

/* Parses the IPC_WORKER_CONFIG body. Returns 0, or -1 with a message in
 * ERR. */
int hub_config_parse(json_t *body, struct hub_config *cfg, char *err,
		     size_t err_size);

/* Backend: the session's desktop server, spoken to as an RFB 3.8 client
 * that accepts only the encodings it requested. */
struct hub_backend;

struct hub_backend_events {
	/* Called after pixels in the rectangle changed. */
	void (*damage)(void *arg, int x, int y, int w, int h);
	/* Called after the framebuffer was replaced by one of a new size. */
	void (*resized)(void *arg);
	/* Called with desktop cut text that passed the from_session rule. */
	void (*cut_text)(void *arg, const char *text, size_t len);
	void *arg;
};

/* Runs the RFB handshake on FD (taking ownership) within the configured
 * timeout and allocates the framebuffer. Returns NULL with a reason in
 * ERR. */
struct hub_backend *hub_backend_connect(int fd, const struct hub_config *cfg,
					const struct hub_backend_events *ev,
					char *err, size_t err_size);
void hub_backend_free(struct hub_backend *b);
int hub_backend_fd(const struct hub_backend *b);
/* Reads and applies one server message. Returns 0, or -1 with a reason in
 * ERR, after which the session ends. */
int hub_backend_process(struct hub_backend *b, char *err, size_t err_size);
/* True when bytes of the next message are already buffered, so the
 * caller processes again before waiting in poll. */
bool hub_backend_has_buffered(const struct hub_backend *b);
int hub_backend_send_key(struct hub_backend *b, bool down, uint32_t keysym);
int hub_backend_send_pointer(struct hub_backend *b, uint8_t buttons, uint16_t x,
			     uint16_t y);
int hub_backend_send_cut_text(struct hub_backend *b, const char *text,
			      size_t len);
uint8_t *hub_backend_framebuffer(const struct hub_backend *b);
uint16_t hub_backend_width(const struct hub_backend *b);
uint16_t hub_backend_height(const struct hub_backend *b);
const char *hub_backend_name(const struct hub_backend *b);
uint64_t hub_backend_bytes_received(const struct hub_backend *b);
uint64_t hub_backend_updates(const struct hub_backend *b);

/* Recording: see docs/recording-format.md. */
struct hub_recording;

/* Takes ownership of FD, a file open for writing, and writes the header.
 * Returns NULL with a reason in ERR. */
struct hub_recording *hub_recording_start(int fd, const char *session,
					  const uint8_t *fb, uint16_t width,
					  uint16_t height, char *err,
					  size_t err_size);
/* Each returns 0, or -1 with a reason in ERR once the file can no longer be
 * written. */
int hub_recording_rect(struct hub_recording *rec, const uint8_t *fb,
		       uint16_t fb_width, int x, int y, int w, int h, char *err,
		       size_t err_size);
int hub_recording_keyframe(struct hub_recording *rec, const uint8_t *fb,
			   uint16_t width, uint16_t height, char *err,
			   size_t err_size);
/* Writes the end record and closes the file. */
int hub_recording_finish(struct hub_recording *rec, char *err, size_t err_size);
int64_t hub_recording_last_keyframe_ms(const struct hub_recording *rec);
uint64_t hub_recording_bytes(const struct hub_recording *rec);

/* Viewers: libvncserver clients behind an input filter. */
enum hub_viewer_kind {
	HUB_VIEWER_BROWSER,
	HUB_VIEWER_RDP,
	HUB_VIEWER_RECORDER,
};

struct hub;

struct hub_viewer;

/* Adds a viewer on FD (taking ownership). Returns 0, or -1 with a reason in
 * ERR. */
int hub_viewer_add(struct hub *hub, int fd, const char *viewer_id,
		   const char *user, bool view_only, enum hub_viewer_kind kind,
		   char *err, size_t err_size);
/* Closes a viewer and reports IPC_HUB_VIEWER_CLOSED with REASON. */
void hub_viewer_close(struct hub_viewer *v, const char *reason);
void hub_viewer_close_all(struct hub *hub, const char *reason);
size_t hub_viewer_count(const struct hub *hub);
/* Sends desktop cut text to each viewer that finished the handshake,
 * never to a recorder. */
void hub_viewer_send_cut_text(struct hub *hub, const char *text, size_t len);

/* Sets up libvncserver for the backend framebuffer. */
int hub_screen_init(struct hub *hub);
void hub_screen_resize(struct hub *hub);
/* Lets libvncserver send pending updates and reap closed clients. */
void hub_screen_flush(struct hub *hub);

struct hub {
	struct hub_config cfg;
	struct event_loop *loop;
	struct ipc_channel *ipc;
	struct hub_backend *backend;
	struct hub_recording *recording;
	rfbScreenInfoPtr screen;
	struct hub_viewer *viewers;
	int64_t last_input_ms; /* monotonic, keyboard or pointer */
	bool idle_reported;
	bool ending;
	uint64_t cut_text_dropped;
};

/* Reports to the master (main.c). */
void hub_report_viewer_closed(struct hub *hub, const char *viewer_id,
			      const char *reason);
/* Ends the session: reports IPC_HUB_ENDED with REASON and stops the loop. */
void hub_end(struct hub *hub, const char *reason);
/* Records user input for the idle count. */
void hub_note_input(struct hub *hub);

/* Applies the hub's seccomp allowlist. */
int hub_seccomp_apply(void);

#endif
