// refserver: the practical limit for the seed protocol on one core. Edge-triggered epoll,
// one thread, reads until EAGAIN, answers each read batch with a 4-byte LE length + prefix + data.
// `npm run bench -- --only runtimes` measures every runtime against it (bench/runtimes.ts).
//   refserver [PORT]   (0 picks a free one; prints "refserver listening on 127.0.0.1:PORT")
// Build: cc -O2 -o refserver refserver.c
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 8888;
  const char *prefix = "[Server Reply]: "; size_t plen = strlen(prefix);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (bind(ls, (void *)&a, sizeof a) || listen(ls, 4096)) { perror("listen"); return 1; }
  socklen_t alen = sizeof a; getsockname(ls, (void *)&a, &alen);
  printf("refserver listening on 127.0.0.1:%d\n", ntohs(a.sin_port)); fflush(stdout);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  static unsigned char in[1 << 16], out[(1 << 16) + 64];
  struct epoll_event evs[1024];
  for (;;) {
    int n = epoll_wait(ep, evs, 1024, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        int c;
        while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct epoll_event e = {.events = EPOLLIN | EPOLLET | EPOLLRDHUP, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
        }
        continue;
      }
      size_t got = 0; int closed = 0;
      for (;;) {
        ssize_t r = read(fd, in + got, sizeof in - got);
        if (r > 0) { got += r; if (got == sizeof in) break; continue; }
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) closed = 1;
        break;
      }
      if (got) {
        uint32_t L = plen + got; memcpy(out, &L, 4); memcpy(out + 4, prefix, plen); memcpy(out + 4 + plen, in, got);
        (void)!write(fd, out, 4 + L); // a demo: a short write is dropped
      }
      if (closed) { epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL); close(fd); }
    }
  }
}
