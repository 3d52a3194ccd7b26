/* Deadline thread for opening LDAP connections. */
#include "broker/auth/ldap_guard.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

struct auth_ldap_guard {
	/* First member, so the callback context is the guard itself. */
	struct ldap_conncb callbacks;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	/* Socket of the connection, -1 until libldap has connected it. */
	int fd;
	bool armed;
	bool fired;
	struct timespec deadline;
};

static int on_connect(LDAP *ld, Sockbuf *sb, LDAPURLDesc *url,
		      struct sockaddr *address, struct ldap_conncb *context)
{
	struct auth_ldap_guard *guard = (struct auth_ldap_guard *)context;
	int fd = -1;
	ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &fd);

	pthread_mutex_lock(&guard->lock);
	guard->fd = fd;
	pthread_mutex_unlock(&guard->lock);
	return 0;
}

static void on_disconnect(LDAP *ld, Sockbuf *sb, struct ldap_conncb *context)
{
	struct auth_ldap_guard *guard = (struct auth_ldap_guard *)context;

	pthread_mutex_lock(&guard->lock);
	guard->fd = -1;
	pthread_mutex_unlock(&guard->lock);
}

struct auth_ldap_guard *auth_ldap_guard_attach(LDAP *ld)
{
	struct auth_ldap_guard *guard = calloc(1, sizeof(*guard));
	if (!guard)
		return NULL;
	guard->fd = -1;
	guard->callbacks.lc_add = on_connect;
	guard->callbacks.lc_del = on_disconnect;
	guard->callbacks.lc_arg = guard;

	pthread_condattr_t attributes;
	pthread_condattr_init(&attributes);
	pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
	pthread_cond_init(&guard->wake, &attributes);
	pthread_condattr_destroy(&attributes);
	pthread_mutex_init(&guard->lock, NULL);

	if (ldap_set_option(ld, LDAP_OPT_CONNECT_CB, &guard->callbacks) !=
	    LDAP_OPT_SUCCESS) {
		auth_ldap_guard_free(guard);
		return NULL;
	}
	return guard;
}

void auth_ldap_guard_free(struct auth_ldap_guard *guard)
{
	if (!guard)
		return;
	pthread_cond_destroy(&guard->wake);
	pthread_mutex_destroy(&guard->lock);
	free(guard);
}

static void *watch(void *arg)
{
	struct auth_ldap_guard *guard = arg;

	pthread_mutex_lock(&guard->lock);
	while (guard->armed) {
		int rc = pthread_cond_timedwait(&guard->wake, &guard->lock,
						&guard->deadline);
		if (rc == ETIMEDOUT && guard->armed) {
			guard->fired = true;
			/* The socket stays open, so the descriptor cannot be
			 * reused by anything else; the pending read or
			 * write returns at once. */
			if (guard->fd >= 0)
				shutdown(guard->fd, SHUT_RDWR);
			break;
		}
	}
	pthread_mutex_unlock(&guard->lock);
	return NULL;
}

int auth_ldap_guard_arm(struct auth_ldap_guard *guard, int64_t timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, &guard->deadline);
	guard->deadline.tv_sec += timeout_ms / 1000;
	guard->deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (guard->deadline.tv_nsec >= 1000000000) {
		guard->deadline.tv_sec++;
		guard->deadline.tv_nsec -= 1000000000;
	}
	guard->armed = true;
	guard->fired = false;

	if (pthread_create(&guard->thread, NULL, watch, guard) != 0) {
		guard->armed = false;
		return -1;
	}
	return 0;
}

bool auth_ldap_guard_disarm(struct auth_ldap_guard *guard)
{
	pthread_mutex_lock(&guard->lock);
	guard->armed = false;
	pthread_cond_signal(&guard->wake);
	pthread_mutex_unlock(&guard->lock);
	pthread_join(guard->thread, NULL);
	return guard->fired;
}
