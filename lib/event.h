/* A small poll(2) event loop for the master and the workers that do not
 * run libwebsockets. */
#ifndef TRELLIS_EVENT_H
#define TRELLIS_EVENT_H

#include <stdbool.h>
#include <stdint.h>

struct event_loop;

typedef void (*event_fd_fn)(struct event_loop *loop, int fd, short revents,
			    void *arg);
typedef void (*event_timer_fn)(struct event_loop *loop, void *arg);

struct event_loop *event_loop_new(void);
void event_loop_free(struct event_loop *loop);

/* Watches FD for EVENTS (POLLIN, POLLOUT). Adding a watched fd again changes
 * its events, callback and argument. */
int event_add_fd(struct event_loop *loop, int fd, short events, event_fd_fn fn,
		 void *arg);
void event_set_events(struct event_loop *loop, int fd, short events);
void event_remove_fd(struct event_loop *loop, int fd);

/* Calls FN once after DELAY_MS. Returns a timer id for event_cancel_timer,
 * or 0 when out of memory. */
uint64_t event_add_timer(struct event_loop *loop, int64_t delay_ms,
			 event_timer_fn fn, void *arg);
void event_cancel_timer(struct event_loop *loop, uint64_t timer_id);

/* Runs until event_loop_stop. Returns 0, or -1 when poll fails. */
int event_loop_run(struct event_loop *loop);
void event_loop_stop(struct event_loop *loop);

/* Monotonic and wall-clock time in milliseconds. */
int64_t time_monotonic_ms(void);
int64_t time_wall_ms(void);

#endif
