/// <reference types="node" />
/**
 * Runs parser inputs in a worker thread for `npm run fuzz`, so that the main thread can time-box
 * every input: before each input the thread writes its index to shared memory, and the main
 * thread terminates it when one index stays there too long (a hang in synchronous code that no
 * timer in the same thread could interrupt).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runParserFuzz } from './parsers.js';

const { seed, timeBoxMs, progress } = workerData as { seed: number; timeBoxMs: number; progress: Int32Array };

parentPort!.on('message', async (job: { start: number; count: number }) => {
  const result = await runParserFuzz({
    seed,
    start: job.start,
    count: job.count,
    timeBoxMs,
    onProgress: (index) => {
      Atomics.store(progress, 0, index);
      Atomics.add(progress, 1, 1);
    },
  });
  parentPort!.postMessage(result);
});
parentPort!.postMessage('ready');
