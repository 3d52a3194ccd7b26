/* The policy in force in the master: loading, reloading and deciding. */
#include <stdio.h>
#include <stdlib.h>

#include "broker/airlock.h"
#include "broker/master.h"
#include "lib/log.h"

int master_policy_load(struct master *m, const char *actor, json_t **errors)
{
	const char *path = m->config->policy;
	struct policy *policy = NULL;
	struct diag_list diags;

	diag_list_init(&diags);
	if (policy_load(path, &policy, &diags) < 0) {
		json_t *list = json_array();
		for (size_t i = 0; i < diags.count; i++) {
			const struct diag *d = &diags.items[i];
			char line[1024];
			snprintf(line, sizeof(line), "%s:%u:%u: %s: %s",
				 d->file ? d->file : path, d->line, d->column,
				 d->key_path ? d->key_path : "", d->message);
			json_array_append_new(list, json_string(line));
			log_error("policy_invalid", "file=%s line=%u column=%u "
						    "key=%s error=%s",
				  d->file ? d->file : path, d->line, d->column,
				  d->key_path ? d->key_path : "", d->message);
		}
		diag_list_clear(&diags);

		json_t *details = json_pack("{s:s, s:I, s:O}", "path", path,
					    "errors",
					    (json_int_t)json_array_size(list),
					    "messages", list);
		audit_append(m->audit, actor, "policy.load", path, "failure",
			     details);
		json_decref(details);
		log_error("policy_load_failed", "path=%s errors=%zu effect=%s",
			  path, json_array_size(list),
			  m->policy ? "the previous policy stays in force"
				    : "no policy in force");
		if (errors)
			*errors = list;
		else
			json_decref(list);
		return -1;
	}
	diag_list_clear(&diags);

	json_t *details = json_pack("{s:s, s:s}", "path", path, "sha256",
				    policy_sha256_hex(policy));
	if (audit_append(m->audit, actor, "policy.load", path, "success",
			 details) < 0) {
		/* A policy whose loading is not on record must not decide. */
		json_decref(details);
		policy_free(policy);
		if (errors)
			*errors = json_pack("[s]", "writing the audit record "
						   "failed; the previous "
						   "policy stays in force");
		return -1;
	}
	json_decref(details);

	policy_free(m->policy);
	m->policy = policy;
	m->policy_loaded_ms = time_wall_ms();
	log_info("policy_loaded", "path=%s sha256=%s", path,
		 policy_sha256_hex(policy));
	/* The new policy may name other checkers' groups. */
	if (m->airlock)
		airlock_checkers_refresh(m->airlock);
	return 0;
}

bool master_policy_decide(struct master *m, const char *actor,
			  const struct policy_subject *subject,
			  enum policy_action action,
			  const struct policy_resource *resource,
			  struct policy_decision *out)
{
	bool allowed = policy_decide(m->policy, subject, action, resource, out);

	if (!allowed) {
		json_t *details = policy_decision_audit_details(
			subject, action, resource, out);
		audit_append(m->audit, actor, "policy.deny",
			     policy_action_name(action), "denied", details);
		json_decref(details);
		log_warn("policy_denied", "actor=%s action=%s rule=%s", actor,
			 policy_action_name(action), out->rule);
	}
	return allowed;
}
