/* Tests for TOTP verification, sealed secrets, enrolment and replay
 * protection, against liboath, oathtool and a real SQLite file. */
#include <fcntl.h>
#include <liboath/oath.h>
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/auth/totp.h"

#define STEP_MS (AUTH_TOTP_STEP_SECONDS * 1000LL)

struct fixture {
	char dir[64];
	char db_path[128];
	char key_path[128];
	uint8_t key[AUTH_TOTP_KEY_BYTES];
	sqlite3 *db;
};

static sqlite3 *open_db(const char *path)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_busy_timeout(db, 5000), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL),
	    SQLITE_OK);
	return db;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/trellis-totp.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->db_path, sizeof(f->db_path), "%s/store.db", f->dir);
	snprintf(f->key_path, sizeof(f->key_path), "%s/totp.key", f->dir);
	if (auth_totp_key_load(f->key_path, f->key) < 0)
		return -1;

	f->db = open_db(f->db_path);
	if (sqlite3_exec(f->db, auth_migration_sql, NULL, NULL, NULL) !=
	    SQLITE_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sqlite3_close(f->db);
	char command[128];
	snprintf(command, sizeof(command), "rm -rf '%s'", f->dir);
	int rc = system(command);
	free(f);
	return rc == 0 ? 0 : -1;
}

/* Generates the code for SECRET at TIME_MS with liboath's generator. */
static void generate_code(const uint8_t *secret, size_t len, int64_t time_ms,
			  char code[AUTH_TOTP_DIGITS + 1])
{
	assert_int_equal(oath_init(), OATH_OK);
	assert_int_equal(oath_totp_generate((const char *)secret, len,
					    (time_t)(time_ms / 1000),
					    AUTH_TOTP_STEP_SECONDS, 0,
					    AUTH_TOTP_DIGITS, code),
			 OATH_OK);
	oath_done();
}

static void rfc6238_test_vectors(void **state)
{
	/* RFC 6238 appendix B, SHA-1, last six of the eight digits. */
	static const struct {
		int64_t time;
		const char *code;
	} vectors[] = {
	    {59, "287082"},	    {1111111109, "081804"},
	    {1111111111, "050471"}, {1234567890, "005924"},
	    {2000000000, "279037"}, {20000000000, "353130"},
	};
	const uint8_t *secret = (const uint8_t *)"12345678901234567890";

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		int64_t step = -1;
		assert_int_equal(auth_totp_verify(secret, 20, vectors[i].code,
						  vectors[i].time * 1000,
						  &step),
				 AUTH_OK);
		assert_int_equal(step, vectors[i].time / 30);
	}
}

static void oathtool_cross_check(void **state)
{
	uint8_t secret[AUTH_TOTP_SECRET_BYTES];
	for (size_t i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)(i * 37 + 11);
	char *base32 = NULL;
	size_t base32_len = 0;
	assert_int_equal(oath_base32_encode((const char *)secret,
					    sizeof(secret), &base32,
					    &base32_len),
			 OATH_OK);

	int64_t now = 1700000000;
	char command[256];
	snprintf(command, sizeof(command), "oathtool --totp -b '%s' -N '@%lld'",
		 base32, (long long)now);
	FILE *output = popen(command, "r");
	assert_non_null(output);
	char code[32] = "";
	assert_non_null(fgets(code, sizeof(code), output));
	assert_int_equal(pclose(output), 0);
	code[strcspn(code, "\n")] = '\0';
	free(base32);

	int64_t step = -1;
	assert_int_equal(
	    auth_totp_verify(secret, sizeof(secret), code, now * 1000, &step),
	    AUTH_OK);
	assert_int_equal(step, now / 30);
}

static void verify_clock_skew(void **state)
{
	uint8_t secret[AUTH_TOTP_SECRET_BYTES] = "skew-test-secret-20b";
	int64_t now_ms = 1700000015000LL;
	int64_t now_step = now_ms / STEP_MS;

	for (int offset = -1; offset <= 1; offset++) {
		char code[AUTH_TOTP_DIGITS + 1];
		generate_code(secret, sizeof(secret), now_ms + offset * STEP_MS,
			      code);
		int64_t step = -1;
		assert_int_equal(auth_totp_verify(secret, sizeof(secret), code,
						  now_ms, &step),
				 AUTH_OK);
		assert_int_equal(step, now_step + offset);
	}

	/* Two steps away is too far. The codes of those steps differ from
	 * the three accepted ones for this secret and time. */
	for (int offset = -2; offset <= 2; offset += 4) {
		char code[AUTH_TOTP_DIGITS + 1];
		generate_code(secret, sizeof(secret), now_ms + offset * STEP_MS,
			      code);
		int64_t step = -1;
		assert_int_equal(auth_totp_verify(secret, sizeof(secret), code,
						  now_ms, &step),
				 AUTH_BAD_CODE);
	}
}

static void verify_rejects_malformed(void **state)
{
	static const char *const codes[] = {
	    "",	      "12345",	"1234567", "12345a",	   " 12345",
	    "12345 ", "+12345", "-12345",  "１２３４５６",
	};
	uint8_t secret[AUTH_TOTP_SECRET_BYTES] = "malformed-test-secre";
	int64_t step = -1;

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		assert_int_equal(auth_totp_verify(secret, sizeof(secret),
						  codes[i], 1700000000000LL,
						  &step),
				 AUTH_BAD_CODE);
	assert_int_equal(auth_totp_verify(secret, sizeof(secret), NULL,
					  1700000000000LL, &step),
			 AUTH_BAD_CODE);
	assert_int_equal(step, -1);
}

static void key_file_created_private(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	assert_int_equal(stat(f->key_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, AUTH_TOTP_KEY_BYTES);

	uint8_t again[AUTH_TOTP_KEY_BYTES];
	assert_int_equal(auth_totp_key_load(f->key_path, again), 0);
	assert_memory_equal(again, f->key, AUTH_TOTP_KEY_BYTES);
}

static void key_file_rejects_unsafe(void **state)
{
	struct fixture *f = *state;
	uint8_t key[AUTH_TOTP_KEY_BYTES];
	char path[160];

	snprintf(path, sizeof(path), "%s/open.key", f->dir);
	assert_int_equal(auth_totp_key_load(path, key), 0);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(auth_totp_key_load(path, key), -1);

	snprintf(path, sizeof(path), "%s/short.key", f->dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "short", 5), 5);
	close(fd);
	assert_int_equal(auth_totp_key_load(path, key), -1);

	snprintf(path, sizeof(path), "%s/link.key", f->dir);
	assert_int_equal(symlink(f->key_path, path), 0);
	assert_int_equal(auth_totp_key_load(path, key), -1);
}

static void seal_round_trip(void **state)
{
	struct fixture *f = *state;
	uint8_t secret[AUTH_TOTP_SECRET_BYTES] = "round-trip-secret-20";
	uint8_t *sealed = NULL;
	uint8_t *sealed_again = NULL;
	size_t sealed_len = 0;
	size_t sealed_again_len = 0;

	assert_int_equal(auth_totp_seal(f->key, "user-1", secret,
					sizeof(secret), &sealed, &sealed_len),
			 0);
	assert_int_equal(auth_totp_seal(f->key, "user-1", secret,
					sizeof(secret), &sealed_again,
					&sealed_again_len),
			 0);
	/* A fresh nonce each time: equal secrets seal differently. */
	assert_int_equal(sealed_len, sealed_again_len);
	assert_memory_not_equal(sealed, sealed_again, sealed_len);
	assert_null(memmem(sealed, sealed_len, secret, sizeof(secret)));

	uint8_t opened[AUTH_TOTP_SECRET_BYTES];
	assert_int_equal(
	    auth_totp_unseal(f->key, "user-1", sealed, sealed_len, opened), 0);
	assert_memory_equal(opened, secret, sizeof(secret));

	free(sealed);
	free(sealed_again);
}

static void seal_rejects_tampering(void **state)
{
	struct fixture *f = *state;
	uint8_t secret[AUTH_TOTP_SECRET_BYTES] = "tamper-test-secret-2";
	uint8_t *sealed = NULL;
	size_t sealed_len = 0;
	uint8_t opened[AUTH_TOTP_SECRET_BYTES];
	assert_int_equal(auth_totp_seal(f->key, "user-1", secret,
					sizeof(secret), &sealed, &sealed_len),
			 0);

	/* Bound to the stable id: another user's row cannot be swapped in. */
	assert_int_equal(
	    auth_totp_unseal(f->key, "user-2", sealed, sealed_len, opened), -1);

	uint8_t other_key[AUTH_TOTP_KEY_BYTES];
	memcpy(other_key, f->key, sizeof(other_key));
	other_key[0] ^= 1;
	assert_int_equal(
	    auth_totp_unseal(other_key, "user-1", sealed, sealed_len, opened),
	    -1);

	for (size_t i = 0; i < sealed_len; i++) {
		sealed[i] ^= 0x40;
		assert_int_equal(auth_totp_unseal(f->key, "user-1", sealed,
						  sealed_len, opened),
				 -1);
		sealed[i] ^= 0x40;
	}
	assert_int_equal(
	    auth_totp_unseal(f->key, "user-1", sealed, sealed_len - 1, opened),
	    -1);
	free(sealed);
}

static enum auth_totp_state totp_state(sqlite3 *db, const char *stable_id)
{
	enum auth_totp_state state = AUTH_TOTP_NONE;
	assert_int_equal(auth_totp_state(db, stable_id, &state), 0);
	return state;
}

/* Decodes the base32 secret of ENROLMENT, as an authenticator app does. */
static void app_secret(const struct auth_totp_enrolment *enrolment,
		       uint8_t secret[AUTH_TOTP_SECRET_BYTES])
{
	char *decoded = NULL;
	size_t decoded_len = 0;
	assert_int_equal(oath_base32_decode(enrolment->secret_base32,
					    strlen(enrolment->secret_base32),
					    &decoded, &decoded_len),
			 OATH_OK);
	assert_int_equal(decoded_len, AUTH_TOTP_SECRET_BYTES);
	memcpy(secret, decoded, AUTH_TOTP_SECRET_BYTES);
	free(decoded);
}

/* Enrols STABLE_ID and confirms with the code of NOW_MS. */
static void enrol(struct fixture *f, const char *stable_id, int64_t now_ms,
		  uint8_t secret[AUTH_TOTP_SECRET_BYTES])
{
	struct auth_totp_enrolment enrolment;
	assert_int_equal(auth_totp_enrol_begin(f->db, f->key, stable_id,
					       "Trellis", "user", &enrolment),
			 AUTH_OK);
	app_secret(&enrolment, secret);
	auth_totp_enrolment_clear(&enrolment);

	char code[AUTH_TOTP_DIGITS + 1];
	generate_code(secret, AUTH_TOTP_SECRET_BYTES, now_ms, code);
	assert_int_equal(
	    auth_totp_enrol_confirm(f->db, f->key, stable_id, code, now_ms),
	    AUTH_OK);
}

static void enrolment_states(void **state)
{
	struct fixture *f = *state;
	const char *user = "alice-uuid";
	int64_t now_ms = 1700000000000LL;
	assert_int_equal(totp_state(f->db, user), AUTH_TOTP_NONE);

	struct auth_totp_enrolment enrolment;
	assert_int_equal(auth_totp_enrol_begin(f->db, f->key, user, "Trellis",
					       "alice@example.org", &enrolment),
			 AUTH_OK);
	assert_int_equal(totp_state(f->db, user), AUTH_TOTP_PENDING);
	assert_int_equal(strlen(enrolment.secret_base32), 32);
	char expected_uri[256];
	snprintf(expected_uri, sizeof(expected_uri),
		 "otpauth://totp/Trellis:alice%%40example.org?secret=%s"
		 "&issuer=Trellis&algorithm=SHA1&digits=6&period=30",
		 enrolment.secret_base32);
	assert_string_equal(enrolment.uri, expected_uri);
	assert_non_null(strstr(enrolment.qr_svg, "<svg"));

	uint8_t secret[AUTH_TOTP_SECRET_BYTES];
	app_secret(&enrolment, secret);
	auth_totp_enrolment_clear(&enrolment);
	char code[AUTH_TOTP_DIGITS + 1];
	generate_code(secret, sizeof(secret), now_ms, code);

	/* A pending secret does not log anyone in. */
	assert_int_equal(auth_totp_check(f->db, f->key, user, code, now_ms),
			 AUTH_BAD_CODE);
	char wrong[AUTH_TOTP_DIGITS + 1];
	generate_code(secret, sizeof(secret), now_ms + 5 * STEP_MS, wrong);
	assert_int_equal(
	    auth_totp_enrol_confirm(f->db, f->key, user, wrong, now_ms),
	    AUTH_BAD_CODE);
	assert_int_equal(totp_state(f->db, user), AUTH_TOTP_PENDING);

	assert_int_equal(
	    auth_totp_enrol_confirm(f->db, f->key, user, code, now_ms),
	    AUTH_OK);
	assert_int_equal(totp_state(f->db, user), AUTH_TOTP_ACTIVE);

	/* An active secret is not replaced by a new enrolment. */
	assert_int_equal(auth_totp_enrol_begin(f->db, f->key, user, "Trellis",
					       "alice", &enrolment),
			 AUTH_INTERNAL_ERROR);
	assert_null(enrolment.secret_base32);
	assert_int_equal(totp_state(f->db, user), AUTH_TOTP_ACTIVE);

	assert_int_equal(auth_totp_reset(f->db, user), 0);
	assert_int_equal(totp_state(f->db, user), AUTH_TOTP_NONE);
}

static void reenrolment_replaces_pending(void **state)
{
	struct fixture *f = *state;
	const char *user = "bob-uuid";
	int64_t now_ms = 1700000000000LL;
	struct auth_totp_enrolment first;
	struct auth_totp_enrolment second;
	uint8_t first_secret[AUTH_TOTP_SECRET_BYTES];

	assert_int_equal(auth_totp_enrol_begin(f->db, f->key, user, "Trellis",
					       "bob", &first),
			 AUTH_OK);
	app_secret(&first, first_secret);
	assert_int_equal(auth_totp_enrol_begin(f->db, f->key, user, "Trellis",
					       "bob", &second),
			 AUTH_OK);
	assert_string_not_equal(first.secret_base32, second.secret_base32);

	char code[AUTH_TOTP_DIGITS + 1];
	generate_code(first_secret, sizeof(first_secret), now_ms, code);
	assert_int_equal(
	    auth_totp_enrol_confirm(f->db, f->key, user, code, now_ms),
	    AUTH_BAD_CODE);
	assert_int_equal(totp_state(f->db, user), AUTH_TOTP_PENDING);

	auth_totp_enrolment_clear(&first);
	auth_totp_enrolment_clear(&second);
}

static void code_accepted_once(void **state)
{
	struct fixture *f = *state;
	const char *user = "carol-uuid";
	int64_t now_ms = 1700000000000LL;
	uint8_t secret[AUTH_TOTP_SECRET_BYTES];
	enrol(f, user, now_ms, secret);

	/* The enrolment code itself is used up. */
	char code[AUTH_TOTP_DIGITS + 1];
	generate_code(secret, sizeof(secret), now_ms, code);
	assert_int_equal(auth_totp_check(f->db, f->key, user, code, now_ms),
			 AUTH_CODE_REUSED);

	int64_t later_ms = now_ms + 3 * STEP_MS;
	generate_code(secret, sizeof(secret), later_ms, code);
	assert_int_equal(auth_totp_check(f->db, f->key, user, code, later_ms),
			 AUTH_OK);
	assert_int_equal(auth_totp_check(f->db, f->key, user, code, later_ms),
			 AUTH_CODE_REUSED);
	/* Still within the skew window, still used. */
	assert_int_equal(
	    auth_totp_check(f->db, f->key, user, code, later_ms + STEP_MS),
	    AUTH_CODE_REUSED);

	/* An older code, valid through skew, is not accepted after a newer
	 * one. */
	char older[AUTH_TOTP_DIGITS + 1];
	generate_code(secret, sizeof(secret), later_ms - STEP_MS, older);
	assert_int_equal(auth_totp_check(f->db, f->key, user, older, later_ms),
			 AUTH_CODE_REUSED);

	char wrong[AUTH_TOTP_DIGITS + 1];
	generate_code(secret, sizeof(secret), later_ms + 10 * STEP_MS, wrong);
	assert_int_equal(
	    auth_totp_check(f->db, f->key, user, wrong, later_ms + STEP_MS),
	    AUTH_BAD_CODE);
	assert_int_equal(
	    auth_totp_check(f->db, f->key, "nobody", code, later_ms),
	    AUTH_BAD_CODE);
}

struct racer {
	const char *db_path;
	const uint8_t *key;
	const char *user;
	const char *code;
	int64_t now_ms;
	pthread_barrier_t *start;
	enum auth_result result;
};

static void *race(void *arg)
{
	struct racer *racer = arg;
	sqlite3 *db = NULL;
	if (sqlite3_open(racer->db_path, &db) != SQLITE_OK ||
	    sqlite3_busy_timeout(db, 5000) != SQLITE_OK) {
		racer->result = AUTH_INTERNAL_ERROR;
		pthread_barrier_wait(racer->start);
		return NULL;
	}
	pthread_barrier_wait(racer->start);
	racer->result = auth_totp_check(db, racer->key, racer->user,
					racer->code, racer->now_ms);
	sqlite3_close(db);
	return NULL;
}

static void racing_logins_one_wins(void **state)
{
	struct fixture *f = *state;
	const char *user = "dave-uuid";
	int64_t now_ms = 1700000000000LL;
	uint8_t secret[AUTH_TOTP_SECRET_BYTES];
	enrol(f, user, now_ms, secret);

	/* Each round: two threads, each with its own connection to the same
	 * file, check the same fresh code at the same moment. */
	for (int round = 1; round <= 20; round++) {
		int64_t round_ms = now_ms + round * 2 * STEP_MS;
		char code[AUTH_TOTP_DIGITS + 1];
		generate_code(secret, sizeof(secret), round_ms, code);

		pthread_barrier_t start;
		pthread_barrier_init(&start, NULL, 2);
		struct racer racers[2];
		pthread_t threads[2];
		for (int i = 0; i < 2; i++) {
			racers[i] = (struct racer){
			    .db_path = f->db_path,
			    .key = f->key,
			    .user = user,
			    .code = code,
			    .now_ms = round_ms,
			    .start = &start,
			};
			assert_int_equal(
			    pthread_create(&threads[i], NULL, race, &racers[i]),
			    0);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(threads[i], NULL);
		pthread_barrier_destroy(&start);

		int wins = 0;
		int reused = 0;
		for (int i = 0; i < 2; i++) {
			wins += racers[i].result == AUTH_OK;
			reused += racers[i].result == AUTH_CODE_REUSED;
		}
		assert_int_equal(wins, 1);
		assert_int_equal(reused, 1);
	}
}

static void qr_svg_structure(void **state)
{
	char *svg = auth_totp_qr_svg("otpauth://totp/Trellis:alice?secret="
				     "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
	assert_non_null(svg);
	assert_true(strncmp(svg, "<svg ", 5) == 0);
	assert_non_null(strstr(svg, "viewBox=\"0 0 "));
	assert_non_null(strstr(svg, "<path fill=\"#000\" d=\"M"));
	assert_non_null(strstr(svg, "</svg>"));
	free(svg);

	char long_text[8000];
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	assert_null(auth_totp_qr_svg(long_text));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(rfc6238_test_vectors),
	    cmocka_unit_test(oathtool_cross_check),
	    cmocka_unit_test(verify_clock_skew),
	    cmocka_unit_test(verify_rejects_malformed),
	    cmocka_unit_test_setup_teardown(key_file_created_private, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(key_file_rejects_unsafe, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(seal_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(seal_rejects_tampering, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(enrolment_states, setup, teardown),
	    cmocka_unit_test_setup_teardown(reenrolment_replaces_pending, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(code_accepted_once, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(racing_logins_one_wins, setup,
					    teardown),
	    cmocka_unit_test(qr_svg_structure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
