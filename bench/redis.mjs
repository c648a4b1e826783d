// A throw-away redis-server for benchmarks: a free loopback port, no persistence; the caller
// kills it by pid.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

export async function startRedis(port) {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error('redis-server did not start within 10 s')), 10_000);
    child.once('exit', (code) => rej(new Error(`redis-server exited (${code})`)));
    createInterface({ input: child.stdout }).on('line', (l) => {
      if (l.includes('Ready to accept connections')) {
        clearTimeout(t);
        res();
      }
    });
  });
  return child;
}
