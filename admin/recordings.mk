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
