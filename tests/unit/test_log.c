#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <unistd.h>

#include "lib/log.h"

/* Captures log output in a temporary file and returns it as a string. */
static FILE *capture;

static int setup_capture(void **state)
{
	capture = tmpfile();
	assert_non_null(capture);
	log_init("test", LOG_LEVEL_DEBUG);
	log_set_fd(fileno(capture));
	return 0;
}

static int teardown_capture(void **state)
{
	log_flush_repeats();
	log_set_fd(STDERR_FILENO);
	fclose(capture);
	return 0;
}

static char *captured(void)
{
	static char text[65536];
	size_t n;

	fflush(capture);
	rewind(capture);
	n = fread(text, 1, sizeof(text) - 1, capture);
	text[n] = '\0';
	return text;
}

static int count_lines(const char *text)
{
	int lines = 0;
	for (; *text; text++)
		if (*text == '\n')
			lines++;
	return lines;
}

static void line_has_fields(void **state)
{
	log_info("session_started", "session=%s user=%s pid=%d bytes=%zu",
		 "7f3a", "alice", 42, (size_t)1024);
	const char *text = captured();

	assert_non_null(strstr(text, "level=info"));
	assert_non_null(strstr(text, "process=test"));
	assert_non_null(strstr(text,
			       "event=session_started session=7f3a user=alice "
			       "pid=42 bytes=1024\n"));
	assert_true(strncmp(text, "time=", 5) == 0);
	assert_int_equal(count_lines(text), 1);
}

static void untrusted_value_quoted(void **state)
{
	log_warn("login_failed", "user=%s", "bob\nlevel=info event=login_ok");
	const char *text = captured();

	assert_int_equal(count_lines(text), 1);
	assert_non_null(
	    strstr(text, "user=\"bob\\nlevel=info event=login_ok\""));
}

static void special_characters_escaped(void **state)
{
	log_info("value_check", "a=%s b=%s c=%s d=%s", "has space",
		 "quote\"inside", "", "tab\there\x01");
	const char *text = captured();

	assert_non_null(strstr(text, "a=\"has space\""));
	assert_non_null(strstr(text, "b=\"quote\\\"inside\""));
	assert_non_null(strstr(text, "c=\"\""));
	assert_non_null(strstr(text, "d=\"tab\\there\\x01\""));
}

static void level_filter(void **state)
{
	log_set_level(LOG_LEVEL_WARN);
	log_info("hidden", "x=%d", 1);
	log_warn("shown", "x=%d", 2);
	log_set_level(LOG_LEVEL_DEBUG);
	const char *text = captured();

	assert_null(strstr(text, "event=hidden"));
	assert_non_null(strstr(text, "event=shown"));
}

static void repeated_errors_counted(void **state)
{
	for (int i = 0; i < 1000; i++)
		log_error("backend_read_failed", "session=%s error=%s", "s1",
			  "Connection reset by peer");
	log_error("other_event", "x=%d", 1);
	log_flush_repeats();
	const char *text = captured();

	assert_int_equal(count_lines(text), 3);
	assert_non_null(strstr(text, "event=log_repeated"));
	assert_non_null(
	    strstr(text, "repeated_event=backend_read_failed count=999"));
}

static void *warn_many(void *arg)
{
	(void)arg;
	/* Only warnings and errors are counted, and suppressed ones write
	 * nothing, so the threads spend their time in the shared table. */
	for (int i = 0; i < 50000; i++)
		log_warn("job_failed", "error=%s", "no space left");
	return NULL;
}

/* Four threads warn at once: every warning is printed or counted once. */
static void repeats_counted_across_threads(void **state)
{
	pthread_t threads[4];
	unsigned long long total = 0;

	for (size_t i = 0; i < 4; i++)
		assert_int_equal(
		    pthread_create(&threads[i], NULL, warn_many, NULL), 0);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);
	log_flush_repeats();

	/* " event=" skips the repeated_event= field of a summary line. */
	for (const char *p = captured(); (p = strstr(p, " event=")) != NULL;
	     p++) {
		unsigned long long count = 0;
		if (strncmp(p, " event=job_failed", 17) == 0)
			total++;
		else if (strncmp(p, " event=log_repeated", 19) == 0 &&
			 sscanf(strstr(p, "count="), "count=%llu", &count) == 1)
			total += count;
	}
	assert_int_equal(total, 4 * 50000);
}

static void info_lines_not_counted(void **state)
{
	for (int i = 0; i < 5; i++)
		log_info("heartbeat", "n=%d", 0);
	assert_int_equal(count_lines(captured()), 5);
}

static void level_names_parse(void **state)
{
	enum log_level level;

	assert_int_equal(log_level_parse("debug", &level), 0);
	assert_int_equal(level, LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_parse("error", &level), 0);
	assert_int_equal(level, LOG_LEVEL_ERROR);
	assert_int_equal(log_level_parse("verbose", &level), -1);
}

static void format_numbers_and_width(void **state)
{
	log_info("numbers", "hex=%02x long=%ld llong=%lld neg=%d pct=%%", 0xa,
		 -5L, 1234567890123LL, -3);
	const char *text = captured();
	assert_non_null(
	    strstr(text, "hex=0a long=-5 llong=1234567890123 neg=-3 pct=%"));
}

struct pairs {
	char text[512];
};

static void collect_pair(const char *key, const char *value, void *arg)
{
	struct pairs *p = arg;
	size_t len = strlen(p->text);
	snprintf(p->text + len, sizeof(p->text) - len, "[%s|%s]", key, value);
}

static void body_parse_round_trip(void **state)
{
	char body[256];
	struct pairs pairs = {""};

	log_info("round_trip", "user=%s path=%s n=%d", "bob\nx=1",
		 "/tmp/a b", 7);
	const char *text = captured();
	const char *start = strstr(text, "event=round_trip ");
	assert_non_null(start);
	snprintf(body, sizeof(body), "%s", start + strlen("event=round_trip "));
	body[strcspn(body, "\n")] = '\0';

	assert_int_equal(log_parse_body(body, collect_pair, &pairs), 0);
	assert_string_equal(pairs.text, "[user|bob\nx=1][path|/tmp/a b][n|7]");
}

static void body_parse_rejects_malformed(void **state)
{
	struct pairs pairs = {""};

	assert_int_equal(log_parse_body("novalue", collect_pair, &pairs), -1);
	assert_int_equal(log_parse_body("k=\"open", collect_pair, &pairs), -1);
	assert_int_equal(log_parse_body("k=\"bad\\q\"", collect_pair, &pairs),
			 -1);
	assert_int_equal(log_parse_body("", collect_pair, &pairs), 0);
}

static void journal_needs_its_stream(void **state)
{
	/* A JOURNAL_STREAM that does not name stderr leaves output alone. */
	setenv("JOURNAL_STREAM", "1:1", 1);
	assert_false(log_use_journal_if_available());
	setenv("JOURNAL_STREAM", "garbage", 1);
	assert_false(log_use_journal_if_available());
	unsetenv("JOURNAL_STREAM");
	assert_false(log_use_journal_if_available());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(line_has_fields, setup_capture,
					    teardown_capture),
	    cmocka_unit_test_setup_teardown(untrusted_value_quoted,
					    setup_capture, teardown_capture),
	    cmocka_unit_test_setup_teardown(special_characters_escaped,
					    setup_capture, teardown_capture),
	    cmocka_unit_test_setup_teardown(level_filter, setup_capture,
					    teardown_capture),
	    cmocka_unit_test_setup_teardown(repeated_errors_counted,
					    setup_capture, teardown_capture),
	    cmocka_unit_test_setup_teardown(repeats_counted_across_threads,
					    setup_capture, teardown_capture),
	    cmocka_unit_test_setup_teardown(info_lines_not_counted,
					    setup_capture, teardown_capture),
	    cmocka_unit_test(level_names_parse),
	    cmocka_unit_test_setup_teardown(format_numbers_and_width,
					    setup_capture, teardown_capture),
	    cmocka_unit_test_setup_teardown(body_parse_round_trip,
					    setup_capture, teardown_capture),
	    cmocka_unit_test(body_parse_rejects_malformed),
	    cmocka_unit_test(journal_needs_its_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
