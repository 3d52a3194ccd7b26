#include "lib/event.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"

struct watch {
	int fd;
	short events;
	event_fd_fn fn;
	void *arg;
	bool removed;
};

struct timer {
	uint64_t id;
	int64_t due_ms;
	event_timer_fn fn;
	void *arg;
};

struct event_loop {
	struct watch *watches;
	size_t watch_count;
	size_t watch_cap;
	struct timer *timers;
	size_t timer_count;
	size_t timer_cap;
	uint64_t next_timer_id;
	bool stopping;
};

int64_t time_monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct event_loop *event_loop_new(void)
{
	struct event_loop *loop = calloc(1, sizeof(*loop));
	if (loop)
		loop->next_timer_id = 1;
	return loop;
}

void event_loop_free(struct event_loop *loop)
{
	if (loop == NULL)
		return;
	free(loop->watches);
	free(loop->timers);
	free(loop);
}

static struct watch *find_watch(struct event_loop *loop, int fd)
{
	for (size_t i = 0; i < loop->watch_count; i++)
		if (loop->watches[i].fd == fd && !loop->watches[i].removed)
			return &loop->watches[i];
	return NULL;
}

int event_add_fd(struct event_loop *loop, int fd, short events, event_fd_fn fn,
		 void *arg)
{
	struct watch *w = find_watch(loop, fd);

	if (w == NULL) {
		if (loop->watch_count == loop->watch_cap) {
			size_t cap = loop->watch_cap ? loop->watch_cap * 2 : 16;
			struct watch *watches =
			    realloc(loop->watches, cap * sizeof(*watches));
			if (watches == NULL)
				return -1;
			loop->watches = watches;
			loop->watch_cap = cap;
		}
		w = &loop->watches[loop->watch_count++];
	}
	*w = (struct watch){.fd = fd, .events = events, .fn = fn, .arg = arg};
	return 0;
}

void event_set_events(struct event_loop *loop, int fd, short events)
{
	struct watch *w = find_watch(loop, fd);
	if (w)
		w->events = events;
}

void event_remove_fd(struct event_loop *loop, int fd)
{
	/* Marked here and dropped after dispatch, because a callback may
	 * remove a watch while the loop walks the array. */
	struct watch *w = find_watch(loop, fd);
	if (w)
		w->removed = true;
}

uint64_t event_add_timer(struct event_loop *loop, int64_t delay_ms,
			 event_timer_fn fn, void *arg)
{
	if (loop->timer_count == loop->timer_cap) {
		size_t cap = loop->timer_cap ? loop->timer_cap * 2 : 16;
		struct timer *timers =
		    realloc(loop->timers, cap * sizeof(*timers));
		if (timers == NULL)
			return 0;
		loop->timers = timers;
		loop->timer_cap = cap;
	}
	uint64_t id = loop->next_timer_id++;
	loop->timers[loop->timer_count++] = (struct timer){
	    .id = id,
	    .due_ms = time_monotonic_ms() + (delay_ms > 0 ? delay_ms : 0),
	    .fn = fn,
	    .arg = arg,
	};
	return id;
}

void event_cancel_timer(struct event_loop *loop, uint64_t timer_id)
{
	for (size_t i = 0; i < loop->timer_count; i++) {
		if (loop->timers[i].id == timer_id) {
			loop->timers[i] = loop->timers[--loop->timer_count];
			return;
		}
	}
}

void event_loop_stop(struct event_loop *loop)
{
	loop->stopping = true;
}

static void compact_watches(struct event_loop *loop)
{
	size_t kept = 0;
	for (size_t i = 0; i < loop->watch_count; i++)
		if (!loop->watches[i].removed)
			loop->watches[kept++] = loop->watches[i];
	loop->watch_count = kept;
}

/* Runs every due timer. A timer callback may add or cancel timers, so each
 * round takes one due timer out before calling it. */
static void run_timers(struct event_loop *loop)
{
	int64_t now = time_monotonic_ms();

	for (;;) {
		size_t due = loop->timer_count;
		for (size_t i = 0; i < loop->timer_count; i++)
			if (loop->timers[i].due_ms <= now &&
			    (due == loop->timer_count ||
			     loop->timers[i].due_ms < loop->timers[due].due_ms))
				due = i;
		if (due == loop->timer_count)
			return;
		struct timer t = loop->timers[due];
		loop->timers[due] = loop->timers[--loop->timer_count];
		t.fn(loop, t.arg);
		if (loop->stopping)
			return;
	}
}

static int next_timeout_ms(struct event_loop *loop)
{
	if (loop->timer_count == 0)
		return -1;
	int64_t now = time_monotonic_ms();
	int64_t first = loop->timers[0].due_ms;
	for (size_t i = 1; i < loop->timer_count; i++)
		if (loop->timers[i].due_ms < first)
			first = loop->timers[i].due_ms;
	int64_t wait = first - now;
	if (wait < 0)
		return 0;
	return wait > 60000 ? 60000 : (int)wait;
}

int event_loop_run(struct event_loop *loop)
{
	struct pollfd *pfds = NULL;
	size_t pfd_cap = 0;
	int rc = 0;

	loop->stopping = false;
	while (!loop->stopping) {
		compact_watches(loop);
		if (loop->watch_count > pfd_cap) {
			struct pollfd *grown =
			    realloc(pfds, loop->watch_count * sizeof(*pfds));
			if (grown == NULL) {
				rc = -1;
				break;
			}
			pfds = grown;
			pfd_cap = loop->watch_count;
		}
		size_t n = loop->watch_count;
		for (size_t i = 0; i < n; i++)
			pfds[i] =
			    (struct pollfd){.fd = loop->watches[i].fd,
					    .events = loop->watches[i].events};

		int ready = poll(pfds, n, next_timeout_ms(loop));
		if (ready < 0) {
			if (errno == EINTR)
				continue;
			log_error("event_poll_failed", "error=%s",
				  strerror(errno));
			rc = -1;
			break;
		}

		for (size_t i = 0; i < n && !loop->stopping; i++) {
			if (pfds[i].revents == 0)
				continue;
			struct watch *w = find_watch(loop, pfds[i].fd);
			if (w)
				w->fn(loop, pfds[i].fd, pfds[i].revents,
				      w->arg);
		}
		if (!loop->stopping)
			run_timers(loop);
	}
	free(pfds);
	return rc;
}
