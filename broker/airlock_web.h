/* One portal call below /api/airlock, shared by the handlers in
 * airlock_web.c (requests, votes, release) and airlock_submit.c
 * (outbox listing, uploads, submissions and resubmissions). */
#ifndef TRELLIS_BROKER_AIRLOCK_WEB_H
#define TRELLIS_BROKER_AIRLOCK_WEB_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/airlock_private.h"
#include "broker/login.h"

#define AIRLOCK_WEB_PREFIX "/api/airlock"

struct call {
	struct airlock_service *svc;
	uint32_t id;
	const char *method;
	const char *path;  /* below the prefix, "" or "/..." */
	const char *query; /* raw query string, or NULL */
	json_t *request;   /* the whole IPC_WEB_REQUEST */
	json_t *body;
	struct login_identity who;
	const char **groups;
	struct policy_subject subject;
	char actor[96];
};

/* Sends the IPC_WEB_REPLY with STATUS and BODY (taken), and FD with FILE
 * (taken) when FD is not -1. */
void airlock_call_send(struct call *c, int status, json_t *body, int fd,
		       json_t *file);
void airlock_call_error(struct call *c, int status, const char *message);
/* Replies BODY (taken), or 500 when it is NULL. */
void airlock_call_json(struct call *c, int status, json_t *body);
/* Checks that OBJECT has only the keys in ALLOWED (NULL-terminated), or
 * replies 400. */
bool airlock_call_keys_valid(struct call *c, json_t *object,
			     const char *const *allowed);
/* The string member KEY of OBJECT, MIN to MAX bytes long, or NULL after
 * replying 400. */
const char *airlock_call_string(struct call *c, json_t *object, const char *key,
				size_t min, size_t max);
/* Loads request ID and decides ACTION on it, or replies 404/403/500 and
 * returns false. */
bool airlock_call_load(struct call *c, const char *id,
		       enum policy_action action, struct airlock_request *r);
/* Audits a refused submission with its reason. */
void airlock_call_refused(struct call *c, const char *project,
			  const char *error);
/* Copies the value of NAME in query string QUERY into OUT (SIZE bytes
 * with the NUL), as sent: the values used (ids, hashes) need no
 * encoding. Returns false when it is absent or too long. */
bool airlock_query_value(const char *query, const char *name, char *out,
			 size_t size);

/* airlock_submit.c */
void airlock_op_outbox(struct call *c);
void airlock_op_upload(struct call *c);
void airlock_op_submit(struct call *c);
void airlock_op_resubmit(struct call *c, const char *id);

#endif
