// Playwright global setup: one local Worker (on a free port, its own state directory) and the demo
// server for the whole run; the tests find them through environment variables.
import { buildPages, startStack } from './env.mjs';

export default async function globalSetup() {
  buildPages();
  const stack = await startStack();
  process.env.E2E_DEMO_URL = stack.demoUrl;
  process.env.E2E_WORKER_URL = stack.worker.url;
  process.env.E2E_PERSIST_TO = stack.worker.persistTo;
  return async () => stack.stop();
}
