/* notify.h: telling systemd how the pool is doing (the sd_notify protocol),
 * for the Debian package's Type=notify unit. */
#ifndef MA_SERVER_NOTIFY_H
#define MA_SERVER_NOTIFY_H

/* Sends state ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...") as one
 * datagram to $NOTIFY_SOCKET. Does nothing when the variable is unset (not
 * started by systemd). Returns 1 when sent, 0 when not asked, -1 on error. */
int srv_notify(const char *state);

#endif
