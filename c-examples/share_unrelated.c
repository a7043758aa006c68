/*
 * share_unrelated.c - shared anonymous memory between unrelated processes.
 *
 * Seed 000 ends with: "shared anonymous mappings allow IPC ... but only
 * between related processes" -- a MAP_SHARED|MAP_ANONYMOUS region has no
 * name, so the only way to reach it is to inherit it across fork().  And
 * even a child loses it when it calls exec(): exec() replaces the whole
 * address space.  This program shows the way around that: memory that is
 * anonymous (no file, nothing left in any namespace) but *has a
 * descriptor*, which can be handed to any process over a Unix socket.
 *
 *   1. The parent creates the region with
 *          mm_map_shareable("share_unrelated", 4096,
 *                           MM_READ|MM_WRITE|MM_SHARED, &r);
 *      On Linux that is a memfd (memfd_create), elsewhere a POSIX shared
 *      memory object that is unlinked at once.  The region keeps the
 *      descriptor, mm_fd(r), and it is close-on-exec.
 *   2. It writes a greeting into the region (mm_write) and seals the object
 *      against shrinking and growing (mm_seal; Linux only, -ENOTSUP
 *      elsewhere), so that whoever receives it cannot truncate it under the
 *      parent's feet -- a truncated mapping raises SIGBUS on the next access.
 *   3. It creates a socketpair, forks, and the child exec()s this very
 *      program again as `share_unrelated --peer SOCK REGIONFD`.  After exec
 *      the peer is a new program image: it shares no memory with the parent
 *      and, because the region's descriptor is close-on-exec, it does not
 *      have that either (the peer checks: REGIONFD is not open, or is
 *      something else).  All it has is its end of the socket, whose
 *      FD_CLOEXEC the child cleared on purpose.  (A truly unrelated process
 *      would connect() to a named Unix socket instead; everything from here
 *      on is the same.)
 *   4. The parent sends mm_fd(r) over the socket as SCM_RIGHTS ancillary
 *      data: the kernel installs a new descriptor for the same memory object
 *      in the peer.
 *   5. The peer maps it with mm_map_fd(fd, 0, 0, MM_READ|MM_WRITE|MM_SHARED),
 *      reads the greeting (mm_read), tries to shrink the object with
 *      ftruncate(fd, 0) (refused by the seal), writes a reply (mm_write) and
 *      tells the parent over the socket that it is done.
 *   6. The parent reads the reply from its own mapping.
 *
 *     $ share_unrelated
 *     parent: pid 4242, shareable region of 4096 bytes, descriptor 3 (close-on-exec)
 *     parent wrote: hello from pid 4242
 *     parent: sealed against shrink and grow
 *     peer: pid 4243, exec'd as /path/to/share_unrelated --peer 5 3
 *     peer: region fd 3 not inherited across exec: fcntl(3, F_GETFD): Bad file descriptor
 *     peer: received the region over the socket as descriptor 3, 4096 bytes
 *     peer read: hello from pid 4242
 *     peer: ftruncate refused: Operation not permitted (sealed)
 *     peer wrote: reply from pid 4243
 *     parent read: reply from pid 4243
 *
 * (The received descriptor often gets the same number the parent's had: it
 * is simply the lowest free one in the peer.)
 *
 * Where sealing is not supported the third line is
 * `parent: sealing not supported here: <mm_last_error()>`.  Then the peer's
 * ftruncate usually succeeds (a system that never resizes shared memory
 * objects prints `peer: ftruncate refused: <reason>` instead), and the peer
 * shows what a seal prevents: the object shrank under both mappings, and
 * mm_read returns -EFAULT where a plain load would have raised SIGBUS.  The
 * peer then restores the size (the contents are zeros now) and writes its
 * reply.  `--no-seal` skips mm_seal to show that path anywhere:
 *
 *     parent: not sealed (--no-seal)
 *     ...
 *     peer: ftruncate to 0 bytes succeeded (not sealed)
 *     peer: mm_read after the shrink: EFAULT (a plain load would have raised SIGBUS)
 *     peer: size restored to 4096 bytes (the old contents are gone)
 *     peer wrote: reply from pid 4243
 *     parent read: reply from pid 4243
 *
 * Usage: share_unrelated [--no-seal]
 *        share_unrelated --peer SOCKFD REGIONFD    (how the program runs itself)
 * Exit status: 0 when the peer read the parent's greeting and the parent
 * read the peer's reply, 1 on any failure, 2 on bad usage.
 */
#define _GNU_SOURCE     /* MSG_CMSG_CLOEXEC, F_GET_SEALS, SOCK_CLOEXEC (glibc) */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mmkit.h>

#define REGION_NAME "share_unrelated"   /* shown in /proc/PID/fd on Linux */
#define REGION_LEN  4096
/* Layout of the region: the parent's greeting at GREETING_OFF, the peer's
   reply at REPLY_OFF, each a NUL-terminated string of at most MSG_MAX bytes. */
#define GREETING_OFF 0
#define REPLY_OFF    2048
#define MSG_MAX      64

#define DONE_BYTE 'D'   /* the peer's "I wrote my reply" message */

static const char *prog = "share_unrelated";

static void usage(void)
{
    fprintf(stderr, "usage: share_unrelated [--no-seal]\n"
                    "       share_unrelated --peer SOCKFD REGIONFD\n");
    exit(2);
}

/* mmkit returns -errno; mm_last_error() says which call failed and why. */
static void die_mm(const char *what, int rc)
{
    const char *msg = mm_last_error();
    fprintf(stderr, "%s: %s: %s\n", prog, what, *msg ? msg : strerror(-rc));
    exit(EXIT_FAILURE);
}

/* A failed system call: errno says why. */
static void die_sys(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
    exit(EXIT_FAILURE);
}

static void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", prog, what);
    exit(EXIT_FAILURE);
}

static int parse_fd(const char *s)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > INT_MAX)
        usage();
    return (int)v;
}

static void set_cloexec(int fd, int on)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl == -1)
        die_sys("fcntl(F_GETFD)");
    fl = on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC);
    if (fcntl(fd, F_SETFD, fl) == -1)
        die_sys("fcntl(F_SETFD)");
}

/* Read a NUL-terminated string of at most MSG_MAX bytes from the region. */
static void read_msg(const mm_region *r, size_t off, char buf[MSG_MAX])
{
    int rc = mm_read(r, off, buf, MSG_MAX);
    if (rc != 0)
        die_mm("mm_read", rc);
    if (memchr(buf, '\0', MSG_MAX) == NULL)
        die("the region does not hold a message there");
}

static void write_msg(mm_region *r, size_t off, const char *msg)
{
    int rc = mm_write(r, off, msg, strlen(msg) + 1);   /* with its NUL */
    if (rc != 0)
        die_mm("mm_write", rc);
}

/*
 * Send one byte on the socket with the descriptor fd attached as SCM_RIGHTS
 * ancillary data (a stream socket needs at least one byte of real data to
 * carry it).  The kernel duplicates the descriptor into the receiver, like
 * dup() across processes: both refer to the same memory object.
 */
static void send_fd(int sock, int fd)
{
    char byte = 'F';
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union {                     /* a control buffer aligned for cmsghdr */
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr msg;
    struct cmsghdr *cm;
    int flags = 0;

    memset(&ctl, 0, sizeof ctl);
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof ctl.buf;
    cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));

#ifdef MSG_NOSIGNAL
    flags |= MSG_NOSIGNAL;      /* a dead peer is EPIPE, not SIGPIPE */
#endif
    while (sendmsg(sock, &msg, flags) == -1) {
        if (errno != EINTR)
            die_sys("sendmsg(SCM_RIGHTS)");
    }
}

/* Receive the byte and the descriptor send_fd() attached to it. */
static int recv_fd(int sock)
{
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr msg;
    struct cmsghdr *cm;
    ssize_t n;
    int flags = 0, fd;

#ifdef MSG_CMSG_CLOEXEC
    /* The new descriptor is close-on-exec from the start (Linux, BSDs). */
    flags |= MSG_CMSG_CLOEXEC;
#endif
    memset(&ctl, 0, sizeof ctl);
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof ctl.buf;
    while ((n = recvmsg(sock, &msg, flags)) == -1) {
        if (errno != EINTR)
            die_sys("recvmsg");
    }
    if (n == 0)
        die("recvmsg: the parent closed the socket without sending the region");
    if (msg.msg_flags & MSG_CTRUNC)
        die("recvmsg: control data truncated");
    cm = CMSG_FIRSTHDR(&msg);
    if (cm == NULL || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS
        || cm->cmsg_len != CMSG_LEN(sizeof(int)))
        die("recvmsg: no descriptor came with the message");
    memcpy(&fd, CMSG_DATA(cm), sizeof(int));
#ifndef MSG_CMSG_CLOEXEC
    set_cloexec(fd, 1);         /* (a short window without it; no threads here) */
#endif
    return fd;
}

/* ------------------------------------------------------------------ peer */

/*
 * The exec'd side.  sock: its end of the socketpair.  parent_fd: the number
 * the region's descriptor has in the parent, to show it did not come along.
 */
static int peer(const char *argv0, int sock, int parent_fd)
{
    struct stat at_start, got;
    int inherited_open, err_at_start = 0;
    char exe[PATH_MAX], buf[MSG_MAX], want[MSG_MAX];
    mm_region *r = NULL;
    int fd, rc, seals = 0;
    char done = DONE_BYTE;

    prog = "share_unrelated: peer";

    /*
     * Before anything else: is the parent's region descriptor open here?
     * It was open in the forked child up to exec(), but it is close-on-exec
     * (mm_map_shareable's doing), so exec() closed it.  If the number is in
     * use anyway, it must be some other file; that is checked against the
     * received descriptor below.
     */
    inherited_open = fcntl(parent_fd, F_GETFD) != -1;
    if (inherited_open) {
        if (fstat(parent_fd, &at_start) == -1)
            die_sys("fstat");
    } else {
        err_at_start = errno;
    }

    /* Who am I?  On Linux /proc/self/exe names the program the kernel
       loaded at exec(); elsewhere argv[0] is the best there is. */
#ifdef __linux__
    {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n == -1)
            die_sys("readlink(/proc/self/exe)");
        exe[n] = '\0';
    }
#else
    snprintf(exe, sizeof exe, "%s", argv0);
#endif
    (void)argv0;

    fd = recv_fd(sock);

    if (fstat(fd, &got) == -1)
        die_sys("fstat of the received descriptor");
    if (inherited_open && at_start.st_dev == got.st_dev && at_start.st_ino == got.st_ino)
        die("the region's descriptor was inherited across exec (not close-on-exec?)");

    /* Map the whole object (len 0: to its end), shared and writable. */
    rc = mm_map_fd(fd, 0, 0, MM_READ | MM_WRITE | MM_SHARED, &r);
    if (rc != 0)
        die_mm("mm_map_fd", rc);
    if (mm_len(r) < REPLY_OFF + MSG_MAX)
        die("the received region is too small");

    printf("peer: pid %ld, exec'd as %s --peer %d %d\n",
           (long)getpid(), exe, sock, parent_fd);
    if (inherited_open)
        printf("peer: region fd %d not inherited across exec: "
               "descriptor %d is open but is another file\n", parent_fd, parent_fd);
    else
        printf("peer: region fd %d not inherited across exec: "
               "fcntl(%d, F_GETFD): %s\n", parent_fd, parent_fd, strerror(err_at_start));
    printf("peer: received the region over the socket as descriptor %d, %zu bytes\n",
           fd, mm_len(r));

    /* The parent's greeting: "hello from pid <parent>". */
    read_msg(r, GREETING_OFF, buf);
    printf("peer read: %s\n", buf);
    snprintf(want, sizeof want, "hello from pid %ld", (long)getppid());
    if (strcmp(buf, want) != 0)
        die("the greeting is not the parent's");

    /*
     * Try to shrink the object.  Sealed (F_SEAL_SHRINK): refused with EPERM,
     * and so nobody can make the parent's mapping SIGBUS.  Not sealed: it
     * works, and both mappings now lie past the end of the object.
     */
#ifdef F_GET_SEALS
    seals = fcntl(fd, F_GET_SEALS);
    if (seals == -1)
        seals = 0;              /* EINVAL: not a sealable object */
#endif
    if (ftruncate(fd, 0) == -1) {
        int e = errno;
#ifdef F_SEAL_SHRINK
        if (e == EPERM && (seals & F_SEAL_SHRINK)) {
            printf("peer: ftruncate refused: %s (sealed)\n", strerror(e));
        } else
#endif
        {
            (void)seals;
            printf("peer: ftruncate refused: %s\n", strerror(e));
        }
    } else {
        printf("peer: ftruncate to 0 bytes succeeded (not sealed)\n");
        /* The pages are gone: a plain load here would raise SIGBUS and kill
           the peer.  mm_read returns -EFAULT instead. */
        rc = mm_read(r, GREETING_OFF, buf, 1);
        printf("peer: mm_read after the shrink: %s\n",
               rc == -EFAULT ? "EFAULT (a plain load would have raised SIGBUS)"
               : rc == 0 ? "ok (the pages are still there)" : strerror(-rc));
        if (ftruncate(fd, (off_t)mm_len(r)) == -1)
            die_sys("ftruncate (restoring the size)");
        printf("peer: size restored to %zu bytes (the old contents are gone)\n",
               mm_len(r));
    }

    /* The reply, into the same memory the parent has mapped. */
    snprintf(buf, sizeof buf, "reply from pid %ld", (long)getpid());
    write_msg(r, REPLY_OFF, buf);
    printf("peer wrote: %s\n", buf);

    /* Our lines must be out before the parent prints its last one. */
    if (fflush(stdout) == EOF)
        die_sys("fflush");

    rc = mm_unmap(r);
    if (rc != 0)
        die_mm("mm_unmap", rc);
    if (close(fd) == -1)        /* the mapping did not need it any more */
        die_sys("close");

    /* "Done": the socket write also orders our stores before the parent's
       reads (the kernel call is a full barrier on every platform). */
    while (write(sock, &done, 1) != 1) {
        if (errno != EINTR)
            die_sys("write to the socket");
    }
    close(sock);
    return EXIT_SUCCESS;
}

/* ---------------------------------------------------------------- parent */

int main(int argc, char *argv[])
{
    int seal = 1, rc, fd, sv[2], status;
    mm_region *r = NULL;
    char buf[MSG_MAX], want[MSG_MAX];
    char sockarg[16], fdarg[16];
    char *peer_argv[5];
    const char *exe;
    pid_t pid;
    ssize_t n;
    char byte;

    if (argc >= 2 && strcmp(argv[1], "--peer") == 0) {
        if (argc != 4)
            usage();
        return peer(argv[0], parse_fd(argv[2]), parse_fd(argv[3]));
    }
    if (argc > 2)
        usage();
    if (argc == 2) {
        if (strcmp(argv[1], "--no-seal") != 0)
            usage();
        seal = 0;
    }

    /* Anonymous shared memory with a descriptor (memfd / unlinked shm). */
    rc = mm_map_shareable(REGION_NAME, REGION_LEN,
                          MM_READ | MM_WRITE | MM_SHARED, &r);
    if (rc != 0)
        die_mm("mm_map_shareable", rc);
    fd = mm_fd(r);              /* owned by the region: do not close it */
    if (fd < 0)
        die_mm("mm_fd", fd);
    rc = fcntl(fd, F_GETFD);
    if (rc == -1)
        die_sys("fcntl(F_GETFD) on the region's descriptor");
    printf("parent: pid %ld, shareable region of %zu bytes, descriptor %d (%s)\n",
           (long)getpid(), mm_len(r), fd,
           (rc & FD_CLOEXEC) ? "close-on-exec" : "NOT close-on-exec");
    if (!(rc & FD_CLOEXEC))
        die("the region's descriptor is not close-on-exec");

    snprintf(buf, sizeof buf, "hello from pid %ld", (long)getpid());
    write_msg(r, GREETING_OFF, buf);
    printf("parent wrote: %s\n", buf);

    /* Seal before handing the object out: whoever gets it may then write
       it, but never shrink it (no SIGBUS for us) nor grow it. */
    if (!seal) {
        printf("parent: not sealed (--no-seal)\n");
    } else {
        rc = mm_seal(r, MM_SEAL_SHRINK | MM_SEAL_GROW);
        if (rc == 0)
            printf("parent: sealed against shrink and grow\n");
        else if (rc == -ENOTSUP)
            printf("parent: sealing not supported here: %s\n", mm_last_error());
        else
            die_mm("mm_seal", rc);
    }

    /*
     * The channel to the peer.  Both ends are close-on-exec; the child
     * clears that on its own end only, so that end (and nothing else of
     * ours but stdin/stdout/stderr) survives its exec().
     */
#ifdef SOCK_CLOEXEC
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
        die_sys("socketpair");
#else
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
        die_sys("socketpair");
    set_cloexec(sv[0], 1);
    set_cloexec(sv[1], 1);
#endif

    /*
     * What the child will exec: this program.  On Linux the link
     * /proc/self/exe names exactly the running binary, however we were
     * started.  (We resolve it here rather than exec "/proc/self/exe"
     * itself: under valgrind that would be valgrind's own binary, while
     * valgrind answers readlink() with the program's path.)  Elsewhere, or
     * if that fails, argv[0] is the convention: execvp() finds it on PATH
     * when it has no '/'.  Everything is prepared before fork().
     */
    exe = argv[0];
#ifdef __linux__
    {
        static char self[PATH_MAX];
        ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
        if (len > 0) {
            self[len] = '\0';
            exe = self;
        }
    }
#endif
    snprintf(sockarg, sizeof sockarg, "%d", sv[1]);
    snprintf(fdarg, sizeof fdarg, "%d", fd);
    peer_argv[0] = argv[0];
    peer_argv[1] = "--peer";
    peer_argv[2] = sockarg;
    peer_argv[3] = fdarg;
    peer_argv[4] = NULL;

    /* Nothing buffered may be duplicated into the child. */
    if (fflush(stdout) == EOF)
        die_sys("fflush");

    pid = fork();
    if (pid == -1)
        die_sys("fork");
    if (pid == 0) {
        /* Child: keep only the peer's end of the socket across exec. */
        close(sv[0]);
        set_cloexec(sv[1], 0);
        execvp(exe, peer_argv);
        fprintf(stderr, "%s: exec %s: %s\n", prog, exe, strerror(errno));
        _exit(EXIT_FAILURE);
    }

    /* Parent.  Close the peer's end, so that a dying peer is EOF for us. */
    close(sv[1]);

    /* Hand the region to the peer.  Our descriptor stays ours. */
    send_fd(sv[0], fd);

    /* Wait for "done" (or EOF if the peer failed), then reap it. */
    while ((n = read(sv[0], &byte, 1)) == -1) {
        if (errno == ECONNRESET) {  /* the peer died with our message unread */
            n = 0;
            break;
        }
        if (errno != EINTR)
            die_sys("read from the socket");
    }
    close(sv[0]);
    while (waitpid(pid, &status, 0) == -1) {
        if (errno != EINTR)
            die_sys("waitpid");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFSIGNALED(status))
            fprintf(stderr, "%s: the peer was killed by signal %d\n", prog, WTERMSIG(status));
        else
            fprintf(stderr, "%s: the peer failed (exit status %d)\n", prog, WEXITSTATUS(status));
        exit(EXIT_FAILURE);
    }
    if (n != 1 || byte != DONE_BYTE)
        die("the peer exited without saying it was done");

    /* The peer's reply, written through its own mapping of the object. */
    read_msg(r, REPLY_OFF, buf);
    printf("parent read: %s\n", buf);
    snprintf(want, sizeof want, "reply from pid %ld", (long)pid);
    if (strcmp(buf, want) != 0)
        die("the reply is not the peer's");

    rc = mm_unmap(r);           /* also closes the region's descriptor */
    if (rc != 0)
        die_mm("mm_unmap", rc);
    return EXIT_SUCCESS;
}
