// Stands in for Electron's utility-process `process.parentPort` so examples/electron/generator.mjs
// can be run by plain Node (`node --import <this> generator.mjs`). It sends the request in
// $INDETAIL_TEST_REQUEST once the generator listens, prints every message the generator posts as
// one JSON line (byte arrays as their length and first bytes), and exits after 'done' or 'error'.
import { EventEmitter } from 'node:events';

const port = new EventEmitter();
port.postMessage = (message) => {
  const line = JSON.stringify(message, (_k, v) => (v instanceof Uint8Array ? { bytes: v.length, head: Array.from(v.subarray(0, 8)) } : v));
  process.stdout.write(`${line}\n`);
  if (message.type === 'done' || message.type === 'error') process.exit(0);
};
process.parentPort = port;

const request = JSON.parse(process.env.INDETAIL_TEST_REQUEST ?? '{}');
const send = () => (port.listenerCount('message') > 0 ? port.emit('message', { data: request }) : setImmediate(send));
setImmediate(send);
