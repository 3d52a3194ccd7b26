# The SQLite store and the hash-chained audit log.
broker_libbroker_a_SOURCES += \
	broker/store.c broker/store.h \
	broker/migrations.c \
	broker/audit.c broker/audit.h broker/audit_private.h \
	broker/audit_key.c \
	broker/audit_verify.c

# The migrations include the TOTP table from broker/auth/libauth.a.
STORE_TEST_LIBS = broker/libbroker.a $(TRELLIS_AUTH_LIBS) lib/libtrellis.a \
	$(SQLITE_LIBS) $(OPENSSL_LIBS) $(JANSSON_LIBS) $(CMOCKA_LIBS)
STORE_TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SQLITE_CFLAGS) \
	$(OPENSSL_CFLAGS) $(JANSSON_CFLAGS)

check_PROGRAMS += tests/unit/test_store tests/unit/test_audit
TESTS += tests/unit/test_store tests/unit/test_audit
tests_unit_test_store_SOURCES = tests/unit/test_store.c
tests_unit_test_store_CFLAGS = $(STORE_TEST_CFLAGS)
tests_unit_test_store_LDADD = $(STORE_TEST_LIBS)
tests_unit_test_audit_SOURCES = tests/unit/test_audit.c
tests_unit_test_audit_CFLAGS = $(STORE_TEST_CFLAGS)
tests_unit_test_audit_LDADD = $(STORE_TEST_LIBS)
