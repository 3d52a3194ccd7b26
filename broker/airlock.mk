# The airlock in the master: quarantine, checks, review, release and mail
# notifications. Mail goes through libcurl's SMTP client, found by
# configure.
AIRLOCK_CURL_CFLAGS = $(CURL_CFLAGS)
AIRLOCK_CURL_LIBS = $(CURL_LIBS)

broker_libbroker_a_SOURCES += \
	broker/airlock.c broker/airlock.h broker/airlock_private.h \
	broker/airlock_admin.c broker/airlock_check.c \
	broker/airlock_jobs.c broker/airlock_submit.c broker/airlock_web.h \
	broker/airlock_directory.c \
	broker/airlock_notify.c broker/airlock_quarantine.c \
	broker/airlock_release.c broker/airlock_review.c \
	broker/airlock_schema.c broker/airlock_web.c
broker_libbroker_a_CFLAGS += $(AIRLOCK_CURL_CFLAGS)
broker_trellisd_LDADD += $(AIRLOCK_CURL_LIBS)
tests_unit_test_login_LDADD += $(AIRLOCK_CURL_LIBS)

# The airlock end to end: trellisd, slapd, the real checker, clamd and a
# local SMTP server.
TESTS += tests/integration/airlock.test
EXTRA_DIST += tests/integration/airlock.test
EXTRA_DIST += bench/quarantine_bench.sh bench/upload_bench.sh bench/stack.sh

# The quarantine copy on its own, for bench/quarantine_bench.sh.
check_PROGRAMS += tests/tools/quarantine-copy
tests_tools_quarantine_copy_SOURCES = tests/tools/quarantine_copy.c
tests_tools_quarantine_copy_CFLAGS = $(broker_libbroker_a_CFLAGS)
tests_tools_quarantine_copy_LDADD = $(broker_trellisd_LDADD)
