#ifndef AUTHD_CSYSTEMD_SHIM_H
#define AUTHD_CSYSTEMD_SHIM_H

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <sys/uio.h>

/* sd_listen_fds_start is a macro (3); Swift cannot see macros that are not simple constants. */
static inline int csystemd_listen_fds_start(void) { return SD_LISTEN_FDS_START; }

#endif
