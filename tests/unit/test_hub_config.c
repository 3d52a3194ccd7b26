/* Parsing of the hub's IPC_WORKER_CONFIG body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "session/hub/hub.h"

static int parse(const char *text, struct hub_config *cfg, char *err,
		 size_t err_size)
{
	json_error_t jerr;
	json_t *body = json_loads(text, 0, &jerr);
	int rc;

	assert_non_null(body);
	rc = hub_config_parse(body, cfg, err, err_size);
	json_decref(body);
	return rc;
}

static void test_config_full(void **state)
{
	struct hub_config cfg;
	char err[256] = "";
	(void)state;

	assert_int_equal(
	    parse("{\"session\":\"s1\",\"max_width\":1920,\"max_height\":1080,"
		  "\"clipboard\":{\"to_session\":{\"mode\":\"text\","
		  "\"max_bytes\":4096},\"from_session\":{\"mode\":\"off\"}},"
		  "\"idle_timeout_ms\":600000,\"backend_timeout_ms\":5000,"
		  "\"recording\":{\"required\":true,\"path\":\"/r/s1.trec\"}}",
		  &cfg, err, sizeof(err)),
	    0);
	assert_string_equal(cfg.session, "s1");
	assert_int_equal(cfg.max_width, 1920);
	assert_int_equal(cfg.max_height, 1080);
	assert_int_equal(cfg.to_session.mode, HUB_CLIP_TEXT);
	assert_int_equal(cfg.to_session.max_bytes, 4096);
	assert_int_equal(cfg.from_session.mode, HUB_CLIP_OFF);
	assert_int_equal(cfg.idle_timeout_ms, 600000);
	assert_int_equal(cfg.backend_timeout_ms, 5000);
	assert_true(cfg.recording_required);
	assert_string_equal(cfg.recording_path, "/r/s1.trec");
}

/* Without a clipboard object both directions are off, and the other
 * fields take their defaults. */
static void test_config_defaults(void **state)
{
	struct hub_config cfg;
	char err[256] = "";
	(void)state;

	assert_int_equal(parse("{\"session\":\"s1\"}", &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg.to_session.mode, HUB_CLIP_OFF);
	assert_int_equal(cfg.from_session.mode, HUB_CLIP_OFF);
	assert_int_equal(cfg.max_width, 4096);
	assert_int_equal(cfg.max_height, 2160);
	assert_int_equal(cfg.idle_timeout_ms, 0);
	assert_int_equal(cfg.backend_timeout_ms, 10000);
	assert_false(cfg.recording_required);
	assert_string_equal(cfg.recording_path, "");
}

struct bad_case {
	const char *body;
	const char *error;
};

static void test_config_invalid(void **state)
{
	static const struct bad_case cases[] = {
	    {"{}", "session must be"},
	    {"{\"session\":\"\"}", "session must be"},
	    {"{\"session\":7}", "session must be"},
	    {"{\"session\":\"s\",\"max_width\":0}", "max_width must be"},
	    {"{\"session\":\"s\",\"max_height\":16385}", "max_height must be"},
	    {"{\"session\":\"s\",\"max_width\":\"800\"}", "max_width must be"},
	    {"{\"session\":\"s\",\"clipboard\":{\"to_session\":{\"mode\":"
	     "\"files\"}}}",
	     "clipboard.to_session.mode \"files\" is invalid"},
	    {"{\"session\":\"s\",\"clipboard\":{\"from_session\":{\"mode\":"
	     "\"text\"}}}",
	     "clipboard.from_session.max_bytes must be"},
	    {"{\"session\":\"s\",\"clipboard\":{\"from_session\":{\"mode\":"
	     "\"text\",\"max_bytes\":0}}}",
	     "clipboard.from_session.max_bytes must be"},
	    {"{\"session\":\"s\",\"clipboard\":{\"to_session\":{\"mode\":"
	     "\"text\",\"max_bytes\":1048577}}}",
	     "clipboard.to_session.max_bytes must be"},
	    {"{\"session\":\"s\",\"idle_timeout_ms\":-1}", "idle_timeout_ms"},
	    {"{\"session\":\"s\",\"backend_timeout_ms\":99}",
	     "backend_timeout_ms must be"},
	    {"{\"session\":\"s\",\"backend_timeout_ms\":600001}",
	     "backend_timeout_ms must be"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hub_config cfg;
		char err[256] = "";
		int rc = parse(cases[i].body, &cfg, err, sizeof(err));
		if (rc != -1 || strstr(err, cases[i].error) == NULL)
			print_error("body %s: rc %d, error \"%s\"\n",
				    cases[i].body, rc, err);
		assert_int_equal(rc, -1);
		assert_non_null(strstr(err, cases[i].error));
	}
}

static void test_config_long_path(void **state)
{
	struct hub_config cfg;
	char err[256] = "";
	char path[5000];
	(void)state;

	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	json_t *body = json_pack("{s:s, s:{s:b, s:s}}", "session", "s",
				 "recording", "required", 1, "path", path);
	assert_int_equal(hub_config_parse(body, &cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "recording.path is too long");
	json_decref(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_full),
	    cmocka_unit_test(test_config_defaults),
	    cmocka_unit_test(test_config_invalid),
	    cmocka_unit_test(test_config_long_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
