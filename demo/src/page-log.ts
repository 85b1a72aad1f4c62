// Keeps the page's last console lines and uncaught errors where a test driver can read them
// (`globalThis.__pageLog`): WebDriver classic, which drives WebKitGTK, has no console access of its
// own, and a failed end-to-end scenario must leave the browser's console behind.
const LIMIT = 2000;
const lines: string[] = [];
const started = performance.now();

function add(kind: string, parts: unknown[]): void {
  const text = parts.map((p) => (p instanceof Error ? (p.stack ?? p.message) : typeof p === 'string' ? p : safeString(p))).join(' ');
  lines.push(`${((performance.now() - started) / 1000).toFixed(3)}s ${kind}: ${text}`);
  if (lines.length > LIMIT) lines.splice(0, lines.length - LIMIT);
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Called first thing by a page (an explicit call: the package marks its modules side-effect free). */
export function installPageLog(): void {
  const g = globalThis as unknown as { __pageLog?: string[] };
  if (g.__pageLog) return;
  g.__pageLog = lines;
  for (const kind of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[kind].bind(console);
    console[kind] = (...args: unknown[]) => {
      add(kind, args);
      original(...args);
    };
  }
  addEventListener('error', (e) => add('uncaught', [e.error ?? e.message]));
  addEventListener('unhandledrejection', (e) => add('unhandled rejection', [e.reason]));
}
