/*
 * server/listen.c - the listen socket: unix (mode, owner, live-server check),
 *   TCP over IPv4 or IPv6 (HOST:PORT read by base/hostport.h), or the socket
 *   inherited on fd 0 (spawn-fcgi).
 * Owns: struct srv_listener; unlinking the socket path it created.
 * Invariants: a unix path where a server still answers is never replaced;
 *   a stale one (connect refused) is removed. The fd is non-blocking (workers
 *   accept4() and sleep in epoll_pwait) and close-on-exec.
 * Context: master, before the first fork (and before dropping privileges).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"
#include "../base/hostport.h"
#include "../base/log.h"

#define SRV_BACKLOG 1024

static int srv_listen_unix(const struct cfg *c, const char *path, struct srv_listener *l);
static int srv_listen_tcp(const char *spec, struct srv_listener *l);
static bool srv_fd0_is_listener(void);
static int srv_chown_socket(const char *path, const char *owner);

int srv_listen_open(const struct cfg *c, struct srv_listener *l)
{
    memset(l, 0, sizeof *l);
    l->fd = -1;
    const char *spec = c->listen;
    if (!spec[0]) {
        if (srv_fd0_is_listener()) {
            l->fd = 0;
            snprintf(l->desc, sizeof l->desc, "fd 0 (inherited)");
            goto nonblock;
        }
        spec = "unix:/tmp/tasklist.sock";
    }
    int rc;
    if (strncmp(spec, "unix:", 5) == 0)
        rc = srv_listen_unix(c, spec + 5, l);
    else if (spec[0] == '/')
        rc = srv_listen_unix(c, spec, l);
    else
        rc = srv_listen_tcp(spec, l);
    if (rc != 0)
        return -1;
nonblock:
    if (fcntl(l->fd, F_SETFL, fcntl(l->fd, F_GETFL) | O_NONBLOCK) < 0 ||
        fcntl(l->fd, F_SETFD, FD_CLOEXEC) < 0) {
        log_error("listen %s: fcntl: %s", l->desc, strerror(errno));
        srv_listen_close(l);
        return -1;
    }
    return 0;
}

void srv_listen_close(struct srv_listener *l)
{
    if (l->fd > 0)
        close(l->fd);
    l->fd = -1;
    if (l->owns_path) {
        /* Only if it is still our socket (a new server may own it now). */
        unlink(l->path);
        l->owns_path = false;
    }
}

/* ---- helpers ---- */

static int srv_listen_unix(const struct cfg *c, const char *path, struct srv_listener *l)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = strlen(path);
    if (len >= sizeof sa.sun_path || len >= sizeof l->path) {
        log_error("listen unix:%s: path too long", path);
        return -1;
    }
    memcpy(sa.sun_path, path, len + 1);
    memcpy(l->desc, "unix:", 5);
    memcpy(l->desc + 5, path, len + 1);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            log_error("listen %s: exists and is not a socket; refusing to replace it", l->desc);
            return -1;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int rc = probe < 0 ? -1 : connect(probe, (struct sockaddr *)&sa, sizeof sa);
        int err = errno;
        if (probe >= 0)
            close(probe);
        if (rc == 0 || (err != ECONNREFUSED && err != ENOENT)) {
            log_error("listen %s: a server still answers there (or it cannot be probed: %s); "
                      "refusing to replace it", l->desc, rc == 0 ? "connected" : strerror(err));
            return -1;
        }
        log_info("listen %s: removing stale socket", l->desc);
        unlink(path);
    }
    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l->fd < 0) {
        log_error("listen %s: socket: %s", l->desc, strerror(errno));
        return -1;
    }
    /* Create it with no access at all, then open it up to socket_mode: no
     * window in which a wider umask lets someone else connect. */
    mode_t old = umask(0777);
    int rc = bind(l->fd, (struct sockaddr *)&sa, sizeof sa);
    int err = errno;
    umask(old);
    if (rc < 0) {
        log_error("listen %s: bind: %s", l->desc, strerror(err));
        goto fail;
    }
    memcpy(l->path, path, len + 1);
    l->owns_path = true;
    if (chmod(path, (mode_t)c->socket_mode) < 0) {
        log_error("listen %s: chmod 0%o: %s", l->desc, c->socket_mode, strerror(errno));
        goto fail;
    }
    if (c->socket_owner[0] && srv_chown_socket(path, c->socket_owner) < 0)
        goto fail;
    if (listen(l->fd, SRV_BACKLOG) < 0) {
        log_error("listen %s: listen: %s", l->desc, strerror(errno));
        goto fail;
    }
    return 0;
fail:
    srv_listen_close(l);
    return -1;
}

static int srv_listen_tcp(const char *spec, struct srv_listener *l)
{
    struct hostport hp;
    char port[8];
    snprintf(l->desc, sizeof l->desc, "%s", spec);
    if (hostport_parse(spec, strlen(spec), 0, HOSTPORT_PORT_REQUIRED, &hp) != HOSTPORT_OK) {
        log_error("listen %s: expected HOST:PORT", spec);
        return -1;
    }
    snprintf(port, sizeof port, "%u", hp.port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(strcmp(hp.host, "*") ? hp.host : NULL, port, &hints, &res);
    if (gai != 0) {
        log_error("listen %s: %s", spec, gai_strerror(gai));
        return -1;
    }
    int err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SRV_BACKLOG) == 0) {
            l->fd = fd;
            break;
        }
        err = errno;
        close(fd);
    }
    freeaddrinfo(res);
    if (l->fd < 0) {
        log_error("listen %s: %s", spec, strerror(err));
        return -1;
    }
    return 0;
}

/* spawn-fcgi (and systemd-style inheritance) leaves a listening socket on
 * fd 0; a terminal, /dev/null or a pipe is not one. */
static bool srv_fd0_is_listener(void)
{
    int type = 0, acc = 0;
    socklen_t len = sizeof type;
    if (getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
        return false;
    len = sizeof acc;
    return getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == 0 && acc;
}

/* owner is "user", "user:group" or ":group". */
static int srv_chown_socket(const char *path, const char *owner)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", owner);
    char *grp = strchr(buf, ':');
    if (grp)
        *grp++ = '\0';
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    if (buf[0]) {
        struct passwd *pw = getpwnam(buf);
        if (!pw) {
            log_error("listen unix:%s: socket_owner: no user \"%s\"", path, buf);
            return -1;
        }
        uid = pw->pw_uid;
        if (!grp)
            gid = pw->pw_gid;
    }
    if (grp && grp[0]) {
        struct group *gr = getgrnam(grp);
        if (!gr) {
            log_error("listen unix:%s: socket_owner: no group \"%s\"", path, grp);
            return -1;
        }
        gid = gr->gr_gid;
    }
    if (chown(path, uid, gid) < 0) {
        log_error("listen unix:%s: chown %s: %s", path, owner, strerror(errno));
        return -1;
    }
    return 0;
}
