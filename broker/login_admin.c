/* Steward commands on portal users: list, show, unlock, reset MFA. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/login_private.h"
#include "lib/cleanup.h"
#include "lib/ipc.h"
#include "lib/log.h"

/* The lower-cased, trimmed form of USERNAME, or NULL when invalid. */
static char *admin_user_key(const char *username, char *error,
			    size_t error_size)
{
	autofree char *normalized = NULL;

	if (!username || auth_username_normalize(username, strlen(username),
						 &normalized) != AUTH_OK) {
		snprintf(error, error_size,
			 "invalid username: give the login name, such as "
			 "alice");
		return NULL;
	}
	return login_user_key(normalized);
}

int login_users_list(struct login_service *s, json_t **result, char *error,
		     size_t error_size)
{
	json_t *users = login_store_users_json(s->deps.store);
	int64_t now_ms = time_wall_ms();

	if (!users) {
		snprintf(error, error_size,
			 "reading the users failed: see the trellisd log");
		return -1;
	}
	size_t i;
	json_t *user;
	json_array_foreach(users, i, user)
	{
		autofree char *key = login_user_key(
		    json_string_value(json_object_get(user, "username")));
		json_t *counter = login_store_counter_json(
		    s->deps.store, LOGIN_COUNTER_USER, key ? key : "", now_ms);
		json_object_set_new(user, "locked",
				    json_boolean(json_is_true(json_object_get(
					counter, "locked"))));
		json_decref(counter);
	}
	*result = json_pack("{s:o}", "users", users);
	return 0;
}

int login_user_show(struct login_service *s, const char *username,
		    json_t **result, char *error, size_t error_size)
{
	autofree char *key = admin_user_key(username, error, error_size);
	json_t *user = NULL;

	if (!key)
		return -1;
	int found = login_store_user_find(s->deps.store, key, &user);
	if (found < 0) {
		snprintf(error, error_size,
			 "reading user %s failed: see the trellisd log", key);
		return -1;
	}
	json_t *counter = login_store_counter_json(
	    s->deps.store, LOGIN_COUNTER_USER, key, time_wall_ms());
	if (found == 0 && json_is_null(counter)) {
		json_decref(counter);
		snprintf(error, error_size,
			 "user %s not found: nobody with that name has "
			 "logged in or failed to",
			 key);
		return -1;
	}
	if (found == 0)
		user = json_pack("{s:s}", "username", key);
	json_object_set_new(user, "failures", counter);
	*result = user;
	return 0;
}

int login_user_unlock(struct login_service *s, const char *actor,
		      const char *username, json_t **result, char *error,
		      size_t error_size)
{
	autofree char *key = admin_user_key(username, error, error_size);

	if (!key)
		return -1;
	int removed =
	    login_store_counter_reset(s->deps.store, LOGIN_COUNTER_USER, key);
	if (removed < 0) {
		snprintf(error, error_size,
			 "unlocking %s failed: see the trellisd log", key);
		return -1;
	}
	log_info("login_unlocked", "user=%s actor=%s had_failures=%d", key,
		 actor, removed);
	*result = json_pack("{s:s, s:b}", "username", key, "had_failures",
			    removed > 0);
	return 0;
}

int login_user_reset_mfa(struct login_service *s, const char *actor,
			 const char *username, json_t **result, char *error,
			 size_t error_size)
{
	autofree char *key = admin_user_key(username, error, error_size);
	json_t *user = NULL;

	if (!key)
		return -1;
	int found = login_store_user_find(s->deps.store, key, &user);
	if (found <= 0) {
		snprintf(error, error_size,
			 found < 0 ? "reading user %s failed: see the trellisd "
				     "log"
				   : "user %s not found: they have never "
				     "logged in, so they have no TOTP secret",
			 key);
		return -1;
	}

	const char *stable_id =
	    json_string_value(json_object_get(user, "stable_id"));
	json_t *ended = json_array();
	if (store_begin(s->deps.store) < 0 ||
	    auth_totp_reset(store_db(s->deps.store), stable_id) < 0 ||
	    login_store_sessions_delete(s->deps.store, stable_id, 0, 0,
					ended) < 0 ||
	    store_commit(s->deps.store) < 0) {
		if (store_transaction_depth(s->deps.store) > 0)
			store_rollback(s->deps.store);
		json_decref(ended);
		json_decref(user);
		snprintf(error, error_size,
			 "resetting the TOTP secret of %s failed: see the "
			 "trellisd log",
			 key);
		return -1;
	}

	/* The user's sessions end with the secret that protected them. */
	size_t i;
	json_t *id;
	json_array_foreach(ended, i, id)
	{
		json_t *body = json_pack("{s:O, s:s}", "token_hash", id,
					 "reason", "mfa_reset");
		s->deps.send(s->deps.send_ctx, IPC_WEB_LOGOUT, 0, body);
		json_decref(body);
	}
	log_info("login_mfa_reset", "user=%s actor=%s sessions_ended=%zu",
		 key, actor, json_array_size(ended));
	*result = json_pack("{s:s, s:s, s:I}", "username", key, "stable_id",
			    stable_id, "sessions_ended",
			    (json_int_t)json_array_size(ended));
	json_decref(ended);
	json_decref(user);
	return 0;
}
