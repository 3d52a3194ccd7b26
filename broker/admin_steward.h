/* Admin requests for stewards' reports: the audit log, the projects of the
 * policy and session recordings. broker/admin_commands.c lists them in the
 * command table with the policy action each needs. */
#ifndef TRELLIS_BROKER_ADMIN_STEWARD_H
#define TRELLIS_BROKER_ADMIN_STEWARD_H

#include "broker/admin_server.h"

/* Largest page of audit records one reply carries: the IPC payload limit
 * is 256 KiB, and a record's details alone may be 64 KiB. */
#define ADMIN_AUDIT_PAGE_BYTES	 (128u * 1024u)
#define ADMIN_AUDIT_PAGE_RECORDS 1000

/* audit.tail {"lines": N} returns the newest N records (at most
 * ADMIN_AUDIT_PAGE_RECORDS); {"after_seq": S} returns the records after
 * S, for --follow. Both reply {"records": [...], "last_seq": S}. */
int admin_audit_tail(struct master *m, const struct admin_caller *caller,
		     json_t *args, json_t **result, char *error,
		     size_t error_size);
/* audit.export {"from_ms": T1, "to_ms": T2, "after_seq": S} returns one
 * page of the records with T1 <= time_ms <= T2 and seq > S, and "more":
 * true when another page follows ("last_seq" is the next after_seq). */
int admin_audit_export(struct master *m, const struct admin_caller *caller,
		       json_t *args, json_t **result, char *error,
		       size_t error_size);

/* projects.list: every project of the policy with its image, driver,
 * members and active sessions. projects.show {"id": ID}: the project's
 * effective policy and its active sessions. */
int admin_projects_list(struct master *m, const struct admin_caller *caller,
			json_t *args, json_t **result, char *error,
			size_t error_size);
int admin_projects_show(struct master *m, const struct admin_caller *caller,
			json_t *args, json_t **result, char *error,
			size_t error_size);

#endif
