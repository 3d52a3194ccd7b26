/* libvncserver set up to serve the backend framebuffer over socketpairs
 * only: no listening socket, no input hooks (the input filter in viewer.c
 * forwards keyboard, pointer and cut text itself), no server-drawn cursor
 * because the desktop server draws its cursor into the framebuffer. */
#include "session/hub/hub.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/log.h"

/* libvncserver reports through printf-style globals; its lines go to the
 * structured log as debug events. */
static void log_libvncserver(const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_debug("libvncserver", "text=%s", text);
}

static void ignore_key(rfbBool down, rfbKeySym key, rfbClientPtr cl)
{
	(void)down;
	(void)key;
	(void)cl;
}

static void ignore_pointer(int mask, int x, int y, rfbClientPtr cl)
{
	(void)mask;
	(void)x;
	(void)y;
	(void)cl;
}

static void ignore_cut_text(char *str, int len, rfbClientPtr cl)
{
	(void)str;
	(void)len;
	(void)cl;
}

int hub_screen_init(struct hub *hub)
{
	int argc = 1;
	char *argv[] = {"trellis-hub", NULL};
	struct hub_backend *b = hub->backend;

	rfbLog = log_libvncserver;
	rfbErr = log_libvncserver;
	/* A viewer that reads nothing for this long is dropped.
	 * NOTE: until then libvncserver's blocking write holds the hub's only
	 * loop, so the other viewers and the backend wait too. This happens
	 * only once the viewer's socket and the output thread's socketpair
	 * are both full. */
	rfbMaxClientWait = (int)hub->cfg.backend_timeout_ms;

	/* libvncserver adopts a systemd socket named in LISTEN_FDS; the hub
	 * must never listen. */
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");

	hub->screen =
	    rfbGetScreen(&argc, argv, hub_backend_width(b),
			 hub_backend_height(b), 8, 3, HUB_BYTES_PER_PIXEL);
	if (hub->screen == NULL)
		return -1;

	rfbScreenInfoPtr s = hub->screen;
	s->frameBuffer = (char *)hub_backend_framebuffer(b);
	s->desktopName = hub_backend_name(b);
	s->autoPort = FALSE;
	s->port = 0;
	s->ipv6port = 0;
	s->udpPort = 0;
	s->httpPort = 0;
	s->alwaysShared = TRUE;
	s->deferUpdateTime = 0;
	s->kbdAddEvent = ignore_key;
	s->ptrAddEvent = ignore_pointer;
	s->setXCutText = ignore_cut_text;
	s->cursor = NULL;

	rfbInitServer(s);
	return 0;
}

void hub_screen_resize(struct hub *hub)
{
	struct hub_backend *b = hub->backend;

	rfbNewFramebuffer(hub->screen, (char *)hub_backend_framebuffer(b),
			  hub_backend_width(b), hub_backend_height(b), 8, 3,
			  HUB_BYTES_PER_PIXEL);
}

void hub_screen_flush(struct hub *hub)
{
	/* Each call handles at most one message per client and sends the
	 * pending updates; a few rounds drain what the filter queued. */
	for (int i = 0; i < 8; i++)
		if (!rfbProcessEvents(hub->screen, 0))
			break;
}
