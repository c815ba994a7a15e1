'use strict';
// A pmux worker in Node (no dependencies): serves the listening sockets pmux
// hands it (fds 3.., LISTEN_FDS) with server.listen({fd}), and stops the way
// pmux expects.
//
//   pmux run -w 4 -b 127.0.0.1:8000 -- node examples/node/server.js
//
//   GET /            hello from pid=<pid> slot=<PMUX_WORKER> gen=<PMUX_GENERATION> lang=node
//   GET /?sleep=1.5  the same, 1.5 s later (an in-flight request for stop tests)
//
// TERM (or QUIT): stop accepting, finish in-flight requests, exit 0.
// INT: exit 0 at once.
// Readiness: nothing to do. Node's standard library has no unix datagram
// sockets, so this app cannot send READY=1, and needs not: pmux's --ready
// auto (the default with a bind) sees it ready once its event loop waits on
// the socket (epoll), after the boot.
// APP_BOOT_DELAY=<seconds> sleeps before serving.
// Run alone (no LISTEN_FDS) it listens on 127.0.0.1:$PORT, else 127.0.0.1:8000.

const http = require('http');

const SD_LISTEN_FDS_START = 3;
const log = (msg) => process.stderr.write(`node-example pid=${process.pid}: ${msg}\n`);

// sd_listen_fds(unset_environment=1): the sockets passed to this very process.
function inheritedFds() {
  const n = process.env.LISTEN_FDS;
  const pid = process.env.LISTEN_PID;
  delete process.env.LISTEN_FDS;
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDNAMES;
  if (n === undefined) return [];
  if (pid && pid !== String(process.pid)) {
    // A wrapper (npm start, a shell without exec) forked us: the sockets were
    // meant for it. listen({fd}) would still work, but say so.
    log(`LISTEN_PID=${pid} is not my pid; using LISTEN_FDS=${n} anyway`);
  }
  if (!/^\d+$/.test(n)) {
    log(`LISTEN_FDS=${JSON.stringify(n)}: not a count of sockets`);
    process.exit(1);
  }
  return Array.from({ length: Number(n) }, (_, i) => SD_LISTEN_FDS_START + i);
}

function hello(req, res) {
  const answer = () => {
    const body = `hello from pid=${process.pid} slot=${process.env.PMUX_WORKER ?? ''} ` +
      `gen=${process.env.PMUX_GENERATION ?? ''} lang=node\n`;
    res.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  };
  const sleep = new URL(req.url, 'http://x').searchParams.get('sleep');
  if (sleep === null) return answer();
  const s = Number(sleep);
  if (!(s >= 0 && s <= 300)) {
    res.writeHead(400, { 'Content-Type': 'text/plain' });
    return res.end('bad sleep: want seconds in [0, 300]\n');
  }
  setTimeout(answer, s * 1000);
}

const servers = [];

function serve() {
  const fds = inheritedFds();
  // listen({fd}) makes libuv put the socket in non-blocking mode (on the open
  // file description shared with the master and siblings) and call listen()
  // on it again with Node's backlog (511).
  const targets = fds.length > 0
    ? fds.map((fd) => ({ fd }))
    : [{ host: '127.0.0.1', port: Number(process.env.PORT || 8000) }];
  for (const target of targets) {
    const srv = http.createServer(hello);
    srv.on('error', (err) => { log(`listen ${JSON.stringify(target)}: ${err.message}`); process.exit(1); });
    srv.listen(target, () => log(`serving on ${JSON.stringify(srv.address())}`));
    servers.push(srv);
  }
}

function gracefulStop(signal) {
  log(`${signal}: graceful stop, finishing in-flight requests`);
  let open = servers.length;
  if (open === 0) process.exit(0);
  for (const srv of servers) {
    // close(): stop accepting; since Node 19 it also closes idle keep-alive
    // connections. The callback runs once every in-flight request is done.
    srv.close(() => {
      if (--open === 0) {
        log('stopped');
        process.exit(0);
      }
    });
  }
}

let stopping = false;
for (const sig of ['SIGTERM', 'SIGQUIT']) {
  process.on(sig, () => { if (!stopping) { stopping = true; gracefulStop(sig); } });
}
process.on('SIGINT', () => process.exit(0)); // quick stop

const delay = Number(process.env.APP_BOOT_DELAY || 0);
if (delay > 0) {
  log(`booting for ${delay}s (APP_BOOT_DELAY)`);
  setTimeout(() => { if (!stopping) serve(); else process.exit(0); }, delay * 1000);
} else {
  serve();
}
