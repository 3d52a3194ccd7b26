/* Scope-bound cleanup for heap memory, descriptors and library objects.
 *
 * A variable declared with one of these attributes is released when it goes
 * out of scope, on every return path. steal_pointer() and steal_fd() hand
 * ownership to the caller so the cleanup does nothing. */
#ifndef TRELLIS_CLEANUP_H
#define TRELLIS_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_free(void *p)
{
	free(*(void **)p);
}

static inline void cleanup_close(int *fd)
{
	if (*fd >= 0) {
		int saved_errno = errno;
		close(*fd);
		errno = saved_errno;
	}
}

static inline void cleanup_fclose(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define autofree   __attribute__((cleanup(cleanup_free)))
#define autoclose  __attribute__((cleanup(cleanup_close)))
#define autofclose __attribute__((cleanup(cleanup_fclose)))

/* Declares a cleanup function cleanup_NAME for a pointer to TYPE that calls
 * FREE_FN when the pointer is not NULL. */
#define DEFINE_AUTO_CLEANUP(name, type, free_fn)                               \
	static inline void cleanup_##name(type **p)                            \
	{                                                                      \
		if (*p)                                                        \
			free_fn(*p);                                           \
	}

#define autoptr(name) __attribute__((cleanup(cleanup_##name)))

static inline void *steal_pointer_impl(void *pp)
{
	void **p = pp;
	void *value = *p;
	*p = NULL;
	return value;
}

#define steal_pointer(pp) ((__typeof__(*(pp)))steal_pointer_impl(pp))

static inline int steal_fd(int *fd)
{
	int value = *fd;
	*fd = -1;
	return value;
}

#endif
