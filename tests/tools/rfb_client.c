/* rfb-client: a test viewer for sessions. It requests a viewer socket
 * from trellisd over the admin socket (command sessions.attach, the
 * socket comes back with the reply), runs libvncclient on it, reads the
 * framebuffer and can type text into the desktop.
 *
 *   rfb-client --admin-socket PATH --session ID [--interactive]
 *              [--as-user NAME] [--type TEXT] [--click X,Y]
 *              [--duration-ms N] [--timeout-ms N]
 *   rfb-client --connect SOCKET [...]
 *
 * --connect opens a desktop server's unix socket directly, for the
 * benchmark's baseline without trellisd.
 *
 * Prints key=value lines: attach_ms, first_update_ms, width, height,
 * differing_pixels (pixels that differ from the top-left one) and colors
 * (distinct colours, counted up to 4096). Exit status: 0 done, 1 failed,
 * 2 usage, 3 the master denied the attach (the reason is on stderr). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <rfb/rfbclient.h>

#include "lib/event.h"
#include "lib/ipc.h"

#define EXIT_DENIED	 3
#define MAX_COLORS	 4096
#define XK_RETURN	 0xff0d
#define TYPE_SETTLE_MS	 1500
#define KEY_INTERVAL_US	 20000

struct options {
	const char *connect_path;
	const char *admin_socket;
	const char *session;
	const char *as_user;
	const char *text;
	bool interactive;
	int click_x;
	int click_y;
	int64_t duration_ms;
	int64_t timeout_ms;
};

static int64_t first_update_ms = -1;

static void usage(void)
{
	fprintf(stderr,
		"usage: rfb-client --admin-socket PATH --session ID "
		"[--interactive]\n"
		"  [--as-user NAME] [--type TEXT] [--click X,Y]\n"
		"  [--duration-ms N] [--timeout-ms N]\n"
		"       rfb-client --connect SOCKET [OPTIONS]\n");
	exit(2);
}

static int connect_direct(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "rfb-client: %s: path too long\n", path);
		return -1;
	}
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr, "rfb-client: connecting to %s failed: %s\n",
			path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Returns the viewer socket from trellisd, or -1 after printing why. */
static int attach(const struct options *o, int *status)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct ipc_msg reply = {0};

	*status = 1;
	if (strlen(o->admin_socket) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "rfb-client: %s: path too long\n",
			o->admin_socket);
		return -1;
	}
	strcpy(addr.sun_path, o->admin_socket);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr, "rfb-client: connecting to %s failed: %s\n",
			o->admin_socket, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct ipc_channel *ch = ipc_channel_new(fd, "admin");
	if (ch == NULL)
		return -1;

	json_t *args = json_pack("{s:s, s:b}", "id", o->session,
				 "interactive", o->interactive);
	if (o->as_user)
		json_object_set_new(args, "as_user", json_string(o->as_user));
	json_t *body = json_pack("{s:s, s:o}", "command", "sessions.attach",
				 "args", args);
	int rc = ipc_call(ch, IPC_ADMIN_REQUEST, body, &reply,
			  (int)o->timeout_ms);
	json_decref(body);
	if (rc < 0) {
		fprintf(stderr, "rfb-client: the admin request failed: %s\n",
			strerror(errno));
		ipc_channel_free(ch);
		return -1;
	}

	int viewer = -1;
	if (!json_is_true(json_object_get(reply.body, "ok"))) {
		fprintf(stderr, "rfb-client: attach denied: %s\n",
			json_string_value(
			    json_object_get(reply.body, "error")));
		*status = EXIT_DENIED;
	} else if (reply.nfds != 1) {
		fprintf(stderr, "rfb-client: the reply carries no socket\n");
	} else {
		viewer = reply.fds[0];
		reply.fds[0] = -1;
	}
	ipc_msg_clear(&reply);
	ipc_channel_free(ch);
	return viewer;
}

static void got_update(rfbClient *client, int x, int y, int w, int h)
{
	(void)client;
	(void)x;
	(void)y;
	(void)w;
	(void)h;
	if (first_update_ms < 0)
		first_update_ms = time_monotonic_ms();
}

/* Processes server messages for up to DURATION_MS. Returns 0, or -1 when
 * the connection ended. */
static int pump(rfbClient *client, int64_t duration_ms)
{
	int64_t end_ms = time_monotonic_ms() + duration_ms;

	while (time_monotonic_ms() < end_ms) {
		int n = WaitForMessage(client, 50000);
		if (n < 0)
			return -1;
		if (n > 0 && !HandleRFBServerMessage(client))
			return -1;
	}
	return 0;
}

static int send_key(rfbClient *client, uint32_t keysym)
{
	if (!SendKeyEvent(client, keysym, TRUE) ||
	    !SendKeyEvent(client, keysym, FALSE))
		return -1;
	usleep(KEY_INTERVAL_US);
	return 0;
}

/* Types TEXT; '\n' becomes Return. Printable ASCII keysyms equal their
 * character codes, and the desktop server adds Shift where needed. */
static int type_text(rfbClient *client, const char *text)
{
	for (const char *p = text; *p; p++) {
		uint32_t keysym = *p == '\n' ? XK_RETURN : (unsigned char)*p;
		if (send_key(client, keysym) < 0 || pump(client, 5) < 0)
			return -1;
	}
	return 0;
}

static void print_framebuffer_stats(rfbClient *client)
{
	const uint32_t *pixels = (const uint32_t *)client->frameBuffer;
	size_t count = (size_t)client->width * (size_t)client->height;
	static uint32_t colors[MAX_COLORS];
	size_t color_count = 0;
	size_t differing = 0;

	for (size_t i = 0; i < count; i++) {
		if (pixels[i] != pixels[0])
			differing++;
		bool known = false;
		for (size_t c = 0; c < color_count && !known; c++)
			known = colors[c] == pixels[i];
		if (!known && color_count < MAX_COLORS)
			colors[color_count++] = pixels[i];
	}
	printf("width=%d\nheight=%d\ndiffering_pixels=%zu\ncolors=%zu\n",
	       client->width, client->height, differing, color_count);
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
	    {"connect", required_argument, NULL, 'C'},
	    {"admin-socket", required_argument, NULL, 'a'},
	    {"session", required_argument, NULL, 's'},
	    {"interactive", no_argument, NULL, 'i'},
	    {"as-user", required_argument, NULL, 'u'},
	    {"type", required_argument, NULL, 'T'},
	    {"click", required_argument, NULL, 'c'},
	    {"duration-ms", required_argument, NULL, 'd'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	struct options o = {.click_x = -1,
			    .click_y = -1,
			    .duration_ms = 1000,
			    .timeout_ms = 10000};
	int opt;

	while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		switch (opt) {
		case 'C':
			o.connect_path = optarg;
			break;
		case 'a':
			o.admin_socket = optarg;
			break;
		case 's':
			o.session = optarg;
			break;
		case 'i':
			o.interactive = true;
			break;
		case 'u':
			o.as_user = optarg;
			break;
		case 'T':
			o.text = optarg;
			break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &o.click_x, &o.click_y) !=
			    2)
				usage();
			break;
		case 'd':
			o.duration_ms = strtoll(optarg, NULL, 10);
			break;
		case 't':
			o.timeout_ms = strtoll(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (optind != argc ||
	    (o.connect_path == NULL &&
	     (o.admin_socket == NULL || o.session == NULL)))
		usage();

	int64_t begin_ms = time_monotonic_ms();
	int status = 1;
	int fd = o.connect_path ? connect_direct(o.connect_path)
				: attach(&o, &status);
	if (fd < 0)
		return status;
	printf("attach_ms=%lld\n", (long long)(time_monotonic_ms() - begin_ms));

	/* 8 bits per sample, 3 samples, 4 bytes per pixel. */
	rfbClient *client = rfbGetClient(8, 3, 4);
	client->sock = fd;
	client->GotFrameBufferUpdate = got_update;
	client->canHandleNewFBSize = TRUE;
	/* The hub serves Raw to its viewers and caps the encoding list. */
	client->appData.encodingsString = "raw";
	/* rfbInitClient of libvncclient 0.9.14 always opens its own
	 * connection, so these are its steps on the socket we already have. */
	if (!InitialiseRFBConnection(client)) {
		fprintf(stderr, "rfb-client: the RFB handshake failed\n");
		return 1;
	}
	client->width = client->si.framebufferWidth;
	client->height = client->si.framebufferHeight;
	if (!client->MallocFrameBuffer(client) ||
	    !SetFormatAndEncodings(client) ||
	    !SendFramebufferUpdateRequest(client, 0, 0, client->width,
					  client->height, FALSE)) {
		fprintf(stderr, "rfb-client: setting up the framebuffer "
				"failed\n");
		return 1;
	}

	int rc = 0;
	int64_t deadline_ms = time_monotonic_ms() + o.timeout_ms;
	while (first_update_ms < 0 && time_monotonic_ms() < deadline_ms)
		if (pump(client, 50) < 0)
			break;
	if (first_update_ms < 0) {
		fprintf(stderr, "rfb-client: no framebuffer update within "
				"%lld ms\n",
			(long long)o.timeout_ms);
		rc = 1;
		goto out;
	}
	printf("first_update_ms=%lld\n",
	       (long long)(first_update_ms - begin_ms));

	if (o.click_x >= 0) {
		/* Pointer into the window so that it has the focus; a click
		 * raises it. */
		SendPointerEvent(client, o.click_x, o.click_y, 0);
		SendPointerEvent(client, o.click_x, o.click_y, rfbButton1Mask);
		SendPointerEvent(client, o.click_x, o.click_y, 0);
	}
	if (o.text) {
		pump(client, TYPE_SETTLE_MS);
		if (type_text(client, o.text) < 0) {
			fprintf(stderr, "rfb-client: typing failed: the "
					"connection ended\n");
			rc = 1;
			goto out;
		}
	}
	if (pump(client, o.duration_ms) < 0) {
		fprintf(stderr, "rfb-client: the connection ended\n");
		rc = 1;
	}
	print_framebuffer_stats(client);
out:
	free(client->frameBuffer);
	rfbClientCleanup(client);
	return rc;
}
