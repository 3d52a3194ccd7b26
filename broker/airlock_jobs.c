/* File work of the airlock off the master's event loop: copying outbox
 * files and uploads into quarantine, and delivering imports into inboxes.
 * Such work can take minutes for a large file or a slow upload, and the
 * master must keep serving other calls meanwhile.
 *
 * Each job runs its work function on a thread of its own and its done
 * function back on the loop. A finished thread writes one byte to a pipe
 * that the loop watches; the loop joins it and calls done. Work functions
 * touch no master state: they see only their job. Stopping the service
 * closes the stop pipe, which every blocked wait also watches. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/airlock_private.h"
#include "lib/event.h"
#include "lib/log.h"

struct airlock_jobs {
	pthread_mutex_t lock;
	struct airlock_job *list; /* running jobs, newest first */
	size_t count;
	int done_pipe[2]; /* threads write a byte when they finish */
	int stop_pipe[2]; /* the write end closes when the service stops */
};

static void *job_thread(void *arg)
{
	struct airlock_job *job = arg;
	struct airlock_jobs *jobs = job->svc->jobs;

	job->status = job->work(job);

	pthread_mutex_lock(&jobs->lock);
	job->finished = true;
	pthread_mutex_unlock(&jobs->lock);
	/* A full pipe already wakes the loop. */
	ssize_t n;
	do
		n = write(jobs->done_pipe[1], "x", 1);
	while (n < 0 && errno == EINTR);
	return NULL;
}

/* Joins and completes the finished jobs. Called on the loop, or at stop
 * after every thread has ended. */
static void reap_finished(struct airlock_jobs *jobs)
{
	for (;;) {
		struct airlock_job *found = NULL;

		pthread_mutex_lock(&jobs->lock);
		for (struct airlock_job **p = &jobs->list; *p;
		     p = &(*p)->next) {
			if ((*p)->finished) {
				found = *p;
				*p = found->next;
				jobs->count--;
				break;
			}
		}
		pthread_mutex_unlock(&jobs->lock);
		if (found == NULL)
			return;
		struct airlock_service *svc = found->svc;
		pthread_join(found->thread, NULL);
		found->done(found);
		/* A slot is free: an import that found none gets it, unless
		 * the service is stopping. */
		if (jobs->stop_pipe[1] >= 0)
			airlock_deliveries_resume(svc);
	}
}

static void on_done_pipe(struct event_loop *loop, int fd, short revents,
			 void *arg)
{
	char drain[64];

	(void)loop;
	(void)revents;
	while (read(fd, drain, sizeof(drain)) > 0)
		;
	reap_finished(arg);
}

int airlock_jobs_start(struct airlock_service *svc)
{
	struct airlock_jobs *jobs = calloc(1, sizeof(*jobs));

	if (jobs == NULL)
		return -1;
	jobs->done_pipe[0] = jobs->done_pipe[1] = -1;
	jobs->stop_pipe[0] = jobs->stop_pipe[1] = -1;
	pthread_mutex_init(&jobs->lock, NULL);
	svc->jobs = jobs;
	if (pipe2(jobs->done_pipe, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    pipe2(jobs->stop_pipe, O_CLOEXEC) < 0 ||
	    event_add_fd(svc->m->loop, jobs->done_pipe[0], POLLIN, on_done_pipe,
			 jobs) < 0) {
		log_error("airlock_start_failed", "error=%s",
			  "cannot create the pipes of the file jobs");
		return -1;
	}
	return 0;
}

void airlock_jobs_stop(struct airlock_service *svc)
{
	struct airlock_jobs *jobs = svc->jobs;

	if (jobs == NULL)
		return;
	/* Every wait in a work function watches the stop pipe, so closing
	 * it ends the threads soon. */
	if (jobs->stop_pipe[1] >= 0)
		close(jobs->stop_pipe[1]);
	jobs->stop_pipe[1] = -1;
	for (;;) {
		reap_finished(jobs);
		pthread_mutex_lock(&jobs->lock);
		size_t left = jobs->count;
		pthread_mutex_unlock(&jobs->lock);
		if (left == 0)
			break;
		struct pollfd wait = {.fd = jobs->done_pipe[0],
				      .events = POLLIN};
		if (poll(&wait, 1, 100) > 0) {
			char drain[64];
			while (read(jobs->done_pipe[0], drain, sizeof(drain)) >
			       0)
				;
		}
	}
	if (jobs->done_pipe[0] >= 0) {
		event_remove_fd(svc->m->loop, jobs->done_pipe[0]);
		close(jobs->done_pipe[0]);
	}
	if (jobs->done_pipe[1] >= 0)
		close(jobs->done_pipe[1]);
	if (jobs->stop_pipe[0] >= 0)
		close(jobs->stop_pipe[0]);
	pthread_mutex_destroy(&jobs->lock);
	free(jobs);
	svc->jobs = NULL;
}

int airlock_job_start(struct airlock_service *svc, struct airlock_job *job)
{
	struct airlock_jobs *jobs = svc->jobs;

	job->svc = svc;
	job->stop_fd = jobs->stop_pipe[0];
	job->finished = false;
	pthread_mutex_lock(&jobs->lock);
	size_t owned = 0;
	for (struct airlock_job *other = jobs->list; other; other = other->next)
		owned += job->owner[0] && strcmp(other->owner, job->owner) == 0;
	if (jobs->count >= AIRLOCK_MAX_JOBS ||
	    owned >= AIRLOCK_MAX_JOBS_PER_USER) {
		pthread_mutex_unlock(&jobs->lock);
		return owned >= AIRLOCK_MAX_JOBS_PER_USER ? -2 : -1;
	}
	job->next = jobs->list;
	jobs->list = job;
	jobs->count++;
	int rc = pthread_create(&job->thread, NULL, job_thread, job);
	if (rc != 0) {
		jobs->list = job->next;
		jobs->count--;
	}
	pthread_mutex_unlock(&jobs->lock);
	if (rc != 0)
		log_error("airlock_job_failed", "error=%s", strerror(rc));
	return rc == 0 ? 0 : -1;
}

int airlock_job_wait_readable(struct airlock_job *job, int fd, int timeout_ms)
{
	struct pollfd fds[2] = {{.fd = fd, .events = POLLIN},
				{.fd = job->stop_fd, .events = POLLIN}};

	for (;;) {
		int n = poll(fds, 2, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (fds[1].revents)
			return -2;
		return n == 0 ? 0 : 1;
	}
}
