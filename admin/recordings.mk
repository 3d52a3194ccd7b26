# trellis-admin's steward commands beyond the basics: the end-to-end test
# of every command, the metrics listener and recordings.
TESTS += tests/integration/admin.test
EXTRA_DIST += tests/integration/admin.test \
	tests/integration/admin_recordings.sh \
	packaging/trellis-admin.bash-completion

dist_man1_MANS = docs/trellis-admin.1

# bash-completion looks a command up by its name, without an extension.
bashcompletiondir = $(datadir)/bash-completion/completions
install-data-local: install-trellis-admin-completion
install-trellis-admin-completion:
	$(MKDIR_P) '$(DESTDIR)$(bashcompletiondir)'
	$(INSTALL_DATA) $(srcdir)/packaging/trellis-admin.bash-completion \
		'$(DESTDIR)$(bashcompletiondir)/trellis-admin'
uninstall-local: uninstall-trellis-admin-completion
uninstall-trellis-admin-completion:
	rm -f '$(DESTDIR)$(bashcompletiondir)/trellis-admin'
.PHONY: install-trellis-admin-completion uninstall-trellis-admin-completion

# Recordings: the reader with bounds checks, the PNG writer and the
# seccomp filter of the parsing child.
admin_trellis_admin_SOURCES += admin/cmd_recordings.c \
	admin/recording_render.c admin/recording_render.h
admin_trellis_admin_CFLAGS += $(LIBPNG_CFLAGS) $(ZLIB_CFLAGS) \
	$(SECCOMP_CFLAGS)
admin_trellis_admin_LDADD += $(LIBPNG_LIBS) $(ZLIB_LIBS) $(SECCOMP_LIBS)

# The recording reader against the hub's own writer and damaged files.
check_PROGRAMS += tests/unit/test_recording_render
TESTS += tests/unit/test_recording_render
tests_unit_test_recording_render_SOURCES = \
	tests/unit/test_recording_render.c admin/recording_render.c \
	admin/recording_render.h session/hub/recording.c
tests_unit_test_recording_render_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	$(JANSSON_CFLAGS) $(LIBVNCSERVER_CFLAGS) $(LIBPNG_CFLAGS) \
	$(ZLIB_CFLAGS)
tests_unit_test_recording_render_LDADD = $(TRELLIS_LIB_LIBS) \
	$(LIBPNG_LIBS) $(ZLIB_LIBS) $(CMOCKA_LIBS)

# The master's counters and their text format.
check_PROGRAMS += tests/unit/test_metrics
TESTS += tests/unit/test_metrics
tests_unit_test_metrics_SOURCES = tests/unit/test_metrics.c \
	broker/metrics.c broker/metrics.h
tests_unit_test_metrics_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	$(JANSSON_CFLAGS)
tests_unit_test_metrics_LDADD = $(TRELLIS_LIB_LIBS) $(CMOCKA_LIBS)
