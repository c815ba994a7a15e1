# A server stand-in for the Group tests: it waits on a dup of its
# listening socket (fd 3) the way STYLE says, or forks first and lets the
# child wait ("fork-" prefix), or waits on stdin only ("stdin").
import os, select, socket, sys

style = sys.argv[1]
if style.startswith("fork-"):
    style = style[5:]
    if os.fork() != 0:
        os.wait()
        sys.exit(0)
fd = os.dup(3)
os.close(3)
print("waiting", flush=True)
if style == "accept":
    socket.socket(fileno=fd).accept()
elif style == "epoll":
    ep = select.epoll()
    ep.register(fd, select.EPOLLIN)
    ep.poll()
elif style == "poll":
    p = select.poll()
    p.register(0, select.POLLIN)
    p.register(fd, select.POLLIN)
    p.poll()
elif style == "select":
    select.select([0, fd], [], [])
elif style == "stdin":
    select.select([0], [], [])
