// A tiny static server for the built demo (build/demo) that also answers /config.json with the
// Worker's URL. Used by `npm start` and the end-to-end tests; no dependencies.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * Serves `root` on 127.0.0.1.
 * @param {{ root: string, port?: number, host?: string, workerUrl: string, mounts?: Record<string, string> }} options
 *   port 0 (default) picks a free one; `mounts` serves other directories under URL prefixes (`{ '/_tests/': dir }`)
 * @returns {Promise<{ url: string, port: number, close(): Promise<void> }>}
 */
export async function serveDemo({ root, port = 0, host = '127.0.0.1', workerUrl, mounts = {} }) {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url.pathname === '/config.json') {
      res.writeHead(200, { 'content-type': TYPES['.json'], 'cache-control': 'no-store' }).end(JSON.stringify({ workerUrl }));
      return;
    }
    let base = resolve(root);
    let rel = url.pathname;
    for (const [prefix, dir] of Object.entries(mounts)) {
      if (rel.startsWith(prefix)) {
        base = resolve(dir);
        rel = rel.slice(prefix.length - 1);
        break;
      }
    }
    let path;
    try {
      path = normalize(join(base, decodeURIComponent(rel)));
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (path !== base && !path.startsWith(base + sep)) {
      res.writeHead(403).end();
      return;
    }
    if (existsSync(path) && statSync(path).isDirectory()) path = join(path, 'index.html');
    if (!existsSync(path)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
      'cache-control': path.includes(`${sep}assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(path).pipe(res);
  });
  await new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolveListen);
  });
  const actual = server.address().port;
  return {
    url: `http://${host}:${actual}/`,
    port: actual,
    close: () => new Promise((r) => {
      server.closeAllConnections?.();
      server.close(() => r());
    }),
  };
}
