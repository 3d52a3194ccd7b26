/* The seccomp filter of the ns driver's sandboxes.
 *
 * The filter is compiled to a BPF program and handed to bubblewrap, which
 * loads it just before it executes the sandbox's first process, so it
 * confines everything in the session but not bubblewrap's own setup. */
#ifndef TRELLIS_SESSION_SECCOMP_H
#define TRELLIS_SESSION_SECCOMP_H

/* Compiles the filter into a new memory file (close-on-exec, offset 0),
 * ready for bubblewrap's --seccomp option. Returns the descriptor, or -1
 * after logging. */
int session_seccomp_export(void);

#endif
