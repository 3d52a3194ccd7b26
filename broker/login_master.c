/* Starts the portal login service inside trellisd, wired to the master's
 * store, audit log, policy and web worker. */
#include "broker/login.h"
#include "broker/master.h"

static void send_to_web(void *ctx, uint16_t type, uint32_t request_id,
			json_t *body)
{
	struct master *m = ctx;

	workers_send_web(m->workers, type, request_id, body);
}

int master_login_start(struct master *m)
{
	struct login_deps deps = {
	    .store = m->store,
	    .audit = m->audit,
	    .loop = m->loop,
	    .config = m->config,
	    .policy = &m->policy,
	    .send = send_to_web,
	    .send_ctx = m,
	};

	return login_service_start(&deps, &m->login);
}
